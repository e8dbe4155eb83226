"""AI Task end to end (Home Assistant 2025.8+): real ffmpeg, real SMTP, Home Assistant's ai_task.

The AI itself is a test integration's entity (tests/ai_task_helpers.py): a vision model cannot
run here. It checks what it is given (the burst's JPEGs, as files resolved by ai_task) and
answers per scenario. On 2025.4 (no ai_task) this module is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("homeassistant.components.ai_task", reason="AI Task is Home Assistant 2025.8+")

from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    mock_config_flow,
)

from custom_components.ptz_email_alert.camera_runtime import CameraRuntime
from custom_components.ptz_email_alert.const import DOMAIN, EVENT_ALERT
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .ai_task_helpers import (
    AI_ENTITY,
    NOTHING,
    PERSON,
    TEST_DOMAIN,
    ScriptedAiTask,
    TestAiFlow,
    async_setup_ai_task,
)
from .camera_helpers import next_mail, setup_camera
from .conftest import RECIPIENTS
from .scenes import STILL_TEXTURE, encode, scene
from .smtp_server import ReceivedMessage, ServerFactory, TestSmtpServer

CALLS_SENSOR = "sensor.front_gate_ai_calls_today"


@pytest.fixture
async def still_video(tmp_path: Path) -> Path:
    return await encode(scene(6, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")


@pytest.fixture
async def ai(hass: HomeAssistant, tmp_path: Path) -> AsyncGenerator[ScriptedAiTask]:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    with mock_config_flow(TEST_DOMAIN, TestAiFlow):
        yield await async_setup_ai_task(hass)


async def _camera(
    hass: HomeAssistant, server: TestSmtpServer, video: Path, **options: Any
) -> tuple[MockConfigEntry, CameraRuntime]:
    entry = await setup_camera(
        hass, server, video, ai_task_entity=AI_ENTITY, mark_objects=False, **options
    )
    return entry, next(iter(entry.runtime_data.cameras.values()))


async def _next_alert(hass: HomeAssistant) -> Event:
    future: asyncio.Future[Event] = hass.loop.create_future()

    @callback
    def caught(event: Event) -> None:
        if not future.done():
            future.set_result(event)

    unsubscribe = hass.bus.async_listen(EVENT_ALERT, caught)
    try:
        async with asyncio.timeout(60):
            return await future
    finally:
        unsubscribe()


def _text(mail: ReceivedMessage) -> str:
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def _pictures(mail: ReceivedMessage) -> list[bytes]:
    return [
        bytes(part.get_content())
        for part in mail.message.walk()
        if part.get_content_type() == "image/jpeg"
    ]


async def test_verified_person_email_says_what_the_ai_saw(
    hass: HomeAssistant,
    ai: ScriptedAiTask,
    smtp_server: ServerFactory,
    walking_video: Path,
    tmp_path: Path,
) -> None:
    server = await smtp_server("starttls")
    alerts = async_capture_events(hass, EVENT_ALERT)
    _entry, monitor = await _camera(
        hass, server, walking_video, detections=["motion", "person"], ai_mode="verify",
        subject_template="%Camera_Name% – %Event_Type%: %Description%",
    )  # fmt: skip

    (mail,) = await next_mail(server, 1)
    # Motion seen by the detector, a person seen by the AI: a person alert, no OpenCV needed.
    assert mail.message["Subject"] == "Front Gate – Human Detected: A person walks in."
    assert _text(mail).splitlines()[0] == "A person walks in."
    (call,) = ai.calls
    # The AI got the burst's first picture (the one from just before the trigger, at the
    # trigger: its answer time is not known yet), as a JPEG file, while the rest of the burst
    # was still being taken.
    emailed = _pictures(mail)
    assert len(emailed) == 3
    assert call.pictures == emailed[: len(call.pictures)]
    # (a test video is decoded faster than real time: the burst's next pictures may be in)
    assert len(call.pictures) >= 1
    assert call.mime_types == ["image/jpeg"] * len(call.pictures)
    assert all(p.startswith(b"\xff\xd8") for p in call.pictures)
    assert all(
        media_id.startswith(f"media-source://media_source/local/{DOMAIN}/front_gate/.ai/")
        for media_id in call.media_ids
    )
    assert call.structure_keys == ["count", "description", "person", "vehicle"]
    # The pictures given to the AI are not left behind (nor shown in the media browser).
    assert not list((tmp_path / "media" / DOMAIN / "front_gate" / ".ai").glob("*.jpg"))

    (event,) = alerts
    assert event.data["event_type"] == "person"
    assert event.data["events"] == ["motion"]
    assert event.data["ai"]["status"] == "answered"
    assert event.data["ai"]["person"] is True
    assert event.data["ai"]["description"] == "A person walks in."
    state = hass.states.get("sensor.front_gate_last_alert")
    assert state is not None
    assert state.attributes["ai"]["description"] == "A person walks in."
    calls = hass.states.get(CALLS_SENSOR)
    assert calls is not None
    assert calls.state == "1"
    assert calls.attributes["daily_limit"] == 200
    assert monitor.last_alert is not None
    assert monitor.last_alert.event_type == "person"


async def test_nothing_seen_in_verify_mode_sends_nothing_but_records_the_event(
    hass: HomeAssistant, ai: ScriptedAiTask, smtp_server: ServerFactory, walking_video: Path
) -> None:
    ai.script.answer = dict(NOTHING)
    server = await smtp_server("starttls")
    _entry, monitor = await _camera(
        hass, server, walking_video, detections=["motion"], ai_mode="verify"
    )

    event = await _next_alert(hass)
    assert event.data["event_type"] == "motion"
    assert event.data["held_back"] == "nothing_seen"
    assert event.data["ai"]["description"] == "Leaves move."
    assert len(ai.calls) == 1
    if in_flight := set(monitor.alerts._in_flight):  # the alert's task ends after the event
        await asyncio.wait(in_flight)
    assert monitor.last_alert is not None
    assert monitor.last_alert.message_id is None  # never queued
    assert not [m for m in server.received if "Motion" in str(m.message["Subject"])]
    state = hass.states.get("sensor.front_gate_last_alert")
    assert state is not None
    assert state.attributes["emailed"] is False
    assert state.attributes["held_back"] == "nothing_seen"


async def test_ai_timeout_sends_the_email_marked_not_verified(
    hass: HomeAssistant,
    ai: ScriptedAiTask,
    smtp_server: ServerFactory,
    walking_video: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ai.script.hang = True
    server = await smtp_server("starttls")
    alerts = async_capture_events(hass, EVENT_ALERT)
    await _camera(
        hass, server, walking_video, detections=["motion"], ai_mode="verify", ai_timeout=1
    )

    (mail,) = await next_mail(server, 1)
    arrived = asyncio.get_running_loop().time()
    assert mail.message["Subject"] == "Front Gate – Motion Detected"
    assert "Not verified: the AI did not answer in time." in _text(mail)
    # Within the burst (3 pictures, 0.5 s apart) and the AI's time limit, and a second to send.
    (call,) = ai.calls
    assert arrived - call.at < 1.5 + 1 + 1
    assert alerts[0].data["ai"]["status"] == "timeout"
    assert alerts[0].data["held_back"] is None
    assert len([r for r in caplog.records if "gave no answer" in r.message]) == 1


async def test_daily_cap_stops_the_calls_not_the_alerts(
    hass: HomeAssistant, ai: ScriptedAiTask, smtp_server: ServerFactory, still_video: Path
) -> None:
    server = await smtp_server("starttls")
    _entry, monitor = await _camera(
        hass, server, still_video, ai_mode="describe", ai_daily_limit=1, cooldown=0,
        subject_template="%Camera_Name% – %Event_Type% %Description%",
    )  # fmt: skip

    first = await monitor.async_trigger("external")
    second = await monitor.async_trigger("external")
    assert first is not None
    assert second is not None
    assert len(ai.calls) == 1
    assert first.subject == "Front Gate – Alarm Input A person walks in."
    assert second.subject == "Front Gate – Alarm Input"
    assert second.ai is not None
    assert second.ai["status"] == "daily_limit"
    mails = await next_mail(server, 2)
    assert [m.message["Subject"] for m in mails] == [first.subject, second.subject]
    calls = hass.states.get(CALLS_SENSOR)
    assert calls is not None
    assert calls.state == "1"


async def test_one_call_per_cooldown(
    hass: HomeAssistant, ai: ScriptedAiTask, smtp_server: ServerFactory, still_video: Path
) -> None:
    server = await smtp_server("starttls")
    _entry, monitor = await _camera(hass, server, still_video, ai_mode="describe", cooldown=300)

    await monitor.async_trigger("external")
    second = await monitor.async_trigger("external")  # a forced alert: mailed, not described
    assert len(ai.calls) == 1
    assert second is not None
    assert second.ai is not None
    assert second.ai["status"] == "cooldown"
    await next_mail(server, 2)


async def test_the_description_cannot_add_a_header(
    hass: HomeAssistant, ai: ScriptedAiTask, smtp_server: ServerFactory, still_video: Path
) -> None:
    ai.script.answer = {
        **PERSON,
        "description": "Person\r\nBcc: thief@example.com\r\nX-Injected: yes",
    }
    server = await smtp_server("starttls")
    _entry, monitor = await _camera(
        hass, server, still_video, ai_mode="describe", subject_template="%Description%"
    )

    await monitor.async_trigger("external")
    (mail,) = await next_mail(server, 1)
    assert mail.rcpt_tos == RECIPIENTS
    assert mail.message["Bcc"] is None
    assert mail.message["X-Injected"] is None
    assert mail.message["Subject"] == "Person Bcc: thief@example.com X-Injected: yes"
    assert _text(mail).splitlines()[0] == "Person Bcc: thief@example.com X-Injected: yes"
    headers = mail.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in headers
    assert b"\nX-Injected:" not in headers


async def test_failing_ai_one_log_line_a_repair_and_recovery(
    hass: HomeAssistant,
    ai: ScriptedAiTask,
    smtp_server: ServerFactory,
    still_video: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ai.script.error = "model not loaded"
    server = await smtp_server("starttls")
    _entry, monitor = await _camera(
        hass, server, still_video, ai_mode="describe", cooldown=0,
        subject_template="%Camera_Name% %Description%",
    )  # fmt: skip
    issue_id = f"ai_failing_{monitor.subentry.subentry_id}"
    issues = ir.async_get(hass)

    for attempt in range(3):
        assert issues.async_get_issue(DOMAIN, issue_id) is None
        record = await monitor.async_trigger("external")
        assert record is not None
        assert record.subject == "Front Gate"  # sent, without a description
        assert record.ai is not None
        assert record.ai["status"] == "failed", attempt
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "ai_failing"
    assert issue.translation_placeholders is not None
    assert "model not loaded" in issue.translation_placeholders["error"]
    assert len([r for r in caplog.records if "gave no answer" in r.message]) == 1

    ai.script.error = None
    record = await monitor.async_trigger("external")
    assert record is not None
    assert record.subject == "Front Gate A person walks in."
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert "the AI answers again" in caplog.text
    await next_mail(server, 4)
