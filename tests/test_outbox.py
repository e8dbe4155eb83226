"""mail.outbox without Home Assistant: bounds, expiry, duplicates, persistence.

A real SMTP server; the clock and timers are a small manual scheduler (the Home Assistant
layer, tested in test_delivery, backs them with the harness's clock).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import partial
import ssl
from typing import Any

import pytest

from custom_components.ptz_email_alert.mail import (
    DropReason,
    EmailContent,
    Encryption,
    ItemState,
    Outbox,
    OutboxConfig,
    OutboxItem,
    RawMessage,
    SendResult,
    SmtpError,
    SmtpSettings,
    build_message,
    send_messages,
)

from .smtp_server import PASSWORD, USERNAME, ServerFactory, TestSmtpServer


class MemoryStorage:
    """Storage kept in a dict: what a restart would find on disk."""

    def __init__(self) -> None:
        self.index: dict[str, Any] | None = None
        self.bodies: dict[str, bytes] = {}

    async def async_load(self) -> dict[str, Any] | None:
        return self.index

    async def async_save(self, data: dict[str, Any]) -> None:
        self.index = data

    async def async_write_body(self, item_id: str, data: bytes) -> None:
        self.bodies[item_id] = data

    async def async_read_body(self, item_id: str) -> bytes | None:
        return self.bodies.get(item_id)

    async def async_delete_body(self, item_id: str) -> None:
        self.bodies.pop(item_id, None)


class Recorder:
    """An observer that keeps what it is told."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.failed: list[str] = []
        self.dropped: list[tuple[str, DropReason]] = []

    def on_delivered(self, item: OutboxItem, result: SendResult) -> None:
        self.delivered.append(item.subject)

    def on_attempt_failed(self, item: OutboxItem, error: SmtpError) -> None:
        pass

    def on_failed(self, item: OutboxItem, error: SmtpError) -> None:
        self.failed.append(item.subject)

    def on_dropped(self, item: OutboxItem, reason: DropReason) -> None:
        self.dropped.append((item.subject, reason))

    def on_changed(self) -> None:
        pass


class Harness:
    """An outbox on a manual clock; ``await run()`` lets spawned work finish."""

    def __init__(self, server: TestSmtpServer, storage: MemoryStorage, **config: Any) -> None:
        self.now = 1_000_000.0
        self.timers: list[tuple[float, Callable[[], None]]] = []
        self.tasks: set[asyncio.Future[None]] = set()
        self.recorder = Recorder()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        settings = SmtpSettings(
            server.host, server.port, Encryption(server.mode), USERNAME, PASSWORD, 2, context
        )
        self.outbox = Outbox(
            storage=storage,
            send=partial(send_messages, settings),
            server=settings.server,
            now=lambda: self.now,
            call_later=self.call_later,
            spawn=self.spawn,
            observer=self.recorder,
            config=OutboxConfig(**config),
        )

    def call_later(self, delay: float, action: Callable[[], None]) -> Callable[[], None]:
        timer = (self.now + delay, action)
        self.timers.append(timer)
        return lambda: self.timers.remove(timer) if timer in self.timers else None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def run(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))

    async def advance(self, seconds: float) -> None:
        """Move the clock in 1 s steps, firing due timers and waiting for their work."""
        while seconds > 0:
            step = min(1.0, seconds)
            seconds -= step
            self.now += step
            for when, action in sorted(self.timers, key=lambda timer: timer[0]):
                if when <= self.now and (when, action) in self.timers:
                    self.timers.remove((when, action))
                    action()
            await self.run()

    async def enqueue(self, subject: str, kind: str = "alert", size: int = 0) -> None:
        content = EmailContent(subject, "x" * size)
        message = build_message(content, sender="cam@example.com", recipients=["o@example.com"])
        await self.outbox.async_enqueue(
            RawMessage.from_message(message), kind=kind, subject=subject
        )


async def test_expired_items_are_dropped(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls")
    await server.stop()
    harness = Harness(server, MemoryStorage(), max_age=3600)
    await harness.enqueue("Old alert")
    await harness.run()
    await harness.advance(60)
    assert harness.recorder.failed == ["Old alert"]
    await harness.advance(3600)
    assert harness.recorder.dropped == [("Old alert", DropReason.EXPIRED)]
    assert harness.outbox.pending_count == 0
    harness.outbox.close()


async def test_full_outbox_drops_oldest_non_alerts_first(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls")
    await server.stop()
    harness = Harness(server, MemoryStorage(), max_items=3)
    await harness.enqueue("Alert 1")
    await harness.enqueue("Heartbeat 1", kind="heartbeat")
    await harness.enqueue("Alert 2")
    await harness.enqueue("Alert 3")  # the heartbeat goes first
    await harness.enqueue("Alert 4")  # then the oldest alert
    await harness.run()
    assert harness.recorder.dropped == [
        ("Heartbeat 1", DropReason.OUTBOX_FULL),
        ("Alert 1", DropReason.OUTBOX_FULL),
    ]
    assert [item.subject for item in harness.outbox.items] == ["Alert 2", "Alert 3", "Alert 4"]
    harness.outbox.close()


async def test_byte_bound(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls")
    await server.stop()
    harness = Harness(server, MemoryStorage(), max_bytes=5000)
    for number in range(4):
        await harness.enqueue(f"Alert {number}", size=1500)
    await harness.run()
    assert harness.outbox.total_bytes <= 5000
    assert [subject for subject, _ in harness.recorder.dropped] == ["Alert 0", "Alert 1"]
    harness.outbox.close()


async def test_restart_keeps_order_and_never_sends_twice(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls")
    port = server.port
    storage = MemoryStorage()
    await server.stop()
    first = Harness(server, storage)
    for number in range(3):
        await first.enqueue(f"Alert {number}")
    await first.run()
    first.outbox.close()  # "crash": nothing but storage survives

    await server.start(port)
    second = Harness(server, storage)
    await second.outbox.async_load()
    await second.run()
    assert [r.message["Subject"] for r in server.received] == ["Alert 0", "Alert 1", "Alert 2"]
    assert storage.bodies == {}
    assert server.connections == 1

    # The same Message-ID again (a replay after a crash) is not sent twice.
    message = RawMessage.from_message(
        build_message(
            EmailContent("Alert 0", "x"), sender="c@example.com", recipients=["o@example.com"]
        )
    )
    replay = RawMessage(
        server.received[0].message["Message-ID"], message.sender, message.recipients, message.data
    )
    third = Harness(server, storage)
    await third.outbox.async_load()
    outcome = await third.outbox.async_enqueue(replay, kind="alert", subject="Alert 0")
    await third.run()
    assert outcome.cancelled()
    assert len(server.received) == 3
    third.outbox.close()
    second.outbox.close()


async def test_missing_body_is_dropped(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls")
    await server.stop()
    storage = MemoryStorage()
    harness = Harness(server, storage)
    await harness.enqueue("Alert")
    await harness.run()
    storage.bodies.clear()
    await harness.advance(10)
    assert harness.recorder.dropped == [("Alert", DropReason.MISSING_BODY)]
    harness.outbox.close()


async def test_permanent_message_errors_are_not_redelivered(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls", data_reply="552 5.3.4 Too big")
    harness = Harness(server, MemoryStorage())
    await harness.enqueue("Huge")
    await harness.run()
    (item,) = harness.outbox.items
    assert item.state is ItemState.FAILED
    assert item.redeliver is False
    server.behaviour.data_reply = None
    await harness.enqueue("Small")
    await harness.run()
    assert [r.message["Subject"] for r in server.received] == ["Small"]
    assert harness.outbox.has_problem  # the huge one is still failed, visible
    harness.outbox.close()


@pytest.mark.parametrize("delays", [(0.0,), (0.0, 5.0)])
async def test_custom_schedule_length(
    smtp_server: ServerFactory, delays: tuple[float, ...]
) -> None:
    server = await smtp_server("starttls", rcpt_reply="451 4.3.0 Later")
    harness = Harness(server, MemoryStorage(), retry_delays=delays)
    await harness.enqueue("Alert")
    await harness.run()
    for _ in range(3):
        await harness.advance(5)
    assert [a.attempt for a in harness.outbox.delivery_log] == list(range(1, len(delays) + 1))
    assert harness.recorder.failed == ["Alert"]
    harness.outbox.close()


async def test_new_alerts_during_an_outage_keep_older_schedules(
    smtp_server: ServerFactory,
) -> None:
    """Alerts queued while the server is down do not use up the retries of older ones."""
    server = await smtp_server("starttls")
    await server.stop()
    harness = Harness(server, MemoryStorage())
    await harness.enqueue("First")
    await harness.run()
    for number in range(4):
        await harness.advance(1)
        await harness.enqueue(f"Later {number}")
        await harness.run()
    await harness.advance(60)
    first = [a for a in harness.outbox.delivery_log if a.subject == "First"]
    assert [round(a.time - first[0].time) for a in first] == [0, 10, 40]
    assert harness.recorder.failed[0] == "First"
    assert len(harness.recorder.failed) == 5
    harness.outbox.close()


async def test_queueing_does_not_wait_for_a_send_in_progress(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls")
    stalled = await smtp_server.stalling()
    server.port = stalled.port  # a server that never answers: the first send hangs
    harness = Harness(server, MemoryStorage())
    await harness.enqueue("Stuck")
    await harness.enqueue("Queued while stuck")  # returns although the send still hangs
    assert [item.subject for item in harness.outbox.items] == ["Stuck", "Queued while stuck"]
    assert harness.outbox.delivery_log == []
    await harness.run()  # the 2 s timeout ends the send
    assert [a.error.value for a in harness.outbox.delivery_log] == ["timeout", "timeout"]
    harness.outbox.close()
