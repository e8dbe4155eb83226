"""What the outbox flush bench measures: one outbox flush of a queue held back as in an
outage, one connection per message, a connection's set-up alone, and one batch's memory."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
import random
import resource
import time
import tracemalloc
from typing import Any

from _outbox_settings import ATTACHMENT_BYTES, ATTACHMENTS, MESSAGES
from _outbox_smtp import LoopbackSmtp
import aiosmtplib

from custom_components.ptz_email_alert.mail import (
    Attachment,
    DropReason,
    EmailContent,
    Outbox,
    OutboxConfig,
    OutboxItem,
    RawMessage,
    SendResult,
    SmtpError,
    SmtpSettings,
    build_message,
    send_message,
    send_messages,
    verify_login,
)
from custom_components.ptz_email_alert.mail.outbox_records import unpack_message

# Bodies in a dict: the flush is measured, not the disk.
from tests.outbox_harness import MemoryStorage

# Outbox environment ------------------------------------------------------------------------


class Tally:
    """Observer that counts outcomes."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0

    def on_delivered(self, item: OutboxItem, result: SendResult) -> None:
        self.delivered += 1

    def on_attempt_failed(self, item: OutboxItem, error: SmtpError) -> None:
        self.failed += 1

    def on_failed(self, item: OutboxItem, error: SmtpError) -> None:
        pass

    def on_dropped(self, item: OutboxItem, reason: DropReason) -> None:
        raise AssertionError(f"dropped {item.subject}: {reason}")

    def on_changed(self) -> None:
        pass


def hold_back(coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
    """``spawn`` that never runs the flush each enqueue asks for: alerts pile up as during an
    outage, so that the one flush measured finds all of them queued."""
    coro.close()
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


def no_timer(delay: float, action: Callable[[], None]) -> Callable[[], None]:
    """``call_later`` that never fires: retries are not part of this benchmark."""
    return lambda: None


# Scenarios ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    seconds: float
    connections: int
    received: int
    received_bytes: int


class Counted:
    """Server counters before a run; ``run()`` gives what the run added."""

    def __init__(self, server: LoopbackSmtp) -> None:
        self._server = server
        self._before = (server.connections, server.messages, server.bytes)
        self._started = time.perf_counter()

    def run(self) -> Run:
        seconds = time.perf_counter() - self._started
        connections, messages, size = self._before
        server = self._server
        return Run(
            seconds,
            server.connections - connections,
            server.messages - messages,
            server.bytes - size,
        )


def build_messages() -> list[RawMessage]:
    """100 alerts, each with three JPEG-looking attachments of random (incompressible) bytes."""
    rng = random.Random(2025)
    raws = []
    for number in range(MESSAGES):
        attachments = [
            Attachment(
                f"snapshot_{index}.jpg",
                # JPEG start and end markers around noise: base64 cost is that of a real photo.
                b"\xff\xd8\xff\xe0" + rng.randbytes(ATTACHMENT_BYTES - 6) + b"\xff\xd9",
                "image/jpeg",
            )
            for index in range(ATTACHMENTS)
        ]
        content = EmailContent(
            f"Motion at the gate #{number}", "Motion detected.", None, attachments
        )
        message = build_message(content, sender="camera@example.com", recipients=["me@example.com"])
        raws.append(RawMessage.from_message(message))
    return raws


@dataclass(slots=True)
class FlushRun:
    run: Run
    enqueue_seconds: float


def queued_outbox(settings: SmtpSettings, storage: MemoryStorage, tally: Tally) -> Outbox:
    """An outbox whose flushes run only when called (as while an outage holds them back)."""
    return Outbox(
        storage=storage,
        send=partial(send_messages, settings),
        server=settings.server,
        now=time.time,
        call_later=no_timer,
        spawn=hold_back,
        observer=tally,
        config=OutboxConfig(),
    )


async def outbox_flush(
    settings: SmtpSettings, server: LoopbackSmtp, raws: list[RawMessage]
) -> FlushRun:
    """Enqueue everything with flushing held back, then time one flush."""
    tally = Tally()
    outbox = queued_outbox(settings, MemoryStorage(), tally)
    await outbox.async_load()
    started = time.perf_counter()
    for raw in raws:
        await outbox.async_enqueue(raw, kind="alert", subject=raw.message_id)
    enqueued = time.perf_counter() - started
    assert outbox.pending_count == len(raws)

    counted = Counted(server)
    # A flush sends at most MAX_BATCH_BYTES over a connection (memory stays bounded), then
    # asks for the next one; those requests are held back here: flush until the queue is empty.
    while outbox.pending_count:
        await outbox.async_flush()
    run = counted.run()
    assert (tally.delivered, tally.failed, outbox.pending_count) == (len(raws), 0, 0)
    return FlushRun(run, enqueued)


async def flush_memory(settings: SmtpSettings, raws: list[RawMessage]) -> tuple[int, int, int]:
    """Peak traced memory of sending one batch: (the outbox, the whole batch at once, count).

    Untimed runs of their own (tracing slows everything). The peer is what the outbox did
    before: the batch read from storage into memory, then each message sent with
    aiosmtplib's ``sendmail``, which transforms the whole message at once.
    """
    storage = MemoryStorage()
    tally = Tally()
    outbox = queued_outbox(settings, storage, tally)
    await outbox.async_load()
    for raw in raws:
        await outbox.async_enqueue(raw, kind="alert", subject=raw.message_id)
    batch = [(item.item_id, item.message_id) for item in outbox.items]
    stored = dict(storage.bodies)  # the same bytes again for the peer (the flush deletes them)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        await outbox.async_flush()
        ours = tracemalloc.get_traced_memory()[1] - base
        count = tally.delivered
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        whole = [unpack_message(mid, stored[iid]) for iid, mid in batch[:count]]
        async with aiosmtplib.SMTP(
            hostname=settings.host, port=settings.port, tls_context=settings.tls_context
        ) as client:
            await client.login(settings.username or "", settings.password or "")
            for raw in whole:
                await client.sendmail(raw.sender, list(raw.recipients), raw.data)
        del whole
        theirs = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    outbox.close()
    return ours, theirs, count


async def one_connection_each(
    settings: SmtpSettings, server: LoopbackSmtp, raws: list[RawMessage]
) -> Run:
    """The baseline: ``send_message`` per alert, as without an outbox."""
    counted = Counted(server)
    for raw in raws:
        await send_message(settings, raw)
    return counted.run()


async def connection_setup(settings: SmtpSettings) -> list[float]:
    """What each extra connection costs, alone: connect, STARTTLS, AUTH, QUIT, no message."""
    times = []
    for _ in range(MESSAGES):
        started = time.perf_counter()
        await verify_login(settings)
        times.append(time.perf_counter() - started)
    return times


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
