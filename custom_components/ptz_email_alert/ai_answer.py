"""What the AI is asked about a burst, what its answer means for the alert (pure, no HA import).

The AI (Home Assistant's AI Task) looks at the burst's pictures and answers with a structure:
``person``, ``vehicle``, ``count`` and a one-sentence ``description``. This module reads that
answer defensively (a model may answer anything) and decides what the alert does with it:
in ``describe`` mode the description is added; in ``verify`` mode motion, zone and line alerts
go out only when a person or vehicle is seen. Failures never cost an alert unless the camera
asks for that (``ai_fail_closed``), and never when the budget, not the AI, skipped the call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
import math
from typing import Any

from .mail.message import one_line

AI_MODE_OFF = "off"
AI_MODE_DESCRIBE = "describe"
AI_MODE_VERIFY = "verify"
AI_MODES = [AI_MODE_OFF, AI_MODE_DESCRIBE, AI_MODE_VERIFY]
DEFAULT_AI_TIMEOUT = 15
DEFAULT_AI_DAILY_LIMIT = 200
# Consecutive failed calls before a repair issue says the AI is not working.
FAILURES_FOR_REPAIR = 3
# The alerts that verify mode sends only when the AI sees a person or vehicle.
VERIFIED_TYPES = frozenset({"motion", "region_intrusion", "line_crossing"})
# A description longer than this is cut (an email's first line, a subject part).
DESCRIPTION_MAX = 200

INSTRUCTIONS = (
    "These pictures were taken by a security camera, in order, a fraction of a second to a "
    "few seconds apart, because it saw something move. Look at all of them. Answer: person: "
    "true if a person is visible in any picture; vehicle: true if a car, van, truck, bus, "
    "motorcycle or bicycle is visible; count: how many people and vehicles in all; "
    "description: one short sentence (at most 15 words) that says what happens, for the "
    "subject of an alert email, without guessing who it is."
)

# Held-back reasons (the alert event's and the last-alert sensor's ``held_back``).
HELD_NOTHING_SEEN = "nothing_seen"
HELD_NOT_VERIFIED = "not_verified"


class AiStatus(StrEnum):
    """How the call went."""

    ANSWERED = "answered"
    TIMEOUT = "timeout"
    FAILED = "failed"
    DAILY_LIMIT = "daily_limit"  # not called: the day's calls are used up
    COOLDOWN = "cooldown"  # not called: one call per cooldown
    NO_PICTURE = "no_picture"  # not called: the burst had no picture


@dataclass(frozen=True, slots=True)
class AiAnswer:
    """The AI's structured answer."""

    person: bool
    vehicle: bool
    count: int
    description: str

    @property
    def seen(self) -> bool:
        """A person or a vehicle."""
        return self.person or self.vehicle


@dataclass(frozen=True, slots=True)
class AiOutcome:
    """The answer, or why there is none; ``seconds`` from the call to its answer or failure."""

    status: AiStatus
    answer: AiAnswer | None = None
    seconds: float | None = None
    pictures: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """For the alert event and the last-alert sensor (plain values)."""
        answer = self.answer
        return {
            "status": self.status.value,
            "person": answer.person if answer else None,
            "vehicle": answer.vehicle if answer else None,
            "count": answer.count if answer else None,
            "description": answer.description if answer else None,
            "seconds": round(self.seconds, 2) if self.seconds is not None else None,
            "pictures": self.pictures,
        }


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "1"}
    return bool(value)


def parse_answer(data: Any) -> AiAnswer:
    """The structure the AI gave; TypeError or ValueError when it is not one."""
    if not isinstance(data, dict):
        raise TypeError(f"not a structure: {type(data).__name__}")
    try:
        count = float(data.get("count") or 0)
    except (TypeError, ValueError) as err:
        raise ValueError(f"count is not a number: {data.get('count')!r}") from err
    description = one_line(str(data.get("description") or ""))
    if len(description) > DESCRIPTION_MAX:
        description = description[: DESCRIPTION_MAX - 1].rstrip() + "…"
    return AiAnswer(
        person=_flag(data.get("person")),
        vehicle=_flag(data.get("vehicle")),
        count=max(0, int(count)) if math.isfinite(count) else 0,
        description=description,
    )


def pictures_to_wait_for(
    count: int, interval: float, latency: float | None, *, have_before: bool = False
) -> int:
    """How many of the burst's ``count`` pictures after the trigger to wait for before the call.

    They are taken ``interval`` apart, the first at the trigger. With the picture from just
    before the trigger (``have_before``: the moment the detection saw), the call can start at
    once with it alone: so it does when the AI's answer time is unknown (its first call) or
    too long for even the first picture after the trigger. Otherwise: as many as can still
    be looked at without the answer coming after the burst's last picture, at least one.
    """
    fewest = 0 if have_before else 1
    if latency is None or interval <= 0:
        return fewest
    return max(fewest, min(count, count - math.ceil(latency / interval)))


@dataclass(frozen=True, slots=True)
class AiVerdict:
    """What the alert does with the outcome."""

    send: bool
    event_type: str
    description: str | None = None
    note: str | None = None  # a line of the email body
    held_back: str | None = None


_NOT_VERIFIED = {
    AiStatus.TIMEOUT: "Not verified: the AI did not answer in time.",
    AiStatus.FAILED: "Not verified: the AI could not be reached.",
    AiStatus.DAILY_LIMIT: "Not verified: today's AI calls are used up.",
    AiStatus.COOLDOWN: "Not verified: the AI looked at an alert moments ago.",
    AiStatus.NO_PICTURE: "Not verified: there was no picture to show the AI.",
}


def verdict(
    mode: str,
    event_type: str,
    detections: Iterable[str],
    outcome: AiOutcome | None,
    *,
    fail_closed: bool,
) -> AiVerdict:
    """Send or hold back, with which type and description."""
    if mode == AI_MODE_OFF or outcome is None:
        return AiVerdict(send=True, event_type=event_type)
    answer = outcome.answer
    description = answer.description or None if answer else None
    if mode != AI_MODE_VERIFY or event_type not in VERIFIED_TYPES:
        return AiVerdict(send=True, event_type=event_type, description=description)
    if answer is None:
        # Fail open, except for a camera that prefers fewer emails (and only when the AI
        # failed: a call skipped to save money never costs an alert).
        closed = fail_closed and outcome.status in (AiStatus.TIMEOUT, AiStatus.FAILED)
        return AiVerdict(
            send=not closed,
            event_type=event_type,
            note=_NOT_VERIFIED.get(outcome.status),
            held_back=HELD_NOT_VERIFIED if closed else None,
        )
    wanted = set(detections)
    seen = [kind for kind, yes in (("person", answer.person), ("vehicle", answer.vehicle)) if yes]
    if objects := [kind for kind in seen if kind in wanted]:
        return AiVerdict(send=True, event_type=objects[0], description=description)
    if seen and event_type in wanted:
        return AiVerdict(send=True, event_type=event_type, description=description)
    return AiVerdict(
        send=False, event_type=event_type, description=description, held_back=HELD_NOTHING_SEEN
    )
