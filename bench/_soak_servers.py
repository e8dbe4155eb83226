"""The cameras (real footage as MJPEG over HTTP) and the mail server of the soak: the bench
serves them itself, so that it can damage a stream or take the server down on cue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
import logging
import random
import subprocess
import time

from _soak_settings import BOUNDARY, CAMERAS, FFMPEG, FOOTAGE, FPS
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from outbox_flush import HOST, LoopbackSmtp, tls_contexts

# Footage ------------------------------------------------------------------------------------


def split_jpegs(data: bytes) -> list[bytes]:
    """The JPEGs of ffmpeg's MJPEG output (entropy-coded data never holds a bare FFD9)."""
    frames = []
    position = 0
    while (start := data.find(b"\xff\xd8", position)) >= 0:
        end = data.find(b"\xff\xd9", start + 2)
        if end < 0:
            break
        frames.append(data[start : end + 2])
        position = end + 2
    return frames


def decode_footage(*filters: str, seconds: float | None = None) -> list[bytes]:
    """The footage as JPEGs at FPS (q:v 5, as a camera's D1 substream might send them)."""
    limit = ["-t", str(seconds)] if seconds else []
    done = subprocess.run(
        [
            FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", *limit, "-i", str(FOOTAGE),
            "-an", "-vf", ",".join([f"fps={FPS}", *filters]), "-c:v", "mjpeg", "-q:v", "5",
            "-f", "image2pipe", "pipe:1",
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    return split_jpegs(done.stdout)


# The cameras: MJPEG over HTTP ---------------------------------------------------------------


@dataclass(slots=True)
class Feed:
    """One camera's stream state."""

    offset: int  # frames into the clip, so that the cameras differ
    connections: list[float] = field(default_factory=list)  # monotonic time of each request
    pending: list[str] = field(default_factory=list)  # corruptions for the next frame
    hd_until: float = 0.0


class Cameras:
    """Serves /cam<n>.mjpeg: the clip looped in real time, and damage on command."""

    def __init__(self, d1: list[bytes], hd: list[bytes], rng: random.Random) -> None:
        self.d1, self.hd, self.rng = d1, hd, rng
        self.feeds = [Feed(offset=index * len(d1) // CAMERAS) for index in range(CAMERAS)]
        self.port = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._began = time.monotonic()

    def url(self, camera: int) -> str:
        return f"http://{HOST}:{self.port}/cam{camera + 1}.mjpeg"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(r"/cam{camera:\d+}.mjpeg", self._stream)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_connected(self, camera: int, after: float, within: float) -> float | None:
        """Seconds from ``after`` to the camera's first request after it, or None."""

        def since() -> float | None:
            later = [t for t in self.feeds[camera].connections if t > after]
            return later[0] - after if later else None

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: since() is not None)
        return since()

    def _frame(self, feed: Feed, now: float) -> bytes:
        position = feed.offset + int((now - self._began) * FPS)
        if now < feed.hd_until:
            return self.hd[position % len(self.hd)]
        return self.d1[position % len(self.d1)]

    def _damage(self, kind: str) -> bytes:
        if kind == "corrupt JPEG":
            good = self.rng.choice(self.d1)
            half = len(good) // 2
            bad = good[:half] + self.rng.randbytes(len(good) - half - 2) + b"\xff\xd9"
            return part(bad)
        return self.rng.randbytes(30_000)  # garbage between parts

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        camera = int(request.match_info["camera"]) - 1
        feed = self.feeds[camera]
        response = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace;boundary={BOUNDARY}",
                "Cache-Control": "no-cache",
            }
        )
        await response.prepare(request)
        async with self._changed:
            feed.connections.append(time.monotonic())
            self._changed.notify_all()
        started = time.monotonic()
        sent = 0
        with contextlib.suppress(ConnectionError):
            while True:
                while feed.pending:
                    await response.write(self._damage(feed.pending.pop(0)))
                await response.write(part(self._frame(feed, time.monotonic())))
                sent += 1
                await asyncio.sleep(max(0.0, started + sent / FPS - time.monotonic()))
        return response


def part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


# The mail server ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    at: float  # time.monotonic()
    message_id: str
    subject: str


class MailServer(LoopbackSmtp):
    """The benchmarks' loopback server (STARTTLS + AUTH), recording each message's headers;
    it can stop listening and start again on the same port."""

    def __init__(self) -> None:
        super().__init__(tls_contexts()[0])
        self.received: list[Received] = []
        self.changed: Callable[[], None] = lambda: None
        self.listening = False

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        headers = BytesHeaderParser(policy=default_policy).parsebytes(
            bytes(envelope.original_content or b"")
        )
        self.received.append(
            Received(time.monotonic(), str(headers["Message-ID"]), str(headers["Subject"]))
        )
        self.changed()
        return await super().handle_DATA(server, session, envelope)

    async def listen(self) -> None:
        # aiosmtpd warns on every login that it sets its own deprecated Session.login_data.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.listening = True

    def close(self) -> None:
        """Stop listening now (sessions in progress go on)."""
        if self._server is not None:
            self._server.close()
        self.listening = False


def unique(received: list[Received]) -> list[Received]:
    """First copy of each Message-ID."""
    seen: set[str] = set()
    first = []
    for message in received:
        if message.message_id not in seen:
            seen.add(message.message_id)
            first.append(message)
    return first
