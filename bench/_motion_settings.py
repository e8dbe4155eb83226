"""The motion bench's settings and progress lines, in one place for bench/motion.py and each
of its _motion_* parts (so that no part imports motion.py). Importing it puts the repository
root on sys.path, for custom_components and tests."""

from __future__ import annotations

from pathlib import Path
import sys

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a plain script: the repository root must be importable


from _footage import FOOTAGE  # noqa: E402, F401  (the benchmarks' footage, re-exported)

from custom_components.ptz_email_alert.vision.analyser import AnalyserConfig  # noqa: E402

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


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
