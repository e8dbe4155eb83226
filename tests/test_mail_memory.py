"""A failed send must not keep its batch in memory.

An outcome that is an exception carries a traceback, and the traceback holds the frames it
went through, with their locals: the batch's messages (up to 4 MB) and the list of outcomes,
which holds the exception again. That cycle is freed only by a full garbage collection, which
runs rarely in a process of Home Assistant's size: during an outage, each retry left another
batch behind (the soak saw 25 MB of message bodies held at its peak).
"""

from __future__ import annotations

import gc
import types

from custom_components.ptz_email_alert.mail import (
    DropReason,
    FailureCause,
    SmtpError,
    send_messages,
)
from custom_components.ptz_email_alert.mail.errors import detached
from custom_components.ptz_email_alert.mail.sender import RawMessage

from .outbox_harness import Harness, MemoryStorage
from .smtp_server import ServerFactory, TestSmtpServer
from .test_mail_sender import _message, _settings


def _frames_of_send(garbage: list[object]) -> list[str]:
    return [
        item.f_code.co_qualname
        for item in garbage
        if isinstance(item, types.FrameType) and "/mail/" in item.f_code.co_filename
    ]


def _batch() -> list[RawMessage]:
    return [RawMessage.from_message(_message(f"Alert {n}", attachments=2)) for n in range(3)]  # type: ignore[arg-type]


def test_a_detached_error_keeps_its_words_not_its_frames() -> None:
    """What the upload queue keeps as its last error: not the frames that held its files."""

    def reset(files: list[bytes]) -> None:
        raise OSError("connection reset")

    def fail(files: list[bytes]) -> None:
        try:
            reset(files)
        except OSError as err:
            raise SmtpError(FailureCause.DISCONNECTED, "Connection lost") from err

    try:
        fail([b"x" * 1000])
    except SmtpError as err:
        kept = detached(err)
    assert str(kept.__cause__) == "connection reset"
    assert kept.cause is FailureCause.DISCONNECTED
    assert kept.__traceback__ is None
    assert kept.__cause__ is not None
    assert kept.__cause__.__traceback__ is None


async def test_a_connection_dropped_in_data_leaves_no_batch_behind(
    smtp_server: ServerFactory, collector_off: None
) -> None:
    server = await smtp_server("starttls", drop_in_data=True)
    outcomes = await send_messages(_settings(server), _batch())
    assert all(isinstance(outcome, SmtpError) for outcome in outcomes)
    errors = {id(outcome) for outcome in outcomes}
    del outcomes
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection now would free, kept to look at
    gc.collect()
    found = list(gc.garbage)
    assert not [item for item in found if id(item) in errors], "an error outcome in a cycle"
    assert _frames_of_send(found) == []
    assert not [item for item in found if isinstance(item, RawMessage)]


class _ReadLog(MemoryStorage):
    """Storage that notes, at each read of a message, how many the server had taken."""

    def __init__(self, server: TestSmtpServer) -> None:
        super().__init__()
        self.server = server
        self.reads: list[int] = []

    async def async_read_body(self, item_id: str) -> bytes | None:
        self.reads.append(len(self.server.received))
        return await super().async_read_body(item_id)


async def test_a_batch_reads_each_message_when_its_turn_comes(smtp_server: ServerFactory) -> None:
    """A batch (up to 4 MB) holds one message at a time, not all of them while it is sent."""
    server = await smtp_server("starttls")
    storage = _ReadLog(server)
    harness = Harness(server, storage, retry_delays=(5.0, 10.0))
    for n in range(4):
        await harness.enqueue(f"Alert {n}", size=50_000)
    await harness.advance(5)  # the first attempt: all four in one batch
    assert harness.recorder.delivered == [f"Alert {n}" for n in range(4)]
    assert server.connections == 1  # one batch
    # Each file is checked first (a damaged one must not stop the others), then read again
    # only once the server has taken the message before it.
    assert storage.reads == [0, 0, 0, 0, 0, 1, 2, 3]
    harness.outbox.close()


class _GoneOnSecondRead(MemoryStorage):
    """Storage whose one file disappears between the batch's check and its turn to be sent."""

    def __init__(self) -> None:
        super().__init__()
        self.doomed = ""
        self.reads: dict[str, int] = {}

    async def async_read_body(self, item_id: str) -> bytes | None:
        self.reads[item_id] = self.reads.get(item_id, 0) + 1
        if item_id == self.doomed and self.reads[item_id] == 2:
            self.bodies.pop(item_id)  # deleted by hand while the batch was on the wire
        return await super().async_read_body(item_id)


async def test_a_file_gone_during_the_batch_fails_only_its_message(
    smtp_server: ServerFactory,
) -> None:
    """What went before it is recorded (never sent twice); the next flush drops it."""
    server = await smtp_server("starttls")
    storage = _GoneOnSecondRead()
    harness = Harness(server, storage, retry_delays=(5.0, 10.0))
    for n in range(3):
        await harness.enqueue(f"Alert {n}")
    storage.doomed = harness.outbox.items[1].item_id
    await harness.advance(5)
    assert harness.recorder.delivered == ["Alert 0", "Alert 2"]
    assert [a.error.value for a in harness.outbox.delivery_log] == ["none", "temporary", "none"]
    await harness.advance(10)  # the retry finds the file missing
    assert harness.recorder.dropped == [("Alert 1", DropReason.MISSING_BODY)]
    assert len(server.received) == 2
    harness.outbox.close()
