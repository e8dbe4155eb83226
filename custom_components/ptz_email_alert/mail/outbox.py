"""The durable outbox: every email is stored before it is tried, then retried and kept.

An item stays until it is delivered or too old.

Pure Python. Time, timers, tasks and storage come from the caller (Home Assistant backs them
with its clock, ``async_call_later``, config-entry tasks and ``Store`` plus files), so the
same code runs under the test harness's frozen clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import partial
import logging
from typing import Any
import uuid

from .errors import SmtpError
from .outbox_ledger import DeliveryLedger, log_drop
from .outbox_records import (
    CorruptRecordError,
    DeliveryAttempt,
    DropReason,
    ItemState,
    OutboxItem,
    OutboxObserver,
    OutboxStorage,
    async_read_for_send,
    async_read_message,
    pack_message,
)
from .outbox_recovery import async_read_outbox
from .outbox_schedule import (
    OutboxConfig,
    apply_failure,
    choose_victim,
    defer_rest,
    expired,
    first_attempt,
    next_wakeup,
    over_bounds,
    select_batch,
)
from .sender import RawMessage, SendResult, StoredMessage

_LOGGER = logging.getLogger(__name__)

# After a flush failed in an unexpected way, wait this long before the timer tries again (an
# error that repeats must not spin); new mail still triggers a flush at once.
UNEXPECTED_ERROR_BACKOFF = 60.0


type SendBatch = Callable[[Sequence[StoredMessage]], Awaitable[list[SendResult | SmtpError]]]
type CallLater = Callable[[float, Callable[[], None]], Callable[[], None]]
type Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Future[None]]


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
        # Counters and the last attempts (failed_total, lost_total, last_success, last_error,
        # log): read them there; only the outbox writes them.
        self.ledger = DeliveryLedger(server)
        self._lock = asyncio.Lock()  # one flush at a time; queueing does not wait for it
        # Items of the batch being sent: queueing runs outside the lock and must never drop them.
        self._in_flight: set[str] = set()
        self._set_aside: list[Any] = []  # unreadable index entries, kept in the index
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
    def has_problem(self) -> bool:
        """The last attempt failed, or something is failed in the outbox."""
        return self.ledger.last_attempt_failed or self.failed_count > 0

    @property
    def delivery_log(self) -> list[DeliveryAttempt]:
        """The last attempts, oldest first."""
        return list(self.ledger.log)

    # Life cycle ----------------------------------------------------------------------------

    async def async_load(self) -> None:
        """Read what a previous run left (recovering what it can), and start sending it."""
        loaded = await async_read_outbox(self._storage, now=self._now, server=self._server)
        self._items = loaded.items
        self._set_aside = loaded.set_aside
        self.ledger.failed_total = loaded.failed_total
        self.ledger.lost_total = loaded.lost_total
        self.ledger.last_success = loaded.last_success
        self.ledger.delivered_ids.extend(loaded.delivered_ids)
        if loaded.recovered or loaded.newly_set_aside:
            await self._async_save()  # the index names the recovered files from now on
            self._observer.on_recovered(loaded.recovered, loaded.newly_set_aside)
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

    async def async_close(self, grace: float) -> None:
        """Close, and give a batch in flight up to ``grace`` seconds to finish.

        A batch cut off after the server took a message, but before that was recorded, would
        send the message again after a reload.
        """
        self.close()
        runner = self._runner
        if runner is not None and not runner.done():
            await asyncio.wait({runner}, timeout=grace)

    # Queueing ------------------------------------------------------------------------------

    async def async_enqueue(
        self, message: RawMessage, *, kind: str, subject: str
    ) -> asyncio.Future[SendResult | SmtpError]:
        """Store ``message`` durably, then start sending it.

        Returns a future with the outcome of the first attempt (the item stays queued after a
        failed attempt: the future only tells the caller how it went at once).
        """
        future: asyncio.Future[SendResult | SmtpError] = asyncio.get_running_loop().create_future()
        if message.message_id in self.ledger.delivered_ids or any(
            item.message_id == message.message_id for item in self._items
        ):
            _LOGGER.debug("%s is already queued or delivered", message.message_id)
            future.cancel()
            return future
        now = self._now()
        item = OutboxItem(
            item_id=uuid.uuid4().hex,
            message_id=message.message_id,
            kind=kind,
            subject=subject,
            created=now,
            size=len(message.data),
            next_attempt=first_attempt(now, self.config),
        )
        # The file first, then the index that names it: a crash in between leaves an orphan
        # file (recovered at the next load), never an index entry without its message.
        await self._storage.async_write_body(item.item_id, pack_message(message, kind))
        self._make_room(item.size)
        self._items.append(item)
        self._first_outcome[item.item_id] = future
        await self._async_save()
        self._observer.on_changed()
        self.request_flush()
        return future

    def _make_room(self, size: int, count: int = 1) -> None:
        """Drop what must go for ``count`` more items of ``size`` bytes.

        Items being sent are not dropped; if only those are left, the bounds are exceeded
        until the batch ends, when the flush calls this again.
        """
        while over_bounds(self._items, self.config, size, count):
            victim = choose_victim(self._items, self._in_flight)
            if victim is None:
                return
            full = f"the outbox is full ({len(self._items)} items, {self.total_bytes} bytes)"
            self._drop(victim, DropReason.OUTBOX_FULL, full)
            self._spawn(self._storage.async_delete_body(victim.item_id))

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
            try:
                await self.async_flush(include_failed=include_failed)
            except Exception:
                # A bug or a storage fault (a full disk) in one flush: what is queued stays
                # queued, and later flushes and the timer must still run.
                _LOGGER.exception("Unexpected error while sending the outbox of %s", self._server)
                self._reschedule(at_least=UNEXPECTED_ERROR_BACKOFF)

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
            batch = select_batch(self._items, self._now(), include_failed)
            delivered = False
            if batch.items:
                self._in_flight = {item.item_id for item in batch.items}
                try:
                    delivered = await self._async_send_batch(batch.items, batch.due)
                finally:
                    self._in_flight = set()
                self._make_room(0, count=0)  # what queueing could not drop during the send
                if not delivered:
                    defer_rest(self._items, batch.items, self._now())
            self._reschedule()
        self._observer.on_changed()
        if batch.more and delivered:
            self.request_flush(include_failed=include_failed)

    async def _async_send_batch(self, batch: list[OutboxItem], due: set[str]) -> bool:
        """Send one batch and record the outcomes; True if the server took any of it."""
        ready: list[OutboxItem] = []
        corrupt: list[OutboxItem] = []
        now = self._now()
        for item in batch:
            try:
                # Checked now, read again when its turn comes: one message in memory, not 4 MB.
                await async_read_message(self._storage, item)
            except FileNotFoundError:
                self._drop(item, DropReason.MISSING_BODY, "its file is missing")
            except CorruptRecordError as err:
                # One damaged file (a bad sector, a hand edit) must not hold up the others.
                self._drop(item, DropReason.CORRUPT, f"its file is damaged ({err})")
                corrupt.append(item)
            else:
                ready.append(item)
        messages = [
            StoredMessage(i.message_id, partial(async_read_for_send, self._storage, i))
            for i in ready
        ]
        outcomes = await self._send(messages) if messages else []
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
        for item in [*corrupt, *ready]:
            if item not in self._items:
                await self._storage.async_delete_body(item.item_id)
        if delivered and any(
            other.state is ItemState.PENDING or other.redeliver for other in self._items
        ):
            # The account works: send what waits for a retry and offer what failed before
            # (an item still waiting for its first attempt keeps the schedule's first delay).
            for other in self._items:
                if other.state is ItemState.PENDING and other.attempts:
                    other.next_attempt = min(other.next_attempt, now)
            self.request_flush(include_failed=True)
        return delivered

    def _record_success(self, item: OutboxItem, result: SendResult, now: float) -> None:
        self._resolve_first(item, result)
        self._remove(item)
        self.ledger.success(item, result, now)
        self._observer.on_delivered(item, result)

    def _record_failure(self, item: OutboxItem, error: SmtpError, now: float) -> None:
        item.error = error.kind
        self.ledger.failure(item, error, now)
        self._resolve_first(item, error)
        self._observer.on_attempt_failed(item, error)
        if item.state is ItemState.FAILED:
            return  # a redelivery that did not work: it stays failed, no second report
        if apply_failure(item, error, now, self.config):
            self.ledger.failed_total += 1
            self._observer.on_failed(item, error)

    def _resolve_first(self, item: OutboxItem, outcome: SendResult | SmtpError) -> None:
        future = self._first_outcome.pop(item.item_id, None)
        if future is not None and not future.done():
            future.set_result(outcome)

    def _expire(self) -> None:
        hours = self.config.max_age / 3600
        for item in expired(self._items, self._now(), self.config):
            self._drop(item, DropReason.EXPIRED, f"older than {hours:g} h")
            self._spawn(self._storage.async_delete_body(item.item_id))

    def _drop(self, item: OutboxItem, reason: DropReason, why: str) -> None:
        """Take ``item`` out undelivered and say so (its file is the caller's to delete)."""
        log_drop(item, reason, why, server=self._server, age=self._now() - item.created)
        self._remove(item)
        self.ledger.lost_total += 1
        self._observer.on_dropped(item, reason)

    def _remove(self, item: OutboxItem) -> None:
        self._items.remove(item)
        future = self._first_outcome.pop(item.item_id, None)
        if future is not None and not future.done():
            future.cancel()

    # Timers --------------------------------------------------------------------------------

    def _reschedule(self, *, at_least: float = 0.0) -> None:
        """One timer: the next due retry, the next probe of failed items, or the next expiry."""
        if self._cancel_wakeup:
            self._cancel_wakeup()
            self._cancel_wakeup = None
        wakeup = next_wakeup(self._items, self._now(), self.config, at_least)
        if self._closed or wakeup is None:
            return

        def wake() -> None:
            self._cancel_wakeup = None
            self.request_flush(include_failed=wakeup.probe)

        self._cancel_wakeup = self._call_later(wakeup.delay, wake)

    async def _async_save(self) -> None:
        data = {"items": [item.as_dict() for item in self._items], **self.ledger.as_index()}
        if self._set_aside:
            data["set_aside"] = self._set_aside
        await self._storage.async_save(data)


__all__ = ["Outbox", "OutboxConfig"]
