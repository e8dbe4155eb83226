"""Buttons of the account (send a test email, a heartbeat now) and of PTZ cameras (home)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camera_runtime import CameraRuntime
from .entity import PtzEmailAlertAccountEntity, PtzEmailAlertCameraEntity, add_camera_entities
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
    """Add the account's buttons, and "Set home position" of each PTZ camera."""
    async_add_entities(AccountButton(entry, description) for description in BUTTONS)
    add_camera_entities(
        entry,
        async_add_entities,
        lambda m: [SetHomePositionButton(entry, m)] if m.home is not None else [],
    )


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


class SetHomePositionButton(PtzEmailAlertCameraEntity, ButtonEntity):
    """Where the PTZ camera looks now becomes the position its zones and lines belong to."""

    _attr_translation_key = "set_home_position"
    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime) -> None:
        """The button of ``monitor`` (a camera with the ``ptz`` option)."""
        super().__init__(entry, monitor, "set_home_position")

    async def async_press(self) -> None:
        """Taken from the next analysed frame, once the picture is at rest; kept on disk."""
        if self.monitor.home is not None:
            self.monitor.home.set_here()
