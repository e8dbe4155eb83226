"""Image entity per camera: the first picture of the last alert."""

from __future__ import annotations

from datetime import datetime

from homeassistant.components.image import ImageEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camera_runtime import CameraRuntime
from .entity import PtzEmailAlertCameraEntity, add_camera_entities
from .relay_entity import RelayLastAttachment, add_relay_entities
from .runtime_data import PtzEmailAlertConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PtzEmailAlertConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each camera's last-alert image."""
    add_camera_entities(entry, async_add_entities, lambda m: [LastAlertImage(hass, entry, m)])
    add_relay_entities(entry, async_add_entities, lambda c: [RelayLastAttachment(hass, entry, c)])


class LastAlertImage(PtzEmailAlertCameraEntity, ImageEntity):
    """The picture the last alert email led with."""

    _attr_translation_key = "last_alert"
    _attr_content_type = "image/jpeg"

    def __init__(
        self, hass: HomeAssistant, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime
    ) -> None:
        """The image of ``monitor``."""
        PtzEmailAlertCameraEntity.__init__(self, entry, monitor, "last_alert")
        ImageEntity.__init__(self, hass)

    @property
    def image_last_updated(self) -> datetime | None:
        """When the last alert was raised."""
        alert = self.monitor.last_alert
        return alert.time if alert else None

    async def async_image(self) -> bytes | None:
        """The first picture of the last alert."""
        alert = self.monitor.last_alert
        return alert.picture if alert else None
