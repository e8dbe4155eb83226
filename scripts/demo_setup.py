"""Helpers of scripts/demo.py: a fresh demo folder, and a helper process kept running.

- ``prepare`` makes ``demo/config`` (Home Assistant with its country set, its media folder inside
  the demo folder, and onboarding's extras skipped) and an empty ``demo/media``.
- ``keep_running`` watches a helper process (the mail catcher), says when it dies and starts
  it again until the demo stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import json
from pathlib import Path
import shutil
import time

# Core settings of the demo's Home Assistant: a country (else a repair asks for it) and the
# media folder inside the demo folder (else /media, when Home Assistant thinks it runs in a
# container), where the alert pictures go.
CORE_SETTINGS = """  country: DE
  currency: EUR
  language: en
  media_dirs:
    local: {media}
"""
ALLOWLIST = "  allowlist_external_dirs:\n"
# Onboarding steps marked done before the first start. Only the user is created through the
# onboarding API: finishing its core_config step also sets up the weather, text-to-speech,
# Radio Browser and shopping list integrations, which the demo does not need (and Radio
# Browser fails without internet access).
ONBOARDING_DONE = ["core_config", "analytics", "integration"]
ONBOARDING_STORAGE_VERSION = 4


def prepare(demo: Path, template: Path) -> Path:
    """A fresh ``demo/config`` and ``demo/media`` (``demo/mail`` is kept); the config folder."""
    config = demo / "config"
    media = demo / "media"
    for folder in (config, media):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    (demo / "mail").mkdir(parents=True, exist_ok=True)
    text = template.read_text(encoding="utf-8")
    if "\nhomeassistant:\n" not in f"\n{text}":
        raise ValueError(f"{template} has no homeassistant: section")
    where = json.dumps(str(media.resolve()))
    core = CORE_SETTINGS.format(media=where)
    text = text.replace("homeassistant:\n", f"homeassistant:\n{core}", 1)
    if ALLOWLIST in text:  # Home Assistant may read the pictures it keeps (attachments)
        text = text.replace(ALLOWLIST, f"{ALLOWLIST}    - {where}\n", 1)
    else:
        text = text.replace("homeassistant:\n", f"homeassistant:\n{ALLOWLIST}    - {where}\n", 1)
    (config / "configuration.yaml").write_text(text, encoding="utf-8")
    storage = config / ".storage"
    storage.mkdir()
    (storage / "onboarding").write_text(
        json.dumps(
            {
                "version": ONBOARDING_STORAGE_VERSION,
                "minor_version": 1,
                "key": "onboarding",
                "data": {"done": ONBOARDING_DONE},
            }
        ),
        encoding="utf-8",
    )
    return config


async def keep_running(
    start: Callable[[], Awaitable[asyncio.subprocess.Process]],
    stop: asyncio.Event,
    *,
    name: str,
    say: Callable[[str], None] = print,
    pause: float = 2.0,
) -> int:
    """Run ``start()``'s process until ``stop`` is set, starting it again whenever it exits.

    A process that dies within ``pause`` seconds of its start (a port in use, say) is started
    again only after ``pause`` seconds, or not at all if ``stop`` is set meanwhile. Returns how
    many times it was started again.
    """
    restarts = 0
    while not stop.is_set():
        started = time.monotonic()
        process = await start()
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            exited.cancel()
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            await process.wait()
            break
        stopping.cancel()
        say(
            f"The {name} stopped (exit code {process.returncode}): starting it again. "
            "Emails wait in Home Assistant's outbox meanwhile and go out when it is back."
        )
        restarts += 1
        if time.monotonic() - started < pause:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
    return restarts
