"""Cameras end to end: a video through real ffmpeg, detection, a burst, one email, entities.

The camera's stream is a video file made in the test (a person-sized shape walking into a
still scene), decoded by the same ffmpeg pipeline a camera's RTSP stream goes through.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import io
import json
from pathlib import Path

from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.ptz_email_alert.const import DOMAIN, EVENT_ALERT
from custom_components.ptz_email_alert.diagnostics import async_get_config_entry_diagnostics
from homeassistant.components.camera import Camera, async_get_image
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_component import EntityComponent
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from .camera_helpers import CAMERA, next_mail, setup_camera
from .camera_http import CAMERA_PASSWORD, CameraHttp
from .conftest import RECIPIENTS, SENDER
from .scenes import STILL_TEXTURE, encode, scene
from .smtp_server import ServerFactory


async def test_motion_sends_one_email_with_a_burst(
    hass: HomeAssistant, smtp_server: ServerFactory, walking_video: Path, tmp_path: Path
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    server = await smtp_server("starttls")
    alerts = async_capture_events(hass, EVENT_ALERT)
    entry = await setup_camera(hass, server, walking_video)

    (mail,) = await next_mail(server, 1)
    message = mail.message
    assert message["Subject"] == "Front Gate – Motion Detected"
    assert mail.rcpt_tos == RECIPIENTS
    pictures = [p for p in message.walk() if p.get_content_type() == "image/jpeg"]
    assert len(pictures) == 3  # motion: the picture before, then two at the burst interval
    assert all(p.get_content().startswith(b"\xff\xd8") for p in pictures)
    assert len(mail.raw) < 450 * 1024
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert "cid:snapshot1@ptz-email-alert" in html.get_content()

    assert [event.data["event_type"] for event in alerts] == ["motion"]
    assert alerts[0].data["snapshots"] == 3
    state = hass.states.get(f"sensor.{CAMERA}_last_alert")
    assert state is not None
    assert state.state != "unknown"
    assert state.attributes["subject"] == "Front Gate – Motion Detected"
    event = hass.states.get(f"event.{CAMERA}_detection")
    assert event is not None
    assert event.attributes["event_type"] == "motion"
    image = hass.states.get(f"image.{CAMERA}_alert_picture")
    assert image is not None
    assert image.state != "unknown"
    saved = list((tmp_path / "media" / DOMAIN).rglob("*.jpg"))
    assert len(saved) == 3
    monitor = next(iter(entry.runtime_data.cameras.values()))
    assert monitor.last_alert is not None
    assert monitor.last_alert.picture == pictures[0].get_content()


async def test_stream_drop_sends_offline_then_online(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    video = await encode(scene(1, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")
    server = await smtp_server("starttls")
    await setup_camera(hass, server, video)
    stream = f"binary_sensor.{CAMERA}_stream"
    hidden = video.with_suffix(".away")
    lost = asyncio.Event()

    @callback
    def on_stream(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is not None and new.state == "off" and not lost.is_set():
            # The file ended: take it away at once, so that the reconnect finds nothing.
            video.rename(hidden)
            lost.set()

    unsubscribe = async_track_state_change_event(hass, [stream], on_stream)
    async with asyncio.timeout(30):
        await lost.wait()
    unsubscribe()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    (offline,) = await next_mail(server, 1)
    assert offline.message["Subject"] == "Front Gate – Camera Offline"
    assert hass.states.get(stream).state == "off"  # type: ignore[union-attr]
    # What shows the camera's view now is unavailable; what is still true stays.
    assert hass.states.get(f"binary_sensor.{CAMERA}_motion").state == "unavailable"  # type: ignore[union-attr]
    assert hass.states.get(f"camera.{CAMERA}_live").state == "unavailable"  # type: ignore[union-attr]
    assert hass.states.get(f"switch.{CAMERA}_email_alerts").state == "on"  # type: ignore[union-attr]

    hidden.rename(video)  # the camera is back
    mails = await next_mail(server, 2)
    assert mails[1].message["Subject"] == "Front Gate – Camera Back Online"
    assert hass.states.get(f"binary_sensor.{CAMERA}_motion").state == "off"  # type: ignore[union-attr]


async def test_disarmed_camera_sends_nothing_but_trigger_does(
    hass: HomeAssistant, smtp_server: ServerFactory, walking_video: Path, tmp_path: Path
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    server = await smtp_server("starttls")
    entry = await setup_camera(hass, server, walking_video, cooldown=0)
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": f"switch.{CAMERA}_email_alerts"}, blocking=True
    )
    monitor = next(iter(entry.runtime_data.cameras.values()))
    assert monitor.armed is False
    record = await monitor.alerts.async_alert("motion")
    # Disarmed: detection and the local pictures go on, the email does not, and it says why.
    assert record is not None
    assert record.held_back == "switched_off"
    assert record.message_id is None
    state = hass.states.get(f"sensor.{CAMERA}_last_alert")
    assert state is not None
    assert state.attributes["held_back"] == "switched_off"
    assert state.attributes["emailed"] is False

    await hass.services.async_call(
        DOMAIN,
        "trigger",
        {"entity_id": f"camera.{CAMERA}_live", "event_type": "person"},
        blocking=True,
    )
    mails = await next_mail(server, 1)
    assert mails[-1].message["Subject"] == "Front Gate – Human Detected"
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN,
            "trigger",
            {"entity_id": f"sensor.{SENDER.replace('@', '_').replace('.', '_')}_outbox"},
            blocking=True,
        )


async def test_external_trigger_small_budget_and_live_view(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path
) -> None:
    """An external binary sensor starts a burst; a tight size budget re-encodes the pictures."""
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    video = await encode(scene(3, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")
    server = await smtp_server("starttls")
    hass.states.async_set("binary_sensor.gate_person", "off", {"device_class": "occupancy"})
    hass.states.async_set("event.doorbell", "unknown", {"event_type": None})
    entry = await setup_camera(
        hass,
        server,
        video,
        external_triggers=["binary_sensor.gate_person", "event.doorbell"],
        max_email_kb=60,
        burst_count=2,
        cooldown=0,
    )
    monitor = next(iter(entry.runtime_data.cameras.values()))
    async with asyncio.timeout(30):
        while monitor.ring.latest is None:
            await hass.async_block_till_done()
    produced = len(monitor.ring.latest.data)  # type: ignore[union-attr]

    image = await async_get_image(hass, f"camera.{CAMERA}_live")
    assert image.content.startswith(b"\xff\xd8")

    hass.states.async_set("binary_sensor.gate_person", "on", {"device_class": "occupancy"})
    (mail,) = await next_mail(server, 1)
    assert mail.message["Subject"] == "Front Gate – Human Detected"
    pictures = [p.get_content() for p in mail.message.iter_attachments()] or [
        p.get_content() for p in mail.message.walk() if p.get_content_type() == "image/jpeg"
    ]
    assert len(pictures) == 2
    assert len(mail.raw) <= 60 * 1024
    assert max(len(p) for p in pictures) < produced  # re-encoded smaller to fit

    hass.states.async_set("event.doorbell", "2026-11-21T10:00:00+00:00", {"event_type": "ring"})
    mails = await next_mail(server, 2)
    assert mails[1].message["Subject"] == "Front Gate – Alarm Input"


async def test_camera_entity_without_a_stream_is_polled(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path
) -> None:
    """A camera entity that only gives still pictures: they are analysed and mailed."""
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    picture = io.BytesIO()
    Image.fromarray(STILL_TEXTURE).save(picture, format="JPEG")

    class StillCamera(Camera):
        _attr_name = "Shed"

        async def async_camera_image(
            self, width: int | None = None, height: int | None = None
        ) -> bytes:
            return picture.getvalue()

    assert await async_setup_component(hass, "camera", {})
    component: EntityComponent[Camera] = hass.data["camera"]
    await component.async_add_entities([StillCamera()])
    server = await smtp_server("starttls")
    entry = await setup_camera(
        hass,
        server,
        Path(),
        stream_url=None,
        camera_entity="camera.shed",
        burst_count=1,
        pre_trigger=False,
        mark_objects=False,  # the picture goes out as the camera gave it
    )
    monitor = next(iter(entry.runtime_data.cameras.values()))
    async with asyncio.timeout(30):
        while monitor.ring.latest is None:
            await hass.async_block_till_done()
    assert hass.states.get(f"binary_sensor.{CAMERA}_stream").state == "on"  # type: ignore[union-attr]
    await hass.services.async_call(
        DOMAIN, "trigger", {"entity_id": f"camera.{CAMERA}_live"}, blocking=True
    )
    (mail,) = await next_mail(server, 1)
    (attached,) = [p for p in mail.message.walk() if p.get_content_type() == "image/jpeg"]
    assert attached.get_content() == picture.getvalue()


async def test_diagnostics_show_cameras_without_their_logins(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path, camera_http: CameraHttp
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    video = await encode(scene(2, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")
    server = await smtp_server("starttls")
    entry = await setup_camera(hass, server, video, snapshot_url=camera_http.url("/digest"))
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert CAMERA_PASSWORD not in json.dumps(diagnostics)
    (camera,) = diagnostics["cameras"]
    assert camera["data"]["snapshot_url"] == "**REDACTED**"
    assert camera["data"]["stream_url"] == "**REDACTED**"
    assert camera["data"]["detections"] == ["motion"]
    assert camera["armed"] is True
    assert camera["last_alert"] is None
