"""Switch per camera: email alerts armed or disarmed."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import STATE_OFF
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .camera_runtime import CameraRuntime
from .entity import PtzEmailAlertCameraEntity, add_camera_entities
from .runtime_data import PtzEmailAlertConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PtzEmailAlertConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each camera's arm switch."""
    add_camera_entities(entry, async_add_entities, lambda m: [EmailAlertsSwitch(entry, m)])


class EmailAlertsSwitch(PtzEmailAlertCameraEntity, SwitchEntity, RestoreEntity):
    """Arms (on) or disarms (off) the camera's alert emails; detection keeps running."""

    _attr_translation_key = "email_alerts"

    def __init__(self, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime) -> None:
        """The switch of ``monitor``."""
        super().__init__(entry, monitor, "email_alerts")

    async def async_added_to_hass(self) -> None:
        """Restore the last choice (armed by default)."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) is not None:
            self.monitor.armed = last.state != STATE_OFF

    @property
    def is_on(self) -> bool:
        """True when armed."""
        return self.monitor.armed

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Arm."""
        self.monitor.armed = True
        self.async_write_ha_state()

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Disarm."""
        self.monitor.armed = False
        self.async_write_ha_state()
