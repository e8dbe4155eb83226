"""mail.outbox without Home Assistant: bounds, expiry, duplicates, persistence.

A real SMTP server; the clock and timers are a small manual scheduler (the Home Assistant
layer, tested in test_delivery_retry and test_delivery_outbox, backs them with the harness's
clock).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from custom_components.ptz_email_alert.mail import (
    DropReason,
    EmailContent,
    ItemState,
    RawMessage,
    build_message,
    outbox_schedule,
)

from .outbox_harness import Harness, MemoryStorage
from .smtp_server import ServerFactory


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


async def test_first_delay_is_waited_before_the_first_attempt(smtp_server: ServerFactory) -> None:
    """README: the first number is the wait before the first attempt, then after each failure."""
    server = await smtp_server("starttls", rcpt_reply="451 4.3.0 Later")
    harness = Harness(server, MemoryStorage(), retry_delays=(5.0, 10.0, 30.0))
    await harness.enqueue("Alert")
    queued = harness.now
    await harness.run()
    assert harness.outbox.delivery_log == []
    await harness.advance(60)
    assert [a.time - queued for a in harness.outbox.delivery_log] == [5, 15, 45]
    assert harness.recorder.failed == ["Alert"]
    harness.outbox.close()


async def test_damaged_message_file_is_dropped_and_the_rest_goes_out(
    smtp_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await smtp_server("starttls")
    port = server.port
    await server.stop()
    storage = MemoryStorage()
    harness = Harness(server, storage)
    for number in range(3):
        await harness.enqueue(f"Alert {number}")
    await harness.run()
    damaged = harness.outbox.items[1]
    storage.bodies[damaged.item_id] = b"\x00garbage from a bad sector\n\xff"
    await server.start(port)
    await harness.advance(10)
    assert [r.message["Subject"] for r in server.received] == ["Alert 0", "Alert 2"]
    assert harness.recorder.dropped == [("Alert 1", DropReason.CORRUPT)]
    assert harness.outbox.pending_count == 0
    assert storage.bodies == {}
    (record,) = [r for r in caplog.records if "damaged" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert "Alert 1" in record.getMessage()
    assert damaged.message_id in record.getMessage()
    await harness.advance(600)
    assert len(server.received) == 2  # exactly once each
    harness.outbox.close()


class FullDiskOnce(MemoryStorage):
    """The disk is full for one save of the index (ENOSPC), then has room again."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next_save = False

    async def async_save(self, data: dict[str, Any]) -> None:
        if self.fail_next_save:
            self.fail_next_save = False
            raise OSError(28, "No space left on device")
        await super().async_save(data)


async def test_an_unexpected_error_in_a_flush_does_not_stop_later_ones(
    smtp_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await smtp_server("starttls")
    storage = FullDiskOnce()
    harness = Harness(server, storage)
    await harness.enqueue("First")
    storage.fail_next_save = True  # the save after the first send fails
    await harness.run()
    assert "No space left on device" in caplog.text
    assert [r.message["Subject"] for r in server.received] == ["First"]
    await harness.enqueue("Second")
    await harness.run()
    assert [r.message["Subject"] for r in server.received] == ["First", "Second"]
    assert harness.outbox.pending_count == 0
    await harness.advance(600)
    assert len(server.received) == 2
    harness.outbox.close()


async def test_a_full_outbox_never_drops_the_item_in_flight(smtp_server: ServerFactory) -> None:
    """The outbox is at its bound while a send is in progress and another alert comes in."""
    release = asyncio.Event()
    server = await smtp_server("starttls", hold_data=release)
    harness = Harness(server, MemoryStorage(), max_items=2)
    await harness.enqueue("In flight")
    await server.data_started.wait()  # the server has the message and holds its answer
    await harness.enqueue("Waiting")
    await harness.enqueue("Newest")  # one must go: not the one the server is taking
    assert harness.recorder.dropped == [("Waiting", DropReason.OUTBOX_FULL)]
    release.set()
    await harness.run()
    assert [r.message["Subject"] for r in server.received] == ["In flight", "Newest"]
    assert harness.recorder.delivered == ["In flight", "Newest"]
    assert harness.outbox.pending_count == 0
    await harness.advance(600)
    assert len(server.received) == 2
    harness.outbox.close()


async def test_an_outage_with_a_backlog_of_several_batches_waits_for_the_retry(
    smtp_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog larger than one connection's batch, while the server refuses connections:
    the next batch waits for the retry time (the connection fails alike), it is not tried at
    once and again, reading every message from disk each time."""
    monkeypatch.setattr(outbox_schedule, "MAX_BATCH_BYTES", 3000)  # 2 emails a connection
    server = await smtp_server("starttls")
    await server.stop()
    harness = Harness(server, MemoryStorage())
    for number in range(6):
        await harness.enqueue(f"Alert {number}", size=1000)
    async with asyncio.timeout(10):
        await harness.run()
    attempts = len(harness.outbox.delivery_log)
    assert 1 <= attempts <= 6  # each email at most once before its retry time
    await server.start(server.port)
    async with asyncio.timeout(10):
        await harness.advance(10)  # the retry: the whole backlog goes, 2 emails a connection
    assert sorted(harness.recorder.delivered) == [f"Alert {number}" for number in range(6)]
    harness.outbox.close()
