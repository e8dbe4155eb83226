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
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .camera_runtime import CameraRuntime
from .entity import PtzEmailAlertAccountEntity, PtzEmailAlertCameraEntity, add_camera_entities
from .relay_entity import RelayHeartbeatMissed, add_relay_entities
from .runtime_data import PtzEmailAlertConfigEntry, PtzEmailAlertData

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class AccountBinarySensorDescription(BinarySensorEntityDescription):
    """How to read one problem flag from the account."""

    is_on_fn: Callable[[PtzEmailAlertData], bool]


BINARY_SENSORS: tuple[AccountBinarySensorDescription, ...] = (
    AccountBinarySensorDescription(
        key="delivery_problem",
        translation_key="delivery_problem",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda data: data.account.outbox.has_problem,
    ),
    AccountBinarySensorDescription(
        key="heartbeat_missed",
        translation_key="heartbeat_missed",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=lambda data: data.heartbeat.missed,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PtzEmailAlertConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's problem sensors and each camera's detection and stream sensors."""
    async_add_entities(AccountBinarySensor(entry, description) for description in BINARY_SENSORS)
    if entry.runtime_data.upload is not None:
        async_add_entities([UploadProblemBinarySensor(entry)])
    add_camera_entities(
        entry,
        async_add_entities,
        lambda m: [
            *(DetectionBinarySensor(entry, m, detection) for detection in m.detections),
            StreamBinarySensor(entry, m),
            MovingBinarySensor(entry, m),
        ],
    )
    add_relay_entities(entry, async_add_entities, lambda c: [RelayHeartbeatMissed(entry, c)])


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
        return self.entity_description.is_on_fn(self.runtime)


DETECTION_DEVICE_CLASSES = {
    "motion": BinarySensorDeviceClass.MOTION,
    "person": BinarySensorDeviceClass.OCCUPANCY,
    "vehicle": BinarySensorDeviceClass.OCCUPANCY,
    "line_crossing": BinarySensorDeviceClass.MOTION,
    "region_intrusion": BinarySensorDeviceClass.MOTION,
    "tamper": BinarySensorDeviceClass.TAMPER,
}


class DetectionBinarySensor(PtzEmailAlertCameraEntity, BinarySensorEntity):
    """On while a detection of one type is held (10 s after the last one)."""

    _follows_pictures = True

    def __init__(
        self, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime, detection: str
    ) -> None:
        """One sensor per enabled detection."""
        super().__init__(entry, monitor, detection)
        self.detection = detection
        self._attr_translation_key = detection
        self._attr_device_class = DETECTION_DEVICE_CLASSES.get(detection)

    @property
    def is_on(self) -> bool:
        """True while held."""
        return self.monitor.is_active(self.detection)


class StreamBinarySensor(PtzEmailAlertCameraEntity, BinarySensorEntity):
    """Connectivity of the camera's stream."""

    _attr_translation_key = "stream"
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime) -> None:
        """The stream sensor of ``monitor``."""
        super().__init__(entry, monitor, "stream")

    @property
    def is_on(self) -> bool:
        """True while frames arrive."""
        return self.monitor.connected


class UploadProblemBinarySensor(PtzEmailAlertAccountEntity, BinarySensorEntity):
    """On while alert files cannot reach the upload server."""

    _attr_translation_key = "upload_problem"
    _attr_device_class = BinarySensorDeviceClass.PROBLEM
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, entry: PtzEmailAlertConfigEntry) -> None:
        """The account's upload sensor."""
        super().__init__(entry, "upload_problem")
        assert entry.runtime_data.upload is not None
        self.upload = entry.runtime_data.upload

    async def async_added_to_hass(self) -> None:
        """Follow the upload queue too."""
        await super().async_added_to_hass()
        self.async_on_remove(self.upload.async_add_listener(self.async_write_ha_state))

    @property
    def is_on(self) -> bool:
        """True while there is a problem."""
        return self.upload.has_problem

    @property
    def extra_state_attributes(self) -> dict[str, object]:
        """What waits, and the last error."""
        queue = self.upload.queue
        error = queue.last_error
        return {
            "server": queue.server,
            "pending": queue.pending_count,
            "failed": queue.failed_count,
            "last_error": error.kind.value if error else "none",
            "bytes_sent": queue.bytes_sent,
        }


class MovingBinarySensor(PtzEmailAlertCameraEntity, BinarySensorEntity):
    """On while the camera is moving (a commanded PTZ move settling): detection pauses."""

    _attr_translation_key = "moving"
    _attr_device_class = BinarySensorDeviceClass.MOVING
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime) -> None:
        """The moving sensor of ``monitor``; enabled by default only for PTZ cameras."""
        super().__init__(entry, monitor, "moving")
        self._attr_entity_registry_enabled_default = bool(
            monitor.settings.ptz or monitor.settings.ptz_entity
        )

    @property
    def is_on(self) -> bool:
        """True while a move settles."""
        return self.monitor.moving

    @property
    def extra_state_attributes(self) -> dict[str, bool] | None:
        """PTZ: whether the camera looks where its zones, lines and areas were drawn."""
        if self.monitor.home is None:
            return None
        return {"at_home_position": self.monitor.analyser.at_home_position}
