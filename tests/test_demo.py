"""The demo's helpers: a demo folder that keeps everything inside, and a mail catcher kept alive."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import sys

from homeassistant.util.yaml import load_yaml

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from demo_setup import ONBOARDING_DONE, keep_running, prepare  # noqa: E402


def test_prepare_keeps_everything_in_the_demo_folder(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    (demo / "media" / "ptz_email_alert").mkdir(parents=True)
    (demo / "media" / "ptz_email_alert" / "old.jpg").write_bytes(b"old run")
    (demo / "mail").mkdir()
    (demo / "mail" / "kept.eml").write_bytes(b"mail")

    config = prepare(demo, ROOT / "config" / "configuration.yaml")

    core = load_yaml(config / "configuration.yaml")["homeassistant"]
    media = str((demo / "media").resolve())
    assert core["media_dirs"] == {"local": media}  # not /media, whatever the machine
    assert media in core["allowlist_external_dirs"]
    assert core["country"] == "DE"  # no "country not set" repair
    assert list((demo / "media").iterdir()) == []  # a new run starts clean
    assert (demo / "mail" / "kept.eml").exists()
    onboarding = json.loads((config / ".storage" / "onboarding").read_text())
    # The user is still created through onboarding; its extras (Radio Browser...) are not run.
    assert "user" not in onboarding["data"]["done"]
    assert (
        set(onboarding["data"]["done"])
        == set(ONBOARDING_DONE)
        == {
            "core_config",
            "analytics",
            "integration",
        }
    )


async def test_a_dead_mail_catcher_is_noticed_and_started_again(tmp_path: Path) -> None:
    stop = asyncio.Event()
    said: list[str] = []
    started: list[asyncio.subprocess.Process] = []
    running = asyncio.Event()

    async def start() -> asyncio.subprocess.Process:
        # The first one dies at once (exit 3); the second keeps running until stopped.
        code = "raise SystemExit(3)" if not started else "import time; time.sleep(600)"
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
        started.append(process)
        if len(started) == 2:
            running.set()
        return process

    supervisor = asyncio.create_task(
        keep_running(start, stop, name="mail catcher", say=said.append, pause=0)
    )
    await running.wait()
    stop.set()
    assert await supervisor == 1
    assert said == [
        "The mail catcher stopped (exit code 3): starting it again. "
        "Emails wait in Home Assistant's outbox meanwhile and go out when it is back."
    ]
    assert started[1].returncode is not None  # stopped with the demo, not left behind
