"""The soak's Home Assistant: a ``hass`` process of its own, started with a fresh
configuration and driven only through its HTTP and websocket API, as the UI drives it."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
import importlib.util
import json
import os
from pathlib import Path
import re
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

from _soak_settings import (
    CACHE,
    CAMERAS,
    DOMAIN,
    EVENTS,
    FFMPEG,
    REPO,
    RSS_MARK,
    USER,
    USER_PASSWORD,
    progress,
)
import aiohttp
from outbox_flush import HOST
import soak_trace

import homeassistant

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
