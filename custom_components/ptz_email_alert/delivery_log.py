"""The delivery log as people read it: local ISO times, whole milliseconds, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeassistant.util import dt as dt_util

from .mail.outbox_records import DeliveryAttempt

# Attempts shown in the Last error sensor's attributes; diagnostics hold the whole log.
ATTRIBUTE_LOG_SIZE = 10


def readable_attempt(attempt: DeliveryAttempt) -> dict[str, Any]:
    """One attempt: when (local time, ISO 8601), where, what, how it ended, how long it took."""
    when = dt_util.as_local(dt_util.utc_from_timestamp(attempt.time))
    return {
        "time": when.isoformat(timespec="seconds"),
        "server": attempt.server,
        "subject": attempt.subject,
        "attempt": attempt.attempt,
        "error": attempt.error.value,
        "code": attempt.code,
        "reply": attempt.text,
        "duration_ms": round(attempt.duration * 1000),
        "message_id": attempt.message_id,
    }


def readable_log(
    attempts: Sequence[DeliveryAttempt], limit: int | None = None
) -> list[dict[str, Any]]:
    """The newest ``limit`` attempts (all when None), newest first."""
    newest_first = list(reversed(attempts))
    return [readable_attempt(attempt) for attempt in newest_first[:limit]]
