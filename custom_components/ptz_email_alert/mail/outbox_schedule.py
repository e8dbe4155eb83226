"""Which queued items go next and when: retry schedule, batches, bounds, expiry, wake-ups.

Pure functions over the outbox's item list; the outbox applies their answers (logs, events,
storage).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import MESSAGE_CAUSES, SmtpError
from .outbox_records import ItemState, OutboxItem

DEFAULT_RETRY_DELAYS = (0.0, 10.0, 30.0)
DEFAULT_MAX_AGE = 24 * 3600.0
DEFAULT_MAX_ITEMS = 200
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
# How often failed items are offered to the server again while nothing else is sent.
PROBE_INTERVAL = 300.0
# At most this much message data is read into memory for one connection: a backlog after an
# outage goes out in several connections rather than raising Home Assistant's peak memory by
# the whole backlog (about 10 alerts of 450 KB a connection; a connection costs a few round
# trips, under 2 s of a 4 MB send even on a weak 4G link).
MAX_BATCH_BYTES = 4 * 1024 * 1024


@dataclass(slots=True)
class OutboxConfig:
    """Retry schedule and bounds.

    ``retry_delays``: the wait before the first attempt, then the wait after each failed one
    (so its length is the number of attempts).
    """

    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS
    max_age: float = DEFAULT_MAX_AGE
    max_items: int = DEFAULT_MAX_ITEMS
    max_bytes: int = DEFAULT_MAX_BYTES
    probe_interval: float = PROBE_INTERVAL


def first_attempt(now: float, config: OutboxConfig) -> float:
    """When a new item is tried first."""
    return now + (config.retry_delays[0] if config.retry_delays else 0.0)


def apply_failure(item: OutboxItem, error: SmtpError, now: float, config: OutboxConfig) -> bool:
    """Move a pending item along its schedule after a failed attempt.

    True if it failed for good: the schedule is used up, or trying again cannot cure the error.
    """
    delays = config.retry_delays
    if error.cause.is_permanent or item.attempts >= len(delays):
        item.state = ItemState.FAILED
        item.redeliver = error.cause not in MESSAGE_CAUSES
        return True
    item.next_attempt = now + delays[item.attempts]
    return False


@dataclass(slots=True)
class Batch:
    """Items for one connection, in queue order."""

    items: list[OutboxItem] = field(default_factory=list)
    due: set[str] = field(default_factory=set)  # ids of those that were due themselves
    more: bool = False  # the size cap cut it short: another batch should follow


def select_batch(items: Iterable[OutboxItem], now: float, include_failed: bool) -> Batch:
    """What is due, plus pending items queued before a due one (nothing overtakes older mail).

    Due: pending items whose time has come, and failed ones when ``include_failed``.
    """
    items = list(items)
    due = {
        item.item_id
        for item in items
        if (item.state is ItemState.PENDING and item.next_attempt <= now)
        or (include_failed and item.state is ItemState.FAILED and item.redeliver)
    }
    batch = Batch()
    size = 0
    for item in items:
        if not due or (item.state is ItemState.FAILED and item.item_id not in due):
            continue
        if batch.items and size + item.size > MAX_BATCH_BYTES:
            batch.more = True  # keep memory bounded: the rest goes in the next batch
            break
        batch.items.append(item)
        size += item.size
        if item.item_id in due:
            due.discard(item.item_id)
            batch.due.add(item.item_id)
    return batch


def defer_rest(items: Iterable[OutboxItem], batch: list[OutboxItem], now: float) -> None:
    """After a batch the server took nothing of, what is due beyond it waits for its retry.

    Tried now, it would fail alike, and the batch's items, riding along in queue order, would
    fill the next batch again and again.
    """
    sent = {item.item_id for item in batch}
    retry = min(
        (i.next_attempt for i in batch if i.state is ItemState.PENDING and i.next_attempt > now),
        default=None,
    )
    if retry is None:
        return
    for item in items:  # due, but beyond the batch's size
        pending = item.state is ItemState.PENDING
        if pending and item.item_id not in sent and item.next_attempt <= now:
            item.next_attempt = retry


def over_bounds(items: Sequence[OutboxItem], config: OutboxConfig, size: int, count: int) -> bool:
    """True if ``count`` more items of ``size`` bytes in all do not fit."""
    total = sum(item.size for item in items)
    return len(items) + count > config.max_items or total + size > config.max_bytes


def choose_victim(items: Sequence[OutboxItem], in_flight: set[str]) -> OutboxItem | None:
    """What goes when the outbox is full: the oldest non-alert, else the oldest item.

    Never one being sent: the server may be taking it right now.
    """
    candidates = [item for item in items if item.item_id not in in_flight]
    victims = [item for item in candidates if item.kind != "alert"] or candidates
    return victims[0] if victims else None


def expired(items: Iterable[OutboxItem], now: float, config: OutboxConfig) -> list[OutboxItem]:
    """Items older than the maximum age."""
    limit = now - config.max_age
    return [item for item in items if item.created <= limit]


@dataclass(frozen=True, slots=True)
class Wakeup:
    """The outbox's one timer."""

    delay: float
    probe: bool  # only failed items are offered again (nothing pending is due by then)


def next_wakeup(
    items: Sequence[OutboxItem], now: float, config: OutboxConfig, at_least: float = 0.0
) -> Wakeup | None:
    """The next due retry, the next probe of failed items, or the next expiry."""
    if not items:
        return None
    wakeups = [item.created + config.max_age for item in items]
    wakeups += [item.next_attempt for item in items if item.state is ItemState.PENDING]
    probe = any(item.state is ItemState.FAILED and item.redeliver for item in items)
    if probe:
        wakeups.append(now + config.probe_interval)
    delay = max(at_least, min(wakeups) - now)
    due_pending = any(
        item.state is ItemState.PENDING and item.next_attempt <= now + delay for item in items
    )
    return Wakeup(delay, probe and not due_pending)
