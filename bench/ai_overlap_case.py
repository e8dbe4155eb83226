"""The measuring half of bench/ai_overlap.py: a pytest module run on the newest Home Assistant.

Not a test of the suite (it is outside tests/ and asserts only that every alert arrived): it
measures, and prints its figures as one JSON line (``AI_OVERLAP_RESULT {...}``) for
bench/ai_overlap.py, which writes the docs section. Run alone, as bench/run runs every
bench/*.py, it does nothing.

Everything is real but the model: Home Assistant (the test harness's ``hass``), the ffmpeg
decode of an MJPEG camera on loopback (tests/camera_http.py) sending a D1 picture of the
committed footage 10 times a second, the integration's burst capture, outbox and SMTP client,
a real aiosmtpd server with STARTTLS and AUTH (tests/smtp_server.py), and Home Assistant's
``ai_task`` component. The AI Task entity is the test integration's (tests/ai_task_helpers.py):
no vision model can run here, so it stands in for one, reads the pictures it is given and
answers after a set delay, as a model that takes that long would.
"""

from __future__ import annotations

if __name__ == "__main__":  # bench/run runs every bench/*.py: this one belongs to ai_overlap.py
    print("bench/ai_overlap_case.py is run by bench/ai_overlap.py; nothing to do on its own")
    raise SystemExit(0)

import asyncio
from collections.abc import AsyncGenerator
import json
import platform
from typing import Any

import pytest

pytest.importorskip("homeassistant.components.ai_task", reason="AI Task is Home Assistant 2025.8+")

from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_config_flow,
)

from custom_components.ptz_email_alert.camera_runtime import CameraRuntime
from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, DOMAIN
from homeassistant import const as ha_const
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from tests.ai_task_helpers import (
    AI_ENTITY,
    TEST_DOMAIN,
    ScriptedAiTask,
    TestAiFlow,
    async_setup_ai_task,
)
from tests.camera_http import CameraHttp
from tests.conftest import RECIPIENTS, SENDER, entry_data
from tests.scenes import PEDESTRIANS, jpeg_sequence
from tests.smtp_server import USERNAME, ServerFactory, TestSmtpServer

# The suite's fixtures (hass set-up, the SMTP server factory, the camera's HTTP server).
pytest_plugins = ["tests.conftest"]

DELAYS = (0.5, 2.0)  # the AI's answer time, seconds
MARKER = "AI_OVERLAP_RESULT"
SNAPSHOT_PERIOD = 0.5  # the camera's JPEGs come 2 a second (burst interval 1 s)


@pytest.fixture
async def ai(hass: HomeAssistant, tmp_path: Any) -> AsyncGenerator[ScriptedAiTask]:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    with mock_config_flow(TEST_DOMAIN, TestAiFlow):
        yield await async_setup_ai_task(hass)


async def _cameras(
    hass: HomeAssistant, server: TestSmtpServer, url: str
) -> dict[str, CameraRuntime]:
    """One account, two cameras on the same stream: the AI off, and the AI describing."""
    common = {
        "stream_url": url, "detections": ["motion"], "sensitivity": 6, "cooldown": 0,
        "offline_after": 60, "mark_objects": False,
    }  # fmt: skip
    cameras = {
        "off": {**common, "name": "Plain", "ai_mode": "off"},
        "describe": {
            **common, "name": "Described", "ai_mode": "describe", "ai_task_entity": AI_ENTITY,
            "subject_template": "%Camera_Name% – %Event_Type%: %Description%",
        },
    }  # fmt: skip
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        unique_id=f"{USERNAME}@{server.host}",
        data=entry_data(server),
        options={CONF_RECIPIENTS: RECIPIENTS},
        subentries_data=[
            ConfigSubentryData(
                data=data, subentry_type="camera", title=data["name"], unique_id=None
            )
            for data in cameras.values()
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    runtimes = {runtime.name: runtime for runtime in entry.runtime_data.cameras.values()}
    return {mode: runtimes[data["name"]] for mode, data in cameras.items()}


def _time_bursts(runtime: CameraRuntime, marks: list[float]) -> None:
    """Record when each burst is complete (the capture returns its pictures); nothing else."""
    original = runtime.alerts._async_pictures
    loop = asyncio.get_running_loop()

    async def timed(count: int, start: float) -> Any:
        result = await original(count, start)
        marks.append(loop.time())
        return result

    runtime.alerts._async_pictures = timed  # type: ignore[method-assign]


async def _one_alert(
    runtime: CameraRuntime, server: TestSmtpServer, marks: list[float], phase: float
) -> dict[str, Any]:
    """Trigger at ``phase`` seconds after a picture arrives; times from the trigger on."""
    loop = asyncio.get_running_loop()
    runtime.jpeg_arrived.clear()  # no alert is in progress: nothing else waits on it
    await runtime.jpeg_arrived.wait()
    await asyncio.sleep(phase)  # where the trigger falls between the camera's pictures
    received = len(server.received)
    started = loop.time()
    task = asyncio.ensure_future(runtime.async_trigger("external"))
    async with asyncio.timeout(60):
        while len(server.received) == received:
            server.message_received.clear()
            await server.message_received.wait()
    ok = loop.time()  # the server's handle_DATA has just answered 250
    record = await task
    assert record is not None
    assert len(server.received) == received + 1
    return {
        "total": ok - started,
        "burst": marks[-1] - started,
        "ai": record.ai,
        "subject": record.subject,
        "started": started,
    }


@pytest.mark.parametrize("runs", [5, 2], ids=["full", "quick"])
async def test_ai_overlap(
    hass: HomeAssistant,
    ai: ScriptedAiTask,
    smtp_server: ServerFactory,
    camera_http: CameraHttp,
    runs: int,
) -> None:
    pictures = await jpeg_sequence(PEDESTRIANS, width=768)
    camera_http.mjpeg_frames = pictures[:1]  # a still scene: no motion alert of its own
    camera_http.mjpeg_fps = 10.0
    server = await smtp_server("starttls")
    cameras = await _cameras(hass, server, camera_http.url("/mjpeg", None))
    marks: dict[str, list[float]] = {mode: [] for mode in cameras}
    for mode, runtime in cameras.items():
        _time_bursts(runtime, marks[mode])
    # A first alert each, not measured: the stream is up and the outbox's first connection made.
    for mode, runtime in cameras.items():
        await _one_alert(runtime, server, marks[mode], 0.0)

    results: list[dict[str, Any]] = []
    for delay in DELAYS:
        ai.script.delay = delay
        for index in range(runs):
            phase = SNAPSHOT_PERIOD * index / runs  # spread over the time between pictures
            for mode, runtime in cameras.items():  # off, then describe, at the same phase
                calls = len(ai.calls)
                result = await _one_alert(runtime, server, marks[mode], phase)
                if mode == "describe":
                    assert len(ai.calls) == calls + 1
                    result["ai_start"] = ai.calls[-1].at - result.pop("started")
                else:
                    result.pop("started")
                results.append({"mode": mode, "delay": delay, "phase": phase, **result})

    summary = {
        "home_assistant": ha_const.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "runs": runs,
        "picture_bytes": len(pictures[0]),
        "results": results,
    }
    print(f"\n{MARKER} {json.dumps(summary)}")
