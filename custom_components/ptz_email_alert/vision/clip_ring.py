"""Event clips: the last seconds of a stream kept on disk as codec-copied segments.

A second ffmpeg process per camera, not a second output of the decoder: the decoder's clock
is in its filter graph (``setpts``), which a ``-c copy`` output bypasses; a full disk or a
muxer error here must not end detection; and the ring can be switched off or restarted alone.
The price is a second connection to the camera (most allow several).

The process copies the video (``-c copy``: no decode, no encode, almost no CPU) into short
Matroska segments (they stay readable if ffmpeg dies mid-write; this ffmpeg build crashes on
MPEG-TS). ffmpeg lists each segment on stdout when it closes it; that moment is stamped with
the wall clock, since a trigger is a wall-clock moment and MJPEG inputs carry no time stamps.
A clip is the concatenation of the segments that cover it, trimmed by the concat demuxer's
in and out points, copied again into MP4.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
import contextlib
from dataclasses import dataclass
import logging
from pathlib import Path
import shutil
import signal
import tempfile
import time

from .ffmpeg_source import needs_wall_clock
from .pipes import OutputTail
from .process import GRACE, end_process, signal_group
from .redact import redact_text, redact_url

_LOGGER = logging.getLogger(__name__)

CUT_TIMEOUT = 30.0  # seconds a cut may take (it only copies a few MB)


@dataclass(slots=True)
class ClipConfig:
    """What to record and how long to keep it."""

    ffmpeg: str
    url: str
    segment_seconds: float = 2.0  # cut at the first keyframe after this; longer GOP, longer
    keep_seconds: float = 30.0  # segments older than this are deleted (unless a cut holds them)
    stall_timeout: float = 60.0  # no segment for this long (a hung camera): reconnect
    folder: Path | None = None  # where the ring's temporary folder goes; None: the system's
    realtime: bool = False  # read a file at its own speed (tests, benchmarks)
    loop_file: bool = False


@dataclass(frozen=True, slots=True)
class Segment:
    """One closed segment and the wall-clock seconds (epoch) it covers."""

    path: Path
    start: float
    end: float


def ring_arguments(config: ClipConfig, pattern: Path) -> list[str]:
    """The recording command line: copy the first video stream into segments at ``pattern``."""
    source: list[str] = []
    if config.url.lower().startswith(("rtsp://", "rtsps://")):
        source += ["-rtsp_transport", "tcp"]
    if needs_wall_clock(config.url):
        # Packets stamped on arrival: with -c copy there is no filter graph to do it in.
        source += ["-use_wallclock_as_timestamps", "1"]
    if config.realtime:
        source += ["-re"]
    if config.loop_file:
        source += ["-stream_loop", "-1"]
    return [
        config.ffmpeg,
        "-hide_banner",
        "-loglevel", "error",
        "-nostdin",
        *source,
        "-i", config.url,
        "-map", "0:v:0", "-an", "-sn", "-dn",
        "-c", "copy",
        "-f", "segment",
        "-segment_time", f"{config.segment_seconds:g}",
        "-segment_format", "matroska",
        "-reset_timestamps", "1",  # each segment starts at 0: in/out points are offsets
        "-segment_list", "pipe:1",
        "-segment_list_type", "csv",  # "name,start,end" per closed segment, flushed at once
        str(pattern),
    ]  # fmt: skip


def covering(segments: Iterable[Segment], start: float, end: float) -> list[Segment]:
    """The segments that overlap ``start``..``end``, oldest first."""
    return [s for s in segments if s.end > start and s.start < end]


def concat_script(segments: list[Segment], start: float, end: float) -> str:
    """The concat demuxer's list: the segments, the first and last trimmed to the clip."""
    lines = ["ffconcat version 1.0"]
    for index, segment in enumerate(segments):
        quoted = str(segment.path).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
        if index == 0 and start > segment.start:
            lines.append(f"inpoint {start - segment.start:.3f}")
        if index == len(segments) - 1 and end < segment.end:
            lines.append(f"outpoint {end - segment.start:.3f}")
    return "\n".join(lines) + "\n"


def cut_arguments(ffmpeg: str, script: Path, output: Path) -> list[str]:
    """The cutting command line: the listed segments copied into one MP4."""
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "concat", "-safe", "0", "-i", str(script),
        "-map", "0:v:0", "-c", "copy",
        "-movflags", "+faststart",  # playable while it downloads
        "-f", "mp4", "-y", str(output),
    ]  # fmt: skip


class ClipRing:
    """Records one stream into a ring of segments, reconnecting with backoff; cuts clips."""

    def __init__(
        self,
        config: ClipConfig,
        *,
        backoff: tuple[float, ...] = (1, 2, 5, 10, 30),
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Prepare; nothing runs until :meth:`run`."""
        self.config = config
        self._backoff = backoff
        self._clock = clock
        self.segments: deque[Segment] = deque()
        self._changed = asyncio.Condition()
        self._holds: list[float] = []  # start times of clips being cut: keep their segments
        self._folder: Path | None = None
        self._runs = 0
        self._offsets: deque[float] = deque(maxlen=30)  # wall clock - stream time, this run
        self._cuts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._stopped = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.last_error = ""

    @property
    def pid(self) -> int | None:
        """The recording ffmpeg's process id, if one runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping

    async def run(self) -> None:
        """Record until :meth:`stop`; a stream that ends or fails is reopened with backoff."""
        if self._stopping:  # stopped before it ran: make no folder that nothing would delete
            return
        self._idle.clear()
        try:
            self._folder = Path(
                await asyncio.to_thread(tempfile.mkdtemp, "", "ptz-clips-", self.config.folder)
            )
            failures = 0
            while not self._stopping:
                try:
                    got_segments = await self._run_once()
                except Exception:
                    _LOGGER.exception("Clip ring of %s failed", redact_url(self.config.url))
                    got_segments = False
                if self.stopping:
                    break
                failures = 0 if got_segments else failures + 1
                delay = self._backoff[min(failures, len(self._backoff) - 1)]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), delay)
        finally:
            if self._folder is not None:  # the ring is this run's: deleted with it
                await asyncio.to_thread(shutil.rmtree, self._folder, True)
                self.segments.clear()
            self._idle.set()

    async def stop(self) -> None:
        """Stop ffmpeg and the ring (its folder deleted; bounded), wake waiting cuts."""
        self._stopping = True
        self._stopped.set()
        if self._process is not None:
            # Segments are not needed after a stop: no clean trailer to wait for.
            signal_group(self._process, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), 3 * GRACE)
        async with self._changed:
            self._changed.notify_all()  # waiting cuts give up: nothing more will be recorded

    async def _run_once(self) -> bool:
        assert self._folder is not None
        self._runs += 1
        self._offsets.clear()  # a new run, a new stream time
        pattern = self._folder / f"r{self._runs:04d}_%06d.mkv"
        try:
            process = await asyncio.create_subprocess_exec(
                *ring_arguments(self.config, pattern),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own group: ended with its children
            )
        except OSError as err:
            self.last_error = f"cannot start ffmpeg: {redact_text(str(err))}"
            return False
        self._process = process
        errors = OutputTail()
        got = False
        stalled = ""

        async def read_errors() -> None:
            assert process.stderr is not None
            while chunk := await process.stderr.read(4096):  # only the tail is kept
                errors.feed(chunk)

        async def read_segments() -> None:
            nonlocal got, stalled
            assert process.stdout is not None
            while True:
                try:
                    async with asyncio.timeout(self.config.stall_timeout):
                        line = await process.stdout.readline()
                except TimeoutError:
                    stalled = f"no segment for {self.config.stall_timeout:.0f} s"
                    signal_group(process, signal.SIGKILL)
                    return
                if not line:
                    return
                if await self._add(line.decode(errors="replace")):
                    got = True

        try:
            if not self._stopping:
                async with asyncio.TaskGroup() as group:
                    group.create_task(read_errors())
                    group.create_task(read_segments())
        finally:
            await end_process(process, signal.SIGKILL if self._stopping else signal.SIGTERM)
            self._process = None
        self.last_error = (
            stalled or redact_text(errors.last_line) or f"ffmpeg exited ({process.returncode})"
        )
        if not self._stopping:
            _LOGGER.debug("Clip ring of %s ended: %s", redact_url(self.config.url), self.last_error)
        return got

    async def _add(self, line: str) -> bool:
        """Record a closed segment from its list line; delete what fell out of the ring."""
        assert self._folder is not None
        parts = line.strip().split(",")
        if len(parts) < 3:
            return False
        try:
            start, end = float(parts[-2]), float(parts[-1])
        except ValueError:
            return False
        # ffmpeg lists a segment when the next one begins, so this one ended about now. The
        # event loop may read the line late, never early: the smallest recent gap between the
        # clock and the run's stream time is the truest (recent: camera clocks drift).
        closed = self._clock()
        self._offsets.append(closed - end)
        offset = min(self._offsets)
        path = self._folder / Path(",".join(parts[:-2])).name
        self.segments.append(Segment(path, start + offset, end + offset))
        await self._prune(closed)
        async with self._changed:
            self._changed.notify_all()
        return True

    async def _prune(self, now: float) -> None:
        oldest = now - self.config.keep_seconds
        if self._holds:
            oldest = min(oldest, *self._holds)
        old: list[Path] = []
        while self.segments and self.segments[0].end < oldest:
            old.append(self.segments.popleft().path)
        if old:
            await asyncio.to_thread(_unlink, old)

    async def async_cut(self, start: float, end: float, *, wait: float) -> bytes | None:
        """The MP4 of wall-clock ``start``..``end`` as bytes; see :meth:`async_cut_file`."""
        if (path := await self.async_cut_file(start, end, wait=wait)) is None:
            return None
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError:
            return None
        finally:
            await asyncio.to_thread(_unlink, [path])

    async def async_cut_file(self, start: float, end: float, *, wait: float) -> Path | None:
        """The MP4 of wall-clock ``start``..``end`` as a file in the ring's folder, or None.

        None: nothing covers it, or it failed. The caller moves or deletes the file: a clip
        of an MJPEG camera is several MB, so it goes from disk to disk, not through memory.

        Waits up to ``wait`` s for ``end`` to be recorded; what is there then is used. The
        file goes with the ring's folder when the ring stops.
        """
        self._holds.append(start)
        try:
            await self.async_wait_recorded(end, wait)
            parts = covering(self.segments, start, end)
            if not parts or self._folder is None or self._stopping:
                return None
            return await self._cut(parts, start, end)
        finally:
            self._holds.remove(start)

    async def async_wait_recorded(self, until: float, wait: float) -> bool:
        """Wait up to ``wait`` s until a closed segment reaches wall-clock ``until``."""
        with contextlib.suppress(TimeoutError):
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(
                        lambda: self._stopping
                        or bool(self.segments and self.segments[-1].end >= until)
                    ),
                    wait,
                )
        return bool(self.segments and self.segments[-1].end >= until)

    async def _cut(self, parts: list[Segment], start: float, end: float) -> Path | None:
        assert self._folder is not None
        self._cuts += 1
        script = self._folder / f"cut{self._cuts}.txt"
        output = self._folder / f"cut{self._cuts}.mp4"
        await asyncio.to_thread(script.write_text, concat_script(parts, start, end))
        try:
            process = await asyncio.create_subprocess_exec(
                *cut_arguments(self.config.ffmpeg, script, output),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as err:
            self.last_error = f"cannot start ffmpeg: {redact_text(str(err))}"
            await asyncio.to_thread(_unlink, [script])
            return None
        errors = OutputTail()
        try:
            async with asyncio.timeout(CUT_TIMEOUT):
                assert process.stderr is not None
                while chunk := await process.stderr.read(4096):
                    errors.feed(chunk)
                await process.wait()
        except TimeoutError:
            errors.feed(b"cutting the clip took too long\n")
        finally:
            await end_process(process, signal.SIGKILL)
        await asyncio.to_thread(_unlink, [script])
        if process.returncode != 0:
            self.last_error = redact_text(errors.last_line) or "cutting the clip failed"
            _LOGGER.debug("Clip cut failed: %s", self.last_error)
            await asyncio.to_thread(_unlink, [output])
            return None
        return output


def _unlink(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()
