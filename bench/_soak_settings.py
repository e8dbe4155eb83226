"""The soak's settings and progress lines, in one place for bench/soak.py and each of its
_soak_* parts (so that no part imports soak.py)."""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import sys
import time

from _footage import FOOTAGE  # noqa: F401  (the benchmarks' footage, re-exported)
import imageio_ffmpeg
import soak_trace

REPO = Path(__file__).resolve().parents[1]
FFMPEG = shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()
CACHE = Path(
    os.environ.get("PTZ_CACHE_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ptz_email_alert"
)
SECTIONS = {"glibc": "## Soak", "jemalloc": "## Soak with jemalloc"}
ALLOCATORS = {
    "glibc": "glibc's malloc, as Home Assistant runs from a Python venv (nothing preloaded)",
    "jemalloc": "jemalloc, preloaded with the settings of Home Assistant's container image, as "
    "Home Assistant OS and Container run it (`LD_PRELOAD`, `MALLOC_CONF="
    f"{soak_trace.JEMALLOC_CONF}`)",
}
COMMAND = ".venv/bin/python bench/soak.py"
DOMAIN = "ptz_email_alert"
EVENTS = (f"{DOMAIN}_alert", f"{DOMAIN}_delivered", f"{DOMAIN}_delivery_failed",
          f"{DOMAIN}_dropped")  # fmt: skip

CAMERAS = 4
FPS = 10  # frames a second the bench's cameras serve
HD_SECONDS = 10  # of footage decoded at 1280x720 for the resolution switch
FAULT_INTERVAL = 20.0
SMTP_DOWN = 30.0
HD_SWITCH = 10.0  # seconds a camera serves 1280x720 before switching back
COOLDOWN = 5
SUBJECT = "Soak %Camera_Name% %Event_Type% %Date% %Time%"
RSS_MARK = 120.0  # seconds into the soak: "minute 2" (half the run with --quick)
RSS_GROWTH_LIMIT = 10.0  # MiB
RECONNECT_LIMIT = 30.0  # seconds a killed or reloaded stream may take to come back
DRAIN_LIMIT = 180.0  # seconds after the soak for every alert to be delivered
QUIET = 10.0  # seconds without a new alert before the drain counts as done
STOP_LIMIT = 90.0  # seconds Home Assistant gets to stop on SIGTERM
SAMPLE_EVERY = 2.0
USER = "soak"
USER_PASSWORD = "soak-password-1"
SENDER, RECIPIENT = "cameras@soak.example", "owner@soak.example"
BOUNDARY = "soakframe"
FAULT_KINDS = ("ffmpeg killed", "SMTP down 30 s", "corrupt stream", "reload")
FAULT_NAMES = dict(zip(("kill", "smtp", "corrupt", "reload"), FAULT_KINDS, strict=True))
CORRUPTIONS = ("corrupt JPEG", "garbage between parts", "resolution switch")

STARTED = time.monotonic()  # bench/soak.py starts it again after its imports


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)
