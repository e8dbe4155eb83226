"""Synthetic camera scenes, encoded to video by real ffmpeg and decoded back by FfmpegSource."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import contextlib
from pathlib import Path
import shutil

import imageio_ffmpeg
import numpy as np
from numpy.typing import NDArray

from custom_components.ptz_email_alert.vision.ffmpeg_source import FfmpegSource, SourceConfig
from custom_components.ptz_email_alert.vision.frames import GreyFrame, JpegFrame

WIDTH, HEIGHT, FPS = 640, 360, 10


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


async def decode(path: Path, **config: object) -> tuple[list[GreyFrame], list[JpegFrame]]:
    """Decode a file through FfmpegSource, as a camera stream would be; times are frame times."""
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
