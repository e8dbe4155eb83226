"""aiosmtplib's protocol for pipelining and for slow links: every reply kept, writes paced."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosmtplib
from aiosmtplib.protocol import MAX_RESPONSE_LENGTH, SMTPProtocol
from aiosmtplib.response import SMTPResponse


class PipeliningProtocol(SMTPProtocol):
    """aiosmtplib's protocol, keeping every reply that arrives, however many come at once.

    The base class parses one reply per ``data_received`` and ignores bytes that come while no
    command waits: with pipelining, several replies arrive together or before they are read.
    It also says when the transport takes more bytes (:meth:`writable`), so a long message is
    handed over as the link takes it, not buffered whole.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Takes the arguments of aiosmtplib's protocol."""
        super().__init__(*args, **kwargs)
        self._writable = asyncio.Event()
        self._writable.set()

    def pause_writing(self) -> None:
        """The transport's buffer is full."""
        super().pause_writing()
        self._writable.clear()

    def resume_writing(self) -> None:
        """The transport's buffer has room again."""
        super().resume_writing()
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        """Wake a writer that waits: its next write raises."""
        super().connection_lost(exc)
        self._writable.set()

    async def writable(self) -> None:
        """Return when the transport takes more bytes (at once if it does now)."""
        await self._writable.wait()

    def data_received(self, data: bytes) -> None:
        """Keep the bytes; hand over a complete reply if one is awaited."""
        if self._response_waiter is None:
            return
        self._buffer.extend(data)
        if len(self._buffer) > MAX_RESPONSE_LENGTH * 4:
            del self._buffer[:]
            if not self._response_waiter.done():
                self._set_response_exception(
                    self._response_waiter,
                    aiosmtplib.SMTPResponseException(-1, "Response too long"),
                )
            return
        self._hand_over()

    def _hand_over(self) -> None:
        waiter = self._response_waiter
        if waiter is None or waiter.done() or not self._buffer:
            return
        try:
            response = self._read_response_from_buffer()
        except Exception as exc:  # a malformed reply fails the read
            self._set_response_exception(waiter, exc)
        else:
            if response is not None:
                waiter.set_result(response)

    async def read_response(self, timeout: float | None = None) -> SMTPResponse:  # noqa: ASYNC109
        """Read the next reply, which may already be buffered."""
        self._hand_over()
        return await super().read_response(timeout=timeout)
