"""The motion bench's scenes: made from the footage's still background and a person cut
from it, encoded by ffmpeg and decoded by FfmpegSource as a camera's frames would be."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _motion_settings import FPS, HEIGHTS, PATH, QUICK_HEIGHTS, progress
import numpy as np

from custom_components.ptz_email_alert.vision.frames import GreyFrame
from tests.camera_scenes import Grey, Sprite, encode_clip, look, walk, walker, width_of
from tests.scenes import decode


def noisy(picture: Grey, sigma: float, rng: np.random.Generator) -> Grey:
    """Sensor noise: a real camera never sends the same frame twice."""
    noise = rng.normal(0, sigma, picture.shape)
    return np.clip(picture + noise, 0, 255).astype(np.uint8)


@dataclass(slots=True)
class Scene:
    """A scene's decoded frames; for a pasted person, where they are in each."""

    name: str
    greys: list[GreyFrame]
    box: Callable[[float], tuple[float, float, float, float] | None] | None = None


async def make(name: str, frames: list[Grey], folder: Path) -> list[GreyFrame]:
    progress(f"  {name}: {len(frames)} frames")
    greys, _ = await decode(await encode_clip(frames, folder / f"{name}.mp4", FPS))
    return greys


async def scenes(
    world: Grey, sprite: Sprite, footage: list[Grey], folder: Path, quick: bool
) -> tuple[list[Scene], dict[int, Scene]]:
    seconds = 8 if quick else 20
    rng = np.random.default_rng(7)
    count = seconds * FPS

    def shaken(amplitude: int) -> list[Grey]:
        offsets = rng.integers(-amplitude, amplitude + 1, size=(count, 2))
        return [
            noisy(look(world, (384 + dx, 288 + dy, 768), (768, 576)), 2, rng) for dx, dy in offsets
        ]

    bright = np.clip(world * 1.25, 0, 255)
    fixed = [
        ("still", [noisy(world, 2, rng) for _ in range(count)]),
        ("noisy", [noisy(world, 6, rng) for _ in range(count)]),
        ("shake_2px", shaken(2)),
        ("shake_1px", shaken(1)),
        ("light_step", [noisy(world if i < count // 2 else bright, 2, rng) for i in range(count)]),
        ("dusk", [noisy(world * (1 - 0.8 * i / count), 2, rng) for i in range(count)]),
    ]
    made = [Scene(name, await make(name, frames, folder)) for name, frames in fixed]
    made.append(Scene("walkers", await make("walkers", footage, folder)))
    pasted = {}
    for height in QUICK_HEIGHTS if quick else HEIGHTS:
        pasted[height] = await pasted_scene(world, sprite, height, folder, 6 if quick else 15)
    return made, pasted


async def pasted_scene(
    world: Grey, sprite: Sprite, height: int, folder: Path, walking: float
) -> Scene:
    """The person walking along the pavement from 2 s (the camera has learned the scene)."""
    start, end = PATH
    at = walker(world, sprite, start, end, height)
    rng = np.random.default_rng(height)
    frames = [noisy(at(i / FPS - 2), 2, rng) for i in range(round((2 + walking) * FPS))]
    foot = walk(start, end, height)
    width = width_of(sprite, height)

    def box(t: float) -> tuple[float, float, float, float] | None:
        if t < 3:
            return None  # 1 s in: the person is all in the picture and the detector settled
        x, y = foot(t - 2)
        return x - width / 2, y - height, width, height

    return Scene(f"person_{height}px", await make(f"person_{height}px", frames, folder), box)
