"""Soak: 4 cameras and one account in a real Home Assistant, with a fault every 20 seconds.

Home Assistant runs as its own ``hass`` process with a fresh configuration folder, onboarded
through its HTTP API; the account and the 4 cameras are added through the config flow and the
camera subentry flow over HTTP, as the UI adds them. The bench process serves everything else
on 127.0.0.1: the cameras (an MJPEG-over-HTTP server playing real footage, decoded to JPEGs
once by ffmpeg, at 10 frames a second, each camera at its own place in the clip) and the mail
server (aiosmtpd, STARTTLS and AUTH required). For ``--minutes`` (default 10) a fault comes
every 20 s, in rotation:

1. one camera's ffmpeg processes (children of Home Assistant: the decoder and, with event
   clips on, the clip ring) are killed with SIGKILL;
2. the SMTP server stops listening for 30 s (new connections are refused; a session already
   open finishes, as when a server is taken down or its link drops between sessions);
3. one camera's stream is damaged: a JPEG whose second half is random bytes, random bytes
   between two parts (broken multipart framing), or a switch to 1280x720 for 10 s and back;
4. the config entry is reloaded (``POST /api/config/config_entries/entry/<id>/reload``).

Then the cameras' email alerts are switched off (their ``email_alerts`` switches), the bench
waits until every alert is delivered (or 3 minutes pass), stops Home Assistant with SIGTERM
and looks for ffmpeg processes left behind.
Alerts are counted from the ``ptz_email_alert_alert`` events (websocket subscription) and
matched to the messages the server received by subject (camera name, event and time to the
second: the 5 s cooldown makes it unique); duplicates are counted by Message-ID. Peak RSS
(``VmHWM``) of the Home Assistant process is read from /proc at minute 2 and at the end.

Why a separate ``hass`` process and not a ``HomeAssistant`` object in this process: the
memory figures are Home Assistant's alone (the footage, the servers and the bookkeeping live
here); ffmpeg processes are children of Home Assistant, and "left after stop" is measured
after Home Assistant's own shutdown, not a test harness's teardown; the servers here do not
share an event loop or the GIL with Home Assistant; and the bench uses only what a user has
(onboarding, flows, reload, the event bus), so it does not break when the integration's
internals change. The cost is a slower start (about half a minute).

    .venv/bin/python bench/soak.py                 # 10 minutes; writes "## Soak"
    .venv/bin/python bench/soak.py --quick         # 2 minutes, every fault once; no docs
    .venv/bin/python bench/soak.py --commit HEAD   # the integration as committed

To find what one fault costs, and what stays in memory (these do not write the docs):

    .venv/bin/python bench/soak.py --faults none --minutes 6      # alerts only
    .venv/bin/python bench/soak.py --faults reload --minutes 5 --objects
    .venv/bin/python bench/soak.py --env MALLOC_ARENA_MAX=2       # Home Assistant's allocator

``--objects`` adds Home Assistant's profiler integration and, at the end, counts the instances
of the integration's runtime classes before and after a full garbage collection (objgraph is
installed into the cache folder once, as the frontend is).

Exits with status 1 when an alert is lost or duplicated, the memory grows by 10 MB or more,
or an ffmpeg process is left after the stop (after writing the docs).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from pathlib import Path
import random
import re
import shutil
import sys
import tempfile
import time

from _soak_hass import HomeAssistantApi, free_port, integration_version, start_hass
from _soak_report import figures, load_average, objects_report, rss_at, section
from _soak_run import Soak
from _soak_servers import Cameras, MailServer, decode_footage
import _soak_settings
from _soak_settings import (
    CAMERAS,
    COOLDOWN,
    DOMAIN,
    FAULT_INTERVAL,
    FAULT_KINDS,
    FAULT_NAMES,
    FOOTAGE,
    HD_SECONDS,
    RECIPIENT,
    RECONNECT_LIMIT,
    REPO,
    RSS_MARK,
    SECTIONS,
    SENDER,
    SUBJECT,
    progress,
)
from _soak_watch import cpu_seconds, log_summary, status
import aiohttp
from outbox_flush import HOST, PASSWORD, USERNAME, write_docs
import soak_trace

# The clock of the progress lines and of the run's length starts once the imports are done.
_soak_settings.STARTED = time.monotonic()

OBJECT_TYPES = ("CameraRuntime", "Alerts", "JpegRing", "FfmpegSource", "MailAccount",
                "EntityPlatform")  # fmt: skip


async def count_objects(soak: Soak) -> None:
    """--objects: instances of OBJECT_TYPES (the profiler logs one line each), before and after
    a full garbage collection (objgraph.growth, behind the profiler's start_log_objects)."""
    assert soak.log_path is not None
    assert soak.objects is not None

    async def count(label: str) -> None:
        start = soak.log_path.stat().st_size
        for name in OBJECT_TYPES:
            await soak.api.call("/api/services/profiler/dump_log_objects", {"type": name})
        size = -1
        while size != soak.log_path.stat().st_size:  # the log is written by a thread: pace it
            size = soak.log_path.stat().st_size
            await asyncio.sleep(1)
        with soak.log_path.open("rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace")
        counts = {
            name: len(re.findall(rf"\] {name} object in memory", text)) for name in OBJECT_TYPES
        }
        soak.objects.append((label, status(soak.hass.pid).rss, counts))

    await count("before a full garbage collection")
    await soak.api.call("/api/services/profiler/start_log_objects", {"scan_interval": 3600})
    await count("after one")


async def set_up(soak: Soak) -> None:
    """Onboard, follow the bus, add the account and the cameras; wait for every stream."""
    api, cameras = soak.api, soak.cameras
    await api.wait_up(soak.hass, 300)
    await api.onboard()
    await api.subscribe(soak.on_event)
    progress("adding the account and the cameras through the config flows")
    account = await api.flow(
        "/api/config/config_entries/flow", DOMAIN, {"provider": "custom"},
        {"host": HOST, "port": soak.mail.port, "encryption": "starttls",
         "username": USERNAME, "password": PASSWORD, "sender": SENDER,
         "recipients": [RECIPIENT], "verify_ssl": False, "timeout": 10},
    )  # fmt: skip
    soak.entry_id = account["result"]["entry_id"]
    last = 0.0
    for camera in range(CAMERAS):
        last = time.monotonic()
        await api.flow(
            "/api/config/config_entries/subentries/flow", [soak.entry_id, "camera"],
            {"name": f"Cam{camera + 1}", "stream_url": cameras.url(camera),
             "detections": ["motion"], "sensitivity": 6, "burst_interval": 1,
             "pre_trigger": True, "snapshot_size": "d1", "max_email_kb": 450,
             "subject_template": SUBJECT, "cooldown": COOLDOWN, "offline_after": 60,
             "retention_days": 1, "retention_mb": 200, "draw_layout": False},
        )  # fmt: skip
    # Each camera added reloads the entry: every stream opens again after the last one.
    for camera in range(CAMERAS):
        if await cameras.wait_connected(camera, last, RECONNECT_LIMIT) is None:
            raise SystemExit(f"camera {camera + 1} never opened its stream")
    if soak.objects is not None:
        # Home Assistant's profiler, to count objects at the end (objgraph).
        await api.flow("/api/config/config_entries/flow", "profiler", {})


async def soak_and_stop(soak: Soak) -> None:
    """The faults for the soak's length, the drain, the end figures and the stop."""
    progress(f"soak: {soak.minutes:g} min, a fault every {FAULT_INTERVAL:.0f} s")
    soak.began = time.monotonic()
    pid = soak.hass.pid
    soak.cpu = (cpu_seconds(pid), 0.0)
    soak.mark_at = min(RSS_MARK, soak.minutes * 60 / 2)
    sampler = asyncio.create_task(soak.sample_loop(soak.mark_at))
    await asyncio.gather(soak.faults_loop(), asyncio.sleep(soak.minutes * 60))
    soak.soak_seconds = soak.now()
    await soak.snapshot("end", full=soak.full_trace)
    if soak.objects is not None:
        await count_objects(soak)
    progress("email alerts switched off; waiting for every alert to be delivered")
    await soak.api.switch_off_alerts()
    while soak.tasks:  # faults still under way (the SMTP server coming back)
        await asyncio.gather(*soak.tasks)
    await soak.drain()
    soak.samples.end = status(pid)
    soak.cpu = (soak.cpu[0], cpu_seconds(pid))
    soak.ended = soak.now()
    sampler.cancel()
    progress("stopping Home Assistant")
    await soak.stop_hass()


async def run(args: argparse.Namespace) -> Soak:
    folder = Path(tempfile.mkdtemp(prefix="ptz-soak-"))
    config = folder / "config"
    progress("decoding the footage to JPEGs")
    d1 = await asyncio.to_thread(decode_footage)
    hd = await asyncio.to_thread(decode_footage, "scale=1280:720", seconds=HD_SECONDS)
    cameras = Cameras(d1, hd, random.Random(20))
    await cameras.start()
    mail = MailServer()
    await mail.listen()
    port = free_port()
    hass = await start_hass(args, folder, port)
    session = aiohttp.ClientSession()
    soak = Soak(args.minutes, args.kinds, cameras, mail, HomeAssistantApi(session, port), hass)
    soak.options = " ".join(arg for arg in sys.argv[1:] if arg != "--keep")
    soak.objects = [] if args.objects else None
    soak.full_trace, soak.allocator = args.trace, args.allocator
    soak.log_path = folder / "config" / "home-assistant.log"
    mail.changed = soak.changed.set
    keep = args.keep
    try:
        await set_up(soak)
        await soak_and_stop(soak)
        if args.trace and {"mark", "end"} <= set(soak.trace):
            print("Allocator (MiB) every 10 s:")
            for label, path in soak.trace.items():
                print(f"  {label:>5}: {soak_trace.allocator_line(path)}")
            print(soak_trace.report(soak.trace["mark"], soak.trace["end"]), flush=True)
            print(soak_trace.peak_report(soak.trace["mark"], config / "trace-peak"), flush=True)
        if {"mark", "end"} <= set(soak.trace):  # before the folder goes
            soak.held = soak_trace.allocator_summary(soak.trace["mark"], soak.trace["end"])
    except BaseException:
        keep = True  # its log says why
        raise
    finally:
        if hass.returncode is None:
            hass.kill()
            await hass.wait()
        await soak.api.close()
        await session.close()
        mail.close()
        await cameras.stop()
        soak.log = log_summary(config / "home-assistant.log")
        if keep:
            progress(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return soak


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak")
    parser.add_argument(
        "--quick", action="store_true", help="2 minutes (every fault once); docs not written"
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULT_NAMES),
        help=f"the faults in rotation, from {', '.join(FAULT_NAMES)}, or none (to find what "
        "one costs; docs not written unless all four)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for Home Assistant (MALLOC_ARENA_MAX=2; docs not written)",
    )
    parser.add_argument(
        "--objects",
        action="store_true",
        help="count the integration's runtime objects in Home Assistant at the end, before and "
        "after a full garbage collection (its profiler, objgraph); docs not written",
    )
    parser.add_argument(
        "--allocator",
        choices=("glibc", "jemalloc"),
        default="glibc",
        help="Home Assistant's malloc: glibc's (a Python venv) or jemalloc with the settings of "
        "Home Assistant's container image (Home Assistant OS and Container); each has its section",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="glibc's allocator figures in Home Assistant every 10 s, object counts at minute 2 "
        "and at the end, and what grew between them (bench/soak_trace.py); docs not written",
    )
    parser.add_argument(
        "--trace-frames",
        type=int,
        default=0,
        metavar="N",
        help="with --trace: tracemalloc on from the start, N frames a traceback, and a snapshot "
        "at minute 2 and at the end (they cost memory themselves)",
    )
    parser.add_argument("--commit", help="run the integration as of this commit")
    parser.add_argument(
        "--keep", action="store_true", help="keep the configuration folder and its log"
    )
    args = parser.parse_args()
    names = [] if args.faults == "none" else args.faults.split(",")
    if unknown := set(names) - set(FAULT_NAMES):
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    args.kinds = tuple(FAULT_NAMES[name] for name in names)
    if args.quick:
        args.minutes = 2.0
    args.docs = args.kinds == FAULT_KINDS and not (
        args.quick or args.env or args.objects or args.trace
    )
    return args


def main() -> None:
    args = arguments()
    if not FOOTAGE.is_file():
        raise SystemExit(f"footage not found: {FOOTAGE} (set PTZ_BENCH_FOOTAGE)")
    load = load_average()
    version = integration_version(args.commit)
    soak = asyncio.run(run(args))
    soak.load = (load, load_average())
    result = figures(soak)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = section(soak, result, date, time.monotonic() - _soak_settings.STARTED, version)
    print(text)
    print("Every fault (VmRSS at the fault, then 20 s later):")
    for fault in soak.faults:
        before, after = rss_at(soak, fault.at), rss_at(soak, fault.at + FAULT_INTERVAL)
        print(
            f"  {fault.at:5.0f} s  {fault.kind:15} {fault.target:9} {fault.outcome} "
            f"[{before:.0f} -> {after:.0f} MiB]"
        )
    if soak.objects is not None:
        print(objects_report(soak))
    if args.docs:
        write_docs(text, SECTIONS[args.allocator])
        print(f"Wrote {(REPO / 'docs' / 'benchmarks.md').relative_to(REPO)}")
    sys.exit(0 if all(result.checks.values()) else 1)


if __name__ == "__main__":
    main()
