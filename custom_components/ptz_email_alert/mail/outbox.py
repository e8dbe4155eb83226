"""The durable outbox: every email is stored before it is tried, then retried and kept.

An item stays until it is delivered or too old.

Pure Python. Time, timers, tasks and storage come from the caller (Home Assistant backs them
with its clock, ``async_call_later``, config-entry tasks and ``Store`` plus files), so the
same code runs under the test harness's frozen clock.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
import json
import logging
from typing import Any, Protocol
import uuid

from .errors import MESSAGE_CAUSES, ErrorKind, FailureCause, SmtpError
from .sender import RawMessage, SendResult

_LOGGER = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS = (0.0, 10.0, 30.0)
DEFAULT_MAX_AGE = 24 * 3600.0
DEFAULT_MAX_ITEMS = 200
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
# How often failed items are offered to the server again while nothing else is sent.
PROBE_INTERVAL = 300.0
DELIVERY_LOG_SIZE = 100
# Message-IDs remembered after delivery, so that nothing is sent twice.
DELIVERED_MEMORY = 500
# At most this much message data is read into memory for one connection.
MAX_BATCH_BYTES = 20 * 1024 * 1024


class ItemState(StrEnum):
    """Where an item is in its life."""

    PENDING = "pending"  # on its retry schedule
    FAILED = "failed"  # schedule used up (or a permanent error); kept for redelivery


class DropReason(StrEnum):
    """Why an item left the outbox without being delivered."""

    EXPIRED = "expired"
    OUTBOX_FULL = "outbox_full"
    MISSING_BODY = "missing_body"


@dataclass(slots=True)
class OutboxItem:
    """One queued email (its bytes are stored separately, by ``item_id``)."""

    item_id: str
    message_id: str
    kind: str
    subject: str
    created: float
    size: int
    attempts: int = 0
    state: ItemState = ItemState.PENDING
    next_attempt: float = 0.0
    error: ErrorKind | None = None
    redeliver: bool = True

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutboxItem:
        """Inverse of :meth:`as_dict`."""
        item = cls(**data)
        item.state = ItemState(item.state)
        item.error = ErrorKind(item.error) if item.error else None
        return item


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One line of the delivery log."""

    time: float
    server: str
    item_id: str
    message_id: str
    subject: str
    attempt: int
    error: ErrorKind
    code: int | None
    text: str
    duration: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class OutboxStorage(Protocol):
    """Durable storage of the outbox's index and of each message's bytes."""

    async def async_load(self) -> dict[str, Any] | None:
        """The saved index, or None on first use."""

    async def async_save(self, data: dict[str, Any]) -> None:
        """Save the index; must be on disk when it returns."""

    async def async_write_body(self, item_id: str, data: bytes) -> None:
        """Store one message's bytes; must be on disk when it returns."""

    async def async_read_body(self, item_id: str) -> bytes | None:
        """One message's bytes, or None if they are gone."""

    async def async_delete_body(self, item_id: str) -> None:
        """Forget one message's bytes."""


class OutboxObserver(Protocol):
    """What the outbox reports; the Home Assistant layer turns it into events and entities."""

    def on_delivered(self, item: OutboxItem, result: SendResult) -> None:
        """The server accepted an item."""

    def on_attempt_failed(self, item: OutboxItem, error: SmtpError) -> None:
        """One attempt failed (logged once, at warning, by the observer)."""

    def on_failed(self, item: OutboxItem, error: SmtpError) -> None:
        """An item's schedule is used up (or the error is permanent): it failed for good."""

    def on_dropped(self, item: OutboxItem, reason: DropReason) -> None:
        """An item left the outbox undelivered."""

    def on_changed(self) -> None:
        """Anything visible changed (counts, last error, log)."""


type SendBatch = Callable[[Sequence[RawMessage]], Awaitable[list[SendResult | SmtpError]]]
type CallLater = Callable[[float, Callable[[], None]], Callable[[], None]]
type Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Future[None]]


@dataclass(slots=True)
class OutboxConfig:
    """Retry schedule and bounds."""

    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS
    max_age: float = DEFAULT_MAX_AGE
    max_items: int = DEFAULT_MAX_ITEMS
    max_bytes: int = DEFAULT_MAX_BYTES
    probe_interval: float = PROBE_INTERVAL


@dataclass(slots=True)
class _Stats:
    failed_total: int = 0
    last_success: float | None = None
    last_attempt_failed: bool = False
    last_error: SmtpError | None = None
    delivered_ids: deque[str] = field(default_factory=lambda: deque(maxlen=DELIVERED_MEMORY))


class Outbox:
    """Queue, persist, send in batches over one connection, retry, redeliver, expire."""

    def __init__(
        self,
        *,
        storage: OutboxStorage,
        send: SendBatch,
        server: str,
        now: Callable[[], float],
        call_later: CallLater,
        spawn: Spawn,
        observer: OutboxObserver,
        config: OutboxConfig | None = None,
    ) -> None:
        """Wire the outbox to its environment; call :meth:`async_load` before use."""
        self._storage = storage
        self._send = send
        self._server = server
        self._now = now
        self._call_later = call_later
        self._spawn = spawn
        self._observer = observer
        self.config = config or OutboxConfig()
        self._items: list[OutboxItem] = []
        self._stats = _Stats()
        self._log: deque[DeliveryAttempt] = deque(maxlen=DELIVERY_LOG_SIZE)
        self._lock = asyncio.Lock()  # one flush at a time; queueing does not wait for it
        self._runner: asyncio.Future[None] | None = None
        self._flush_wanted = False
        self._flush_failed = False
        self._cancel_wakeup: Callable[[], None] | None = None
        self._first_outcome: dict[str, asyncio.Future[SendResult | SmtpError]] = {}
        self._closed = False

    # Reading -----------------------------------------------------------------------------

    @property
    def items(self) -> list[OutboxItem]:
        """Items in queue order (copies are not needed: treat as read-only)."""
        return list(self._items)

    @property
    def pending_count(self) -> int:
        """Items not yet delivered (pending and failed)."""
        return len(self._items)

    @property
    def failed_count(self) -> int:
        """Items whose schedule is used up."""
        return sum(1 for item in self._items if item.state is ItemState.FAILED)

    @property
    def total_bytes(self) -> int:
        """Bytes of all queued messages."""
        return sum(item.size for item in self._items)

    @property
    def failed_total(self) -> int:
        """Items that ever failed for good (a total-increasing counter)."""
        return self._stats.failed_total

    @property
    def last_success(self) -> float | None:
        """When the server last accepted a message."""
        return self._stats.last_success

    @property
    def last_error(self) -> SmtpError | None:
        """The error of the last failed attempt (None once an attempt succeeds)."""
        return self._stats.last_error

    @property
    def has_problem(self) -> bool:
        """The last attempt failed, or something is failed in the outbox."""
        return self._stats.last_attempt_failed or self.failed_count > 0

    @property
    def delivery_log(self) -> list[DeliveryAttempt]:
        """The last attempts, oldest first."""
        return list(self._log)

    # Life cycle ----------------------------------------------------------------------------

    async def async_load(self) -> None:
        """Read what a previous run left, and start sending it."""
        data = await self._storage.async_load() or {}
        self._items = [OutboxItem.from_dict(raw) for raw in data.get("items", [])]
        self._stats.failed_total = int(data.get("failed_total", 0))
        self._stats.last_success = data.get("last_success")
        self._stats.delivered_ids.extend(data.get("delivered_ids", []))
        if self._items:
            _LOGGER.info(
                "%d email(s) from before the restart are in the outbox of %s",
                len(self._items),
                self._server,
            )
            # After a restart everything gets a chance at once, failed items too.
            now = self._now()
            for item in self._items:
                item.next_attempt = min(item.next_attempt, now)
            self.request_flush(include_failed=True)
        else:
            self._reschedule()

    def close(self) -> None:
        """Stop timers; what is queued stays on disk for the next start."""
        self._closed = True
        if self._cancel_wakeup:
            self._cancel_wakeup()
            self._cancel_wakeup = None
        for future in self._first_outcome.values():
            if not future.done():
                future.cancel()
        self._first_outcome.clear()

    # Queueing ------------------------------------------------------------------------------

    async def async_enqueue(
        self, message: RawMessage, *, kind: str, subject: str
    ) -> asyncio.Future[SendResult | SmtpError]:
        """Store ``message`` durably, then start sending it.

        Returns a future with the outcome of the first attempt (the item stays queued after a
        failed attempt: the future only tells the caller how it went at once).
        """
        future: asyncio.Future[SendResult | SmtpError] = asyncio.get_running_loop().create_future()
        if message.message_id in self._stats.delivered_ids or any(
            item.message_id == message.message_id for item in self._items
        ):
            _LOGGER.debug("%s is already queued or delivered", message.message_id)
            future.cancel()
            return future
        item = OutboxItem(
            item_id=uuid.uuid4().hex,
            message_id=message.message_id,
            kind=kind,
            subject=subject,
            created=self._now(),
            size=len(message.data),
        )
        # The file first, then the index that names it: a crash in between leaves an orphan
        # file, never an index entry without its message.
        await self._storage.async_write_body(item.item_id, _pack(message))
        self._make_room(item.size)
        self._items.append(item)
        self._first_outcome[item.item_id] = future
        await self._async_save()
        self._observer.on_changed()
        self.request_flush()
        return future

    def _make_room(self, size: int) -> None:
        """Drop what must go for one more item: oldest non-alert items first, then oldest."""
        while self._items and (
            len(self._items) + 1 > self.config.max_items
            or self.total_bytes + size > self.config.max_bytes
        ):
            victims = [item for item in self._items if item.kind != "alert"] or self._items
            victim = victims[0]
            _LOGGER.warning(
                "Outbox of %s is full (%d items, %d bytes): dropping the oldest %s %r from %s",
                self._server,
                len(self._items),
                self.total_bytes,
                victim.kind,
                victim.subject,
                victim.message_id,
            )
            self._remove(victim)
            self._spawn(self._storage.async_delete_body(victim.item_id))
            self._observer.on_dropped(victim, DropReason.OUTBOX_FULL)

    # Sending -------------------------------------------------------------------------------

    def request_flush(self, *, include_failed: bool = False) -> None:
        """Ask for a flush. Requests made while one runs fold into one more run."""
        if self._closed:
            return
        self._flush_wanted = True
        self._flush_failed |= include_failed
        if self._runner is None or self._runner.done():
            self._runner = self._spawn(self._async_run_flushes())

    async def _async_run_flushes(self) -> None:
        while self._flush_wanted and not self._closed:
            include_failed = self._flush_failed
            self._flush_wanted = self._flush_failed = False
            await self.async_flush(include_failed=include_failed)

    async def async_flush(self, *, include_failed: bool = False) -> None:
        """Send what is due over one connection, in queue order.

        Due: pending items whose retry time has come, and failed ones when ``include_failed``.
        Items queued before a due item ride along, so that nothing overtakes an older email;
        their schedule only moves when they were due themselves.
        """
        async with self._lock:
            if self._closed:
                return
            self._expire()
            now = self._now()
            due = {
                item.item_id
                for item in self._items
                if (item.state is ItemState.PENDING and item.next_attempt <= now)
                or (include_failed and item.state is ItemState.FAILED and item.redeliver)
            }
            due_in_batch: set[str] = set()
            batch: list[OutboxItem] = []
            size = 0
            more = False
            for item in self._items:
                if not due or (item.state is ItemState.FAILED and item.item_id not in due):
                    continue
                if batch and size + item.size > MAX_BATCH_BYTES:
                    more = True  # keep memory bounded: the rest goes in the next batch
                    break
                batch.append(item)
                size += item.size
                if item.item_id in due:
                    due.discard(item.item_id)
                    due_in_batch.add(item.item_id)
            if batch:
                await self._async_send_batch(batch, due_in_batch)
            self._reschedule()
        self._observer.on_changed()
        if more:
            self.request_flush(include_failed=include_failed)

    async def _async_send_batch(self, batch: list[OutboxItem], due: set[str]) -> None:
        messages: list[RawMessage] = []
        ready: list[OutboxItem] = []
        now = self._now()
        for item in batch:
            data = await self._storage.async_read_body(item.item_id)
            if data is None:
                _LOGGER.error("Outbox file of %r is missing; dropping it", item.subject)
                self._remove(item)
                self._observer.on_dropped(item, DropReason.MISSING_BODY)
                continue
            messages.append(_unpack(item.message_id, data))
            ready.append(item)
        if not ready:
            await self._async_save()
            return
        outcomes = await self._send(messages)
        delivered = False
        for item, outcome in zip(ready, outcomes, strict=True):
            if isinstance(outcome, SmtpError):
                if item.item_id in due or item.state is ItemState.FAILED:
                    item.attempts += 1
                    self._record_failure(item, outcome, now)
                # An item that only rode along keeps its schedule.
            else:
                item.attempts += 1
                self._record_success(item, outcome, now)
                delivered = True
        await self._async_save()
        for item in ready:
            if item not in self._items:
                await self._storage.async_delete_body(item.item_id)
        if delivered and any(
            other.state is ItemState.PENDING or other.redeliver for other in self._items
        ):
            # The account works: send what waits for a retry and offer what failed before.
            for other in self._items:
                if other.state is ItemState.PENDING:
                    other.next_attempt = min(other.next_attempt, now)
            self.request_flush(include_failed=True)

    def _record_success(self, item: OutboxItem, result: SendResult, now: float) -> None:
        self._resolve_first(item, result)
        self._remove(item)
        self._stats.delivered_ids.append(item.message_id)
        self._stats.last_success = now
        self._stats.last_attempt_failed = False
        self._stats.last_error = None
        self._log.append(
            DeliveryAttempt(
                now, self._server, item.item_id, item.message_id, item.subject,
                item.attempts, ErrorKind.NONE, None, result.response, result.duration,
            )
        )  # fmt: skip
        self._observer.on_delivered(item, result)

    def _record_failure(self, item: OutboxItem, error: SmtpError, now: float) -> None:
        self._stats.last_attempt_failed = True
        self._stats.last_error = error
        item.error = error.kind
        self._log.append(
            DeliveryAttempt(
                now, error.server or self._server, item.item_id, item.message_id, item.subject,
                item.attempts, error.kind, error.code, error.detail, 0.0,
            )
        )  # fmt: skip
        self._resolve_first(item, error)
        self._observer.on_attempt_failed(item, error)
        if item.state is ItemState.FAILED:
            return  # a redelivery that did not work: it stays failed, no second report
        delays = self.config.retry_delays
        if error.cause.is_permanent or item.attempts >= len(delays):
            item.state = ItemState.FAILED
            item.redeliver = error.cause not in MESSAGE_CAUSES
            self._stats.failed_total += 1
            self._observer.on_failed(item, error)
        else:
            item.next_attempt = now + delays[item.attempts]

    def _resolve_first(self, item: OutboxItem, outcome: SendResult | SmtpError) -> None:
        future = self._first_outcome.pop(item.item_id, None)
        if future is not None and not future.done():
            future.set_result(outcome)

    def _expire(self) -> None:
        limit = self._now() - self.config.max_age
        for item in [item for item in self._items if item.created <= limit]:
            _LOGGER.warning(
                "Dropping %s %r (%s) from the outbox of %s: older than %d h after %d attempt(s)",
                item.kind,
                item.subject,
                item.message_id,
                self._server,
                self.config.max_age // 3600,
                item.attempts,
            )
            self._remove(item)
            self._spawn(self._storage.async_delete_body(item.item_id))
            self._observer.on_dropped(item, DropReason.EXPIRED)

    def _remove(self, item: OutboxItem) -> None:
        self._items.remove(item)
        future = self._first_outcome.pop(item.item_id, None)
        if future is not None and not future.done():
            future.cancel()

    # Timers --------------------------------------------------------------------------------

    def _reschedule(self) -> None:
        """One timer: the next due retry, the next probe of failed items, or the next expiry."""
        if self._cancel_wakeup:
            self._cancel_wakeup()
            self._cancel_wakeup = None
        if self._closed or not self._items:
            return
        now = self._now()
        wakeups = [item.created + self.config.max_age for item in self._items]
        wakeups += [item.next_attempt for item in self._items if item.state is ItemState.PENDING]
        probe = any(item.state is ItemState.FAILED and item.redeliver for item in self._items)
        if probe:
            wakeups.append(now + self.config.probe_interval)
        delay = max(0.0, min(wakeups) - now)
        due_pending = any(
            item.state is ItemState.PENDING and item.next_attempt <= now + delay
            for item in self._items
        )

        def wake() -> None:
            self._cancel_wakeup = None
            self.request_flush(include_failed=probe and not due_pending)

        self._cancel_wakeup = self._call_later(delay, wake)

    async def _async_save(self) -> None:
        await self._storage.async_save(
            {
                "items": [item.as_dict() for item in self._items],
                "failed_total": self._stats.failed_total,
                "last_success": self._stats.last_success,
                "delivered_ids": list(self._stats.delivered_ids),
            }
        )


def _pack(message: RawMessage) -> bytes:
    """Envelope + bytes in one file: a header line of JSON, then the message as is."""
    envelope = json.dumps({"from": message.sender, "to": list(message.recipients)})
    return envelope.encode() + b"\n" + message.data


def _unpack(message_id: str, data: bytes) -> RawMessage:
    header, _, body = data.partition(b"\n")
    envelope = json.loads(header)
    return RawMessage(message_id, envelope["from"], tuple(envelope["to"]), body)


__all__ = [
    "DeliveryAttempt",
    "DropReason",
    "FailureCause",
    "ItemState",
    "Outbox",
    "OutboxConfig",
    "OutboxItem",
    "OutboxObserver",
    "OutboxStorage",
]
