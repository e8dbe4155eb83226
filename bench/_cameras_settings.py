"""The cameras bench's settings, its plan and the clocks its parts read, in one place for
bench/cameras.py and each of its _cameras_* parts (so that no part imports cameras.py).
Importing it puts the repository root on sys.path, for custom_components."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import datetime as dt
import math
from pathlib import Path
import resource
import shutil
import sys

import imageio_ffmpeg

REPO = Path(__file__).resolve().parents[1]
# Run as a plain script: the repo root, not bench/, must be importable.
sys.path.insert(0, str(REPO))

from _footage import FOOTAGE  # noqa: E402, F401  (the benchmarks' footage, re-exported)

from custom_components.ptz_email_alert.const import (  # noqa: E402
    DEFAULT_BURST,
    DEFAULT_BURST_INTERVAL,
    DEFAULT_MAX_EMAIL_KB,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_RETENTION_MB,
)
from custom_components.ptz_email_alert.vision.analyser import AnalyserConfig  # noqa: E402
from custom_components.ptz_email_alert.vision.ffmpeg_source import SourceConfig  # noqa: E402

FFMPEG = shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()
SECTION = "## Cameras"
DOCS = REPO / "docs" / "benchmarks.md"
COMMAND = ".venv/bin/python bench/cameras.py"

# As CameraSettings.snapshot_fps gives CameraRuntime's source: max(2, 1 / burst interval).
SNAPSHOT_FPS = max(2.0, 1 / DEFAULT_BURST_INTERVAL)
SOURCE_DEFAULTS = SourceConfig(ffmpeg=FFMPEG, url="")  # detect_width, detect_fps, jpeg_quality
LINES = "gate: 0.5,0.3 0.5,1 both"
ZONES = "yard: 0.6,0.5 1,0.5 1,1 0.6,1"
WITHOUT_PERSON = ["motion", "line_crossing", "region_intrusion", "tamper"]
WITH_PERSON = [*WITHOUT_PERSON, "person"]
BURST = DEFAULT_BURST["motion"]  # 3 pictures
BUDGET = DEFAULT_MAX_EMAIL_KB * 1024
# As Alerts waits for a burst: its own length plus alerts.BURST_SLACK (10 s).
BURST_WITHIN = BURST * DEFAULT_BURST_INTERVAL + 10.0
SENDER, RECIPIENT = "camera@example.com", "me@example.com"
RETENTION = dt.timedelta(days=DEFAULT_RETENTION_DAYS), DEFAULT_RETENTION_MB * 2**20

LAG_CAMERAS = 4
LAG_PROBE = 0.010


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of each measure to run."""

    detect_runs: int  # detection without person, per clip (cheap); with person: one run
    decode_runs: int
    # One camera, per configuration; FfmpegSource.stop() then waits for ffmpeg (which does not
    # exit on one SIGTERM with the pipeline's arguments) before it kills it, and the pipeline
    # runs on meanwhile.
    cpu_seconds: float
    alerts: int
    lag_seconds: float


FULL = Plan(detect_runs=5, decode_runs=3, cpu_seconds=18.0, alerts=12, lag_seconds=20.0)
# --quick: every path once, briefly, on the D1 clip only; docs/benchmarks.md is not written.
QUICK = Plan(detect_runs=1, decode_runs=1, cpu_seconds=4.0, alerts=2, lag_seconds=4.0)


def analyser_config(detections: Sequence[str]) -> AnalyserConfig:
    """What CameraSettings.analyser_config gives for these detections and the bench's layout."""
    return AnalyserConfig(detections=frozenset(detections), lines=LINES, zones=ZONES)


def schedstat() -> tuple[float, float]:
    """Seconds the calling thread has run on a CPU and waited for one while runnable (Linux
    schedstat); NaN where unavailable."""
    try:
        running, waiting = Path("/proc/thread-self/schedstat").read_text().split()[:2]
        return int(running) / 1e9, int(waiting) / 1e9
    except (OSError, ValueError):
        return math.nan, math.nan


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    """CPU of children that have ended and been waited for (ffmpeg once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
