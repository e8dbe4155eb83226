"""Actions: ``send_email``, ``trigger`` (a camera's burst now) and ``snooze``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import voluptuous as vol

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, entity_registry as er
from homeassistant.util import dt as dt_util

from .camera_runtime import CameraRuntime
from .const import DOMAIN
from .mail import Attachment, EmailContent
from .runtime_data import PtzEmailAlertConfigEntry, PtzEmailAlertData

SERVICE_SEND_EMAIL = "send_email"
SERVICE_TRIGGER = "trigger"
SERVICE_SNOOZE = "snooze"
ATTR_DURATION = "duration"
ATTR_UNTIL = "until"
ATTR_EVENT_TYPE = "event_type"
ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_SUBJECT = "subject"
ATTR_MESSAGE = "message"
ATTR_HTML = "html"
ATTR_RECIPIENTS = "recipients"
ATTR_ATTACHMENTS = "attachments"

MEDIA_SOURCE_PREFIX = "media-source://"
LOCAL_MEDIA_PREFIX = "media-source://media_source/"

SEND_EMAIL_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(ATTR_SUBJECT): cv.string,
        vol.Required(ATTR_MESSAGE): cv.string,
        vol.Optional(ATTR_HTML): cv.string,
        vol.Optional(ATTR_RECIPIENTS): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_ATTACHMENTS): vol.All(cv.ensure_list, [cv.string]),
    }
)


# The event types the trigger action offers (services.yaml lists the same, translated in the
# `event_type` selector of translations/en.json).
TRIGGER_EVENT_TYPES = [
    "motion",
    "person",
    "vehicle",
    "line_crossing",
    "region_intrusion",
    "tamper",
    "external",
]

TRIGGER_SCHEMA = vol.Schema(
    {
        vol.Required("entity_id"): cv.entity_ids,
        vol.Optional(ATTR_RECIPIENTS): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_EVENT_TYPE, default="external"): vol.In(TRIGGER_EVENT_TYPES),
    }
)


SNOOZE_SCHEMA = vol.Schema(
    {
        vol.Required("entity_id"): cv.entity_ids,
        vol.Exclusive(ATTR_DURATION, "snooze"): cv.positive_time_period,
        vol.Exclusive(ATTR_UNTIL, "snooze"): cv.datetime,
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""

    async def _trigger(call: ServiceCall) -> None:
        for monitor in _monitors_for(hass, call.data["entity_id"]):
            await monitor.async_trigger(
                call.data[ATTR_EVENT_TYPE], call.data.get(ATTR_RECIPIENTS) or None
            )

    hass.services.async_register(DOMAIN, SERVICE_TRIGGER, _trigger, schema=TRIGGER_SCHEMA)

    @callback
    def _snooze(call: ServiceCall) -> None:
        if (duration := call.data.get(ATTR_DURATION)) is not None:
            until: datetime | None = dt_util.utcnow() + duration if duration else None
        elif (at := call.data.get(ATTR_UNTIL)) is not None:
            until = dt_util.as_utc(
                at if at.tzinfo else at.replace(tzinfo=dt_util.get_default_time_zone())
            )
        else:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="snooze_needs_time"
            )
        for monitor in _monitors_for(hass, call.data["entity_id"]):
            monitor.arming.snooze(until)

    hass.services.async_register(DOMAIN, SERVICE_SNOOZE, _snooze, schema=SNOOZE_SCHEMA)

    async def _send_email(call: ServiceCall) -> ServiceResponse:
        entry = _account_entry(hass, call.data.get(ATTR_CONFIG_ENTRY_ID))
        attachments = [
            await _load_attachment(hass, source) for source in call.data.get(ATTR_ATTACHMENTS, [])
        ]
        content = EmailContent(
            subject=call.data[ATTR_SUBJECT],
            text=call.data[ATTR_MESSAGE],
            html=call.data.get(ATTR_HTML),
            attachments=attachments,
        )
        submission = await entry.runtime_data.account.async_send(
            content, call.data.get(ATTR_RECIPIENTS)
        )
        accepted = submission.accepted
        return {
            "message_id": submission.message_id,
            "queued": accepted is None,
            "error": submission.error.kind.value if submission.error else None,
            "refused_recipients": list(accepted.refused_recipients) if accepted else [],
        }

    hass.services.async_register(
        DOMAIN,
        SERVICE_SEND_EMAIL,
        _send_email,
        schema=SEND_EMAIL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


def _account_entry(hass: HomeAssistant, entry_id: str | None) -> PtzEmailAlertConfigEntry:
    """The account to send with: the one named, or the only one there is."""
    if entry_id is None:
        loaded = hass.config_entries.async_loaded_entries(DOMAIN)
        if len(loaded) != 1:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="account_required"
            )
        entry: PtzEmailAlertConfigEntry = loaded[0]
        return entry
    found = hass.config_entries.async_get_entry(entry_id)
    if found is None or found.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="account_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if found.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="account_not_loaded",
            translation_placeholders={"title": found.title},
        )
    return found


async def _load_attachment(hass: HomeAssistant, source: str) -> Attachment:
    """An attachment from a file path, a media-source id or a camera entity (a snapshot)."""
    if source.startswith("camera."):
        return await _camera_snapshot(hass, source)
    if source.startswith(MEDIA_SOURCE_PREFIX):
        return await _read_file(hass, await _media_source_path(hass, source), source)
    # is_allowed_path resolves the path on disk: blocking I/O, so not on the event loop.
    if not await hass.async_add_executor_job(hass.config.is_allowed_path, source):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="attachment_not_allowed",
            translation_placeholders={"path": source},
        )
    return await _read_file(hass, Path(source), source)


async def _camera_snapshot(hass: HomeAssistant, entity_id: str) -> Attachment:
    from homeassistant.components.camera import async_get_image  # noqa: PLC0415

    try:
        image = await async_get_image(hass, entity_id)
    except HomeAssistantError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="snapshot_failed",
            translation_placeholders={"entity_id": entity_id, "error": str(err)},
        ) from err
    stamp = dt_util.now().strftime("%Y%m%d-%H%M%S")
    name = entity_id.split(".", 1)[1]
    return Attachment(f"{name}_{stamp}.jpg", image.content, image.content_type)


async def _media_source_path(hass: HomeAssistant, media_id: str) -> Path:
    """Local file behind a media-source id (only local media can be attached)."""
    from homeassistant.components import media_source  # noqa: PLC0415

    try:
        resolved = await media_source.async_resolve_media(hass, media_id, None)
    except (media_source.Unresolvable, HomeAssistantError) as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="attachment_unresolvable",
            translation_placeholders={"media_id": media_id, "error": str(err)},
        ) from err
    path: Path | None = getattr(resolved, "path", None)  # Home Assistant 2025.6+
    if path is None and media_id.startswith(LOCAL_MEDIA_PREFIX):
        source_dir_id, _, location = media_id.removeprefix(LOCAL_MEDIA_PREFIX).partition("/")
        base = hass.config.media_dirs.get(source_dir_id)
        if base is not None:
            path = Path(base, location)
    if path is None or not await hass.async_add_executor_job(
        hass.config.is_allowed_path, str(path)
    ):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="attachment_unresolvable",
            translation_placeholders={"media_id": media_id, "error": "not a local file"},
        )
    return path


async def _read_file(hass: HomeAssistant, path: Path, source: str) -> Attachment:
    try:
        content = await hass.async_add_executor_job(path.read_bytes)
    except OSError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="attachment_unreadable",
            translation_placeholders={"path": source, "error": err.strerror or str(err)},
        ) from err
    return Attachment(path.name, content)


def _monitors_for(hass: HomeAssistant, entity_ids: list[str]) -> list[CameraRuntime]:
    """The cameras behind entities of this integration (any entity of the camera device)."""
    registry = er.async_get(hass)
    monitors = []
    for entity_id in entity_ids:
        entity = registry.async_get(entity_id)
        if entity is None or entity.platform != DOMAIN or entity.config_entry_id is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_camera",
                translation_placeholders={"entity_id": entity_id},
            )
        entry = hass.config_entries.async_get_entry(entity.config_entry_id)
        runtime = getattr(entry, "runtime_data", None) if entry else None
        monitor = (
            runtime.cameras.get(entity.config_subentry_id or "")
            if isinstance(runtime, PtzEmailAlertData)
            else None
        )
        if monitor is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="not_a_camera",
                translation_placeholders={"entity_id": entity_id},
            )
        monitors.append(monitor)
    return monitors
