"""Event entity per camera: one event per detection."""

from __future__ import annotations

from homeassistant.components.event import EventDeviceClass, EventEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camera_runtime import CameraRuntime
from .entity import PtzEmailAlertCameraEntity, add_camera_entities
from .relay_entity import RelayMailEvent, add_relay_entities
from .runtime_data import PtzEmailAlertConfigEntry
from .vision.analyser import Finding

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PtzEmailAlertConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each camera's detection event entity."""
    add_camera_entities(entry, async_add_entities, lambda m: [DetectionEvent(entry, m)])
    add_relay_entities(entry, async_add_entities, lambda c: [RelayMailEvent(entry, c)])


class DetectionEvent(PtzEmailAlertCameraEntity, EventEntity):
    """Fires with the detection type (and zone or line) of each detection."""

    _attr_translation_key = "detection"
    _attr_device_class = EventDeviceClass.MOTION

    def __init__(self, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime) -> None:
        """Event types: the camera's detections, and external triggers."""
        super().__init__(entry, monitor, "detection")
        self._attr_event_types = [*monitor.detections, "external"]

    async def async_added_to_hass(self) -> None:
        """Listen for detections."""
        await super().async_added_to_hass()
        self.async_on_remove(self.monitor.async_add_detection_listener(self._on_detection))

    @callback
    def _on_detection(self, finding: Finding) -> None:
        event_type = finding.event_type if finding.event_type in self.event_types else "external"
        self._trigger_event(event_type, {"zone": finding.zone})
        self.async_write_ha_state()
