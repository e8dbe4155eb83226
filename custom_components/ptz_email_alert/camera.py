"""Camera entity per camera: the latest analysed picture (and an MJPEG stream of them)."""

from __future__ import annotations

from homeassistant.components.camera import Camera
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camera_runtime import CameraRuntime
from .const import CONF_DRAW_LAYOUT
from .entity import PtzEmailAlertCameraEntity, add_camera_entities
from .runtime_data import PtzEmailAlertConfigEntry
from .vision.jpeg import draw_layout

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PtzEmailAlertConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each camera's live view."""
    add_camera_entities(entry, async_add_entities, lambda m: [LiveCamera(entry, m)])


class LiveCamera(PtzEmailAlertCameraEntity, Camera):
    """The newest snapshot-size picture from the decoder."""

    _follows_pictures = True

    _attr_translation_key = "live"
    _attr_frame_interval = 0.5

    def __init__(self, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime) -> None:
        """The live view of ``monitor``."""
        PtzEmailAlertCameraEntity.__init__(self, entry, monitor, "live")
        Camera.__init__(self)

    @property
    def is_on(self) -> bool:
        """On once there is a picture (the stream sensor tells whether it is current)."""
        return self.monitor.ring.latest is not None

    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        """The newest picture, with zones and lines drawn when the camera asks for it."""
        latest = self.monitor.ring.latest
        if latest is None:
            return None
        if not self.monitor.data.get(CONF_DRAW_LAYOUT):
            return latest.data
        zones = [(zone.name, zone.polygon) for zone in self.monitor.analyser.zones.zones]
        lines = [(line.name, line.start, line.end) for line in self.monitor.analyser.lines.lines]
        ignored = self.monitor.analyser.ignore_areas
        return await self.hass.async_add_executor_job(
            draw_layout, latest.data, zones, lines, ignored
        )
