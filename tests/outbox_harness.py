"""An outbox on a manual clock, with storage in memory and a recording observer.

Shared by the outbox tests; a real SMTP server does the sending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import partial
import ssl
from typing import Any

from custom_components.ptz_email_alert.mail import (
    DropReason,
    EmailContent,
    Encryption,
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

from .smtp_server import PASSWORD, USERNAME, TestSmtpServer

START = 1_000_000.0


class MemoryStorage:
    """Storage kept in a dict: what a restart would find on disk."""

    def __init__(self) -> None:
        self.index: Any = None
        self.bodies: dict[str, bytes] = {}
        self.mtime = START  # what a file's modification time would say

    async def async_load(self) -> Any:
        return self.index

    async def async_save(self, data: dict[str, Any]) -> None:
        self.index = data

    async def async_write_body(self, item_id: str, data: bytes) -> None:
        self.bodies[item_id] = data

    async def async_read_body(self, item_id: str) -> bytes | None:
        return self.bodies.get(item_id)

    async def async_delete_body(self, item_id: str) -> None:
        self.bodies.pop(item_id, None)

    async def async_list_bodies(self) -> dict[str, float]:
        return dict.fromkeys(self.bodies, self.mtime)


class Recorder:
    """An observer that keeps what it is told."""

    def __init__(self) -> None:
        self.delivered: list[str] = []
        self.failed: list[str] = []
        self.dropped: list[tuple[str, DropReason]] = []
        self.recovered: list[tuple[int, int]] = []

    def on_delivered(self, item: OutboxItem, result: SendResult) -> None:
        self.delivered.append(item.subject)

    def on_attempt_failed(self, item: OutboxItem, error: SmtpError) -> None:
        pass

    def on_failed(self, item: OutboxItem, error: SmtpError) -> None:
        self.failed.append(item.subject)

    def on_dropped(self, item: OutboxItem, reason: DropReason) -> None:
        self.dropped.append((item.subject, reason))

    def on_recovered(self, recovered: int, set_aside: int) -> None:
        self.recovered.append((recovered, set_aside))

    def on_changed(self) -> None:
        pass


class Harness:
    """An outbox on a manual clock; ``await run()`` lets spawned work finish."""

    def __init__(self, server: TestSmtpServer, storage: MemoryStorage, **config: Any) -> None:
        self.now = START
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
