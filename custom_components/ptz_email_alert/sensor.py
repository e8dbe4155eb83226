"""Sensors of the account: last error, last success, failures, outbox, last heartbeat."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfInformation
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .ai_sensor import ai_sensors
from .camera_runtime import CameraRuntime
from .delivery_log import ATTRIBUTE_LOG_SIZE, readable_log
from .entity import PtzEmailAlertAccountEntity, PtzEmailAlertCameraEntity, add_camera_entities
from .mail import ErrorKind
from .relay_entity import RelayLastMail, add_relay_entities
from .runtime_data import PtzEmailAlertConfigEntry, PtzEmailAlertData

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class AccountSensorDescription(SensorEntityDescription):
    """How to read one sensor from the account."""

    value_fn: Callable[[PtzEmailAlertData], str | int | datetime | None]
    attributes_fn: Callable[[PtzEmailAlertData], dict[str, Any]] | None = None


def _last_error_attributes(data: PtzEmailAlertData) -> dict[str, Any]:
    account = data.account
    error = account.last_error
    return {
        "code": error.code if error else None,
        "detail": error.detail if error else None,
        "server": account.server,
        "delivery_log": readable_log(account.outbox.delivery_log, ATTRIBUTE_LOG_SIZE),
    }


SENSORS: tuple[AccountSensorDescription, ...] = (
    AccountSensorDescription(
        key="last_error",
        translation_key="last_error",
        device_class=SensorDeviceClass.ENUM,
        options=[kind.value for kind in ErrorKind],
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: (
            data.account.last_error.kind.value if data.account.last_error else ErrorKind.NONE.value
        ),
        attributes_fn=_last_error_attributes,
    ),
    AccountSensorDescription(
        key="last_success",
        translation_key="last_success",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.account.last_success,
    ),
    AccountSensorDescription(
        key="failed_deliveries",
        translation_key="failed_deliveries",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        # Emails lost for good (expired, pushed out of a full outbox, damaged): one that failed
        # its retries and went out later is not lost. The Outbox sensor counts those waiting.
        value_fn=lambda data: data.account.outbox.ledger.lost_total,
    ),
    AccountSensorDescription(
        key="outbox",
        translation_key="outbox",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.account.outbox.pending_count,
        attributes_fn=lambda data: {
            "bytes": data.account.outbox.total_bytes,
            "failed": data.account.outbox.failed_count,
        },
    ),
    AccountSensorDescription(
        key="last_heartbeat",
        translation_key="last_heartbeat",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.heartbeat.last,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PtzEmailAlertConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's sensors and each camera's last-alert sensor."""
    async_add_entities(AccountSensor(entry, description) for description in SENSORS)
    async_add_entities([DataSentSensor(entry)])
    add_camera_entities(
        entry,
        async_add_entities,
        lambda m: [LastAlertSensor(entry, m), SnoozedUntilSensor(entry, m), *ai_sensors(entry, m)],
    )
    add_relay_entities(entry, async_add_entities, lambda c: [RelayLastMail(entry, c)])


class AccountSensor(PtzEmailAlertAccountEntity, SensorEntity):
    """A sensor that reads the account."""

    entity_description: AccountSensorDescription
    # The delivery log is for the UI and diagnostics, too large for the recorder.
    _unrecorded_attributes = frozenset({"delivery_log"})

    def __init__(
        self, entry: PtzEmailAlertConfigEntry, description: AccountSensorDescription
    ) -> None:
        """Create the sensor for ``description``."""
        super().__init__(entry, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> str | int | datetime | None:
        """The current value."""
        return self.entity_description.value_fn(self.runtime)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details, where the description has them."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.runtime)


class LastAlertSensor(PtzEmailAlertCameraEntity, SensorEntity):
    """When the camera last raised an alert, and what it was."""

    _attr_translation_key = "last_alert"
    _attr_device_class = SensorDeviceClass.TIMESTAMP

    def __init__(self, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime) -> None:
        """The last-alert sensor of ``monitor``."""
        super().__init__(entry, monitor, "last_alert")

    @property
    def native_value(self) -> datetime | None:
        """Time of the last alert."""
        alert = self.monitor.last_alert
        return alert.time if alert else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Event type, zone, subject and number of pictures of the last alert."""
        alert = self.monitor.last_alert
        if alert is None:
            return None
        return {
            "event_type": alert.event_type,
            "events": alert.events,
            "zone": alert.zone,
            "subject": alert.subject,
            "snapshots": alert.snapshots,
            "emailed": alert.held_back is None,
            # Why the email was held back: switched_off, disarmed (armed by), snoozed, or in AI
            # verify mode nothing_seen / not_verified (ai_fail_closed).
            "held_back": alert.held_back,
            # What the AI saw (status, person, vehicle, count, description), when it was asked.
            "ai": alert.ai,
        }


class SnoozedUntilSensor(PtzEmailAlertCameraEntity, RestoreSensor):
    """Until when the camera's alert emails are held back; kept across restarts."""

    _attr_translation_key = "snoozed_until"
    _attr_device_class = SensorDeviceClass.TIMESTAMP

    def __init__(self, entry: PtzEmailAlertConfigEntry, monitor: CameraRuntime) -> None:
        """The snooze sensor of ``monitor``."""
        super().__init__(entry, monitor, "snoozed_until")

    async def async_added_to_hass(self) -> None:
        """A snooze set before a restart or reload still holds."""
        await super().async_added_to_hass()
        last = await self.async_get_last_sensor_data()
        if (
            self.monitor.arming.snoozed_until is None
            and last is not None
            and isinstance(last.native_value, datetime)
            and last.native_value > dt_util.utcnow()
        ):
            self.monitor.arming.snooze(last.native_value)

    @property
    def native_value(self) -> datetime | None:
        """The end of the snooze, or None."""
        return self.monitor.arming.snoozed_until


class DataSentSensor(PtzEmailAlertAccountEntity, RestoreSensor):
    """Bytes this account sent: emails the server accepted plus uploaded alert files.

    For 4G sites, where data is paid by the megabyte: email bytes are counted on the wire (TCP
    payload: TLS, SMTP commands and all, where the system tells it), with the messages' own
    size beside them. They count from the last known totals (restored after a restart);
    upload bytes are kept by the upload queue itself.
    """

    _attr_translation_key = "data_sent"
    _attr_device_class = SensorDeviceClass.DATA_SIZE
    _attr_state_class = SensorStateClass.TOTAL_INCREASING
    _attr_native_unit_of_measurement = UnitOfInformation.BYTES
    _attr_suggested_unit_of_measurement = UnitOfInformation.MEGABYTES
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, entry: PtzEmailAlertConfigEntry) -> None:
        """The account's data counter."""
        super().__init__(entry, "data_sent")
        self._upload = entry.runtime_data.upload
        self._email_base = 0
        self._wire_base = 0

    async def async_added_to_hass(self) -> None:
        """Continue from the email total before the restart; follow uploads too."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) is not None:
            base = last.attributes.get("email_bytes")
            self._email_base = base if isinstance(base, int) else 0
            wire = last.attributes.get("email_wire_bytes")
            self._wire_base = wire if isinstance(wire, int) else self._email_base
        if self._upload is not None:
            self.async_on_remove(self._upload.async_add_listener(self.async_write_ha_state))

    @property
    def _email_bytes(self) -> int:
        return self._email_base + self.account.reports.bytes_sent

    @property
    def _wire_bytes(self) -> int:
        return self._wire_base + self.account.reports.wire_bytes_sent

    @property
    def native_value(self) -> int:
        """Email bytes on the wire and upload bytes together."""
        upload = self._upload.queue.bytes_sent if self._upload is not None else 0
        return self._wire_bytes + upload

    @property
    def extra_state_attributes(self) -> dict[str, int]:
        """The two parts."""
        upload = self._upload.queue.bytes_sent if self._upload is not None else 0
        return {
            "email_bytes": self._email_bytes,
            "email_wire_bytes": self._wire_bytes,
            "upload_bytes": upload,
        }
