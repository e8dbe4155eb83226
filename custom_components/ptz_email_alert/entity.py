"""Base entity for the account device."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import (
    CONF_PROVIDER,
    DOMAIN,
    PROVIDER_CUSTOM,
    PROVIDER_GMAIL,
    PROVIDER_LOCAL_RELAY,
    PROVIDER_OUTLOOK,
)
from .runtime_data import PtzEmailAlertConfigEntry

if TYPE_CHECKING:
    from .camera_runtime import CameraRuntime

# The device model of an account, by provider (names, not translated: the model is not).
PROVIDER_MODELS = {
    PROVIDER_GMAIL: "SMTP account (Gmail)",
    PROVIDER_OUTLOOK: "SMTP account (Microsoft 365 / Outlook.com)",
    PROVIDER_CUSTOM: "SMTP account (SMTP server)",
    PROVIDER_LOCAL_RELAY: "SMTP account (Local relay)",
}


class PtzEmailAlertAccountEntity(Entity):
    """An entity of an SMTP account: one device per account, state read from the account."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: PtzEmailAlertConfigEntry, key: str) -> None:
        """Set unique id and device from the entry."""
        self.runtime = entry.runtime_data
        self.account = entry.runtime_data.account
        self._attr_unique_id = f"{entry.entry_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="PTZ Email Alert",
            model=PROVIDER_MODELS.get(
                entry.data.get(CONF_PROVIDER, PROVIDER_CUSTOM), "SMTP account"
            ),
            entry_type=DeviceEntryType.SERVICE,
        )

    async def async_added_to_hass(self) -> None:
        """Follow the account's updates."""
        await super().async_added_to_hass()
        self.async_on_remove(self.account.async_add_listener(self.async_write_ha_state))


class PtzEmailAlertCameraEntity(Entity):
    """An entity of a camera subentry: one device per camera, under its account."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    # Entities that show what the camera sees now are unavailable while it is offline; the
    # stream sensor, the switch and the last alert stay (they are still true).
    _follows_pictures = False

    def __init__(self, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime, key: str) -> None:
        """Set unique id and device from the camera subentry."""
        self.monitor = monitor
        subentry_id = monitor.subentry.subentry_id
        self._attr_unique_id = f"{subentry_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry_id)},
            name=monitor.name,
            manufacturer="PTZ Email Alert",
            model="Camera",
            via_device=(DOMAIN, entry.entry_id),
        )

    @property
    def available(self) -> bool:
        """False for picture-based entities of an offline camera."""
        return not (self._follows_pictures and self.monitor.offline)

    async def async_added_to_hass(self) -> None:
        """Follow the camera's updates."""
        await super().async_added_to_hass()
        self.async_on_remove(self.monitor.async_add_listener(self.async_write_ha_state))


def add_camera_entities(
    entry: PtzEmailAlertConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    create: Callable[[CameraRuntime], Iterable[Entity]],
) -> None:
    """Add the entities ``create`` makes for each camera, under the camera's subentry."""
    for subentry_id, monitor in entry.runtime_data.cameras.items():
        async_add_entities(list(create(monitor)), config_subentry_id=subentry_id)
