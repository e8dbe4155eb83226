"""Buttons of the account: send a test email, send a heartbeat now."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import PtzEmailAlertAccountEntity
from .runtime_data import PtzEmailAlertConfigEntry, PtzEmailAlertData

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class AccountButtonDescription(ButtonEntityDescription):
    """What pressing the button does."""

    press_fn: Callable[[PtzEmailAlertData], Awaitable[Any]]


BUTTONS: tuple[AccountButtonDescription, ...] = (
    AccountButtonDescription(
        key="send_test_email",
        translation_key="send_test_email",
        entity_category=EntityCategory.DIAGNOSTIC,
        press_fn=lambda data: data.account.async_send_test_email(),
    ),
    AccountButtonDescription(
        key="send_heartbeat",
        translation_key="send_heartbeat",
        entity_category=EntityCategory.DIAGNOSTIC,
        press_fn=lambda data: data.heartbeat.async_send(),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PtzEmailAlertConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's buttons."""
    async_add_entities(AccountButton(entry, description) for description in BUTTONS)


class AccountButton(PtzEmailAlertAccountEntity, ButtonEntity):
    """A button that makes the account send something now."""

    entity_description: AccountButtonDescription

    def __init__(
        self, entry: PtzEmailAlertConfigEntry, description: AccountButtonDescription
    ) -> None:
        """Create the button for ``description``."""
        super().__init__(entry, description.key)
        self.entity_description = description

    async def async_press(self) -> None:
        """Send (through the outbox: a failure is retried and reported by the sensors)."""
        await self.entity_description.press_fn(self.runtime)
