"""What the motion bench measures on a scene: frames flagged, people found, the detector's
time per frame, and the detector before stabilisation (from git) to time against."""

from __future__ import annotations

from collections.abc import Sequence
import gc
import io
from pathlib import Path
import statistics
import subprocess
import sys
import tarfile
import time
from typing import Any

from _motion_scenes import Scene
from _motion_settings import BASELINE, DEFAULT, REPO, TIMING_RUNS
import numpy as np

from custom_components.ptz_email_alert.vision.frames import GreyFrame
from custom_components.ptz_email_alert.vision.motion import MotionDetector


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
