"""Config subentry flow for a camera: source, detections, burst and email settings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import voluptuous as vol

from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.config_entries import ConfigSubentryFlow, SubentryFlowResult
from homeassistant.const import CONF_NAME
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .ai_flow import ai_errors, ai_fields, ai_verifies_objects, async_detection_paths
from .const import (
    CONF_ANIMATED_PREVIEW,
    CONF_ARMED_BY,
    CONF_ARMED_STATES,
    CONF_BURST_COUNT,
    CONF_BURST_INTERVAL,
    CONF_CAMERA_ENTITY,
    CONF_CAMERA_RECIPIENTS,
    CONF_CLIP,
    CONF_CLIP_AFTER,
    CONF_CLIP_ATTACH,
    CONF_CLIP_BEFORE,
    CONF_COOLDOWN,
    CONF_DETECTIONS,
    CONF_DRAW_LAYOUT,
    CONF_EXTERNAL_TRIGGERS,
    CONF_IGNORE_AREAS,
    CONF_LINES,
    CONF_MARK_OBJECTS,
    CONF_MAX_EMAIL_KB,
    CONF_MODEL_PATH,
    CONF_OFFLINE_AFTER,
    CONF_PRE_TRIGGER,
    CONF_PTZ,
    CONF_PTZ_ENTITY,
    CONF_RETENTION_DAYS,
    CONF_RETENTION_MB,
    CONF_SENSITIVITY,
    CONF_SNAPSHOT_SIZE,
    CONF_SNAPSHOT_URL,
    CONF_STREAM_URL,
    CONF_SUBJECT_TEMPLATE,
    CONF_ZONES,
    DEFAULT_BURST_INTERVAL,
    DEFAULT_CLIP_AFTER,
    DEFAULT_CLIP_BEFORE,
    DEFAULT_COOLDOWN,
    DEFAULT_MAX_EMAIL_KB,
    DEFAULT_OFFLINE_AFTER,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_RETENTION_MB,
    DEFAULT_SENSITIVITY,
    DETECTION_TYPES,
    LOGGER,
    SNAPSHOT_SIZES,
)
from .form_numbers import checked_number, range_errors
from .mail.alert import DEFAULT_SUBJECT_TEMPLATE
from .snapshot import SnapshotError, async_fetch_snapshot, redact_url
from .vision.layout import LayoutError, parse_areas, parse_lines, parse_zones
from .vision.person import OnnxDetector, load_opencv

PROBE_TIMEOUT = 20
# Entities whose state can arm a camera: an alarm panel, a schedule, a toggle, people.
ARMING_DOMAINS = [
    "alarm_control_panel",
    "schedule",
    "input_boolean",
    "binary_sensor",
    "switch",
    "person",
    "group",
    "zone",
    "device_tracker",
]


def _schema() -> vol.Schema:
    """The camera form: source, what to detect and where, the email, then evidence.

    Flat keys (automations and tests post them), in the order a user fills them in.
    """
    number = checked_number
    return vol.Schema(
        {
            vol.Required(CONF_NAME): TextSelector(),
            vol.Optional(CONF_CAMERA_ENTITY): EntitySelector(EntitySelectorConfig(domain="camera")),
            vol.Optional(CONF_STREAM_URL): TextSelector(),
            vol.Optional(CONF_SNAPSHOT_URL): TextSelector(),
            # What to detect, and where
            vol.Required(CONF_DETECTIONS, default=["motion"]): SelectSelector(
                SelectSelectorConfig(
                    options=DETECTION_TYPES,
                    multiple=True,
                    mode=SelectSelectorMode.LIST,
                    translation_key=CONF_DETECTIONS,
                )
            ),
            vol.Required(CONF_SENSITIVITY, default=DEFAULT_SENSITIVITY): number(
                1, 10, mode=NumberSelectorMode.SLIDER
            ),
            vol.Optional(CONF_ZONES): TextSelector(TextSelectorConfig(multiline=True)),
            vol.Optional(CONF_LINES): TextSelector(TextSelectorConfig(multiline=True)),
            vol.Optional(CONF_IGNORE_AREAS): TextSelector(TextSelectorConfig(multiline=True)),
            vol.Required(CONF_DRAW_LAYOUT, default=False): BooleanSelector(),
            vol.Optional(CONF_MODEL_PATH): TextSelector(),
            vol.Optional(CONF_EXTERNAL_TRIGGERS): EntitySelector(
                EntitySelectorConfig(domain=["binary_sensor", "event"], multiple=True)
            ),
            vol.Required(CONF_PTZ, default=False): BooleanSelector(),
            vol.Optional(CONF_PTZ_ENTITY): EntitySelector(EntitySelectorConfig()),
            **ai_fields(),  # the AI Task, where this Home Assistant has it
            # The email
            vol.Optional(CONF_BURST_COUNT): number(1, 5),
            vol.Required(CONF_BURST_INTERVAL, default=DEFAULT_BURST_INTERVAL): number(
                0.2, 10, 0.1, "s"
            ),
            vol.Required(CONF_PRE_TRIGGER, default=True): BooleanSelector(),
            vol.Required(CONF_SNAPSHOT_SIZE, default="d1"): SelectSelector(
                SelectSelectorConfig(
                    options=SNAPSHOT_SIZES,
                    mode=SelectSelectorMode.DROPDOWN,
                    translation_key=CONF_SNAPSHOT_SIZE,
                )
            ),
            vol.Required(CONF_MAX_EMAIL_KB, default=DEFAULT_MAX_EMAIL_KB): number(
                50, 25000, 10, "KB"
            ),
            vol.Required(CONF_SUBJECT_TEMPLATE, default=DEFAULT_SUBJECT_TEMPLATE): TextSelector(),
            vol.Optional(CONF_CAMERA_RECIPIENTS): TextSelector(
                TextSelectorConfig(type=TextSelectorType.EMAIL, multiple=True)
            ),
            vol.Required(CONF_MARK_OBJECTS, default=True): BooleanSelector(),
            vol.Required(CONF_ANIMATED_PREVIEW, default=False): BooleanSelector(),
            vol.Required(CONF_COOLDOWN, default=DEFAULT_COOLDOWN): number(0, 3600, 1, "s"),
            vol.Optional(CONF_ARMED_BY): EntitySelector(
                EntitySelectorConfig(domain=ARMING_DOMAINS)
            ),
            vol.Optional(CONF_ARMED_STATES): TextSelector(TextSelectorConfig(multiple=True)),
            vol.Required(CONF_OFFLINE_AFTER, default=DEFAULT_OFFLINE_AFTER): number(
                10, 86400, 1, "s"
            ),
            # Evidence: clips and the pictures kept
            vol.Required(CONF_CLIP, default=True): BooleanSelector(),
            vol.Required(CONF_CLIP_BEFORE, default=DEFAULT_CLIP_BEFORE): number(1, 30, 1, "s"),
            vol.Required(CONF_CLIP_AFTER, default=DEFAULT_CLIP_AFTER): number(1, 60, 1, "s"),
            vol.Required(CONF_CLIP_ATTACH, default=False): BooleanSelector(),
            vol.Required(CONF_RETENTION_DAYS, default=DEFAULT_RETENTION_DAYS): number(
                1, 3650, 1, "d"
            ),
            vol.Required(CONF_RETENTION_MB, default=DEFAULT_RETENTION_MB): number(
                10, 1000000, 10, "MB"
            ),
        }
    )


async def _reads_a_frame(ffmpeg: str, url: str) -> bool:
    """True if ffmpeg decodes one picture from ``url`` within the probe time."""
    try:
        process = await asyncio.create_subprocess_exec(
            ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
            *(["-rtsp_transport", "tcp"] if url.startswith("rtsp://") else []),
            "-i", url, "-frames:v", "1", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        return False
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            picture, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return False
    return process.returncode == 0 and picture.startswith(b"\xff\xd8")


def _model_loads(path: str) -> bool:
    """True if OpenCV is here and reads the ONNX model (runs in the executor)."""
    cv2 = load_opencv()
    if cv2 is None or not Path(path).is_file():
        return False
    try:
        OnnxDetector(cv2, path)
    except cv2.error:
        return False
    return True


class CameraSubentryFlow(ConfigSubentryFlow):
    """Add or change a camera of an account."""

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add a camera."""
        return await self._async_form("user", user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a camera."""
        return await self._async_form("reconfigure", user_input)

    async def _async_form(self, step: str, user_input: dict[str, Any] | None) -> SubentryFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {k: v for k, v in user_input.items() if v not in (None, "", [])}
            errors = await self._async_validate(data)
            if not errors:
                title = str(data[CONF_NAME]).strip()
                if step == "reconfigure":
                    return self.async_update_and_abort(
                        self._get_entry(), self._get_reconfigure_subentry(), data=data, title=title
                    )
                return self.async_create_entry(title=title, data=data)
        suggested = user_input
        if suggested is None and step == "reconfigure":
            suggested = dict(self._get_reconfigure_subentry().data)
        return self.async_show_form(
            step_id=step,
            data_schema=self.add_suggested_values_to_schema(_schema(), suggested or {}),
            errors=errors,
            description_placeholders=await async_detection_paths(self.hass),
        )

    async def _async_validate(self, data: dict[str, Any]) -> dict[str, str]:
        errors = range_errors(_schema(), data)
        try:
            parse_zones(str(data.get(CONF_ZONES, "")))
        except LayoutError:
            errors[CONF_ZONES] = "invalid_zones"
        try:
            parse_lines(str(data.get(CONF_LINES, "")))
        except LayoutError:
            errors[CONF_LINES] = "invalid_lines"
        try:
            parse_areas(str(data.get(CONF_IGNORE_AREAS, "")))
        except LayoutError:
            errors[CONF_IGNORE_AREAS] = "invalid_ignore_areas"
        detections = set(data.get(CONF_DETECTIONS, []))
        if "region_intrusion" in detections and not data.get(CONF_ZONES):
            errors.setdefault(CONF_ZONES, "zones_required")
        if "line_crossing" in detections and not data.get(CONF_LINES):
            errors.setdefault(CONF_LINES, "lines_required")
        if (
            "vehicle" in detections
            and not data.get(CONF_MODEL_PATH)
            and not ai_verifies_objects(data)
        ):
            # No guessing vehicles from blob shapes: a model, or the camera's own events.
            errors[CONF_DETECTIONS] = "vehicle_needs_model"
        errors.update(ai_errors(data))
        model = data.get(CONF_MODEL_PATH)
        if model and not await self.hass.async_add_executor_job(_model_loads, str(model)):
            errors[CONF_MODEL_PATH] = "invalid_model"
        if bool(data.get(CONF_CAMERA_ENTITY)) == bool(data.get(CONF_STREAM_URL)):
            errors["base"] = "one_source"
            return errors
        if errors:
            return errors
        if url := data.get(CONF_STREAM_URL):
            if not await _reads_a_frame(get_ffmpeg_manager(self.hass).binary, str(url)):
                errors[CONF_STREAM_URL] = "cannot_read_stream"
        elif self.hass.states.get(str(data[CONF_CAMERA_ENTITY])) is None:
            errors[CONF_CAMERA_ENTITY] = "camera_not_found"
        if snapshot_url := data.get(CONF_SNAPSHOT_URL):
            try:
                await async_fetch_snapshot(
                    async_get_clientsession(self.hass), str(snapshot_url), within=10
                )
            except SnapshotError as err:
                LOGGER.info("Snapshot URL %s: %s", redact_url(str(snapshot_url)), err)
                errors[CONF_SNAPSHOT_URL] = "cannot_read_snapshot"
        return errors
