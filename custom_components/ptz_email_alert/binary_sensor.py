"""Problem sensors of the account: delivery problem, heartbeat missed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddEntitiesCallback

from .account import MailAccount, PtzEmailAlertConfigEntry
from .entity import PtzEmailAlertAccountEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class AccountBinarySensorDescription(BinarySensorEntityDescription):
    """How to read one problem flag from the account."""

    is_on_fn: Callable[[MailAccount], bool]


BINARY_SENSORS: tuple[AccountBinarySensorDescription, ...] = (
    AccountBinarySensorDescription(
        key="delivery_problem",
        translation_key="delivery_problem",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda account: account.outbox.has_problem,
    ),
    AccountBinarySensorDescription(
        key="heartbeat_missed",
        translation_key="heartbeat_missed",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda account: account.heartbeat_missed,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PtzEmailAlertConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    """Add the account's problem sensors."""
    async_add_entities(AccountBinarySensor(entry, description) for description in BINARY_SENSORS)


class AccountBinarySensor(PtzEmailAlertAccountEntity, BinarySensorEntity):
    """A problem flag read from the account."""

    entity_description: AccountBinarySensorDescription

    def __init__(
        self, entry: PtzEmailAlertConfigEntry, description: AccountBinarySensorDescription
    ) -> None:
        """Create the sensor for ``description``."""
        super().__init__(entry, description.key)
        self.entity_description = description

    @property
    def is_on(self) -> bool:
        """True while there is a problem."""
        return self.entity_description.is_on_fn(self.account)
