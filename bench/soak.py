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
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
import contextlib
from dataclasses import dataclass, field
import datetime as dt
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
import importlib.util
import json
import logging
import os
from pathlib import Path
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, NamedTuple

import aiohttp
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
import imageio_ffmpeg
from outbox_flush import HOST, PASSWORD, USERNAME, LoopbackSmtp, machine, tls_contexts, write_docs
import soak_trace

import homeassistant

REPO = Path(__file__).resolve().parents[1]
FOOTAGE = Path(os.environ.get("PTZ_BENCH_FOOTAGE", "/work/shared/data/pedestrians-dev.mp4"))
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

STARTED = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


# Footage ------------------------------------------------------------------------------------


def split_jpegs(data: bytes) -> list[bytes]:
    """The JPEGs of ffmpeg's MJPEG output (entropy-coded data never holds a bare FFD9)."""
    frames = []
    position = 0
    while (start := data.find(b"\xff\xd8", position)) >= 0:
        end = data.find(b"\xff\xd9", start + 2)
        if end < 0:
            break
        frames.append(data[start : end + 2])
        position = end + 2
    return frames


def decode_footage(*filters: str, seconds: float | None = None) -> list[bytes]:
    """The footage as JPEGs at FPS (q:v 5, as a camera's D1 substream might send them)."""
    limit = ["-t", str(seconds)] if seconds else []
    done = subprocess.run(
        [
            FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", *limit, "-i", str(FOOTAGE),
            "-an", "-vf", ",".join([f"fps={FPS}", *filters]), "-c:v", "mjpeg", "-q:v", "5",
            "-f", "image2pipe", "pipe:1",
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    return split_jpegs(done.stdout)


# The cameras: MJPEG over HTTP ---------------------------------------------------------------


@dataclass(slots=True)
class Feed:
    """One camera's stream state."""

    offset: int  # frames into the clip, so that the cameras differ
    connections: list[float] = field(default_factory=list)  # monotonic time of each request
    pending: list[str] = field(default_factory=list)  # corruptions for the next frame
    hd_until: float = 0.0


class Cameras:
    """Serves /cam<n>.mjpeg: the clip looped in real time, and damage on command."""

    def __init__(self, d1: list[bytes], hd: list[bytes], rng: random.Random) -> None:
        self.d1, self.hd, self.rng = d1, hd, rng
        self.feeds = [Feed(offset=index * len(d1) // CAMERAS) for index in range(CAMERAS)]
        self.port = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._began = time.monotonic()

    def url(self, camera: int) -> str:
        return f"http://{HOST}:{self.port}/cam{camera + 1}.mjpeg"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(r"/cam{camera:\d+}.mjpeg", self._stream)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_connected(self, camera: int, after: float, within: float) -> float | None:
        """Seconds from ``after`` to the camera's first request after it, or None."""

        def since() -> float | None:
            later = [t for t in self.feeds[camera].connections if t > after]
            return later[0] - after if later else None

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: since() is not None)
        return since()

    def _frame(self, feed: Feed, now: float) -> bytes:
        position = feed.offset + int((now - self._began) * FPS)
        if now < feed.hd_until:
            return self.hd[position % len(self.hd)]
        return self.d1[position % len(self.d1)]

    def _damage(self, kind: str) -> bytes:
        if kind == "corrupt JPEG":
            good = self.rng.choice(self.d1)
            half = len(good) // 2
            bad = good[:half] + self.rng.randbytes(len(good) - half - 2) + b"\xff\xd9"
            return part(bad)
        return self.rng.randbytes(30_000)  # garbage between parts

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        camera = int(request.match_info["camera"]) - 1
        feed = self.feeds[camera]
        response = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace;boundary={BOUNDARY}",
                "Cache-Control": "no-cache",
            }
        )
        await response.prepare(request)
        async with self._changed:
            feed.connections.append(time.monotonic())
            self._changed.notify_all()
        started = time.monotonic()
        sent = 0
        with contextlib.suppress(ConnectionError):
            while True:
                while feed.pending:
                    await response.write(self._damage(feed.pending.pop(0)))
                await response.write(part(self._frame(feed, time.monotonic())))
                sent += 1
                await asyncio.sleep(max(0.0, started + sent / FPS - time.monotonic()))
        return response


def part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode() + jpeg + b"\r\n"


# The mail server ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    at: float  # time.monotonic()
    message_id: str
    subject: str


class MailServer(LoopbackSmtp):
    """The benchmarks' loopback server (STARTTLS + AUTH), recording each message's headers;
    it can stop listening and start again on the same port."""

    def __init__(self) -> None:
        super().__init__(tls_contexts()[0])
        self.received: list[Received] = []
        self.changed: Callable[[], None] = lambda: None
        self.listening = False

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        headers = BytesHeaderParser(policy=default_policy).parsebytes(
            bytes(envelope.original_content or b"")
        )
        self.received.append(
            Received(time.monotonic(), str(headers["Message-ID"]), str(headers["Subject"]))
        )
        self.changed()
        return await super().handle_DATA(server, session, envelope)

    async def listen(self) -> None:
        # aiosmtpd warns on every login that it sets its own deprecated Session.login_data.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.listening = True

    def close(self) -> None:
        """Stop listening now (sessions in progress go on)."""
        if self._server is not None:
            self._server.close()
        self.listening = False


# Home Assistant -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


CONFIGURATION = """\
homeassistant:
  name: Soak
  unit_system: metric
  time_zone: UTC
  media_dirs:
    local: {media}
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
websocket_api:
onboarding:
ffmpeg:
  ffmpeg_bin: {ffmpeg}
logger:
  default: warning
  logs:
    custom_components.{domain}: info
"""


class HomeAssistantApi:
    """Onboarding, flows and reloads over REST; bus events over the websocket API."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.base = f"http://{HOST}:{port}"
        self.token = ""
        self.version = "?"
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def call(self, path: str, body: dict[str, Any] | None = None, **form: str) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        method = "POST" if body is not None or form else "GET"
        async with self.session.request(
            method, self.base + path, json=body, data=form or None, headers=headers,
            timeout=aiohttp.ClientTimeout(total=180),
        ) as response:  # fmt: skip
            response.raise_for_status()
            return await response.json(content_type=None)

    async def wait_up(self, hass: asyncio.subprocess.Process, within: float) -> None:
        """Poll until Home Assistant answers HTTP (nothing to subscribe to before that)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if hass.returncode is not None:
                raise SystemExit(f"Home Assistant exited during start-up ({hass.returncode})")
            try:
                await self.call("/api/onboarding")
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.5)
                continue
            except aiohttp.ClientResponseError as err:
                # No onboarding: recovery mode, which ignores the configuration.
                message = f"Home Assistant is not set up as asked (HTTP {err.status})"
                raise SystemExit(message) from err
            return
        raise SystemExit("Home Assistant did not answer within its start-up time")

    async def onboard(self) -> None:
        client = f"{self.base}/"
        user = {"client_id": client, "name": "Soak", "username": USER,
                "password": USER_PASSWORD, "language": "en"}  # fmt: skip
        code = (await self.call("/api/onboarding/users", user))["auth_code"]
        token = await self.call(
            "/auth/token", grant_type="authorization_code", code=code, client_id=client
        )
        self.token = token["access_token"]

    async def flow(self, start: str, handler: Any, *steps: dict[str, Any]) -> dict[str, Any]:
        """Start a flow and answer its forms; the final result (create_entry expected)."""
        result = await self.call(start, {"handler": handler})
        for step in steps:
            result = await self.call(f"{start}/{result['flow_id']}", step)
        if result.get("type") != "create_entry":
            raise SystemExit(f"flow {handler} did not create an entry: {result}")
        return dict(result)

    async def switch_off_alerts(self) -> None:
        """Turn every camera's ``email_alerts`` switch off: no new alert is to be emailed."""
        switches = [
            state["entity_id"]
            for state in await self.call("/api/states")
            if re.fullmatch(r"switch\..*email_alerts(_\d+)?", state["entity_id"])
        ]
        if len(switches) != CAMERAS:
            raise SystemExit(f"expected {CAMERAS} email alert switches, found {switches}")
        await self.call("/api/services/switch/turn_off", {"entity_id": switches})

    async def reload(self, entry_id: str) -> None:
        await self.call(f"/api/config/config_entries/entry/{entry_id}/reload", {})

    async def subscribe(self, on_event: Callable[[str, dict[str, Any]], None]) -> None:
        self._ws = await self.session.ws_connect(f"{self.base}/api/websocket", heartbeat=30)
        await self._ws.receive_json()  # auth_required
        await self._ws.send_json({"type": "auth", "access_token": self.token})
        answer = await self._ws.receive_json()
        if answer.get("type") != "auth_ok":
            raise SystemExit(f"websocket login failed: {answer}")
        self.version = str(answer.get("ha_version", "?"))
        for number, event_type in enumerate(EVENTS, start=1):
            await self._ws.send_json(
                {"id": number, "type": "subscribe_events", "event_type": event_type}
            )
        self._reader = asyncio.create_task(self._read(on_event))

    async def _read(self, on_event: Callable[[str, dict[str, Any]], None]) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = message.json()
            if data.get("type") == "event":
                on_event(data["event"]["event_type"], data["event"]["data"])

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                await self._reader


# Processes ------------------------------------------------------------------------------------


def processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, arguments) of every process we may read."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
                yield int(entry.name), [a.decode(errors="replace") for a in arguments if a]


def is_ffmpeg(args: list[str]) -> bool:
    return bool(args) and "ffmpeg" in Path(args[0]).name


def ffmpeg_pids(url: str) -> list[int]:
    """ffmpeg processes reading ``url`` (the stream URLs are unique to this run)."""
    return [pid for pid, args in processes() if url in args and is_ffmpeg(args)]


def role(pid: int) -> str:
    """What an ffmpeg of a camera does: decode (grey frames on a pipe) or record (clip ring)."""
    with contextlib.suppress(OSError):
        if b"pgm" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
            return "decoder"
    return "clip ring"


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, ... (see proc(5))."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def ffmpeg_children(parent: int) -> set[tuple[int, str]]:
    """(pid, start time) of the ffmpeg processes ``parent`` started (clip cuts included)."""
    found = set()
    for pid, args in processes():
        with contextlib.suppress(OSError, IndexError):
            fields = stat_fields(pid)
            if int(fields[1]) == parent and is_ffmpeg(args):
                found.add((pid, fields[19]))
    return found


def alive(process: tuple[int, str]) -> bool:
    """The same process (pid and start time) still runs."""
    try:
        return stat_fields(process[0])[19] == process[1]
    except (OSError, IndexError):
        return False


class Status(NamedTuple):
    rss: float  # VmRSS, MiB
    hwm: float  # VmHWM (peak RSS), MiB
    threads: int
    fds: int


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


def status(pid: int) -> Status:
    """Memory, threads and open file descriptors of ``pid``."""
    text = Path(f"/proc/{pid}/status").read_text()
    values = dict(re.findall(r"^(VmRSS|VmHWM|Threads):\s+(\d+)", text, re.M))
    return Status(
        int(values["VmRSS"]) / 1024,
        int(values["VmHWM"]) / 1024,
        int(values["Threads"]),
        len(os.listdir(f"/proc/{pid}/fd")),
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ram() -> str:
    total = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    return f"{int(total.group(1)) / 2**20:.1f} GiB RAM" if total else "RAM unknown"


def cached_requirement(component: str, package: str, module: str) -> Path | None:
    """A folder with ``package`` (``module``: a requirement of a Home Assistant component) for
    the hass process, None when the venv has it.

    Home Assistant always loads its frontend, and without it starts in recovery mode (which
    ignores the configuration). The test requirements do not include it, and scripts/demo.py
    lets Home Assistant install it into the venv on its first start; the soak instead keeps
    its own copy (the version Home Assistant pins) in the cache folder, and leaves the venv as
    it is. The same for objgraph (``--objects``).
    """
    if importlib.util.find_spec(module) is not None:
        return None
    manifest = Path(homeassistant.__file__).parent / "components" / component / "manifest.json"
    requirements = json.loads(manifest.read_text())["requirements"]
    (requirement,) = [r for r in requirements if r.startswith(f"{package}==")]
    target = CACHE / requirement.replace("==", "-")
    if not ((target / module).is_dir() or (target / f"{module}.py").is_file()):
        progress(f"installing {requirement} into {target} (once)")
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
             str(partial), requirement],
            check=True,
        )  # fmt: skip
        partial.rename(target)
    return target


def integration_version(commit: str | None) -> str:
    """What the Home Assistant process loads: a commit, or the working tree at a commit."""
    if commit:
        sha = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", commit],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        return f"commit {sha}"
    try:
        sha = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "custom_components"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "working tree"
    return f"working tree at {sha}" + (" with uncommitted changes" if dirty else "")


def export_commit(commit: str, folder: Path) -> Path:
    """``custom_components`` as of ``commit``, in ``folder`` (for PYTHONPATH)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "custom_components"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


# Home Assistant's log -------------------------------------------------------------------------


@dataclass(slots=True)
class LogSummary:
    """Warnings and errors in home-assistant.log, grouped by logger and message shape."""

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    tracebacks: int = 0

    def lines(self, limit: int = 12) -> list[str]:
        return [
            f"{count} × {level} [{logger}] {message}"
            for (level, logger, message), count in self.counts.most_common(limit)
        ]


LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) \([^)]*\) \[([^\]]+)\] (.*)$")


def log_summary(path: Path) -> LogSummary:
    summary = LogSummary()
    if not path.is_file():
        return summary
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("Traceback"):
            summary.tracebacks += 1
        if (match := LOG_LINE.match(line)) and "object in memory" not in line:
            level, logger, message = match.groups()
            # Numbers, ids and times vary: group by the message's shape.
            shape = re.sub(r"<[^>]*@[^>]*>|\d+(\.\d+)?", "#", message)[:150]
            summary.counts[level, logger, shape] += 1
    return summary


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


def unique(received: list[Received]) -> list[Received]:
    """First copy of each Message-ID."""
    seen: set[str] = set()
    first = []
    for message in received:
        if message.message_id not in seen:
            seen.add(message.message_id)
            first.append(message)
    return first


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


async def start_hass(
    args: argparse.Namespace, folder: Path, port: int
) -> asyncio.subprocess.Process:
    """``hass`` with a fresh configuration in ``folder``/config, the integration on its path."""
    config = folder / "config"
    (config / "media").mkdir(parents=True)
    code = REPO
    if args.commit:
        code = folder / "code"
        code.mkdir()
        export_commit(args.commit, code)
    extra = [
        await asyncio.to_thread(
            cached_requirement, "frontend", "home-assistant-frontend", "hass_frontend"
        )
    ]
    if args.objects:
        extra.append(
            await asyncio.to_thread(cached_requirement, "profiler", "objgraph", "objgraph")
        )
    configuration = CONFIGURATION
    # The probe: the allocator's figures every 10 s (and with --trace, what grew).
    extra.append(soak_trace.install(folder / "probe"))
    configuration += soak_trace.configuration(args.trace_frames, config, 60.0 + RSS_MARK)
    python_path = os.pathsep.join(str(path) for path in (code, *extra) if path)
    (config / "configuration.yaml").write_text(
        configuration.format(port=port, ffmpeg=FFMPEG, domain=DOMAIN, media=config / "media")
    )
    progress(f"starting Home Assistant in {config}")
    with (config / "stderr.txt").open("wb") as stderr:
        return await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "hass"), "--config", str(config), "--skip-pip",
            env={**os.environ, **soak_trace.allocator_environment(args.allocator),
                 **dict(pair.split("=", 1) for pair in args.env),
                 "PYTHONPATH": python_path},
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip


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


# Report ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Figures:
    emailed: list[Alert]  # alerts that should have an email
    held_back: int
    copies: int  # messages received, every copy
    distinct: int  # distinct Message-IDs
    duplicates: list[tuple[Received, int]]  # a message received more than once, and how often
    lost: list[Alert]
    strangers: list[Received]  # messages that match no alert
    mark: Status  # at RSS_MARK
    end: Status
    slope: float  # MiB a minute of VmRSS after the mark (least squares)
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def growth(self) -> float:
        return self.end.hwm - self.mark.hwm


def figures(soak: Soak) -> Figures:
    received = soak.mail.received
    distinct = unique(received)
    copies = Counter(message.message_id for message in received)
    duplicates = [(message, copies[message.message_id]) for message in distinct
                  if copies[message.message_id] > 1]  # fmt: skip
    expected = Counter(alert.subject for alert in soak.alerts if alert.emailed)
    strangers = []
    for message in distinct:
        if expected[message.subject] > 0:
            expected[message.subject] -= 1
        else:
            strangers.append(message)
    samples = soak.samples
    mark = samples.mark or samples.end or Status(0.0, 0.0, 0, 0)
    end = samples.end or mark
    after = [(at, rss) for at, rss in samples.rss if at >= soak.mark_at]
    slope = 0.0
    if len(after) > 2:
        slope = statistics.linear_regression(*zip(*after, strict=True)).slope * 60
    result = Figures(
        [alert for alert in soak.alerts if alert.emailed],
        sum(1 for alert in soak.alerts if not alert.emailed),
        len(received), len(distinct), duplicates, soak.missing(), strangers, mark, end, slope,
    )  # fmt: skip
    result.checks = {
        "lost": not result.lost,
        "duplicates": not duplicates,
        "memory": result.growth < RSS_GROWTH_LIMIT,
        "leftover": not soak.left_after_stop and soak.stop_seconds is not None,
        "streams": not any(fault.problem for fault in soak.faults),
    }
    return result


def verdict(ok: bool) -> str:
    return "pass" if ok else "**fail**"


def near(soak: Soak, at: float, before: float = 60.0, after: float = 10.0) -> str:
    """The faults from ``before`` seconds before ``at`` to ``after`` seconds after it."""
    found = [
        f"{fault.kind} ({fault.target}{', ' + fault.variant if fault.variant else ''}) at "
        f"{fault.at:.0f} s"
        for fault in soak.faults
        if at - before <= fault.at <= at + after
    ]
    return "; ".join(found) or "no fault within a minute before"


def rss_at(soak: Soak, at: float) -> float:
    """VmRSS (MiB) of the sample nearest to ``at`` seconds into the soak."""
    samples = soak.samples.rss
    return min(samples, key=lambda sample: abs(sample[0] - at))[1] if samples else 0.0


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):.1f} s, max {max(values):.1f} s"


def fault_rows(soak: Soak) -> list[str]:
    rows = []
    for kind in FAULT_KINDS:
        faults = [fault for fault in soak.faults if fault.kind == kind]
        if not faults:
            continue
        back = [fault.seconds for fault in faults if fault.seconds is not None]
        if kind == "ffmpeg killed":
            what = f"the camera's stream opened again after {spread(back)}"
        elif kind == "SMTP down 30 s":
            what = f"the first message arrived {spread(back)} after the server was back"
        elif kind == "reload":
            took = [fault.took for fault in faults if fault.took is not None]
            what = (
                f"the reload request took {spread(took)}; all 4 streams open again after "
                f"{spread(back)}"
            )
        else:
            parts = []
            for variant in CORRUPTIONS:
                some = [fault for fault in faults if fault.variant == variant]
                again = [fault.seconds for fault in some if fault.seconds is not None]
                if some:
                    parts.append(
                        f"{variant}: {len(some)}×, ffmpeg reconnected {len(again)}× "
                        + (f"({spread(again)})" if again else "(the stream went on)")
                    )
            what = "; ".join(parts)
        growth = [rss_at(soak, f.at + FAULT_INTERVAL) - rss_at(soak, f.at) for f in faults]
        what += (
            f". VmRSS over the {FAULT_INTERVAL:.0f} s from each: "
            f"{', '.join(f'{value:+.0f}' for value in growth)} MiB"
        )
        problems = [f"{fault.at:.0f} s: {fault.outcome}" for fault in faults if fault.problem]
        if problems:
            what += "; **problems**: " + "; ".join(problems)
        rows.append(f"| {kind} | {len(faults)} | {what} |")
    return rows


def findings(soak: Soak, result: Figures) -> list[str]:
    lines = [
        f"- Lost: {alert.subject!r} (alert at {alert.at:.0f} s); faults around it: "
        f"{near(soak, alert.at)}"
        for alert in result.lost
    ]
    for message, count in result.duplicates:
        times = [
            m.at - soak.began for m in soak.mail.received if m.message_id == message.message_id
        ]
        lines.append(
            f"- Received {count}×: {message.subject!r} ({message.message_id}) at "
            f"{', '.join(f'{at:.0f}' for at in times)} s; faults around the first: "
            f"{near(soak, times[0])}"
        )
    lines.extend(
        f"- A message that matches no alert: {message.subject!r} at {message.at - soak.began:.0f} s"
        for message in result.strangers
    )
    lines.extend(
        f"- {fault.kind} ({fault.target}) at {fault.at:.0f} s: {fault.outcome}"
        for fault in soak.faults
        if fault.problem
    )
    if not result.checks["memory"]:
        lines.append(
            f"- Home Assistant's peak RSS grew by {result.growth:.1f} MiB from minute "
            f"{soak.mark_at / 60:g} to the end (VmRSS by minute: {rss_by_minute(soak)} MiB)"
        )
    if soak.left_details:
        lines.append(
            f"- ffmpeg processes of Home Assistant still in /proc 2 s after it stopped: "
            f"{'; '.join(soak.left_details)} (state R/S: running, Z: exited but not reaped)"
        )
    if soak.stop_seconds is None:
        lines.append(f"- Home Assistant did not stop within {STOP_LIMIT:.0f} s of SIGTERM")
    lines.extend(
        f"- {count} moment(s) (samples {SAMPLE_EVERY:g} s apart) with {n} {kind} ffmpeg "
        f"processes for camera {camera + 1}"
        for (camera, kind, n), count in Counter(
            (camera, kind, n) for _, camera, kind, n in soak.samples.extra_ffmpeg
        ).items()
    )
    return lines


def rss_by_minute(soak: Soak) -> str:
    """VmRSS at each whole minute of the soak (the sample nearest to it), and at the end."""
    samples = soak.samples.rss
    if not samples:
        return "-"
    values = [
        min(samples, key=lambda sample: abs(sample[0] - minute * 60))[1]
        for minute in range(int(samples[-1][0] // 60) + 1)
    ]
    return ", ".join(f"{value:.0f}" for value in [*values, samples[-1][1]])


def section(soak: Soak, result: Figures, date: str, seconds: float, version: str) -> str:
    per_camera = Counter(alert.camera for alert in result.emailed)
    cameras = ", ".join(f"{name} {count}" for name, count in sorted(per_camera.items()))
    active = max(soak.ended, 1.0)
    ha_cpu = (soak.cpu[1] - soak.cpu[0]) / active
    ffmpeg_cpu = sum(soak.samples.ffmpeg_cpu.values()) / active
    kinds = Counter(alert.event_type for alert in soak.alerts)
    delivered = sum(1 for item in soak.delivered if item.get("kind") == "alert")
    failed = sum(1 for item in soak.failed if item.get("kind") == "alert")
    retried = sum(1 for item in soak.delivered if int(item.get("attempts") or 1) > 1)
    exactly_once = len(result.emailed) - len(result.lost)
    growth = result.growth
    found = findings(soak, result)
    stopped = (
        f"in {soak.stop_seconds:.1f} s after SIGTERM"
        if soak.stop_seconds is not None
        else f"**not within {STOP_LIMIT:.0f} s** of SIGTERM (killed)"
    )
    if soak.zombies_at_once:
        stopped += (
            f"; as it exited, {soak.zombies_at_once} of its ffmpeg processes had ended but were "
            "not reaped yet (zombies, gone 2 s later)"
        )
    log = soak.log.lines()
    table = "\n".join(
        [
            "| Measure | Measured | Target | Result |",
            "|---|---|---|---|",
            f"| Alerts created (`{DOMAIN}_alert` events) | **{len(result.emailed)}** "
            f"({cameras}) | - | - |",
            f"| Alert emails received (distinct Message-IDs) | {result.distinct} "
            f"({result.copies} messages in all) | one per alert | "
            f"{verdict(exactly_once == len(result.emailed) and not result.strangers)} |",
            f"| Alerts lost | **{len(result.lost)}** | 0 | {verdict(result.checks['lost'])} |",
            f"| Alerts duplicated (same Message-ID again) | **{len(result.duplicates)}** | 0 | "
            f"{verdict(result.checks['duplicates'])} |",
            f"| Peak RSS of Home Assistant (VmHWM), minute {soak.mark_at / 60:g} → end | "
            f"{result.mark.hwm:.1f} → {result.end.hwm:.1f} MiB (**{growth:+.1f} MiB**) | "
            f"growth < {RSS_GROWTH_LIMIT:.0f} MB | {verdict(result.checks['memory'])} |",
            f"| ffmpeg processes left after Home Assistant stopped | "
            f"**{len(soak.left_after_stop)}** running 2 s after it exited"
            f"{f' ({len(soak.zombies)} more exited but not reaped)' if soak.zombies else ''} | "
            f"0 | {verdict(result.checks['leftover'])} |",
            f"| Streams open again after each kill and reload | "
            f"{sum(1 for f in soak.faults if not f.problem)} of {len(soak.faults)} faults "
            f"without a problem | within {RECONNECT_LIMIT:.0f} s | "
            f"{verdict(result.checks['streams'])} |",
        ]
    )
    faults = "\n".join(["| Fault | Times | What happened |", "|---|---:|---|", *fault_rows(soak)])
    return f"""{SECTIONS[soak.allocator]}

A real Home Assistant (`hass`, its own process, fresh configuration folder, onboarded through \
its API) with the integration, one account (STARTTLS + AUTH to a loopback aiosmtpd server in \
the bench process, `verify_ssl` off for its self-signed certificate) and {CAMERAS} cameras \
added through the config flow and the camera subentry flow over HTTP, as the UI adds them. \
Each camera reads `{FOOTAGE.name}` (768x576) as MJPEG over HTTP from the bench at {FPS} frames \
a second (decoded to JPEGs once by ffmpeg; each camera at its own place in the clip), with \
motion detection (5 fps analysis), bursts of 3 D1 pictures 1 s apart, cooldown {COOLDOWN} s. \
For {soak.minutes:g} minutes a fault comes every {FAULT_INTERVAL:.0f} s, in rotation: a \
camera's ffmpeg processes (its decoder and its clip ring) killed with SIGKILL; the SMTP \
server stops listening for {SMTP_DOWN:.0f} s (new connections refused; an open session \
finishes); a camera's stream damaged (a JPEG whose \
second half is random bytes, 30 KB of random bytes between two parts, or a switch to 1280x720 \
for {HD_SWITCH:.0f} s and back); the config entry reloaded through the REST API. Then the \
cameras' email alerts are switched off, the bench waits until every alert is delivered (at most \
{DRAIN_LIMIT:.0f} s), and stops Home Assistant with SIGTERM. Alerts are the \
`{DOMAIN}_alert` events (websocket subscription), matched to the received messages by \
subject (camera, event, date and time to the second; unique with the cooldown); duplicates \
by Message-ID. Memory is `VmHWM` (peak RSS) of the `hass` process from /proc; leftover ffmpeg \
processes are found in /proc by their stream URLs, and by pid and start time among every \
ffmpeg Home Assistant was seen to start (clip cuts too). Why a `hass` process rather than a \
`HomeAssistant` object in the bench: the memory figures are Home Assistant's alone, the \
ffmpeg processes are its children and "left after stop" follows its real shutdown, the \
bench's servers do not share its event loop, and only the public interfaces are used.

- Command: `{" ".join([COMMAND, soak.options]).strip()}` (the \
whole run took {seconds:.0f} s: set-up, {soak.soak_seconds:.0f} s of soak, \
{soak.ended - soak.soak_seconds:.0f} s until every email was in, the stop)
- Machine: {machine()}, {ram()}; load average {soak.load[0]} at the start, {soak.load[1]} \
at the end (a shared machine: other work ran meanwhile)
- Home Assistant {soak.api.version}; integration: {version}
- Allocator: {ALLOCATORS[soak.allocator]}. What it held, minute {soak.mark_at / 60:g} → end: \
{soak.held}
- Date: {date}
- Alerts by event type: {", ".join(f"{k} {v}" for k, v in kinds.most_common())}; \
{result.held_back} held back (not to be emailed). Outbox events: {delivered} alert emails \
delivered ({retried} after more than one attempt), {failed} `delivery_failed` (retries used \
up; kept for redelivery), {len(soak.dropped)} dropped. The drain \
{"ended with every alert delivered" if soak.drained else "**ran out of time**"}.
- Home Assistant stopped {stopped}. CPU over the soak: \
Home Assistant {ha_cpu:.0%} of a core, its ffmpeg processes about {ffmpeg_cpu:.0%} in all; \
most ffmpeg processes at once for one camera: \
{", ".join(f"{n} {kind}" for kind, n in sorted(soak.samples.ffmpeg_max.items())) or "none"}.
- Memory: VmRSS {result.mark.rss:.1f} MiB at minute {soak.mark_at / 60:g}, \
{result.end.rss:.1f} MiB at the end (threads {result.mark.threads} → {result.end.threads}, \
open file descriptors {result.mark.fds} → {result.end.fds}); trend of VmRSS after minute \
{soak.mark_at / 60:g}: {result.slope:+.2f} MiB a minute (least squares over samples \
every {SAMPLE_EVERY:.0f} s); VmRSS at the start of each minute of the soak and at the end: \
{rss_by_minute(soak)} MiB.

{table}

{faults}

The VmRSS figures of a fault are the change of Home Assistant's resident memory over the \
{FAULT_INTERVAL:.0f} s after it, alerts and any other fault under way included; to isolate \
one kind run it alone (`--faults reload --minutes 5`), and `--objects` counts the \
integration's runtime objects alive at the end, before and after a full garbage collection.

{"Findings:" if found else "Findings: none."}
{chr(10).join(found)}

Warnings and errors in Home Assistant's log ({soak.log.tracebacks} tracebacks):
{chr(10).join(f"- {line}" for line in log) if log else "- none"}
"""


def load_average() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def objects_report(soak: Soak) -> str:
    lines = ["Objects alive in Home Assistant at the end of the soak (objgraph.by_type):"]
    lines.extend(
        f"- {label}: VmRSS {rss:.1f} MiB; "
        + ", ".join(f"{name} {count}" for name, count in counts.items())
        for label, rss, counts in soak.objects or []
    )
    return "\n".join(lines)


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
    text = section(soak, result, date, time.monotonic() - STARTED, version)
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
