"""Synthetic camera scenes, encoded to video by real ffmpeg and decoded back by FfmpegSource;
helpers to run FfmpegSource in tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
import contextlib
import logging
from pathlib import Path
import shutil
import stat

import imageio_ffmpeg
import numpy as np
from numpy.typing import NDArray

from custom_components.ptz_email_alert.vision.ffmpeg_source import FfmpegSource, SourceConfig
from custom_components.ptz_email_alert.vision.frames import GreyFrame, JpegFrame
from custom_components.ptz_email_alert.vision.pipes import split_jpegs

WIDTH, HEIGHT, FPS = 640, 360, 10
FIXTURES = Path(__file__).parent / "fixtures"
PEDESTRIANS = FIXTURES / "pedestrians-4s.mp4"  # real footage, 768x576, 4 s at 5 fps


def ffmpeg_binary() -> str:
    """The ffmpeg the tests use: the system's, else the one in the imageio-ffmpeg wheel."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


def texture(seed: int = 1, width: int = WIDTH * 2, height: int = HEIGHT * 2) -> NDArray[np.uint8]:
    """A detailed background (blocks and gradients), larger than a frame so a view can move."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 200, size=(height // 16, width // 16)).astype(np.float32)
    picture = np.kron(coarse, np.ones((16, 16), dtype=np.float32))
    picture += np.linspace(0, 30, width, dtype=np.float32)[None, :]
    # Fine detail (gravel, leaves): what a lens out of focus loses first.
    fine = rng.normal(0, 22, size=(height // 2, width // 2)).astype(np.float32)
    picture += np.kron(fine, np.ones((2, 2), dtype=np.float32))
    return np.clip(picture, 0, 255).astype(np.uint8)


def view(background: NDArray[np.uint8], dx: int = 0, dy: int = 0) -> NDArray[np.uint8]:
    """The camera's frame of the background, offset by (dx, dy)."""
    return background[dy : dy + HEIGHT, dx : dx + WIDTH].copy()


def with_box(
    frame: NDArray[np.uint8], x: float, y: float, w: int = 40, h: int = 90
) -> NDArray[np.uint8]:
    """A dark person-sized box with its foot at (x, y) (fractions of the frame)."""
    out = frame.copy()
    cx, foot = int(x * WIDTH), int(y * HEIGHT)
    out[max(0, foot - h) : foot, max(0, cx - w // 2) : cx + w // 2] = 15
    return out


def blur(frame: NDArray[np.uint8], radius: int = 6) -> NDArray[np.uint8]:
    """A strong box blur (a lens knocked out of focus)."""
    work = frame.astype(np.float32)
    for axis in (0, 1):
        padded = np.pad(
            work, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge"
        )
        cumulative = np.cumsum(padded, axis=axis, dtype=np.float32)
        zero = np.zeros_like(np.take(cumulative, [0], axis=axis))
        cumulative = np.concatenate([zero, cumulative], axis=axis)
        upper = np.take(cumulative, range(2 * radius + 1, cumulative.shape[axis]), axis=axis)
        lower = np.take(cumulative, range(cumulative.shape[axis] - 2 * radius - 1), axis=axis)
        work = (upper - lower) / (2 * radius + 1)
    return np.clip(work, 0, 255).astype(np.uint8)


async def encode(frames: Iterator[NDArray[np.uint8]], path: Path) -> Path:
    """Encode grey frames to an H.264 file with real ffmpeg."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS),
        "-i", "pipe:0", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        str(path),
        stdin=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    for frame in frames:
        process.stdin.write(frame.tobytes())
        await process.stdin.drain()
    process.stdin.close()
    assert await process.wait() == 0
    return path


async def jpeg_sequence(path: Path, width: int = 384) -> list[bytes]:
    """Every frame of a video as a JPEG (real ffmpeg), as an MJPEG camera would send them."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
        "-vf", f"scale={width}:-2", "-c:v", "mjpeg", "-q:v", "5", "-f", "image2pipe", "pipe:1",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode == 0
    return split_jpegs(bytearray(output))


async def hls_folder(video: Path, folder: Path) -> Path:
    """An HLS playlist of ``video`` in one-second segments (real ffmpeg), as a server offers.

    fMP4 segments: the MPEG-TS demuxer of imageio-ffmpeg's 7.0.2 build crashes (SIGSEGV).
    """
    folder.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(video),
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "5", "-f", "hls", "-hls_time", "1",
        "-hls_segment_type", "fmp4", "-hls_list_size", "0", str(folder / "index.m3u8"),
    )  # fmt: skip
    assert await process.wait() == 0
    return folder / "index.m3u8"


async def decode(path: Path | str, **config: object) -> tuple[list[GreyFrame], list[JpegFrame]]:
    """Decode a file (or a URL that ends) through FfmpegSource, as a camera stream would be;
    times are frame times."""
    greys: list[GreyFrame] = []
    jpegs: list[JpegFrame] = []
    ended = asyncio.Event()
    settings = SourceConfig(ffmpeg=ffmpeg_binary(), url=str(path), **config)  # type: ignore[arg-type]

    def on_connected(connected: bool) -> None:
        if not connected:
            ended.set()

    source = FfmpegSource(
        settings, on_grey=greys.append, on_jpeg=jpegs.append, on_connected=on_connected
    )
    task = asyncio.create_task(source.run())
    await ended.wait()
    await source.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return greys, jpegs


def scene(
    seconds: float, frame_at: Callable[[float], NDArray[np.uint8]]
) -> Iterator[NDArray[np.uint8]]:
    """Frames for ``seconds`` at FPS, ``frame_at(t)`` giving each."""
    for index in range(int(seconds * FPS)):
        yield frame_at(index / FPS)


# A still view of the default texture, for scenes where nothing happens.
STILL_TEXTURE = view(texture(), 100, 80)


def walk(t: float) -> NDArray[np.uint8]:
    """The still view, then from 1.5 s a person-sized box walking in from the left."""
    if t < 1.5:
        return STILL_TEXTURE
    return with_box(STILL_TEXTURE, 0.1 + 0.15 * (t - 1.5), 0.9)


# FfmpegSource under test: callbacks that can be waited on, and ffmpeg stand-ins. -----------

LOGGER_NAME = "custom_components.ptz_email_alert"


class Recorder:
    """The source's callbacks, with the wall-clock time each frame arrived."""

    def __init__(self, keep_frames: bool = True) -> None:
        self.loop = asyncio.get_running_loop()
        self.keep_frames = keep_frames
        self.greys: list[tuple[float, GreyFrame]] = []
        self.jpegs: list[tuple[float, JpegFrame]] = []
        self.grey_count = 0
        self.connections: list[bool] = []
        self._changed = asyncio.Event()

    def on_grey(self, frame: GreyFrame) -> None:
        self.grey_count += 1
        if self.keep_frames:
            self.greys.append((self.loop.time(), frame))
        self._changed.set()

    def on_jpeg(self, frame: JpegFrame) -> None:
        if self.keep_frames:
            self.jpegs.append((self.loop.time(), frame))
        self._changed.set()

    def on_connected(self, connected: bool) -> None:
        self.connections.append(connected)
        self._changed.set()

    def source(
        self,
        url: str | Path,
        backoff: float = 0.05,
        on_grey: Callable[[GreyFrame], None] | None = None,
        **config: object,
    ) -> FfmpegSource:
        settings = SourceConfig(ffmpeg=str(config.pop("ffmpeg", ffmpeg_binary())), url=str(url))
        for key, value in config.items():
            setattr(settings, key, value)
        return FfmpegSource(
            settings,
            on_grey=on_grey or self.on_grey,
            on_jpeg=self.on_jpeg,
            on_connected=self.on_connected,
            backoff=(backoff,),
        )

    async def until(self, condition: Callable[[], bool], within: float = 10.0) -> None:
        """Wait, on the callbacks, until ``condition`` holds (bounded by ``within``)."""
        async with asyncio.timeout(within):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


class LogWaiter(logging.Handler):
    """Wakes a test when a log record containing ``text`` is emitted (on the loop's thread)."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@contextlib.contextmanager
def waiting_for_log(text: str) -> Iterator[LogWaiter]:
    logger = logging.getLogger(LOGGER_NAME)
    waiter = LogWaiter(text)
    logger.addHandler(waiter)
    try:
        yield waiter
    finally:
        logger.removeHandler(waiter)


@contextlib.asynccontextmanager
async def running(source: FfmpegSource) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``source``; on the way out stop it and require its task to end within 5 s."""
    task = asyncio.create_task(source.run())
    try:
        yield task
    finally:
        await source.stop()
        async with asyncio.timeout(5):
            await task


def wrapper(tmp_path: Path, name: str, body: str) -> str:
    """A shell script standing in for ffmpeg: ``body`` runs with $REAL set to the real one."""
    script = tmp_path / name
    script.write_text(f'#!/bin/bash\nREAL="{ffmpeg_binary()}"\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting for a parent other than us counts)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as status:
            return status.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
