"""The benchmarks' real footage: ``../shared/data/pedestrians-dev.mp4`` beside the checkout,
unless PTZ_BENCH_FOOTAGE names another file."""

from __future__ import annotations

import os
from pathlib import Path

_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "pedestrians-dev.mp4"
FOOTAGE = Path(os.environ.get("PTZ_BENCH_FOOTAGE", str(_DEFAULT)))
