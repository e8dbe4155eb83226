"""Motion: shake, light and small movers on real footage, and the cost of stabilisation.

Scenes are made from the development footage: its still background (the median frame) shaken
at random by 1 or 2 px, lit up by 25 % at once, darkened slowly (dusk); the footage itself
(people walking); and a person cut from it (background subtraction against the median) pasted
walking along the pavement at heights from 8 to 120 px. Each scene is a D1 (768 x 576) H.264
file made by ffmpeg and decoded by the integration's own FfmpegSource (320-px grey frames at
5 fps); MotionDetector runs on every frame at every sensitivity level, stabilised (as the
integration runs it) and with stabilisation off. Prints the section and rewrites the
"## Motion" section of docs/benchmarks.md.

    .venv/bin/python bench/motion.py [--quick]

The footage is /work/shared/data/pedestrians-dev.mp4 unless PTZ_BENCH_FOOTAGE names another
file. --quick: fewer heights and shorter scenes, docs/benchmarks.md not written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
import datetime as dt
import gc
import io
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Any

import numpy as np
from outbox_flush import machine, write_docs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a plain script: the repository root must be importable

from custom_components.ptz_email_alert.vision.analyser import AnalyserConfig  # noqa: E402
from custom_components.ptz_email_alert.vision.frames import GreyFrame  # noqa: E402
from custom_components.ptz_email_alert.vision.motion import MotionDetector  # noqa: E402
from custom_components.ptz_email_alert.vision.sensitivity import LEVELS  # noqa: E402
from tests.camera_scenes import (  # noqa: E402
    Grey,
    Sprite,
    cut_person,
    encode_clip,
    look,
    read_grey,
    still_world,
    walk,
    walker,
    width_of,
)
from tests.scenes import decode  # noqa: E402

FOOTAGE = Path(os.environ.get("PTZ_BENCH_FOOTAGE", "/work/shared/data/pedestrians-dev.mp4"))
SECTION = "## Motion: shake, moves and small movers"
DEFAULT = AnalyserConfig().sensitivity
FPS = 10
PATH = ((40.0, 225.0), (720.0, 400.0))  # along the pavement, feet in D1 pixels
HEIGHTS = (8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 120)
QUICK_HEIGHTS = (12, 20, 40, 80)
FOUND = 0.95  # share of frames that counts as "found" in the table by level
TIMING_RUNS = 5
# The detector before stabilisation: the 0.25 ms a frame was measured on it. Timed in
# the same run as today's, so that the day's speed of this shared machine cancels out.
BASELINE = "d8c8a8b"
BASELINE_MS = 0.25


def baseline_detector(folder: Path) -> Any:
    """``MotionDetector`` as committed in BASELINE (from git), or None without the history."""
    try:
        vision = "custom_components/ptz_email_alert/vision"
        command = ["git", "-C", str(REPO), "archive", BASELINE, vision]
        archive = subprocess.run(command, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    package = folder / "baseline_vision"
    (folder / "custom_components/ptz_email_alert/vision").rename(package)
    (package / "__init__.py").touch()
    sys.path.insert(0, str(folder))
    from baseline_vision.motion import MotionDetector as Baseline  # noqa: PLC0415

    return Baseline


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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


def flagged(greys: Sequence[GreyFrame], level: int, *, stabilise: bool = True) -> float:
    """Share of frames (after the first second's warm-up) with motion."""
    detector = MotionDetector(level, stabilise=stabilise)
    results = [detector.process(frame.pixels).motion for frame in greys]
    return sum(results[5:]) / len(results[5:])


def with_people(greys: Sequence[GreyFrame]) -> list[bool]:
    """Frames in which someone is visible: 30+ pixels differ from the median by 30 levels."""
    median = np.median(np.stack([frame.pixels for frame in greys]), axis=0)
    return [int(np.count_nonzero(np.abs(f.pixels - median) > 30)) >= 30 for f in greys]


def walkers_found(scene: Scene, level: int, *, stabilise: bool = True) -> float:
    detector = MotionDetector(level, stabilise=stabilise)
    found = [detector.process(frame.pixels).motion for frame in scene.greys]
    people = with_people(scene.greys)
    counted = [hit for hit, someone in list(zip(found, people, strict=True))[5:] if someone]
    return sum(counted) / len(counted)


def recall(scene: Scene, level: int, *, stabilise: bool = True) -> tuple[float, float]:
    """(frames where a blob covers the person, frames with a blob elsewhere) as shares."""
    assert scene.box is not None
    detector = MotionDetector(level, stabilise=stabilise)
    hits = elsewhere = frames = 0
    for frame in scene.greys:
        result = detector.process(frame.pixels)
        box = scene.box(frame.time)
        if box is None:
            continue
        scale = frame.pixels.shape[1] / 768
        left, top = box[0] * scale - 8, box[1] * scale - 8
        right, bottom = left + box[2] * scale + 16, top + box[3] * scale + 16
        over = [
            b.x < right and left < b.x + b.width and b.y < bottom and top < b.y + b.height
            for b in result.blobs
        ]
        frames += 1
        hits += any(over)
        elsewhere += not all(over)
    return hits / frames, elsewhere / frames


def timing(greys: Sequence[GreyFrame], baseline: Any = None) -> dict[tuple[str, str], float]:
    """Median time of one process() call, stabilised ("on"), not ("off") and the detector
    before stabilisation ("baseline"), interleaved frame by frame so that the machine's other
    load falls on all alike (ms): wall clock, and this thread's CPU time (which a busy host's
    stolen time does not inflate)."""
    kinds = ("on", "off", "baseline") if baseline is not None else ("on", "off")
    times: dict[tuple[str, str], list[float]] = {
        (kind, clock): [] for kind in kinds for clock in ("wall", "cpu")
    }
    gc.disable()
    try:
        for _ in range(TIMING_RUNS):
            detectors = {
                "on": MotionDetector(DEFAULT),
                "off": MotionDetector(DEFAULT, stabilise=False),
            }
            if baseline is not None:
                detectors["baseline"] = baseline(DEFAULT)
            for frame in greys:
                for kind, detector in detectors.items():
                    wall, cpu = time.perf_counter(), time.thread_time()
                    detector.process(frame.pixels)
                    times[kind, "cpu"].append(time.thread_time() - cpu)
                    times[kind, "wall"].append(time.perf_counter() - wall)
    finally:
        gc.enable()
    return {key: statistics.median(values) * 1000 for key, values in times.items()}


def percent(share: float) -> str:
    return f"{100 * share:.0f} %"


def ram() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 2**20:.0f} GB RAM"
    return "RAM unknown"


def smallest(found: dict[int, float]) -> str:
    """Smallest height found in FOUND of frames, with every taller one found too."""
    best = None
    for height in sorted(found, reverse=True):
        if found[height] < FOUND:
            break
        best = height
    return f"{best} px" if best is not None else f"none up to {max(found)} px"


def section(
    fixed: dict[str, Scene], pasted: dict[int, Scene], quick: bool, baseline: Any = None
) -> str:
    progress("measuring")
    on = {name: flagged(scene.greys, DEFAULT) for name, scene in fixed.items() if name != "walkers"}
    off = {
        name: flagged(scene.greys, DEFAULT, stabilise=False)
        for name, scene in fixed.items()
        if name != "walkers"
    }
    walkers = fixed["walkers"]
    costs = timing(walkers.greys, baseline)
    rows = [
        "| Measure | Stabilised (default, 6) | Stabilisation off (6) | Target |",
        "|---|---:|---:|---|",
    ]
    targets = {"shake_2px": "≤ 2 %", "shake_1px": "≤ 1 %", "light_step": "0 %", "dusk": "0 %"}
    labels = {
        "still": "Still background (sensor noise σ 2), frames flagged",
        "noisy": "Noisy background (σ 6), frames flagged",
        "shake_2px": "±2 px random shake, frames flagged",
        "shake_1px": "±1 px random shake, frames flagged",
        "light_step": "Light step +25 %, frames flagged",
        "dusk": "Dusk ramp (to 20 % in 20 s), frames flagged",
    }
    for name, label in labels.items():
        rows.append(
            f"| {label} | {percent(on[name])} | {percent(off[name])} | {targets.get(name, '0 %')} |"
        )
    rows.append(
        f"| Walkers found, frames with people | {percent(walkers_found(walkers, DEFAULT))} "
        f"| {percent(walkers_found(walkers, DEFAULT, stabilise=False))} | ≥ 99 % |"
    )
    for height in (80, 40, 20, 12):
        if height not in pasted:
            continue
        for level in (DEFAULT, 10):
            found, elsewhere = recall(pasted[height], level)
            found_off, _ = recall(pasted[height], level, stabilise=False)
            target = "≥ 95 %" if (height, level) == (20, DEFAULT) else ""
            rows.append(
                f"| Person {height} px tall found, level {level} (frames with a blob elsewhere: "
                f"{percent(elsewhere)}) | {percent(found)} | {percent(found_off)} | {target} |"
            )
    rows.append(
        f"| Time per detection frame, median, wall clock (D1 footage, 320-px grey) "
        f"| {costs['on', 'wall']:.3f} ms | {costs['off', 'wall']:.3f} ms | ≤ 0.35 ms |"
    )
    rows.append(
        f"| The same, CPU time of the thread | {costs['on', 'cpu']:.3f} ms "
        f"| {costs['off', 'cpu']:.3f} ms | |"
    )
    if ("baseline", "wall") in costs:
        ratio = costs["on", "wall"] / costs["baseline", "wall"]
        rows.append(
            f"| The detector before stabilisation (`{BASELINE}`), the same frames interleaved "
            f"| {costs['baseline', 'wall']:.3f} ms (today's: **{ratio:.2f}x** of it) | | |"
        )
        rows.append(
            f"| Today's, scaled to the machine's speed when the target was set "
            f"({BASELINE_MS} ms for `{BASELINE}`) | **{BASELINE_MS * ratio:.3f} ms** | "
            f"| ≤ 0.35 ms |"
        )
    levels = [
        "| Level | Threshold | Smallest blob (binned px) | Smallest person found (px at D1) "
        "| ±2 px shake | ±1 px shake | Light step | Dusk | Walkers |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in range(1, 11):
        threshold, pixels, _ = LEVELS[level - 1]
        found = {height: recall(scene, level)[0] for height, scene in pasted.items()}
        levels.append(
            f"| {level} | {threshold} | {pixels} | {smallest(found)} "
            f"| {percent(flagged(fixed['shake_2px'].greys, level))} "
            f"| {percent(flagged(fixed['shake_1px'].greys, level))} "
            f"| {percent(flagged(fixed['light_step'].greys, level))} "
            f"| {percent(flagged(fixed['dusk'].greys, level))} "
            f"| {percent(walkers_found(walkers, level))} |"
        )
    frames = len(fixed["shake_2px"].greys)
    return f"""{SECTION}

`MotionDetector` on scenes made from the development footage (`{FOOTAGE.name}`: 768x576, \
10 fps, 30 s): its still background (the median of every third frame) with sensor noise, \
shaken at random by whole pixels of the D1 picture every frame, lit up by 25 % at once, \
darkened to 20 % over 20 s; the footage itself (people in every frame); and one person cut \
from it (background subtraction against the median) pasted walking along the pavement at \
0.8 body heights a second, from 2 s. Every scene is encoded to H.264 by ffmpeg and decoded \
by `FfmpegSource` (320-px grey frames at 5 fps, {frames} frames a scene, the first second \
not counted); stabilisation off is the same detector comparing pixel by pixel (the same \
sensitivity table). A person counts as found in a frame when a blob overlaps their box \
(8 px margin); from 1 s after they appear.

- Command: `.venv/bin/python bench/motion.py`{" (--quick)" if quick else ""}
- Machine: {machine()}, {ram()}; load average {load_average()} at the end
- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC
- Time: per `process()` call, wall clock, median of {TIMING_RUNS} passes over the \
{len(walkers.greys)} grey frames of the footage, stabilised and not interleaved frame by frame \
(garbage collection off); a shared machine's other work adds to both alike.

{chr(10).join(rows)}

Sensitivity levels (1 least, 10 most sensitive; the default is {DEFAULT}). "Smallest person \
found": the smallest pasted height (of {", ".join(str(h) for h in sorted(pasted))} px) found \
in at least {FOUND:.0%} of frames, every taller one too; the other columns are frames flagged \
(walkers: frames with people found).

{chr(10).join(levels)}

{prose(on, costs, recall(pasted[min(pasted)], DEFAULT)[0] if pasted else 0.0, min(pasted))}
"""


def prose(
    on: dict[str, float], costs: dict[tuple[str, str], float], tiny: float, tiny_height: int
) -> str:
    extra = costs["on", "wall"] / costs["off", "wall"] - 1
    return f"""\
Stabilised, the default level flags {percent(on["shake_2px"])} of frames on a still scene \
shaken by ±2 px ({percent(on["shake_1px"])} at ±1 px), where comparing pixel by pixel flags \
nearly all of them: an edge that moves by a pixel or two stays inside the envelope of the \
background around it, and what compression redraws on a moving picture (lone pixels) does \
not make a blob. Light steps and dusk stay at 0 %, and the default now finds a person 20 px \
tall (the smallest blob is 2 pixels of the 2x2-binned frame, where it was about 22); above \
6 the levels lower the contrast a change needs, not the size ({tiny_height} px: \
{percent(tiny)} of frames at the default). Checking whether the camera moved costs a look \
at the row and column profiles of 12 blocks on frames with motion (a full search of their \
shift only when most blocks no longer match where they were), so stabilisation adds \
{extra:.0%} to the detector's median time here. Absolute times depend on the day on this \
shared machine (the same detector took 0.21 ms one day and 0.42 ms the next), so the detector \
before stabilisation is timed in the same run, on the same frames: the target of 0.35 ms was \
set when that one took {BASELINE_MS} ms, and today's detector scaled by their ratio is the \
figure to hold against it."""


def load_average() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


async def main() -> None:
    quick = "--quick" in sys.argv
    progress(f"reading {FOOTAGE}")
    footage = read_grey(FOOTAGE)
    world = still_world(footage[::3])
    sprite = cut_person(footage, world)
    with tempfile.TemporaryDirectory() as folder:
        progress("making scenes")
        made, pasted = await scenes(
            world, sprite, footage[: 80 if quick else None], Path(folder), quick
        )
        baseline = baseline_detector(Path(folder))
        text = section({scene.name: scene for scene in made}, pasted, quick, baseline)
    print(text)
    if not quick:
        write_docs(text, SECTION)


if __name__ == "__main__":
    asyncio.run(main())
