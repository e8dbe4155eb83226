"""One event, one email, on real footage: merged detections, marked pictures, preview, routing.

The committed pedestrian footage goes through real ffmpeg and real OpenCV (HOG people); the
arming entity is Home Assistant's own manual alarm panel.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.ptz_email_alert.const import DOMAIN, EVENT_ALERT
from custom_components.ptz_email_alert.vision.person import load_opencv
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from .camera_helpers import CAMERA, next_mail, setup_camera
from .camera_http import CameraHttp
from .conftest import RECIPIENTS
from .scenes import STILL_TEXTURE, encode, jpeg_sequence, scene
from .smtp_server import ReceivedMessage, ServerFactory

FOOTAGE = Path(__file__).parent / "fixtures" / "pedestrians-4s.mp4"
GUARD = "guard@example.org"


def jpegs_of(mail: ReceivedMessage, kind: str = "image/jpeg") -> list[bytes]:
    return [p.get_content() for p in mail.message.walk() if p.get_content_type() == kind]


def grey(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"), dtype=np.int16)


@pytest.mark.skipif(load_opencv() is None, reason="OpenCV is not installed")
async def test_people_walking_by_give_one_marked_email(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path, camera_http: CameraHttp
) -> None:
    """Motion and person on: one email, typed by the person, listing motion, boxes on people."""
    media = tmp_path / "media"
    hass.config.media_dirs = {"local": str(media)}
    # The footage as a live camera sends it: MJPEG over HTTP, at its own rate.
    camera_http.mjpeg_frames = await jpeg_sequence(FOOTAGE, width=768)
    camera_http.mjpeg_fps = 5.0
    server = await smtp_server("starttls")
    alerts = async_capture_events(hass, EVENT_ALERT)
    await setup_camera(
        hass, server, camera_http.url("/mjpeg"), detections=["motion", "person"], burst_interval=0.5,
        burst_count=3, snapshot_size="original", max_email_kb=2000, animated_preview=True,
        recipients=[GUARD],
    )  # fmt: skip

    (mail,) = await next_mail(server, 1)
    assert mail.message["Subject"] == "Front Gate – Human Detected"
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Human Detected, also: Motion" in body.get_content()
    assert mail.rcpt_tos == [GUARD]  # the camera's recipients, not the account's
    assert not set(RECIPIENTS) & set(mail.rcpt_tos)
    assert len(alerts) == 1
    assert alerts[0].data["event_type"] == "person"
    assert set(alerts[0].data["events"]) == {"motion", "person"}

    # The preview: an animated GIF with the burst's frames.
    (gif,) = jpegs_of(mail, "image/gif")
    preview = Image.open(io.BytesIO(gif))
    assert preview.format == "GIF"
    assert preview.n_frames == 3
    assert preview.info["loop"] == 0

    # The emailed pictures are the originals with thin boxes: they differ only a little, in
    # thin lines of the box colour, and those boxes sit where the people move.
    sent = jpegs_of(mail)
    originals = sorted((media / DOMAIN / CAMERA).rglob("*.jpg"))
    assert len(sent) == len(originals) == 3
    for emailed, original in zip(sent, originals, strict=True):
        difference = np.abs(grey(emailed) - grey(original.read_bytes()))
        drawn = difference > 60
        assert 0 < drawn.mean() < 0.05  # thin lines, not a changed picture
    # Where the people are: what differs between the first and last original picture.
    first, last = grey(originals[0].read_bytes()), grey(originals[-1].read_bytes())
    moving = np.abs(last - first) > 40
    drawn = np.abs(grey(sent[-1]) - last) > 60
    ys, xs = np.nonzero(drawn)
    box = moving[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    assert box.mean() > moving.mean()  # the boxes are where things move


async def test_disarmed_by_alarm_panel_or_snoozed_keeps_pictures_not_email(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    hass.config.media_dirs = {"local": str(media)}
    assert await async_setup_component(
        hass,
        "alarm_control_panel",
        {
            "alarm_control_panel": {
                "platform": "manual",
                "name": "Home",
                "code_arm_required": False,
                "arming_time": 0,
                "delay_time": 0,
                "trigger_time": 0,
            }
        },
    )
    await hass.async_block_till_done()
    video = await encode(scene(2, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")
    server = await smtp_server("starttls")
    entry = await setup_camera(
        hass, server, video, detections=["motion"], armed_by="alarm_control_panel.home",
        armed_states=["armed_away"], cooldown=0,
    )  # fmt: skip
    camera = next(iter(entry.runtime_data.cameras.values()))
    last_alert = f"sensor.{CAMERA}_last_alert"

    async def detect() -> Any:
        record = await camera.alerts.async_alert("motion", burst=1)
        await hass.async_block_till_done()
        return record

    record = await detect()  # the panel is disarmed
    assert record.held_back == "disarmed"
    assert hass.states.get(last_alert).attributes["held_back"] == "disarmed"  # type: ignore[union-attr]
    assert len(list((media / DOMAIN / CAMERA).rglob("*.jpg"))) == 1  # evidence kept
    assert server.received == []

    await hass.services.async_call(
        "alarm_control_panel", "alarm_arm_away", {"entity_id": "alarm_control_panel.home"},
        blocking=True,
    )  # fmt: skip
    record = await detect()
    assert record.held_back is None
    (mail,) = await next_mail(server, 1)
    assert mail.message["Subject"] == "Front Gate – Motion Detected"

    await hass.services.async_call(
        DOMAIN, "snooze", {"entity_id": f"switch.{CAMERA}_email_alerts", "duration": 600},
        blocking=True,
    )  # fmt: skip
    snoozed = hass.states.get(f"sensor.{CAMERA}_snoozed_until")
    assert snoozed is not None and snoozed.state not in ("unknown", "unavailable")
    record = await detect()
    assert record.held_back == "snoozed"
    assert len(list((media / DOMAIN / CAMERA).rglob("*.jpg"))) == 3

    await hass.services.async_call(
        DOMAIN, "snooze", {"entity_id": f"switch.{CAMERA}_email_alerts", "duration": 0},
        blocking=True,
    )  # fmt: skip
    assert hass.states.get(f"sensor.{CAMERA}_snoozed_until").state == "unknown"  # type: ignore[union-attr]
    record = await detect()
    assert record.held_back is None
    mails = await next_mail(server, 2)
    assert len(mails) == 2
    assert hass.states.get(last_alert).attributes["emailed"] is True  # type: ignore[union-attr]


async def test_trigger_takes_recipients_and_detections_join(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path
) -> None:
    """Detections during a burst join it; a new type within the cooldown sends nothing."""
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    video = await encode(scene(2, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")
    server = await smtp_server("starttls")
    entry = await setup_camera(
        hass, server, video, detections=["motion"], cooldown=300, burst_interval=0.5,
        burst_count=2,
    )  # fmt: skip
    camera = next(iter(entry.runtime_data.cameras.values()))
    async with asyncio.timeout(30):
        while camera.ring.latest is None:
            camera.jpeg_arrived.clear()
            await camera.jpeg_arrived.wait()
    alerts = async_capture_events(hass, EVENT_ALERT)

    first = camera.alerts.start("motion")
    assert first is not None
    assert camera.alerts.start("line_crossing", zone="gate") is None  # joins
    assert camera.alerts.start("motion") is None  # the same type again: joins, counted once
    await first
    (mail,) = await next_mail(server, 1)
    assert mail.message["Subject"] == "Front Gate – Line Crossing"
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Line Crossing, also: Motion" in body.get_content()
    assert alerts[0].data["events"] == ["motion", "line_crossing"]
    # Cooldown per camera: a person now is still part of the same event, no second email.
    assert camera.alerts.start("person") is None
    # Tamper keeps its own alerts.
    tamper = camera.alerts.start("tamper", burst=1)
    assert tamper is not None
    await tamper

    await hass.services.async_call(
        DOMAIN, "trigger",
        {"entity_id": f"camera.{CAMERA}_live", "event_type": "external", "recipients": [GUARD]},
        blocking=True,
    )  # fmt: skip
    mails = await next_mail(server, 3)
    assert mails[2].rcpt_tos == [GUARD]
    assert mails[1].rcpt_tos == RECIPIENTS
