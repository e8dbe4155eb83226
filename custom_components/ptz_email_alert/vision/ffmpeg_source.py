"""One ffmpeg process per stream: decode once, emit small grey frames and snapshot JPEGs.

ffmpeg writes grey frames as PGM images (each carries its size, so nothing has to probe the
stream first) on stdout, and JPEGs at the snapshot size on a second pipe. Nothing here blocks
the event loop: the process is asyncio's, parsing is slicing bytes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
import logging
import os

import numpy as np

from .frames import GreyFrame, GreyPixels, JpegFrame

_LOGGER = logging.getLogger(__name__)

SNAPSHOT_HEIGHTS = {"d1": 576, "720p": 720, "1080p": 1080, "original": 0}
_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"


@dataclass(slots=True)
class SourceConfig:
    """What to decode and how."""

    ffmpeg: str
    url: str
    detect_width: int = 320
    detect_fps: float = 5.0
    snapshot_size: str = "d1"
    snapshot_fps: float = 2.0
    jpeg_quality: int = 5  # ffmpeg's -q:v, 2 (best) to 31
    realtime: bool = False  # read a file at its own speed, as if it were a camera
    loop_file: bool = False


def ffmpeg_arguments(config: SourceConfig, jpeg_fd: int) -> list[str]:
    """The ffmpeg command line: one decode, two outputs (JPEGs to descriptor ``jpeg_fd``)."""
    source: list[str] = []
    if config.url.startswith("rtsp://"):
        source += ["-rtsp_transport", "tcp"]
    if config.realtime:
        source += ["-re"]
    if config.loop_file:
        source += ["-stream_loop", "-1"]
    height = SNAPSHOT_HEIGHTS.get(config.snapshot_size, 576)
    snapshot_scale = f",scale=-2:'min({height},ih)'" if height else ""
    return [
        config.ffmpeg,
        "-hide_banner",
        "-loglevel", "error",
        "-nostdin",
        *source,
        "-i", config.url,
        "-an", "-sn", "-dn",
        "-map", "0:v:0",
        "-vf", f"fps={config.detect_fps},scale={config.detect_width}:-2,format=gray",
        "-c:v", "pgm", "-f", "image2pipe", "pipe:1",
        "-map", "0:v:0",
        "-vf", f"fps={config.snapshot_fps}{snapshot_scale}",
        # One encoder thread: the frame-threaded MJPEG encoder holds pictures back ~0.5 s.
        "-c:v", "mjpeg", "-threads", "1", "-q:v", str(config.jpeg_quality),
        "-f", "image2pipe", f"pipe:{jpeg_fd}",
    ]  # fmt: skip


def parse_pgm(buffer: bytearray) -> tuple[GreyPixels, int] | None:
    """One PGM image from the start of ``buffer``: (pixels, bytes used), or None if incomplete."""
    # Header: "P5" whitespace width whitespace height whitespace maxval single-whitespace.
    fields: list[bytes] = []
    position = 0
    while len(fields) < 4:
        while position < len(buffer) and buffer[position : position + 1].isspace():
            position += 1
        start = position
        while position < len(buffer) and not buffer[position : position + 1].isspace():
            position += 1
        if position >= len(buffer):
            return None
        fields.append(bytes(buffer[start:position]))
    if fields[0] != b"P5":
        raise ValueError(f"not a PGM frame: {fields[0]!r}")
    width, height = int(fields[1]), int(fields[2])
    position += 1
    end = position + width * height
    if len(buffer) < end:
        return None
    pixels = np.frombuffer(bytes(buffer[position:end]), dtype=np.uint8).reshape(height, width)
    return pixels, end


def split_jpegs(buffer: bytearray) -> list[bytes]:
    """Take every complete JPEG off the front of ``buffer`` (ffmpeg's MJPEG stream)."""
    images: list[bytes] = []
    while True:
        start = buffer.find(_SOI)
        if start < 0:
            buffer.clear()
            return images
        end = buffer.find(_EOI, start + 2)
        if end < 0:
            del buffer[:start]
            return images
        images.append(bytes(buffer[start : end + 2]))
        del buffer[: end + 2]


class FfmpegSource:
    """Runs ffmpeg for one stream, reconnecting with backoff, and reports frames and state."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        on_grey: Callable[[GreyFrame], None],
        on_jpeg: Callable[[JpegFrame], None],
        on_connected: Callable[[bool], None],
        backoff: tuple[float, ...] = (1, 2, 5, 10, 30),
    ) -> None:
        """Prepare; nothing runs until :meth:`run`.

        Frame times are stream time: frame number / rate, continued across reconnects. Burst
        timing then follows the pictures, not the speed at which they arrive.
        """
        self.config = config
        self._on_grey = on_grey
        self._on_jpeg = on_jpeg
        self._on_connected = on_connected
        self._backoff = backoff
        self._time_base = 0.0
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self.connected = False
        self.last_error = ""

    async def run(self) -> None:
        """Decode until :meth:`stop`; a stream that ends or fails is reopened with backoff."""
        failures = 0
        while True:
            got_frames = await self._run_once()
            if self.stopping:
                break
            failures = 0 if got_frames else failures + 1
            self._set_connected(False)
            delay = self._backoff[min(failures, len(self._backoff) - 1)]
            await asyncio.sleep(delay)

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping

    async def stop(self) -> None:
        """Stop ffmpeg and the loop."""
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            # A decoder has nothing to save, and ffmpeg ignores a first SIGTERM while it
            # writes to pipes: kill it.
            process.kill()
            await process.wait()

    def _set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self._on_connected(connected)

    async def _run_once(self) -> bool:  # noqa: PLR0915
        """One ffmpeg run; True if it produced frames."""
        if self._stopping:  # stopped during the back-off: do not start ffmpeg again
            return False
        read_fd, write_fd = os.pipe()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *ffmpeg_arguments(self.config, write_fd),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(write_fd,),
            )
        except OSError as err:
            os.close(read_fd)
            os.close(write_fd)
            self.last_error = f"cannot start ffmpeg: {err}"
            return False
        finally:
            with contextlib.suppress(OSError):
                os.close(write_fd)
        process = self._process
        assert process.stdout is not None
        assert process.stderr is not None
        got_frames = False
        base = self._time_base
        grey_count = jpeg_count = 0

        def advance_base() -> None:
            self._time_base = max(
                self._time_base,
                base + grey_count / self.config.detect_fps,
                base + jpeg_count / self.config.snapshot_fps,
            )

        async def read_grey() -> None:
            nonlocal got_frames, grey_count
            assert process.stdout is not None
            buffer = bytearray()
            while chunk := await process.stdout.read(65536):
                buffer += chunk
                while parsed := parse_pgm(buffer):
                    pixels, used = parsed
                    del buffer[:used]
                    got_frames = True
                    self._set_connected(True)
                    self._on_grey(GreyFrame(base + grey_count / self.config.detect_fps, pixels))
                    grey_count += 1
                    advance_base()

        async def read_jpeg() -> None:
            nonlocal jpeg_count
            reader = asyncio.StreamReader()
            loop = asyncio.get_running_loop()
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0)
            )
            buffer = bytearray()
            try:
                while chunk := await reader.read(262144):
                    buffer += chunk
                    for image in split_jpegs(buffer):
                        self._on_jpeg(
                            JpegFrame(base + jpeg_count / self.config.snapshot_fps, image)
                        )
                        jpeg_count += 1
                        advance_base()
            finally:
                transport.close()

        async def read_errors() -> str:
            assert process.stderr is not None
            return (await process.stderr.read()).decode(errors="replace").strip()

        try:
            _, _, errors = await asyncio.gather(read_grey(), read_jpeg(), read_errors())
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()
        self.last_error = (
            errors.splitlines()[-1] if errors else f"ffmpeg exited ({process.returncode})"
        )
        if not self._stopping:
            _LOGGER.debug("ffmpeg for %s ended: %s", _redact(self.config.url), self.last_error)
        return got_frames


def _redact(url: str) -> str:
    """A stream URL without its password, for logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
