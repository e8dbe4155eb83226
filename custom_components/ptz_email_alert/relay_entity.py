"""Entities of each camera known through the local relay: one device per sending camera."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.components.event import EventEntity
from homeassistant.components.image import ImageEntity
from homeassistant.components.sensor import SensorDeviceClass, SensorEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .mail.relay_parse import MailSummary
from .relay import RelayCamera, device_identifier
from .runtime_data import PtzEmailAlertConfigEntry


def add_relay_entities(
    entry: PtzEmailAlertConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    create: Callable[[RelayCamera], Iterable[Entity]],
) -> None:
    """Add ``create``'s entities for each known camera, and for each new one as it first mails."""
    relay = entry.runtime_data.relay
    if relay is None:
        return

    @callback
    def add(camera: RelayCamera) -> None:
        async_add_entities(list(create(camera)))

    for camera in relay.cameras.values():
        add(camera)
    entry.async_on_unload(relay.async_add_camera_listener(add))


class RelayCameraEntity(Entity):
    """An entity of a camera that mails the relay; its device sits under the account."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, entry: PtzEmailAlertConfigEntry, camera: RelayCamera, key: str) -> None:
        """Unique id and device from the camera's key (its sender, else its address)."""
        self.camera = camera
        identifier = device_identifier(entry.entry_id, camera.key)
        self._attr_unique_id = f"{identifier}_{key}"
        self._attr_translation_key = key
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, identifier)},
            name=camera.name,
            manufacturer="PTZ Email Alert",
            model="Camera (mail through the local relay)",
            via_device=(DOMAIN, entry.entry_id),
        )

    async def async_added_to_hass(self) -> None:
        """Follow the camera's updates."""
        await super().async_added_to_hass()
        self.camera.listeners.append(self.async_write_ha_state)
        self.async_on_remove(lambda: self.camera.listeners.remove(self.async_write_ha_state))


class RelayHeartbeatMissed(RelayCameraEntity, BinarySensorEntity):
    """On when the camera sent nothing for ``relay_heartbeat_hours``."""

    _attr_device_class = BinarySensorDeviceClass.PROBLEM

    def __init__(self, entry: PtzEmailAlertConfigEntry, camera: RelayCamera) -> None:
        """The camera's heartbeat flag."""
        super().__init__(entry, camera, "relay_heartbeat_missed")

    @property
    def is_on(self) -> bool:
        """The camera is silent."""
        return self.camera.heartbeat_missed


class RelayLastMail(RelayCameraEntity, SensorEntity):
    """When the camera last mailed, with that mail's subject and attachments."""

    _attr_device_class = SensorDeviceClass.TIMESTAMP

    def __init__(self, entry: PtzEmailAlertConfigEntry, camera: RelayCamera) -> None:
        """The camera's last-mail time."""
        super().__init__(entry, camera, "relay_last_mail")

    @property
    def native_value(self) -> datetime | None:
        """The time of the last mail."""
        return self.camera.last_mail

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Subject, client address and attachment names of the last mail."""
        return {
            "subject": self.camera.subject,
            "client": self.camera.client,
            "attachments": list(self.camera.attachments),
        }


class RelayMailEvent(RelayCameraEntity, EventEntity):
    """Fires ``received`` with the subject and attachment count of each mail."""

    def __init__(self, entry: PtzEmailAlertConfigEntry, camera: RelayCamera) -> None:
        """The camera's mail event."""
        super().__init__(entry, camera, "relay_mail")
        self._attr_event_types = ["received"]

    async def async_added_to_hass(self) -> None:
        """Listen for the camera's mail."""
        await super().async_added_to_hass()
        self.camera.mail_listeners.append(self._on_mail)
        self.async_on_remove(lambda: self.camera.mail_listeners.remove(self._on_mail))

    @callback
    def _on_mail(self, summary: MailSummary) -> None:
        self._trigger_event(
            "received",
            {
                "subject": summary.subject,
                "attachments": len(summary.attachments),
                "attachment_names": list(summary.attachments),
            },
        )
        self.async_write_ha_state()


class RelayLastAttachment(RelayCameraEntity, ImageEntity):
    """The last picture the camera attached (kept in memory: none after a restart)."""

    def __init__(
        self, hass: HomeAssistant, entry: PtzEmailAlertConfigEntry, camera: RelayCamera
    ) -> None:
        """The camera's last picture."""
        RelayCameraEntity.__init__(self, entry, camera, "relay_last_attachment")
        ImageEntity.__init__(self, hass)

    @property
    def image_last_updated(self) -> datetime | None:
        """When the picture came."""
        return self.camera.image_time

    @property
    def content_type(self) -> str:
        """The attachment's type."""
        return self.camera.image_type or "image/jpeg"

    async def async_image(self) -> bytes | None:
        """The picture."""
        return self.camera.image
