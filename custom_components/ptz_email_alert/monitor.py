"""One camera at runtime: frames in, detections out, bursts mailed through the account.

The detectors run in Home Assistant's executor, one frame at a time per camera (a frame that
arrives while the previous one is still analysed is skipped), so the event loop only moves
bytes and decisions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import STATE_ON
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_call_later, async_track_state_change_event
from homeassistant.util import dt as dt_util, slugify

from .account import MailAccount, PtzEmailAlertConfigEntry
from .const import (
    CONF_BURST_COUNT,
    CONF_BURST_INTERVAL,
    CONF_CAMERA_ENTITY,
    CONF_COOLDOWN,
    CONF_DETECTIONS,
    CONF_EXTERNAL_TRIGGERS,
    CONF_IGNORE_AREAS,
    CONF_LINES,
    CONF_MAX_EMAIL_KB,
    CONF_MODEL_PATH,
    CONF_OFFLINE_AFTER,
    CONF_PRE_TRIGGER,
    CONF_RETENTION_DAYS,
    CONF_RETENTION_MB,
    CONF_SENSITIVITY,
    CONF_SNAPSHOT_SIZE,
    CONF_SNAPSHOT_URL,
    CONF_STREAM_URL,
    CONF_SUBJECT_TEMPLATE,
    CONF_ZONES,
    DEFAULT_BURST,
    DEFAULT_BURST_INTERVAL,
    DEFAULT_COOLDOWN,
    DEFAULT_MAX_EMAIL_KB,
    DEFAULT_OFFLINE_AFTER,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_RETENTION_MB,
    DEFAULT_SENSITIVITY,
    DETECTION_HOLD_SECONDS,
    DOMAIN,
    EVENT_ALERT,
    KIND_ALERT,
    LOGGER,
)
from .mail.alert import DEFAULT_SUBJECT_TEMPLATE, alert_content, event_title, render_subject
from .snapshot import SnapshotError, async_fetch_snapshot, redact_url
from .vision.analytics import (
    LineCrossingDetector,
    TamperDetector,
    Tracker,
    ZoneDetector,
)
from .vision.ffmpeg_source import FfmpegSource, SourceConfig
from .vision.frames import GreyFrame, JpegFrame, JpegRing
from .vision.jpeg import fit_to_budget, grey_from_jpeg
from .vision.layout import parse_areas, parse_lines, parse_zones
from .vision.motion import MotionDetector
from .vision.person import OnnxDetector, PersonDetector

# Seconds between pictures when a camera entity has no stream.
POLL_INTERVAL = 1.0


@dataclass(slots=True)
class Finding:
    """A detection in one frame."""

    event_type: str
    zone: str | None = None


@dataclass(slots=True)
class AlertRecord:
    """The last alert of a camera, for its entities."""

    time: datetime
    event_type: str
    zone: str | None
    subject: str
    images: list[bytes] = field(default_factory=list)
    message_id: str | None = None


def _object_detector(opencv: ModuleType, model: Any) -> PersonDetector | OnnxDetector:
    """The model's detector when there is a model, else HOG for people."""
    return OnnxDetector(opencv, str(model)) if model else PersonDetector(opencv)


class Analyser:
    """Every detector of one camera; runs in the executor, one frame at a time."""

    def __init__(self, data: Mapping[str, Any], opencv: ModuleType | None) -> None:
        """Build the detectors the camera asks for."""
        detections = set(data.get(CONF_DETECTIONS, ["motion"]))
        self.detections = detections
        self.ignore_areas = parse_areas(data.get(CONF_IGNORE_AREAS, ""))
        self.motion = MotionDetector(
            int(data.get(CONF_SENSITIVITY, DEFAULT_SENSITIVITY)),
            ignore_areas=[polygon for _, polygon in self.ignore_areas],
        )
        self.tracker = Tracker()
        self.lines = LineCrossingDetector(
            parse_lines(data.get(CONF_LINES, "")) if "line_crossing" in detections else []
        )
        self.zones = ZoneDetector(
            parse_zones(data.get(CONF_ZONES, "")) if "region_intrusion" in detections else []
        )
        self.tamper = TamperDetector() if "tamper" in detections else None
        # Built on the first frame, in the executor: loading a model file is blocking I/O.
        self._make_objects: Callable[[], PersonDetector | OnnxDetector] | None = None
        self.objects: PersonDetector | OnnxDetector | None = None
        if opencv is not None and detections & {"person", "vehicle"}:
            model = data.get(CONF_MODEL_PATH)
            self._make_objects = partial(_object_detector, opencv, model)
        self._last_object_check = -1e9
        self.reset_requested = False

    def analyse(self, frame: GreyFrame, latest_jpeg: JpegFrame | None) -> list[Finding]:
        """Detections in ``frame`` (CPU: executor only)."""
        if self.reset_requested:
            # Applied here, in the analysing thread, never while a frame is half analysed.
            self.reset_requested = False
            self.motion.reset()
            self.tracker = Tracker()
        if self._make_objects is not None:
            self.objects, self._make_objects = self._make_objects(), None
        findings: list[Finding] = []
        if self.tamper is not None and self.tamper.update(frame.pixels, frame.time):
            findings.append(Finding("tamper", self.tamper.active))
        result = self.motion.process(frame.pixels)
        if not result.motion:
            return findings
        if "motion" in self.detections:
            findings.append(Finding("motion"))
        height, width = frame.pixels.shape
        tracks = self.tracker.update(result.blobs[:5], (width, height), frame.time)
        findings += [Finding("line_crossing", c.line) for c in self.lines.update(tracks)]
        findings += [
            Finding("region_intrusion", zone) for zone, _ in self.zones.update(tracks, frame.time)
        ]
        # Object detection is the expensive part: only on motion, at most once a second.
        if (
            self.objects is not None
            and latest_jpeg is not None
            and frame.time - self._last_object_check >= 1.0
        ):
            self._last_object_check = frame.time
            regions = [
                (b.x / width, b.y / height, b.width / width, b.height / height)
                for b in result.blobs
            ]
            labels = {found.label for found in self.objects.detect(latest_jpeg.data, regions)}
            findings += [Finding(label) for label in sorted(labels & self.detections)]
        return findings


class CameraMonitor:
    """Runs one camera subentry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PtzEmailAlertConfigEntry,
        subentry: ConfigSubentry,
        ffmpeg_binary: str,
        opencv: ModuleType | None,
    ) -> None:
        """Prepare; :meth:`async_start` starts the stream."""
        self.hass = hass
        self.entry = entry
        self.subentry = subentry
        self.data = subentry.data
        self.name = str(subentry.title)
        self.account: MailAccount = entry.runtime_data.account
        self.ring = JpegRing(seconds=15)
        self.analyser = Analyser(self.data, opencv)
        self.detections: list[str] = list(self.data.get(CONF_DETECTIONS, ["motion"]))
        self.armed = True
        self.connected = False
        self.last_alert: AlertRecord | None = None
        self.active_until: dict[str, datetime] = {}
        self._cooldown_until: dict[str, datetime] = {}
        self._listeners: list[CALLBACK_TYPE] = []
        self._detection_listeners: list[Callable[[Finding], None]] = []
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._busy = False
        self._jpeg_arrived = asyncio.Event()
        self._offline_timer: CALLBACK_TYPE | None = None
        self._offline_reported = False
        self._source: FfmpegSource | None = None
        self._ffmpeg = ffmpeg_binary
        self._hold_timers: dict[str, CALLBACK_TYPE] = {}
        self._snapshot_failing = False

    # Life cycle ----------------------------------------------------------------------------

    async def async_start(self) -> None:
        """Open the stream and follow the external triggers."""
        url = await self._async_stream_url()
        if url is None and (entity_id := self.data.get(CONF_CAMERA_ENTITY)):
            # A camera entity without a stream: analyse its still pictures instead.
            self.entry.async_create_background_task(
                self.hass, self._async_poll(str(entity_id)), f"{DOMAIN} poll {self.name}"
            )
        if url is None:
            self._arm_offline_timer()
            return
        self._source = FfmpegSource(
            SourceConfig(
                ffmpeg=self._ffmpeg,
                url=url,
                snapshot_size=str(self.data.get(CONF_SNAPSHOT_SIZE, "d1")),
                snapshot_fps=max(2.0, 1 / float(self.data.get(CONF_BURST_INTERVAL, 1.0))),
            ),
            on_grey=self._on_grey,
            on_jpeg=self._on_jpeg,
            on_connected=self._on_connected,
        )
        self.entry.async_create_background_task(
            self.hass, self._source.run(), f"{DOMAIN} stream {self.name}"
        )
        triggers = list(self.data.get(CONF_EXTERNAL_TRIGGERS, []))
        if triggers:
            self._unsubscribe.append(
                async_track_state_change_event(self.hass, triggers, self._on_external)
            )
        # A camera that never delivers a frame is offline too.
        self._arm_offline_timer()

    async def async_stop(self) -> None:
        """Stop ffmpeg and timers."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for cancel in self._hold_timers.values():
            cancel()
        if self._offline_timer:
            self._offline_timer()
        if self._source is not None:
            await self._source.stop()

    async def _async_stream_url(self) -> str | None:
        if url := self.data.get(CONF_STREAM_URL):
            return str(url)
        entity_id = self.data.get(CONF_CAMERA_ENTITY)
        if not entity_id:
            return None
        from homeassistant.components.camera import async_get_stream_source  # noqa: PLC0415

        try:
            return await async_get_stream_source(self.hass, str(entity_id))
        except HomeAssistantError:
            return None

    async def _async_poll(self, entity_id: str) -> None:
        """Fetch the camera entity's picture about once a second (no stream to decode)."""
        from homeassistant.components.camera import async_get_image  # noqa: PLC0415

        frame_time = 0.0
        while True:
            try:
                image = await async_get_image(self.hass, entity_id, timeout=10)
            except HomeAssistantError:
                if self.connected:
                    self._on_connected(False)
                await asyncio.sleep(POLL_INTERVAL)
                continue
            if not self.connected:
                self._on_connected(True)
            frame_time += POLL_INTERVAL
            self._on_jpeg(JpegFrame(frame_time, image.content))
            pixels = await self.hass.async_add_executor_job(grey_from_jpeg, image.content)
            if pixels is not None:
                self._on_grey(GreyFrame(frame_time, pixels))
            await asyncio.sleep(POLL_INTERVAL)

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` when anything visible changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_add_detection_listener(self, listener: Callable[[Finding], None]) -> CALLBACK_TYPE:
        """Call ``listener`` for each detection (the event entity)."""
        self._detection_listeners.append(listener)
        return lambda: self._detection_listeners.remove(listener)

    @callback
    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # Frames --------------------------------------------------------------------------------

    @callback
    def _on_jpeg(self, frame: JpegFrame) -> None:
        self.ring.add(frame)
        self._jpeg_arrived.set()

    @callback
    def _on_grey(self, frame: GreyFrame) -> None:
        if self._busy:
            return  # still analysing the previous frame: skip, never queue up
        self._busy = True
        self.entry.async_create_background_task(
            self.hass, self._async_analyse(frame), f"{DOMAIN} analyse {self.name}"
        )

    async def _async_analyse(self, frame: GreyFrame) -> None:
        try:
            findings = await self.hass.async_add_executor_job(
                self.analyser.analyse, frame, self.ring.latest
            )
        finally:
            self._busy = False
        for finding in findings:
            self._handle(finding, frame.time)

    @callback
    def _on_connected(self, connected: bool) -> None:
        self.connected = connected
        if connected:
            LOGGER.info("Camera %s: stream connected", self.name)
            if self._offline_timer:
                self._offline_timer()
                self._offline_timer = None
            if self._offline_reported:
                self._offline_reported = False
                self._mail_status("online")
        else:
            LOGGER.warning("Camera %s: stream lost, reconnecting", self.name)
            self.analyser.reset_requested = True  # a new stream: learn the scene again
            self._arm_offline_timer()
        self._changed()

    def _arm_offline_timer(self) -> None:
        if self._offline_timer or self._offline_reported:
            return
        delay = float(self.data.get(CONF_OFFLINE_AFTER, DEFAULT_OFFLINE_AFTER))

        @callback
        def offline(_now: datetime) -> None:
            self._offline_timer = None
            if not self.connected:
                self._offline_reported = True
                self._mail_status("offline")

        self._offline_timer = async_call_later(self.hass, delay, offline)

    def _mail_status(self, event_type: str) -> None:
        self.entry.async_create_background_task(
            self.hass,
            self.async_alert(event_type, burst=0, force=True),
            f"{DOMAIN} {event_type} {self.name}",
        )

    # Decisions -----------------------------------------------------------------------------

    @callback
    def _handle(self, finding: Finding, stream_time: float) -> None:
        now = dt_util.utcnow()
        self._set_active(finding.event_type, now)
        for listener in list(self._detection_listeners):
            listener(finding)
        self.entry.async_create_background_task(
            self.hass,
            self.async_alert(finding.event_type, zone=finding.zone, trigger_time=stream_time),
            f"{DOMAIN} alert {self.name}",
        )

    def _set_active(self, event_type: str, now: datetime) -> None:
        self.active_until[event_type] = now + timedelta(seconds=DETECTION_HOLD_SECONDS)
        if cancel := self._hold_timers.pop(event_type, None):
            cancel()

        @callback
        def release(_now: datetime) -> None:
            self._hold_timers.pop(event_type, None)
            self._changed()

        self._hold_timers[event_type] = async_call_later(self.hass, DETECTION_HOLD_SECONDS, release)
        self._changed()

    def is_active(self, event_type: str) -> bool:
        """True while a detection of this type is held on."""
        until = self.active_until.get(event_type)
        return until is not None and until > dt_util.utcnow()

    @callback
    def _on_external(self, event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        old = event.data["old_state"]
        if new is None:
            return
        domain = new.entity_id.split(".", 1)[0]
        if domain == "binary_sensor":
            if new.state != STATE_ON or (old is not None and old.state == STATE_ON):
                return
            device_class = new.attributes.get("device_class")
            event_type = {"motion": "motion", "occupancy": "person", "presence": "person"}.get(
                str(device_class), "external"
            )
        elif domain == "event":
            if old is None or new.state == old.state or new.state in ("unknown", "unavailable"):
                return
            kind = str(new.attributes.get("event_type", ""))
            event_type = kind if kind in DEFAULT_BURST else "external"
        else:
            return
        LOGGER.debug("Camera %s: external trigger %s -> %s", self.name, new.entity_id, event_type)
        self._handle(Finding(event_type, new.name), self._stream_now())

    def _stream_now(self) -> float:
        """Stream time of "now" for a trigger from outside the stream (a sensor, the action).

        Just after the newest picture: that picture is the one from before the trigger, and the
        burst continues with the pictures that arrive after it.
        """
        latest = self.ring.latest
        return latest.time + 1e-3 if latest else 0.0

    # Alerts --------------------------------------------------------------------------------

    async def async_alert(
        self,
        event_type: str,
        *,
        zone: str | None = None,
        trigger_time: float | None = None,
        burst: int | None = None,
        force: bool = False,
    ) -> AlertRecord | None:
        """Capture a burst and mail it, unless disarmed or cooling down (``force``: always)."""
        now = dt_util.utcnow()
        if not force:
            if not self.armed:
                return None
            if self._cooldown_until.get(event_type, now) > now:
                return None
            cooldown = float(self.data.get(CONF_COOLDOWN, DEFAULT_COOLDOWN))
            self._cooldown_until[event_type] = now + timedelta(seconds=cooldown)
        count = (
            burst
            if burst is not None
            else int(self.data.get(CONF_BURST_COUNT) or DEFAULT_BURST.get(event_type, 3))
        )
        full_resolution: asyncio.Task[list[bytes]] | None = None
        if (snapshot_url := self.data.get(CONF_SNAPSHOT_URL)) and count > 0:
            full_resolution = self.hass.async_create_task(
                self._async_full_resolution(str(snapshot_url), count), eager_start=True
            )
        images = await self._async_burst(
            count, self._stream_now() if trigger_time is None else trigger_time
        )
        when = dt_util.now()
        template = str(self.data.get(CONF_SUBJECT_TEMPLATE) or DEFAULT_SUBJECT_TEMPLATE)
        subject = render_subject(
            template, camera=self.name, event_type=event_type, when=when, zone=zone,
            count=len(images),
        )  # fmt: skip
        budget = int(self.data.get(CONF_MAX_EMAIL_KB, DEFAULT_MAX_EMAIL_KB)) * 1024
        images = await self.hass.async_add_executor_job(fit_to_budget, images, budget)
        record = AlertRecord(now, event_type, zone, subject, images)
        self.last_alert = record
        self.hass.bus.async_fire(
            EVENT_ALERT,
            {
                "entry_id": self.entry.entry_id,
                "camera": self.name,
                "subentry_id": self.subentry.subentry_id,
                "event_type": event_type,
                "event": event_title(event_type),
                "zone": zone,
                "subject": subject,
                "snapshots": len(images),
            },
        )
        self._changed()
        await self.hass.async_add_executor_job(self._save_evidence, record)
        content = alert_content(
            subject=subject, camera=self.name, event_type=event_type, when=when, zone=zone,
            images=images,
        )  # fmt: skip
        try:
            submission = await self.account.async_send(content, kind=KIND_ALERT)
            record.message_id = submission.message_id
        except HomeAssistantError as err:
            LOGGER.warning("Alert email of camera %s was not sent: %s", self.name, err)
        if full_resolution is not None:
            # Only kept locally: the email has gone with the stream's (smaller) pictures.
            full = await full_resolution
            await self.hass.async_add_executor_job(self._save_evidence, record, full, "full")
        await self.hass.async_add_executor_job(self._apply_retention, record)
        return record

    async def _async_full_resolution(self, url: str, count: int) -> list[bytes]:
        """Pictures from the snapshot URL at the burst interval, while the burst runs."""
        interval = float(self.data.get(CONF_BURST_INTERVAL, DEFAULT_BURST_INTERVAL))
        session = async_get_clientsession(self.hass)
        loop = asyncio.get_running_loop()
        started = loop.time()
        pictures: list[bytes] = []
        for index in range(count):
            if (wait := started + index * interval - loop.time()) > 0:
                await asyncio.sleep(wait)
            try:
                pictures.append(
                    await async_fetch_snapshot(session, url, within=max(2.0, 2 * interval))
                )
            except SnapshotError as err:
                if not self._snapshot_failing:
                    LOGGER.warning(
                        "Camera %s: no full-resolution picture from %s: %s. The alert keeps "
                        "the stream's pictures; check the snapshot URL in the camera's settings",
                        self.name, redact_url(url), err,
                    )  # fmt: skip
                self._snapshot_failing = True
                return pictures
        if self._snapshot_failing:
            LOGGER.info("Camera %s: full-resolution pictures work again", self.name)
            self._snapshot_failing = False
        return pictures

    async def _async_burst(self, count: int, start: float) -> list[bytes]:
        """The pre-trigger picture (if asked) and pictures at the burst interval."""
        if count <= 0:
            return []
        interval = float(self.data.get(CONF_BURST_INTERVAL, DEFAULT_BURST_INTERVAL))
        pictures: list[bytes] = []
        if self.data.get(CONF_PRE_TRIGGER, True) and (before := self.ring.before(start)):
            pictures.append(before.data)
        wanted = start
        try:
            async with asyncio.timeout(count * interval + 10):
                while len(pictures) < count:
                    frame = self.ring.after(wanted)
                    if frame is None:
                        self._jpeg_arrived.clear()
                        await self._jpeg_arrived.wait()
                        continue
                    pictures.append(frame.data)
                    wanted = frame.time + interval
        except TimeoutError:
            LOGGER.debug("Camera %s: burst ended with %d pictures", self.name, len(pictures))
            if not pictures and (latest := self.ring.latest):
                pictures.append(latest.data)
        return pictures

    @property
    def evidence_folder(self) -> Path:
        """``<media>/ptz_email_alert/<camera>/``: browsable in the media browser."""
        return evidence_root(self.hass) / slugify(self.name)

    def _save_evidence(
        self, record: AlertRecord, images: list[bytes] | None = None, suffix: str = ""
    ) -> None:
        """Keep the pictures locally, like a camera's SD card (runs in the executor)."""
        local = dt_util.as_local(record.time)
        folder = self.evidence_folder / local.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        # Milliseconds too: two forced alerts in one second must not overwrite each other.
        stamp = f"{local:%H%M%S}-{local.microsecond // 1000:03d}"
        suffix = f"_{suffix}" if suffix else ""
        for index, image in enumerate(record.images if images is None else images, start=1):
            (folder / f"{stamp}_{record.event_type}_{index}{suffix}.jpg").write_bytes(image)

    def _apply_retention(self, record: AlertRecord) -> None:
        """Delete old pictures (executor; after the email is queued, so it never delays it)."""
        prune(
            self.evidence_folder,
            max_age=timedelta(
                days=float(self.data.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS))
            ),
            max_bytes=int(float(self.data.get(CONF_RETENTION_MB, DEFAULT_RETENTION_MB)) * 2**20),
            now=record.time,
        )


def evidence_root(hass: HomeAssistant) -> Path:
    """Where alert pictures are kept: the ``local`` media folder (``/media`` on HA OS)."""
    return Path(hass.config.media_dirs.get("local", hass.config.path("media"))) / DOMAIN


def prune(folder: Path, *, max_age: timedelta, max_bytes: int, now: datetime) -> list[Path]:
    """Delete pictures older than ``max_age``, then the oldest until under ``max_bytes``."""
    # One stat per file, oldest first.
    files = sorted(
        (
            (stat.st_mtime, stat.st_size, path)
            for path in folder.rglob("*.jpg")
            if (stat := path.stat())
        ),
        key=lambda item: item[0],
    )
    oldest_kept = (now - max_age).timestamp()
    expired = sum(1 for mtime, _, _ in files if mtime < oldest_kept)
    total = sum(size for _, size, _ in files[expired:])
    cut = expired
    while cut < len(files) and total > max_bytes:
        total -= files[cut][1]
        cut += 1
    removed = [path for _, _, path in files[:cut]]
    for path in removed:
        path.unlink(missing_ok=True)
    for day in folder.iterdir():
        if day.is_dir() and not any(day.iterdir()):
            day.rmdir()
    return removed


def opencv_missing_issue(hass: HomeAssistant, camera: str) -> None:
    """Say that person detection cannot run, and what to do instead."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        "opencv_missing",
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="opencv_missing",
        translation_placeholders={"camera": camera},
    )
