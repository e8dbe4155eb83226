"""The AI calls-used-today sensor of a camera whose alerts the AI looks at."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.const import EntityCategory
from homeassistant.core import callback
from homeassistant.helpers.event import async_track_time_change

from .camera_runtime import CameraRuntime
from .entity import PtzEmailAlertCameraEntity
from .runtime_data import PtzEmailAlertConfigEntry


def ai_sensors(entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime) -> list[SensorEntity]:
    """The sensor, for a camera with an AI Task entity and a mode other than off."""
    return [AiCallsSensor(entry, monitor)] if monitor.settings.ai_enabled else []


class AiCallsSensor(PtzEmailAlertCameraEntity, SensorEntity):
    """AI calls made today (local time) against the camera's daily limit."""

    _attr_translation_key = "ai_calls_today"
    _attr_state_class = SensorStateClass.TOTAL_INCREASING  # back to 0 at midnight: a reset
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime) -> None:
        """The AI calls sensor of ``monitor``."""
        super().__init__(entry, monitor, "ai_calls_today")

    async def async_added_to_hass(self) -> None:
        """Read the stored count; start again at 0 at local midnight."""
        await super().async_added_to_hass()
        await self.monitor.alerts.ai.budget.async_load()

        @callback
        def midnight(_now: datetime) -> None:
            self.async_write_ha_state()

        self.async_on_remove(
            async_track_time_change(self.hass, midnight, hour=0, minute=0, second=0)
        )

    @property
    def native_value(self) -> int:
        """Calls made today."""
        return self.monitor.alerts.ai.budget.used_today

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The daily limit and how the last call went."""
        last = self.monitor.alerts.ai.last
        return {
            "daily_limit": self.monitor.settings.ai_daily_limit,
            "last_status": last.status.value if last else None,
        }
