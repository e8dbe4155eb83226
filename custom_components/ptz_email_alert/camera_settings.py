"""A camera subentry's settings, parsed once into a frozen object, every default in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .ai_answer import AI_MODE_OFF, AI_MODE_VERIFY, DEFAULT_AI_DAILY_LIMIT, DEFAULT_AI_TIMEOUT
from .const import (
    CONF_AI_DAILY_LIMIT,
    CONF_AI_FAIL_CLOSED,
    CONF_AI_MODE,
    CONF_AI_TASK_ENTITY,
    CONF_AI_TIMEOUT,
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
    DEFAULT_BURST,
    DEFAULT_BURST_INTERVAL,
    DEFAULT_CLIP_AFTER,
    DEFAULT_CLIP_BEFORE,
    DEFAULT_COOLDOWN,
    DEFAULT_MAX_EMAIL_KB,
    DEFAULT_OFFLINE_AFTER,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_RETENTION_MB,
    DEFAULT_SENSITIVITY,
)
from .mail.alert import DEFAULT_SUBJECT_TEMPLATE
from .vision.analyser import AnalyserConfig


def _texts(value: Any) -> tuple[str, ...]:
    """A list option (or one text with commas or lines) as clean strings."""
    if not value:
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).replace(",", "\n").split()
    return tuple(item.strip() for item in map(str, items) if item.strip())


@dataclass(frozen=True, slots=True)
class CameraSettings:
    """Everything one camera is configured with."""

    name: str
    camera_entity: str | None = None
    stream_url: str | None = None
    snapshot_url: str | None = None
    detections: tuple[str, ...] = ("motion",)
    sensitivity: int = DEFAULT_SENSITIVITY
    burst_count: int | None = None  # None: the event type's default
    burst_interval: float = DEFAULT_BURST_INTERVAL
    pre_trigger: bool = True
    snapshot_size: str = "d1"
    max_email_kb: int = DEFAULT_MAX_EMAIL_KB
    subject_template: str = DEFAULT_SUBJECT_TEMPLATE
    cooldown: float = DEFAULT_COOLDOWN
    zones: str = ""
    lines: str = ""
    ignore_areas: str = ""
    external_triggers: tuple[str, ...] = ()
    offline_after: float = DEFAULT_OFFLINE_AFTER
    retention_days: float = DEFAULT_RETENTION_DAYS
    retention_mb: float = DEFAULT_RETENTION_MB
    model_path: str | None = None
    draw_layout: bool = False
    recipients: tuple[str, ...] = ()  # empty: the account's
    armed_by: str | None = None
    armed_states: tuple[str, ...] = ()  # empty: what arms by default for its kind
    mark_objects: bool = True
    animated_preview: bool = False
    ptz: bool = False  # the camera pans, tilts or zooms
    ptz_entity: str | None = None  # any entity whose change marks a commanded move
    clip: bool = True  # only stream cameras record one
    clip_before: float = DEFAULT_CLIP_BEFORE
    clip_after: float = DEFAULT_CLIP_AFTER
    clip_attach: bool = False
    ai_task_entity: str | None = None
    ai_mode: str = AI_MODE_OFF  # off, describe, verify (on when an AI Task entity is set)
    ai_timeout: float = DEFAULT_AI_TIMEOUT
    ai_fail_closed: bool = False
    ai_daily_limit: int = DEFAULT_AI_DAILY_LIMIT

    @classmethod
    def from_data(cls, name: str, data: Mapping[str, Any]) -> CameraSettings:
        """Parse subentry data (older entries may lack keys added later: defaults fill them)."""

        def text(key: str) -> str | None:
            value = data.get(key)
            return str(value).strip() or None if value else None

        return cls(
            name=name,
            camera_entity=text(CONF_CAMERA_ENTITY),
            stream_url=text(CONF_STREAM_URL),
            snapshot_url=text(CONF_SNAPSHOT_URL),
            detections=tuple(data.get(CONF_DETECTIONS) or ["motion"]),
            sensitivity=int(data.get(CONF_SENSITIVITY, DEFAULT_SENSITIVITY)),
            burst_count=int(data[CONF_BURST_COUNT]) if data.get(CONF_BURST_COUNT) else None,
            burst_interval=float(data.get(CONF_BURST_INTERVAL) or DEFAULT_BURST_INTERVAL),
            pre_trigger=bool(data.get(CONF_PRE_TRIGGER, True)),
            snapshot_size=str(data.get(CONF_SNAPSHOT_SIZE) or "d1"),
            max_email_kb=int(data.get(CONF_MAX_EMAIL_KB, DEFAULT_MAX_EMAIL_KB)),
            subject_template=str(data.get(CONF_SUBJECT_TEMPLATE) or DEFAULT_SUBJECT_TEMPLATE),
            cooldown=float(data.get(CONF_COOLDOWN, DEFAULT_COOLDOWN)),
            zones=str(data.get(CONF_ZONES) or ""),
            lines=str(data.get(CONF_LINES) or ""),
            ignore_areas=str(data.get(CONF_IGNORE_AREAS) or ""),
            external_triggers=tuple(data.get(CONF_EXTERNAL_TRIGGERS) or ()),
            offline_after=float(data.get(CONF_OFFLINE_AFTER, DEFAULT_OFFLINE_AFTER)),
            retention_days=float(data.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)),
            retention_mb=float(data.get(CONF_RETENTION_MB, DEFAULT_RETENTION_MB)),
            model_path=text(CONF_MODEL_PATH),
            draw_layout=bool(data.get(CONF_DRAW_LAYOUT, False)),
            recipients=_texts(data.get(CONF_CAMERA_RECIPIENTS)),
            armed_by=text(CONF_ARMED_BY),
            armed_states=_texts(data.get(CONF_ARMED_STATES)),
            mark_objects=bool(data.get(CONF_MARK_OBJECTS, True)),
            animated_preview=bool(data.get(CONF_ANIMATED_PREVIEW, False)),
            ptz=bool(data.get(CONF_PTZ, False)),
            ptz_entity=text(CONF_PTZ_ENTITY),
            clip=bool(data.get(CONF_CLIP, True)),
            clip_before=float(data.get(CONF_CLIP_BEFORE, DEFAULT_CLIP_BEFORE)),
            clip_after=float(data.get(CONF_CLIP_AFTER, DEFAULT_CLIP_AFTER)),
            clip_attach=bool(data.get(CONF_CLIP_ATTACH, False)),
            ai_task_entity=text(CONF_AI_TASK_ENTITY),
            ai_mode=str(data.get(CONF_AI_MODE) or AI_MODE_OFF),
            ai_timeout=float(data.get(CONF_AI_TIMEOUT) or DEFAULT_AI_TIMEOUT),
            ai_fail_closed=bool(data.get(CONF_AI_FAIL_CLOSED, False)),
            ai_daily_limit=int(data.get(CONF_AI_DAILY_LIMIT, DEFAULT_AI_DAILY_LIMIT)),
        )

    def burst_for(self, event_type: str) -> int:
        """Snapshots in an alert of ``event_type``."""
        return self.burst_count or DEFAULT_BURST.get(event_type, 3)

    @property
    def snapshot_fps(self) -> float:
        """JPEGs a second from the stream: enough for the burst interval, at least two."""
        return max(2.0, 1 / self.burst_interval)

    @property
    def retention_age(self) -> timedelta:
        """How long evidence is kept."""
        return timedelta(days=self.retention_days)

    @property
    def retention_bytes(self) -> int:
        """How much evidence is kept."""
        return int(self.retention_mb * 2**20)

    @property
    def ai_enabled(self) -> bool:
        """The AI looks at each alert's burst."""
        return self.ai_mode != AI_MODE_OFF and self.ai_task_entity is not None

    @property
    def wants_objects(self) -> bool:
        """Person or vehicle detection by OpenCV (in AI verify mode the AI finds them)."""
        if self.ai_enabled and self.ai_mode == AI_MODE_VERIFY:
            return False
        return bool({"person", "vehicle"} & set(self.detections))

    def analyser_config(self) -> AnalyserConfig:
        """The detectors' part, as plain values for the pure vision code."""
        return AnalyserConfig(
            detections=frozenset(self.detections),
            sensitivity=self.sensitivity,
            zones=self.zones,
            lines=self.lines,
            ignore_areas=self.ignore_areas,
            model_path=self.model_path,
            ptz=self.ptz,
        )
