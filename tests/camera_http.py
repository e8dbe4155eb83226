"""A camera's HTTP endpoints on loopback (aiohttp): snapshots with open, basic and digest
(MD5, SHA-256) logins; an MJPEG stream; static files (HLS playlists and segments).

The digest check is written from the server's side of RFC 7616, independently of the client.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
import contextlib
import hashlib
import io
from pathlib import Path
import re
import secrets

from aiohttp import web
import numpy as np
from PIL import Image

CAMERA_USER, CAMERA_PASSWORD = "admin", "s3cret-Camera"
REALM = "IP Camera(C1234)"


def full_resolution_jpeg() -> bytes:
    """A 1920x1080 JPEG, as a camera's main stream would give."""
    pixels = np.random.default_rng(7).integers(0, 255, (1080, 1920), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


class CameraHttp:
    """Snapshot endpoints ``/open``, ``/basic``, ``/digest``, ``/sha256``, ``/html``; ``/mjpeg``
    (multipart/x-mixed-replace, as IP cameras send MJPEG); ``/files/`` (``static_dir``)."""

    def __init__(self, static_dir: Path | None = None) -> None:
        self.picture = full_resolution_jpeg()
        self.mjpeg_frames: list[bytes] = [self.picture]  # sent in a loop by /mjpeg
        self.mjpeg_fps = 10.0
        # After this many frames a stream goes silent with its connection open (a camera that
        # hangs); None: never. Only the first connection hangs, so a reconnect gets pictures.
        self.mjpeg_hang_after: int | None = None
        self.mjpeg_connections = 0
        self.static_dir = static_dir
        self._closing = asyncio.Event()
        self.requests: list[str] = []  # paths of the requests that got a picture
        self.open_fails = False  # /open answers 503, as a camera that is rebooting
        self.authorizations: list[str] = []  # every Authorization header seen
        self._nonce = secrets.token_hex(8)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/open", self._open)
        app.router.add_get("/basic", self._basic)
        app.router.add_get("/digest", self._digest("MD5"))
        app.router.add_get("/sha256", self._digest("SHA-256"))
        app.router.add_get("/html", self._html)
        app.router.add_get("/mjpeg", self._mjpeg)
        if self.static_dir is not None:
            app.router.add_static("/files/", self.static_dir)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._closing.set()  # ends streams still open, so cleanup does not wait for them
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str, login: str | None = f"{CAMERA_USER}:{CAMERA_PASSWORD}") -> str:
        return f"http://{login + '@' if login else ''}127.0.0.1:{self.port}{path}"

    def _picture(self, request: web.Request) -> web.Response:
        self.requests.append(request.path)
        return web.Response(body=self.picture, content_type="image/jpeg")

    async def _open(self, request: web.Request) -> web.Response:
        if self.open_fails:
            raise web.HTTPServiceUnavailable
        return self._picture(request)

    async def _mjpeg(self, request: web.Request) -> web.StreamResponse:
        """The JPEGs in a loop at ``mjpeg_fps``, paced by this server's clock (no timestamps)."""
        response = web.StreamResponse(
            headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame"}
        )
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        start = loop.time()
        index = 0
        self.mjpeg_connections += 1
        hang_after = self.mjpeg_hang_after if self.mjpeg_connections == 1 else None
        while not self._closing.is_set():
            if hang_after is not None and index >= hang_after:
                await self._closing.wait()  # silent, connection kept open
                break
            picture = self.mjpeg_frames[index % len(self.mjpeg_frames)]
            part = (
                b"--frame\r\nContent-Type: image/jpeg\r\n"
                + f"Content-Length: {len(picture)}\r\n\r\n".encode()
            )
            try:
                await response.write(part + picture + b"\r\n")
            except ConnectionError:
                break  # the client went away
            index += 1
            # Pacing, as a camera's sensor does: the next frame is due at start + index / fps.
            delay = start + index / self.mjpeg_fps - loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), max(0.0, delay))
        return response

    async def _html(self, request: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", content_type="text/html")

    async def _basic(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if header:
            self.authorizations.append(header)
        expected = base64.b64encode(f"{CAMERA_USER}:{CAMERA_PASSWORD}".encode()).decode()
        if header != f"Basic {expected}":
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})
        return self._picture(request)

    def _digest(self, algorithm: str) -> Callable[[web.Request], object]:
        hash_function = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]

        def h(text: str) -> str:
            return hash_function(text.encode()).hexdigest()

        async def handler(request: web.Request) -> web.Response:
            header = request.headers.get("Authorization", "")
            if header:
                self.authorizations.append(header)
            fields = {}
            if header.startswith("Digest "):
                for key, quoted, plain in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', header):
                    fields[key] = quoted or plain
            if fields:
                secret = h(f"{fields['username']}:{REALM}:{CAMERA_PASSWORD}")
                request_hash = h(f"GET:{request.path_qs}")
                expected = h(
                    f"{secret}:{self._nonce}:{fields.get('nc')}:{fields.get('cnonce')}:auth:"
                    f"{request_hash}"
                )
                if (
                    fields.get("response") == expected
                    and fields.get("username") == CAMERA_USER
                    and fields.get("uri") == request.path_qs
                    and fields.get("opaque") == "0paque"
                ):
                    return self._picture(request)
            challenge = (
                f'Digest realm="{REALM}", qop="auth,auth-int", nonce="{self._nonce}", '
                f'opaque="0paque", algorithm={algorithm}, stale=FALSE'
            )
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": challenge})

        return handler
