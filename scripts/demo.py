"""The one-command demo: Home Assistant, a mail catcher and a looping camera, set up for you.

Everything listens on 127.0.0.1 only:
- Home Assistant on :8123 (a fresh config folder, onboarded through its own API),
- the mail catcher on :2525, saving every message under ``demo/mail/`` (started again if it
  dies: the emails wait in the outbox meanwhile),
- a demo camera on :8554: real pedestrian footage looped as a live MJPEG stream.
The account and the camera are created through the config flow API, as the UI would.
Within a minute, alert emails with 3 snapshots land in the catcher's folder. Everything the
demo writes stays in ``demo/``: the alert pictures in ``demo/media/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
import shutil
import signal
import sys
import time

from aiohttp import web
import imageio_ffmpeg

sys.path.insert(0, str(Path(__file__).parent))
from demo_setup import keep_running, prepare
from ha_api import add_account, add_camera, is_up, login

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
CLIP = ROOT / "tests" / "fixtures" / "pedestrians-4s.mp4"
USER, PASSWORD = "demo", "demo-password"
CAMERA_PORT = 8554


def ffmpeg() -> str:
    """The system's ffmpeg, else the one in the imageio-ffmpeg wheel."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


async def camera_stream(request: web.Request) -> web.StreamResponse:
    """The clip, looped in real time, as a multipart MJPEG stream (like an IP camera)."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg(), "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1",
        "-i", str(CLIP), "-an", "-c:v", "mjpeg", "-q:v", "4", "-f", "mpjpeg", "pipe:1",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    response = web.StreamResponse(
        headers={"Content-Type": "multipart/x-mixed-replace;boundary=ffmpeg"}
    )
    await response.prepare(request)
    assert process.stdout is not None
    try:
        while chunk := await process.stdout.read(65536):
            await response.write(chunk)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
    return response


async def wait_until(check, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    """Poll a blocking check in a thread until it is true or time is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return True
        await asyncio.sleep(1)
    return False


async def configure() -> None:
    """Onboard, add the account (local relay = the catcher) and the camera."""
    token = await asyncio.to_thread(login, USER, PASSWORD)
    account = await asyncio.to_thread(add_account, token, {
        "host": "127.0.0.1", "port": 2525, "encryption": "none",
        "sender": "cameras@demo.example", "recipients": ["you@demo.example"],
        "verify_ssl": True, "timeout": 10,
    })  # fmt: skip
    if account["type"] != "create_entry":
        raise SystemExit(f"Adding the account failed: {account}")
    camera = await asyncio.to_thread(add_camera, token, account["result"]["entry_id"], {
        "name": "Demo Street",
        "stream_url": f"http://127.0.0.1:{CAMERA_PORT}/stream.mjpeg",
        "detections": ["motion", "person"],
        "sensitivity": 6, "burst_interval": 1, "pre_trigger": True, "snapshot_size": "d1",
        "max_email_kb": 450, "subject_template": "Demo Site – %Camera_Name% – %Event_Type%",
        "cooldown": 60, "offline_after": 120, "retention_days": 7, "retention_mb": 200,
        "draw_layout": False,
    })  # fmt: skip
    if camera["type"] != "create_entry":
        raise SystemExit(f"Adding the camera failed: {camera}")


async def main() -> int:
    """Start everything, set it up, then run until Ctrl-C.

    ``--onboard-only``: create the user but leave the account and camera to the UI (the browser
    test does that part, as a person would).
    """
    onboard_only = "--onboard-only" in sys.argv
    config = prepare(DEMO, ROOT / "config" / "configuration.yaml")

    app = web.Application()
    app.router.add_get("/stream.mjpeg", camera_stream)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", CAMERA_PORT).start()

    python = sys.executable

    async def start_catcher() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            python, str(ROOT / "scripts" / "mail_catcher.py"), "--folder", str(DEMO / "mail"),
            start_new_session=True,  # Ctrl-C stops the demo, and the demo stops the catcher
        )  # fmt: skip

    stop = asyncio.Event()
    catcher = asyncio.create_task(keep_running(start_catcher, stop, name="mail catcher"))
    hass = await asyncio.create_subprocess_exec(
        str(Path(python).parent / "hass"), "--config", str(config),
        env={**os.environ, "PYTHONPATH": str(ROOT), "PTZ_FFMPEG": ffmpeg()},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    print("Starting Home Assistant (the first start installs the frontend: a minute or two)…")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if not await wait_until(is_up, 600):
            print(f"Home Assistant did not start; see {config / 'home-assistant.log'}")
            return 1
        if onboard_only:
            await asyncio.to_thread(login, USER, PASSWORD)
        else:
            await configure()
        print(
            "\nReady.\n"
            "  Home Assistant: http://127.0.0.1:8123  (user: demo, password: demo-password)\n"
            f"  Demo camera:    http://127.0.0.1:{CAMERA_PORT}/stream.mjpeg\n"
            f"  Alert emails:   {DEMO / 'mail'}  (one line per message below)\n"
            f"  Alert pictures: {DEMO / 'media'}  (also in the media browser)\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        await stop.wait()
    finally:
        stop.set()  # the mail catcher stops too
        with contextlib.suppress(ProcessLookupError):
            hass.terminate()
        await asyncio.gather(hass.wait(), catcher)
        await runner.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
