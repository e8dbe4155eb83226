"""Scenes seen by a camera that shakes, sways, pans and zooms, made from real footage.

The world is a still picture (the median of real footage: the people walk out of it); a
person cut from the same footage is pasted walking across it; the camera's view is a window
of the world, moved and scaled frame by frame, resampled bilinearly. Frames are encoded by
real ffmpeg (H.264) so that the detectors see compression as a camera stream has it.

numpy only (no OpenCV): the benchmark (bench/motion.py) uses these too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
import math
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from numpy.typing import NDArray

from custom_components.ptz_email_alert.vision.pixels import connected

from .scenes import ffmpeg_binary

type Grey = NDArray[np.uint8]
# (centre x, centre y, width) of the camera's window on the world, in world pixels
type View = tuple[float, float, float]


def read_grey(path: Path | str) -> list[Grey]:
    """Every frame of a video as grey pixels (real ffmpeg)."""
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="gray", bpp=1)
    meta = next(reader)
    width, height = meta["size"]
    return [np.frombuffer(data, np.uint8).reshape(height, width).copy() for data in reader]


def still_world(frames: Sequence[Grey]) -> Grey:
    """The scene without what moves in it: the median of the frames."""
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


@dataclass(frozen=True, slots=True)
class Sprite:
    """A person cut from footage: grey patch and its opacity (0-1), same shape."""

    patch: NDArray[np.float32]
    mask: NDArray[np.float32]


def cut_person(frames: Sequence[Grey], world: Grey, min_height: int = 60) -> Sprite:
    """The largest person-shaped thing that differs from ``world`` in one of the frames.

    Background subtraction (25 grey levels), then boxes of 4x4 cells with something in
    them; person-shaped: at least ``min_height`` px, 1.8 to 5 times as tall as wide.
    """
    best: tuple[int, Grey, NDArray[np.bool_]] | None = None
    for frame in frames:
        moving = np.abs(frame.astype(np.int16) - world) > 25
        height, width = moving.shape[0] // 4 * 4, moving.shape[1] // 4 * 4
        cells = moving[:height, :width].reshape(height // 4, 4, width // 4, 4).any(axis=(1, 3))
        for top, left, bottom, right in connected(cells):
            box_height, box_width = (bottom - top) * 4, (right - left) * 4
            if box_height < min_height or not 1.8 <= box_height / box_width <= 5:
                continue
            area = box_height * box_width
            if best is None or area > best[0]:
                rows, columns = slice(top * 4, bottom * 4), slice(left * 4, right * 4)
                best = (area, frame[rows, columns], moving[rows, columns])
    assert best is not None, "no person in the footage"
    _, patch, mask = best
    return Sprite(patch.astype(np.float32), mask.astype(np.float32))


def resize(picture: NDArray[np.float32], width: int, height: int) -> NDArray[np.float32]:
    """Area-average (shrinking) or bilinear (growing) resize, numpy only."""
    return sample(picture, *np.meshgrid(
        (np.arange(width) + 0.5) * picture.shape[1] / width - 0.5,
        (np.arange(height) + 0.5) * picture.shape[0] / height - 0.5,
    ), smooth=max(1, round(picture.shape[0] / height)))  # fmt: skip


def sample(
    picture: NDArray[np.float32] | Grey,
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
    smooth: int = 1,
) -> NDArray[np.float32]:
    """Bilinear samples of ``picture`` at (xs, ys), edges repeated; ``smooth``: box-blur the
    picture over that many pixels first (to shrink without aliasing)."""
    source = picture.astype(np.float32)
    if smooth > 1:
        kernel = np.ones(smooth, dtype=np.float32) / smooth
        source = np.apply_along_axis(np.convolve, 1, source, kernel, mode="same")
        source = np.apply_along_axis(np.convolve, 0, source, kernel, mode="same")
    height, width = source.shape
    xs = np.clip(xs, 0, width - 1.001)
    ys = np.clip(ys, 0, height - 1.001)
    x0, y0 = xs.astype(np.intp), ys.astype(np.intp)
    fx, fy = (xs - x0).astype(np.float32), (ys - y0).astype(np.float32)
    top = source[y0, x0] * (1 - fx) + source[y0, x0 + 1] * fx
    bottom = source[y0 + 1, x0] * (1 - fx) + source[y0 + 1, x0 + 1] * fx
    result: NDArray[np.float32] = top * (1 - fy) + bottom * fy
    return result


def paste(world: Grey, sprite: Sprite, foot: tuple[float, float], height: int) -> Grey:
    """``world`` with ``sprite`` scaled to ``height`` px, standing at ``foot`` (x, y)."""
    width = width_of(sprite, height)
    patch, mask = resize(sprite.patch, width, height), resize(sprite.mask, width, height)
    left, top = round(foot[0] - width / 2), round(foot[1] - height)
    out = world.astype(np.float32)
    region = out[top : top + height, left : left + width]
    region[:] = region * (1 - mask) + patch * mask
    return np.clip(out, 0, 255).astype(np.uint8)


def walk(
    start: tuple[float, float], end: tuple[float, float], height: int, speed: float = 0.8
) -> Callable[[float], tuple[float, float]]:
    """Foot position at time t of a person ``height`` px tall walking from ``start`` (t = 0)
    towards ``end`` at ``speed`` body heights a second (0.8: about 1.4 m/s), stopping there."""
    length = math.dist(start, end)

    def at(t: float) -> tuple[float, float]:
        share = min(1.0, max(0.0, t) * speed * height / length)
        return start[0] + (end[0] - start[0]) * share, start[1] + (end[1] - start[1]) * share

    return at


def walker(
    world: Grey,
    sprite: Sprite,
    start: tuple[float, float],
    end: tuple[float, float],
    height: int,
    speed: float = 0.8,
) -> Callable[[float], Grey]:
    """The world at time t with the person of ``sprite`` walking as :func:`walk` says (not
    there before t = 0)."""
    foot = walk(start, end, height, speed)

    def at(t: float) -> Grey:
        return world if t < 0 else paste(world, sprite, foot(t), height)

    return at


def width_of(sprite: Sprite, height: int) -> int:
    """The sprite's width when pasted ``height`` px tall."""
    patch_height, patch_width = sprite.patch.shape
    return max(1, round(patch_width * height / patch_height))


def look(world: Grey, view: View, size: tuple[int, int] = (480, 360)) -> Grey:
    """What the camera sees: the ``view`` window of ``world`` at ``size`` (width, height)."""
    centre_x, centre_y, view_width = view
    out_width, out_height = size
    scale = view_width / out_width
    xs = centre_x + (np.arange(out_width) + 0.5 - out_width / 2) * scale - 0.5
    ys = centre_y + (np.arange(out_height) + 0.5 - out_height / 2) * scale - 0.5
    grid_x, grid_y = np.meshgrid(xs, ys)
    smooth = max(1, round(scale))
    return np.clip(sample(world, grid_x, grid_y, smooth), 0, 255).astype(np.uint8)


def shaken(view: View, amplitude: float, seed: int) -> Callable[[float], View]:
    """A view shaken at random by up to ``amplitude`` px of the output (whole pixels)."""
    rng = np.random.default_rng(seed)
    cache: dict[float, View] = {}

    def at(t: float) -> View:
        if t not in cache:
            dx, dy = rng.integers(-round(amplitude), round(amplitude) + 1, size=2)
            scale = view[2] / 480
            cache[t] = (view[0] + dx * scale, view[1] + dy * scale, view[2])
        return cache[t]

    return at


def swaying(
    view: View, amplitude: float, hertz: float = 0.5, until: float = 1e9
) -> Callable[[float], View]:
    """A view swaying sideways (and a third of that up and down) by ``amplitude`` world px."""

    def at(t: float) -> View:
        if t >= until:
            return view
        phase = 2 * math.pi * hertz * t
        return (
            view[0] + amplitude * math.sin(phase),
            view[1] + amplitude / 3 * math.sin(phase + 1),
            view[2],
        )

    return at


def moving(start: View, end: View, begin: float, seconds: float) -> Callable[[float], View]:
    """A pan, tilt or zoom from ``start`` to ``end`` between ``begin`` and ``begin + seconds``
    (eased in and out, as PTZ heads move); zoom changes the width geometrically."""

    def at(t: float) -> View:
        share = min(1.0, max(0.0, (t - begin) / seconds))
        share = (1 - math.cos(math.pi * share)) / 2
        width = start[2] * (end[2] / start[2]) ** share
        return (
            start[0] + (end[0] - start[0]) * share,
            start[1] + (end[1] - start[1]) * share,
            width,
        )

    return at


def clip(
    seconds: float,
    world_at: Callable[[float], Grey],
    view_at: Callable[[float], View],
    fps: int = 10,
    size: tuple[int, int] = (480, 360),
) -> list[Grey]:
    """The camera's frames for ``seconds`` at ``fps``."""
    times = [index / fps for index in range(round(seconds * fps))]
    return [look(world_at(t), view_at(t), size) for t in times]


async def encode_clip(frames: Iterable[Grey], path: Path, fps: int = 10) -> Path:
    """Encode grey frames (any size) to H.264 with real ffmpeg, as a camera would send."""
    frames = list(frames)
    height, width = frames[0].shape
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{width}x{height}", "-r", str(fps),
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
