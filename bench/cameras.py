"""Cameras: detection cost, one camera's CPU, trigger to "250 OK", loop lag with 4 cameras, size.

Runs the integration's own pure pieces (``FfmpegSource``, ``Analyser``, ``collect_burst``,
``fit_to_budget``, ``alert_content``, ``build_message``, ``send_messages``, ``prune``) on real
footage, wired as ``CameraRuntime`` and ``Alerts`` wire them, without Home Assistant running.
Prints the section and rewrites the "## Cameras" section of docs/benchmarks.md.

    .venv/bin/python bench/cameras.py
    .venv/bin/python bench/cameras.py --quick   # every path once, briefly; docs untouched

The footage is ../shared/data/pedestrians-dev.mp4 (beside the checkout) unless PTZ_BENCH_FOOTAGE
names another file; a 720p H.264 copy of it is made in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time
from types import ModuleType

from _cameras_alerts import TimedSmtp, prune_full_folder, trigger_to_ok
from _cameras_clips import Clip, build_raw, make_720p, measure_clip
from _cameras_live import loop_lag, one_camera_cpu
from _cameras_report import Results, quick_report, section
from _cameras_settings import (
    DOCS,
    FOOTAGE,
    FULL,
    LAG_CAMERAS,
    QUICK,
    REPO,
    SECTION,
    WITH_PERSON,
    WITHOUT_PERSON,
    Plan,
)
from outbox_flush import HOST, PASSWORD, USERNAME, tls_contexts, write_docs

from custom_components.ptz_email_alert.mail import Encryption, SmtpSettings, send_messages
from custom_components.ptz_email_alert.vision.person import load_opencv

STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


def load_average() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


# Main --------------------------------------------------------------------------------------


async def measure(plan: Plan, opencv: ModuleType) -> Results:
    quick = plan is QUICK
    live_runs = [("without person", WITHOUT_PERSON)]
    if not quick:
        live_runs.append(("with person", WITH_PERSON))
    load = load_average()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ptz-bench-") as temp:
        folder = Path(temp)
        clips = [Clip("D1", FOOTAGE, "768x576")]
        if not quick:
            progress("making the 720p clip")
            clips.append(Clip("720p", await asyncio.to_thread(make_720p, folder), "1280x720"))
        clip_results = []
        for clip in clips:
            progress(f"decode and detection cost, {clip.name}")
            clip_results.append(await measure_clip(clip, opencv, plan))

        cpu = []
        for label, detections in live_runs:
            progress(f"one camera's CPU, {label}")
            cpu.append(await one_camera_cpu(label, detections, opencv, plan))

        progress(f"trigger to 250 OK, {plan.alerts} alerts")
        server_tls, client_tls = tls_contexts()
        server = TimedSmtp(server_tls)
        await server.start()
        settings = SmtpSettings(
            HOST, server.port, Encryption.STARTTLS, USERNAME, PASSWORD, 30.0, client_tls
        )
        try:
            # Untimed: the first TLS handshake pays for lazy set-up in both libraries.
            await send_messages(settings, [build_raw([b"\xff\xd8\xff\xd9"], dt.datetime.now())])
            alerts, snapshot_delay = await trigger_to_ok(opencv, settings, server, folder, plan)
        finally:
            await server.stop()
        progress("retention pass on a full evidence folder")
        full = folder / "full"
        full.mkdir()
        picture = statistics.median(len(frame.data) for frame in clips[0].jpegs)
        full_prune = await asyncio.to_thread(prune_full_folder, full, int(picture))

        lag = []
        for label, detections in reversed(live_runs):
            progress(f"event-loop lag, {LAG_CAMERAS} cameras, {label}")
            lag.append(await loop_lag(label, detections, opencv, plan))
    seconds = time.perf_counter() - started
    return Results(
        clip_results,
        cpu,
        alerts,
        snapshot_delay,
        full_prune,
        lag,
        seconds,
        (load, load_average()),
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="every path once, briefly (about 30 s), D1 only; docs/benchmarks.md not written",
    )
    quick = parser.parse_args().quick
    if not FOOTAGE.is_file():
        raise SystemExit(f"footage not found: {FOOTAGE} (set PTZ_BENCH_FOOTAGE)")
    opencv = load_opencv()
    if opencv is None:
        raise SystemExit("OpenCV 4.x is needed for person detection")
    results = await measure(QUICK if quick else FULL, opencv)
    if quick:
        print(quick_report(results))
        return
    text = section(results, dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
    print(text)
    write_docs(text, SECTION)
    print(f"Wrote {DOCS.relative_to(REPO)}")


if __name__ == "__main__":
    asyncio.run(main())
