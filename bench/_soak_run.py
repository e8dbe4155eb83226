"""One soak's state and what happens while it runs (faults, samples, drain, stop): apart from
bench/soak.py, which sets it up, so that the report can read it too."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path
import signal
import time
from typing import Any

from _soak_hass import HomeAssistantApi
from _soak_servers import Cameras, MailServer, unique
from _soak_settings import (
    CAMERAS,
    CORRUPTIONS,
    DOMAIN,
    DRAIN_LIMIT,
    FAULT_INTERVAL,
    HD_SWITCH,
    QUIET,
    RECONNECT_LIMIT,
    RSS_MARK,
    SAMPLE_EVERY,
    SMTP_DOWN,
    STOP_LIMIT,
)
from _soak_watch import (
    LogSummary,
    Status,
    alive,
    cpu_seconds,
    ffmpeg_children,
    ffmpeg_pids,
    is_ffmpeg,
    processes,
    role,
    stat_fields,
    status,
)
import aiohttp
import soak_trace

# The soak -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Fault:
    at: float  # seconds into the soak
    kind: str
    target: str
    variant: str = ""
    outcome: str = ""
    seconds: float | None = None  # until the stream (or mail) was back; None: it was not
    took: float | None = None  # the reload request
    problem: bool = False


@dataclass(frozen=True, slots=True)
class Alert:
    at: float
    camera: str
    subject: str
    event_type: str
    emailed: bool  # not held back (switched off, disarmed, snoozed)


@dataclass(slots=True)
class Samples:
    rss: list[tuple[float, float]] = field(default_factory=list)  # (at, VmRSS MiB)
    mark: Status | None = None  # at RSS_MARK
    end: Status | None = None
    ffmpeg_max: Counter[str] = field(default_factory=Counter)  # role -> most for one camera
    ffmpeg_cpu: dict[int, float] = field(default_factory=dict)  # pid -> last CPU seconds seen
    # (at, camera, role, n): more than one ffmpeg of a role for one camera at once
    extra_ffmpeg: list[tuple[float, int, str, int]] = field(default_factory=list)
    children: set[tuple[int, str]] = field(default_factory=set)  # every ffmpeg HA started


@dataclass(slots=True)
class Soak:
    """State of one run and what it saw."""

    minutes: float
    kinds: tuple[str, ...]  # the faults in rotation
    cameras: Cameras
    mail: MailServer
    api: HomeAssistantApi
    hass: asyncio.subprocess.Process
    entry_id: str = ""
    began: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    samples: Samples = field(default_factory=Samples)
    cpu: tuple[float, float] = (0.0, 0.0)  # Home Assistant CPU seconds at start and end
    soak_seconds: float = 0.0
    ended: float = 0.0  # seconds into the soak when the end figures were taken
    mark_at: float = RSS_MARK  # seconds into the soak of the first memory figure
    load: tuple[str, str] = ("", "")
    options: str = ""  # the command line's options, for the report
    # --objects: (label, VmRSS MiB, instances of each of OBJECT_TYPES) at the end
    objects: list[tuple[str, float, dict[str, int]]] | None = None
    allocator: str = "glibc"
    # The probe's figures (bench/soak_trace.py): label -> file; "mark", "end" and every 10 s.
    trace: dict[str, Path] = field(default_factory=dict)
    full_trace: bool = False  # --trace: object counts (and tracemalloc) at the mark and end
    held: str = "(not measured)"  # what the allocator held, mark -> end
    log_path: Path | None = None
    stop_seconds: float | None = None
    left_after_stop: list[int] = field(default_factory=list)
    zombies: list[int] = field(default_factory=list)  # exited, not reaped (orphans of init)
    left_details: list[str] = field(default_factory=list)
    zombies_at_once: int = 0  # ffmpeg processes that had exited, unreaped, as Home Assistant did
    drained: bool = False
    log: LogSummary = field(default_factory=LogSummary)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def now(self) -> float:
        return time.monotonic() - self.began

    def on_event(self, event_type: str, data: dict[str, Any]) -> None:
        if event_type == f"{DOMAIN}_alert":
            self.alerts.append(
                Alert(self.now(), str(data.get("camera")), str(data.get("subject")),
                      str(data.get("event_type")), not data.get("held_back"))
            )  # fmt: skip
        elif event_type == f"{DOMAIN}_delivered":
            self.delivered.append(data)
        elif event_type == f"{DOMAIN}_delivery_failed":
            self.failed.append(data)
        elif event_type == f"{DOMAIN}_dropped":
            self.dropped.append(data)
        self.changed.set()

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def snapshot(self, label: str, *, full: bool = False) -> None:
        assert self.log_path is not None
        folder = self.log_path.parent
        self.trace[label] = await soak_trace.take(self.api.call, folder, label, full=full)

    # Faults -------------------------------------------------------------------------------

    async def faults_loop(self) -> None:
        number = 0
        if not self.kinds:
            return
        while (at := FAULT_INTERVAL * (number + 1)) <= self.minutes * 60 - FAULT_INTERVAL:
            await asyncio.sleep(max(0.0, at - self.now()))
            kind = self.kinds[number % len(self.kinds)]
            cycle = number // len(self.kinds)
            if kind == "ffmpeg killed":
                self.spawn(self.kill_ffmpeg(cycle % CAMERAS))
            elif kind == "SMTP down 30 s":
                self.spawn(self.smtp_down())
            elif kind == "corrupt stream":
                self.spawn(self.corrupt((cycle + 2) % CAMERAS, CORRUPTIONS[cycle % 3]))
            else:
                self.spawn(self.reload())
            number += 1

    async def kill_ffmpeg(self, camera: int) -> None:
        fault = Fault(self.now(), "ffmpeg killed", f"camera {camera + 1}")
        self.faults.append(fault)
        pids = ffmpeg_pids(self.cameras.url(camera))
        if not pids:
            fault.outcome, fault.problem = "no ffmpeg was running for it", True
            return
        roles = ", ".join(sorted(role(pid) for pid in pids))
        killed_at = time.monotonic()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        fault.seconds = await self.cameras.wait_connected(camera, killed_at, RECONNECT_LIMIT)
        if fault.seconds is None:
            fault.outcome, fault.problem = f"stream not back within {RECONNECT_LIMIT:.0f} s", True
        else:
            fault.outcome = f"killed: {roles}; stream back after {fault.seconds:.1f} s"

    async def smtp_down(self) -> None:
        fault = Fault(self.now(), "SMTP down 30 s", "server")
        self.faults.append(fault)
        if not self.mail.listening:  # --faults smtp: the last outage is not over yet
            fault.outcome = "skipped: the server was still down"
            return
        before = len(self.mail.received)
        self.mail.close()
        await asyncio.sleep(SMTP_DOWN)
        during = len(self.mail.received) - before
        await self.mail.listen()
        up = time.monotonic()
        waited = len(self.mail.received)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RECONNECT_LIMIT + 30):
                while len(self.mail.received) == waited:
                    self.changed.clear()
                    await self.changed.wait()
        if len(self.mail.received) > waited:
            fault.seconds = self.mail.received[waited].at - up
        fault.outcome = f"{during} message(s) finished in sessions already open; " + (
            f"first message {fault.seconds:.1f} s after it was back"
            if fault.seconds is not None
            else "no message within 60 s after it was back"
        )

    async def corrupt(self, camera: int, kind: str) -> None:
        fault = Fault(self.now(), "corrupt stream", f"camera {camera + 1}", kind)
        self.faults.append(fault)
        feed = self.cameras.feeds[camera]
        at = time.monotonic()
        if kind == "resolution switch":
            feed.hd_until = at + HD_SWITCH
        else:
            feed.pending.append(kind)
        fault.seconds = await self.cameras.wait_connected(camera, at, HD_SWITCH + 5)
        fault.outcome = (
            f"{kind}: ffmpeg reconnected after {fault.seconds:.1f} s"
            if fault.seconds is not None
            else f"{kind}: the stream went on (no reconnect)"
        )

    async def reload(self) -> None:
        fault = Fault(self.now(), "reload", "config entry")
        self.faults.append(fault)
        at = time.monotonic()
        try:
            await self.api.reload(self.entry_id)
        except aiohttp.ClientError as err:
            fault.outcome, fault.problem = f"reload failed: {err}", True
            return
        took = fault.took = time.monotonic() - at
        backs = await asyncio.gather(
            *(self.cameras.wait_connected(c, at, RECONNECT_LIMIT) for c in range(CAMERAS))
        )
        if None in backs:
            fault.outcome, fault.problem = f"reload {took:.1f} s; a stream did not come back", True
        else:
            fault.seconds = max(back for back in backs if back is not None)
            fault.outcome = f"reload {took:.1f} s; all streams back within {fault.seconds:.1f} s"

    # Sampling -----------------------------------------------------------------------------

    async def sample_loop(self, mark: float) -> None:
        samples = self.samples
        pid = self.hass.pid
        while True:
            at = self.now()
            now = status(pid)
            samples.rss.append((at, now.rss))
            if samples.mark is None and at >= mark:
                samples.mark = now
                self.spawn(self.snapshot("mark", full=self.full_trace))
            elif round(at / SAMPLE_EVERY) % 5 == 0:
                self.spawn(self.snapshot(f"{at:04.0f}"))
            samples.children |= ffmpeg_children(pid)
            for camera in range(CAMERAS):
                pids = ffmpeg_pids(self.cameras.url(camera))
                for kind, count in Counter(role(ffmpeg) for ffmpeg in pids).items():
                    samples.ffmpeg_max[kind] = max(samples.ffmpeg_max[kind], count)
                    if count > 1:
                        samples.extra_ffmpeg.append((at, camera, kind, count))
                for ffmpeg in pids:
                    with contextlib.suppress(OSError):
                        samples.ffmpeg_cpu[ffmpeg] = cpu_seconds(ffmpeg)
            await asyncio.sleep(SAMPLE_EVERY)

    # Ending -------------------------------------------------------------------------------

    def leftovers(self) -> dict[int, str]:
        """ffmpeg processes of the cameras, or started by Home Assistant, still in /proc:
        pid -> process state and what it did (its arguments are gone once it is a zombie)."""
        urls = [self.cameras.url(camera) for camera in range(CAMERAS)]
        found = {}
        for pid, args in processes():
            known = any(
                alive((pid, since)) for child, since in self.samples.children if child == pid
            )
            if known or (is_ffmpeg(args) and any(url in args for url in urls)):
                with contextlib.suppress(OSError, IndexError):
                    what = role(pid) if args else "arguments gone"
                    found[pid] = f"{stat_fields(pid)[0]} {what}"
        return found

    def missing(self) -> list[Alert]:
        received = Counter(message.subject for message in unique(self.mail.received))
        lost = []
        for alert in self.alerts:
            if not alert.emailed:
                continue
            if received[alert.subject] > 0:
                received[alert.subject] -= 1
            else:
                lost.append(alert)
        return lost

    async def drain(self) -> None:
        """Until every alert is delivered and no new one was to be emailed for QUIET seconds
        (alerts started before the switches went off still are), or until the limit."""
        deadline = time.monotonic() + DRAIN_LIMIT
        while (left := deadline - time.monotonic()) > 0:
            last = max((alert.at for alert in self.alerts if alert.emailed), default=0.0)
            quiet_in = QUIET - (self.now() - last)
            if quiet_in <= 0 and not self.missing():
                self.drained = True
                return
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, max(quiet_in, 1.0))):
                    await self.changed.wait()

    async def stop_hass(self) -> None:
        started = time.monotonic()
        self.hass.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_LIMIT):
                await self.hass.wait()
            self.stop_seconds = time.monotonic() - started
        except TimeoutError:
            self.hass.kill()
            await self.hass.wait()
        # Before the cameras stop serving: a leftover ffmpeg would otherwise end on EOF.
        seen = self.leftovers()
        # An ffmpeg told to stop may still be on its way out: look again a moment later.
        await asyncio.sleep(2)
        later = self.leftovers()
        self.zombies = sorted(pid for pid, what in later.items() if what.startswith("Z"))
        self.left_after_stop = sorted(set(later) - set(self.zombies))
        self.zombies_at_once = sum(1 for what in seen.values() if what.startswith("Z"))
        self.left_details = [
            f"{pid} ({seen.get(pid, '?')} at once; {later.get(pid, 'gone')} 2 s later)"
            for pid in sorted(later)
        ]
        for pid in self.left_after_stop:  # children of our Home Assistant: clean up
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
