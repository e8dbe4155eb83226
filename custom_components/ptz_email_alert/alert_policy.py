"""Which detections make an alert, and which join one already being captured.

One event, one email: detections of one camera that start while an alert's burst is being
captured join it; the email is typed by the most specific of them. The cooldown is per camera
for these; tamper, external triggers and status emails keep their own alerts and cooldowns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .mail.alert import event_label

# Higher is more specific: the email's type is the highest that joined.
MERGEABLE_RANK = {
    "motion": 1,
    "region_intrusion": 2,
    "line_crossing": 3,
    "person": 4,
    "vehicle": 4,
}
CAMERA_COOLDOWN = "camera"  # the cooldown key shared by the mergeable types


@dataclass(slots=True)
class Detection:
    """One detection that is part of an alert."""

    event_type: str
    zone: str | None = None


@dataclass(slots=True)
class Capture:
    """An alert whose burst is being captured; others may join until ``joins_until``."""

    first: Detection
    joins_until: float  # loop time
    held_back: str | None = None
    joined: list[Detection] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.joined.append(self.first)

    def join(self, detection: Detection) -> None:
        """Add a detection (the same type and zone twice counts once)."""
        if all(
            (d.event_type, d.zone) != (detection.event_type, detection.zone) for d in self.joined
        ):
            self.joined.append(detection)

    @property
    def primary(self) -> Detection:
        """The most specific detection (the first of equal rank)."""
        return max(self.joined, key=lambda d: MERGEABLE_RANK.get(d.event_type, 0))

    @property
    def event_types(self) -> list[str]:
        """Every type that joined, in the order they came, once each."""
        return list(dict.fromkeys(d.event_type for d in self.joined))

    @property
    def also(self) -> list[str]:
        """The others, as the email body names them."""
        primary = self.primary
        return [event_label(d.event_type, d.zone) for d in self.joined if d is not primary]


class Cooldowns:
    """Per camera for mergeable types, per type for the others."""

    def __init__(self, seconds: float) -> None:
        """``seconds`` after an alert starts, the next one of its key may start."""
        self.seconds = seconds
        self._until: dict[str, datetime] = {}

    @staticmethod
    def key(event_type: str) -> str:
        """The cooldown an event type shares."""
        return CAMERA_COOLDOWN if event_type in MERGEABLE_RANK else event_type

    def take(self, event_type: str, now: datetime) -> bool:
        """True (and the cooldown starts) unless the key is cooling down."""
        key = self.key(event_type)
        if self._until.get(key, now) > now:
            return False
        self._until[key] = now + timedelta(seconds=self.seconds)
        return True
