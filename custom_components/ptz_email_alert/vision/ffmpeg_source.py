"""One ffmpeg process per stream: decode once, emit small grey frames and snapshot JPEGs.

ffmpeg writes grey frames as PGM images (each carries its size, so nothing has to probe the
stream first) on stdout, and JPEGs at the snapshot size on a second pipe. Nothing here blocks
the event loop: the process is asyncio's, parsing is slicing bytes (see ``pipes``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
import logging
import os
import signal
from urllib.parse import urlsplit

from .frames import GreyFrame, JpegFrame
from .pipes import OutputTail, PgmStream, split_jpegs
from .process import GRACE, end_process, signal_group
from .redact import redact_text, redact_url

_LOGGER = logging.getLogger(__name__)

SNAPSHOT_HEIGHTS = {"d1": 576, "720p": 720, "1080p": 1080, "original": 0}
# Frames stamped with the wall clock when they reach the filters, in the filter's time base.
# Absolute, not since RTCSTART: a filter graph rebuilt mid-stream (new picture size) restarts
# RTCSTART, and time stamps must not go back.
_WALL_CLOCK = "setpts=RTCTIME/(TB*1000000)"


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
    # A camera that stops sending but keeps the connection open would otherwise count as
    # connected for ever: no frame for this long ends the run (and it reconnects).
    stall_timeout: float = 20.0
    first_frame_timeout: float = 60.0  # RTSP set-up and probing can take a while


def needs_wall_clock(url: str) -> bool:
    """True for a stream whose own time stamps cannot be trusted: HTTP other than HLS/DASH.

    HTTP cameras send MJPEG (multipart/x-mixed-replace, or bare JPEGs): no time stamps, so
    ffmpeg assumes 25 fps and a 10 fps camera runs 2.5x slow. ``-use_wallclock_as_timestamps``
    does not fix that (ffmpeg 7 still counts 25 fps for mpjpeg), so frames are stamped in the
    filter graph instead. The content type is not known before ffmpeg opens the stream, so the
    URL decides: any other live container over HTTP (FLV, MP4) arrives at its own pace, so the
    clock is right for it too. HLS and DASH come a segment at a time, in bursts: they keep their
    own time stamps, as do RTSP (RTP clock) and files (``-re`` paces them when ``realtime``).
    """
    parts = urlsplit(url)
    return parts.scheme.lower() in {"http", "https"} and not parts.path.lower().endswith(
        (".m3u8", ".mpd")
    )


def ffmpeg_arguments(config: SourceConfig, jpeg_fd: int) -> list[str]:
    """The ffmpeg command line: one decode, two outputs (JPEGs to descriptor ``jpeg_fd``)."""
    source: list[str] = []
    if config.url.lower().startswith(("rtsp://", "rtsps://")):
        source += ["-rtsp_transport", "tcp"]
    if config.realtime:
        source += ["-re"]
    if config.loop_file:
        source += ["-stream_loop", "-1"]
    height = SNAPSHOT_HEIGHTS.get(config.snapshot_size, 576)
    snapshot_scale = f",scale=-2:'min({height},ih)'" if height else ""
    clock = f"{_WALL_CLOCK}," if needs_wall_clock(config.url) else ""
    return [
        config.ffmpeg,
        "-hide_banner",
        "-loglevel", "error",
        "-nostdin",
        *source,
        "-i", config.url,
        "-an", "-sn", "-dn",
        "-map", "0:v:0",
        "-vf", f"{clock}fps={config.detect_fps},scale={config.detect_width}:-2,format=gray",
        "-c:v", "pgm", "-f", "image2pipe", "pipe:1",
        "-map", "0:v:0",
        "-vf", f"{clock}fps={config.snapshot_fps}{snapshot_scale}",
        # One encoder thread: the frame-threaded MJPEG encoder holds pictures back ~0.5 s.
        "-c:v", "mjpeg", "-threads", "1", "-q:v", str(config.jpeg_quality),
        "-f", "image2pipe", f"pipe:{jpeg_fd}",
    ]  # fmt: skip


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
        self._stopped = asyncio.Event()
        self._idle = asyncio.Event()  # no ffmpeg run in progress
        self._idle.set()
        self.connected = False
        self.last_error = ""

    async def run(self) -> None:
        """Decode until :meth:`stop`; a stream that ends or fails is reopened with backoff."""
        failures = 0
        while not self._stopping:
            try:
                got_frames = await self._run_once()
            except Exception:
                # A bug in a callback or here must not end the camera for good: log, go on.
                _LOGGER.exception("Reading ffmpeg for %s failed", redact_url(self.config.url))
                got_frames = False
            if self.stopping:
                break
            failures = 0 if got_frames else failures + 1
            self._set_connected(False)
            delay = self._backoff[min(failures, len(self._backoff) - 1)]
            with contextlib.suppress(TimeoutError):
                # A stop during the back-off ends it at once.
                await asyncio.wait_for(self._stopped.wait(), delay)

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping

    @property
    def pid(self) -> int | None:
        """The running ffmpeg's process id, if one runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def stop(self) -> None:
        """Stop ffmpeg and the loop; returns once ffmpeg has exited (bounded)."""
        self._stopping = True
        self._stopped.set()
        if self._process is not None:
            # A decoder has nothing to save, and ffmpeg may ignore SIGTERM: kill it. The run
            # then sees its pipes end and cleans up; wait for that, within a bound.
            signal_group(self._process, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), 3 * GRACE)

    def _set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self._on_connected(connected)

    async def _run_once(self) -> bool:
        """One ffmpeg run; True if it produced frames."""
        if self._stopping:  # stopped during the back-off: do not start ffmpeg again
            return False
        self._idle.clear()
        try:
            return await self._run_process()
        finally:
            self._idle.set()

    async def _run_process(self) -> bool:
        read_fd, write_fd = os.pipe()
        try:
            process = await asyncio.create_subprocess_exec(
                *ffmpeg_arguments(self.config, write_fd),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(write_fd,),
                # Its own process group: a wrapper script's children end with it.
                start_new_session=True,
            )
        except BaseException as err:
            os.close(read_fd)
            if not isinstance(err, OSError):
                raise
            self.last_error = f"cannot start ffmpeg: {redact_text(str(err))}"
            return False
        finally:
            os.close(write_fd)
        self._process = process
        run = _Run(self.config, process, read_fd, self._time_base, self._on_frames)
        try:
            if not self.stopping:  # stop() may have come while ffmpeg was starting
                async with asyncio.TaskGroup() as group:
                    group.create_task(run.read_grey(self._on_grey))
                    group.create_task(run.read_jpeg(self._on_jpeg))
                    group.create_task(run.read_errors())
        finally:
            run.close()
            self._time_base = max(self._time_base, run.end_time)
            await end_process(process, signal.SIGKILL if self.stopping else signal.SIGTERM)
            self._process = None
        self.last_error = (
            run.stalled
            or redact_text(run.errors.last_line)
            or f"ffmpeg exited ({process.returncode})"
        )
        if not self._stopping:
            _LOGGER.debug("ffmpeg for %s ended: %s", redact_url(self.config.url), self.last_error)
        return run.got_frames

    def _on_frames(self) -> None:
        self._set_connected(True)


class _Run:
    """The three pipes of one ffmpeg run, read concurrently.

    Frame times are ``base`` (where the previous run ended) + frame number / rate.
    """

    def __init__(
        self,
        config: SourceConfig,
        process: asyncio.subprocess.Process,
        jpeg_fd: int,
        base: float,
        on_frames: Callable[[], None],
    ) -> None:
        self.config = config
        self.process = process
        self.base = base
        self.grey_count = self.jpeg_count = 0
        self.got_frames = False
        self.stalled = ""  # why the run was ended for silence, if it was
        self.errors = OutputTail()
        self._on_frames = on_frames
        self._jpeg_file = os.fdopen(jpeg_fd, "rb", 0)
        self._jpeg_transport: asyncio.ReadTransport | None = None

    @property
    def end_time(self) -> float:
        """Where the next run's frame times start."""
        return self.base + max(
            self.grey_count / self.config.detect_fps, self.jpeg_count / self.config.snapshot_fps
        )

    async def read_grey(self, on_grey: Callable[[GreyFrame], None]) -> None:
        assert self.process.stdout is not None
        frames = PgmStream()
        while True:
            limit = (
                self.config.stall_timeout if self.got_frames else self.config.first_frame_timeout
            )
            try:
                async with asyncio.timeout(limit):
                    chunk = await self.process.stdout.read(65536)
            except TimeoutError:
                self.stalled = f"no picture for {limit:.0f} s"
                signal_group(self.process, signal.SIGKILL)  # its pipes end; the run closes
                return
            if not chunk:
                return
            for pixels in frames.feed(chunk):
                self.got_frames = True
                self._on_frames()
                on_grey(GreyFrame(self.base + self.grey_count / self.config.detect_fps, pixels))
                self.grey_count += 1

    async def read_jpeg(self, on_jpeg: Callable[[JpegFrame], None]) -> None:
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        self._jpeg_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), self._jpeg_file
        )
        buffer = bytearray()
        while chunk := await reader.read(262144):
            buffer += chunk
            for image in split_jpegs(buffer):
                on_jpeg(JpegFrame(self.base + self.jpeg_count / self.config.snapshot_fps, image))
                self.jpeg_count += 1

    async def read_errors(self) -> None:
        # Read as it comes and keep only the tail: a long run would otherwise pile up all of
        # ffmpeg's messages in memory.
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(4096):
            self.errors.feed(chunk)

    def close(self) -> None:
        """Close the JPEG pipe (its transport owns the file once connected)."""
        if self._jpeg_transport is not None:
            self._jpeg_transport.close()
        else:
            self._jpeg_file.close()
