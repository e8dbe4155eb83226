"""The upload queue: an alert's files reach the upload server with the outbox's durability.

Same rules as the outbox: an item is on disk before its first attempt, retried on the same
schedule, kept across restarts, bounded (oldest dropped first), expired after the same age, and
a stored file that cannot be read back is dropped with reason ``corrupt``. Its storage is the
outbox's (:class:`~.outbox_records.OutboxStorage`): an index plus one file per item.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
import logging
from typing import Any
import uuid

from .errors import detached
from .outbox_records import (
    CorruptRecordError,
    DropReason,
    ItemState,
    OutboxStorage,
    is_safe_item_id,
)
from .outbox_schedule import OutboxConfig, first_attempt
from .upload_clients import UploadError, UploadErrorKind
from .upload_records import (
    UploadAttempt,
    UploadItem,
    UploadObserver,
    pack_files,
    unpack_files,
)

_LOGGER = logging.getLogger(__name__)

LOG_SIZE = 100
# Errors of the whole server: every item due in the same run counts the attempt too.
_ITEM_ONLY = frozenset({UploadErrorKind.REJECTED})

type UploadFunc = Callable[[str, Sequence[tuple[str, bytes]], str | None], Awaitable[str | None]]


class UploadQueue:
    """Durable queue of alert files for one upload server."""

    def __init__(
        self,
        *,
        storage: OutboxStorage,
        upload: UploadFunc,
        server: str,
        now: Callable[[], float],
        call_later: Callable[[float, Callable[[], None]], Callable[[], None]],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        observer: UploadObserver,
        config: OutboxConfig | None = None,
    ) -> None:
        """Wire to storage, the transfer function, a clock, timers and a task spawner."""
        self._storage = storage
        self._upload = upload
        self.server = server
        self._now = now
        self._call_later = call_later
        self._spawn = spawn
        self._observer = observer
        self.config = config or OutboxConfig()
        self.items: list[UploadItem] = []
        self.log: deque[UploadAttempt] = deque(maxlen=LOG_SIZE)
        self.pinned_key: str | None = None
        self.bytes_sent = 0
        self.last_error: UploadError | None = None
        self._cancel_timer: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._include_failed = False
        self._in_flight: set[str] = set()
        self._closed = False

    @property
    def pending_count(self) -> int:
        """Items waiting for an attempt."""
        return sum(item.state is ItemState.PENDING for item in self.items)

    @property
    def failed_count(self) -> int:
        """Items whose schedule is used up."""
        return sum(item.state is ItemState.FAILED for item in self.items)

    @property
    def has_problem(self) -> bool:
        """The last attempt failed, or an item failed for good and is still here."""
        return self.last_error is not None or self.failed_count > 0

    async def async_load(self) -> None:
        """Read what a previous run left; damaged entries and files go with reason corrupt."""
        data = await self._storage.async_load()
        data = data if isinstance(data, dict) else {}
        raw_items = data.get("items")
        known: set[str] = set()
        for raw in raw_items if isinstance(raw_items, list) else []:
            try:
                item = UploadItem.from_dict(raw)
            except CorruptRecordError as err:
                _LOGGER.error(  # noqa: TRY400 - the reason is in the message
                    "Upload queue of %s: dropping an unreadable entry (%s)", self.server, err
                )
                continue
            if item.item_id not in known:
                known.add(item.item_id)
                self.items.append(item)
        key = data.get("host_key")
        self.pinned_key = key if isinstance(key, str) else None
        sent = data.get("bytes_sent")
        self.bytes_sent = sent if isinstance(sent, int) else 0
        stored = await self._storage.async_list_bodies()
        for item_id, mtime in sorted(stored.items(), key=lambda entry: entry[1]):
            if item_id not in known and is_safe_item_id(item_id):
                await self._async_recover(item_id, min(mtime, self._now()))
        self.items.sort(key=lambda item: item.created)
        for item in [item for item in self.items if item.item_id not in stored]:
            self._drop(item, DropReason.MISSING_BODY, "its stored files are gone")
        await self._async_save()
        # A start is often a fix (new settings, server back): everything is tried once now.
        if self.items:
            now = self._now()
            for item in self.items:
                item.next_attempt = min(item.next_attempt, now)
            self.request_run(include_failed=True)

    async def _async_recover(self, item_id: str, created: float) -> None:
        data = await self._storage.async_read_body(item_id) or b""
        try:
            header, files = unpack_files(data)
        except CorruptRecordError as err:
            _LOGGER.error(  # noqa: TRY400 - the reason is in the message
                "Upload queue of %s: dropping %s, its file is damaged (%s)",
                self.server,
                item_id,
                err,
            )
            await self._storage.async_delete_body(item_id)
            return
        _LOGGER.warning(
            "Upload queue of %s: %s had no index entry; queued again", self.server, item_id
        )
        self.items.append(
            UploadItem(
                item_id,
                str(header["camera"]),
                str(header["folder"]),
                [name for name, _ in files],
                created,
                len(data),
            )
        )

    async def async_enqueue(
        self, camera: str, folder: str, files: Sequence[tuple[str, bytes]]
    ) -> str:
        """Store an alert's files (on disk when this returns) and schedule the upload."""
        data = pack_files(camera, folder, files)
        now = self._now()
        item = UploadItem(
            uuid.uuid4().hex,
            camera,
            folder,
            [name for name, _ in files],
            now,
            len(data),
            next_attempt=first_attempt(now, self.config),
        )
        self._make_room(item.size)
        await self._storage.async_write_body(item.item_id, data)
        self.items.append(item)
        await self._async_save()
        self._observer.on_changed()
        self._reschedule()
        return item.item_id

    def _make_room(self, size: int) -> None:
        config = self.config
        while self.items and (
            len(self.items) + 1 > config.max_items
            or sum(item.size for item in self.items) + size > config.max_bytes
        ):
            victims = [item for item in self.items if item.item_id not in self._in_flight]
            if not victims:
                return
            self._drop(victims[0], DropReason.OUTBOX_FULL, "the upload queue is full")

    def request_run(self, *, include_failed: bool = False) -> None:
        """Try what is due now (and the failed items too, when asked)."""
        self._include_failed |= include_failed
        if self._closed:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = self._spawn(self._async_runs())

    async def _async_runs(self) -> None:
        while True:
            self._again = False
            include_failed, self._include_failed = self._include_failed, False
            try:
                await self._async_run(include_failed)
            except Exception:
                _LOGGER.exception("Upload queue of %s: unexpected error", self.server)
            if not self._again or self._closed:
                break
        self._reschedule()

    async def _async_run(self, include_failed: bool) -> None:
        now = self._now()
        for item in [item for item in self.items if item.created + self.config.max_age <= now]:
            self._drop(item, DropReason.EXPIRED, "older than the queue's maximum age")
        due = [
            item
            for item in self.items
            if (item.state is ItemState.PENDING and item.next_attempt <= now)
            or (include_failed and item.state is ItemState.FAILED)
        ]
        for index, item in enumerate(due):
            if self._closed or item not in self.items:
                continue
            error = await self._async_attempt(item)
            if error is not None and error.kind not in _ITEM_ONLY:
                for other in due[index + 1 :]:  # the server is the problem: all wait
                    if other in self.items:
                        self._record_failure(other, error)
                break
        await self._async_save()
        self._observer.on_changed()

    async def _async_attempt(self, item: UploadItem) -> UploadError | None:
        data = await self._storage.async_read_body(item.item_id)
        if data is None:
            self._drop(item, DropReason.MISSING_BODY, "its stored files are gone")
            return None
        try:
            _header, files = unpack_files(data)
        except CorruptRecordError as err:
            self._drop(item, DropReason.CORRUPT, f"its stored file is damaged ({err})")
            return None
        self._in_flight.add(item.item_id)
        try:
            seen = await self._upload(item.folder, files, self.pinned_key)
        except UploadError as err:
            self._record_failure(item, detached(err))  # kept: not with this frame's files
            return err
        finally:
            self._in_flight.discard(item.item_id)
        if seen and self.pinned_key is None:
            self.pinned_key = seen  # the first key seen is trusted from now on
        item.attempts += 1
        self.bytes_sent += sum(len(content) for _name, content in files)
        self.last_error = None
        self._log(item, "none", f"{len(files)} file(s) in {item.folder or '/'}")
        self._remove(item)
        self._observer.on_uploaded(item)
        return None

    def _record_failure(self, item: UploadItem, error: UploadError) -> None:
        item.attempts += 1
        item.error = error.kind
        self.last_error = error
        self._log(item, error.kind.value, error.detail)
        self._observer.on_attempt_failed(item, error)
        delays = self.config.retry_delays
        if item.state is ItemState.FAILED:
            return  # a probe of a failed item: it stays failed
        if error.kind.is_permanent or item.attempts >= len(delays):
            item.state = ItemState.FAILED
            self._observer.on_failed(item, error)
        else:
            item.next_attempt = self._now() + delays[item.attempts]

    def _log(self, item: UploadItem, error: str, detail: str) -> None:
        self.log.append(
            UploadAttempt(
                self._now(),
                self.server,
                item.item_id,
                item.camera,
                len(item.names),
                item.attempts,
                error,
                detail,
            )
        )

    def _drop(self, item: UploadItem, reason: DropReason, why: str) -> None:
        _LOGGER.log(
            logging.WARNING
            if reason in (DropReason.EXPIRED, DropReason.OUTBOX_FULL)
            else logging.ERROR,
            "Upload of %s's alert files %s (item %s, %d attempt(s)) to %s dropped: %s",
            item.camera,
            ", ".join(item.names),
            item.item_id,
            item.attempts,
            self.server,
            why,
        )
        self._remove(item)
        self._observer.on_dropped(item, reason)

    def _remove(self, item: UploadItem) -> None:
        if item in self.items:
            self.items.remove(item)
        self._spawn(self._storage.async_delete_body(item.item_id))

    def _reschedule(self) -> None:
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None
        if self._closed or not self.items:
            return
        now = self._now()
        wakeups = [item.created + self.config.max_age for item in self.items]
        wakeups += [i.next_attempt for i in self.items if i.state is ItemState.PENDING]
        probe = any(item.state is ItemState.FAILED for item in self.items)
        if probe:
            wakeups.append(now + self.config.probe_interval)
        delay = max(0.0, min(wakeups) - now)
        probe_due = probe and not any(
            i.state is ItemState.PENDING and i.next_attempt <= now + delay for i in self.items
        )

        def wake() -> None:
            self._cancel_timer = None
            self.request_run(include_failed=probe_due)

        self._cancel_timer = self._call_later(delay, wake)

    async def _async_save(self) -> None:
        await self._storage.async_save(
            {
                "items": [item.as_dict() for item in self.items],
                "host_key": self.pinned_key,
                "bytes_sent": self.bytes_sent,
            }
        )

    async def async_close(self, grace: float) -> None:
        """Stop timers; let an upload on the wire finish within ``grace`` seconds."""
        self._closed = True
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None
        if self._task is not None and not self._task.done():
            _done, pending = await asyncio.wait({self._task}, timeout=grace)
            for task in pending:
                task.cancel()
