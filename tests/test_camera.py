"""Cameras end to end: a video through real ffmpeg, detection, a burst, one email, entities.

The camera's stream is a video file made in the test (a person-sized shape walking into a
still scene), decoded by the same ffmpeg pipeline a camera's RTSP stream goes through.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, DOMAIN, EVENT_ALERT
from custom_components.ptz_email_alert.diagnostics import async_get_config_entry_diagnostics
from custom_components.ptz_email_alert.vision.retention import prune
from homeassistant.components import media_source
from homeassistant.components.camera import Camera, async_get_image
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.entity_component import EntityComponent
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.requirements import RequirementsNotFound
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from .camera_http import CAMERA_PASSWORD, CameraHttp
from .conftest import RECIPIENTS, SENDER, entry_data
from .onnx_model import make_model
from .scenes import STILL_TEXTURE, encode, scene, with_box
from .smtp_server import USERNAME, ReceivedMessage, ServerFactory, TestSmtpServer

CAMERA = "front_gate"


def walk(t: float) -> np.ndarray:
    if t < 1.5:
        return STILL_TEXTURE
    return with_box(STILL_TEXTURE, 0.1 + 0.15 * (t - 1.5), 0.9)


async def next_mail(server: TestSmtpServer, count: int) -> list[ReceivedMessage]:
    """Wait until the server holds ``count`` messages (the event, with a guard time)."""
    async with asyncio.timeout(60):
        while len(server.received) < count:
            server.message_received.clear()
            await server.message_received.wait()
    return server.received


async def setup_camera(
    hass: HomeAssistant, server: TestSmtpServer, video: Path, **camera: Any
) -> MockConfigEntry:
    data: dict[str, Any] = {
        "name": "Front Gate",
        "stream_url": str(video),
        "detections": ["motion"],
        "sensitivity": 6,
        "burst_interval": 0.5,
        "cooldown": 300,
        "offline_after": 10,
        **camera,
    }
    data = {key: value for key, value in data.items() if value is not None}
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        unique_id=f"{USERNAME}@{server.host}",
        data=entry_data(server),
        options={CONF_RECIPIENTS: RECIPIENTS},
        subentries_data=[
            ConfigSubentryData(
                data=data, subentry_type="camera", title="Front Gate", unique_id=None
            )
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


@pytest.fixture
async def walking_video(tmp_path: Path) -> Path:
    return await encode(scene(6, walk), tmp_path / "walk.mp4")


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


async def test_full_resolution_pictures_are_kept_locally(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    walking_video: Path,
    tmp_path: Path,
    camera_http: CameraHttp,
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    server = await smtp_server("starttls")
    entry = await setup_camera(hass, server, walking_video, snapshot_url=camera_http.url("/digest"))

    (mail,) = await next_mail(server, 1)
    # The email carries the stream's pictures, small for 4G links ...
    attached = [
        p.get_content() for p in mail.message.walk() if p.get_content_type() == "image/jpeg"
    ]
    assert len(attached) == 3
    assert camera_http.picture not in attached
    # ... and the camera's full-resolution pictures, taken during the burst, are kept locally.
    (alert,) = [
        task
        for task in entry._background_tasks
        if task.get_name() == "ptz_email_alert alert Front Gate"  # type: ignore[attr-defined]
    ]
    await alert
    folder = tmp_path / "media" / DOMAIN / "front_gate"
    full = sorted(folder.rglob("*_full.jpg"))
    assert [path.name.split("_", 1)[1] for path in full] == [
        "motion_1_full.jpg", "motion_2_full.jpg", "motion_3_full.jpg",
    ]  # fmt: skip
    assert all(path.read_bytes() == camera_http.picture for path in full)
    assert len(list(folder.rglob("*.jpg"))) == 6
    assert camera_http.requests == ["/digest"] * 3


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


async def test_person_detection_without_opencv_raises_a_repair(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    walking_video: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where OpenCV cannot be installed (Alpine: no wheels), a repair says so; motion still runs.

    Installing a package from PyPI cannot happen in a test: the installer is replaced by one
    that fails as it does on Home Assistant OS, and OpenCV is made unimportable.
    """
    import custom_components.ptz_email_alert.opencv_support as integration

    async def no_install(*args: Any) -> None:
        raise RequirementsNotFound(DOMAIN, ["opencv-python-headless"])

    monkeypatch.setattr(integration, "load_opencv", lambda: None)
    monkeypatch.setattr(integration, "async_process_requirements", no_install)
    server = await smtp_server("starttls")
    entry = await setup_camera(hass, server, walking_video, detections=["motion", "person"])
    assert entry.runtime_data.opencv_loading is not None
    await entry.runtime_data.opencv_loading
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "opencv_missing")
    assert issue is not None
    assert issue.translation_placeholders == {"camera": "Front Gate"}
    (mail,) = await next_mail(server, 1)
    assert mail.message["Subject"] == "Front Gate – Motion Detected"


async def test_evidence_in_the_media_browser_and_retention(
    hass: HomeAssistant, smtp_server: ServerFactory, walking_video: Path, tmp_path: Path
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    assert await async_setup_component(hass, "media_source", {})
    server = await smtp_server("starttls")
    await setup_camera(hass, server, walking_video)
    await next_mail(server, 1)  # the pictures are saved before the email is queued

    root = await media_source.async_browse_media(hass, f"media-source://{DOMAIN}")
    assert [child.title for child in root.children] == ["Front Gate"]
    (day,) = (
        await media_source.async_browse_media(hass, root.children[0].media_content_id)
    ).children
    pictures = (await media_source.async_browse_media(hass, day.media_content_id)).children
    assert len(pictures) == 3
    assert all(" Motion Detected – picture " in p.title for p in pictures)
    resolved = await media_source.async_resolve_media(hass, pictures[0].media_content_id, None)
    assert resolved.url.startswith(f"/media/local/{DOMAIN}/front_gate/")
    assert resolved.mime_type == "image/jpeg"
    with pytest.raises(media_source.Unresolvable):
        await media_source.async_resolve_media(hass, f"media-source://{DOMAIN}/../secret.jpg", None)

    # Retention: by age, then by size (oldest first).
    folder = tmp_path / "media" / DOMAIN / "front_gate"
    old_day = folder / "2020-01-01"
    old_day.mkdir()
    (old_day / "old.jpg").write_bytes(b"x" * 10)
    os.utime(old_day / "old.jpg", (0, 0))
    removed = prune(folder, max_age=timedelta(days=30), max_bytes=10**9, now=dt_util.utcnow())
    assert [p.name for p in removed] == ["old.jpg"]
    assert not old_day.exists()
    newest = max(folder.rglob("*.jpg"), key=lambda p: p.stat().st_mtime)
    removed = prune(
        folder, max_age=timedelta(days=30), max_bytes=newest.stat().st_size, now=dt_util.utcnow()
    )
    assert len(removed) == 2
    assert list(folder.rglob("*.jpg")) == [newest]


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


async def test_vehicle_from_an_onnx_model(
    hass: HomeAssistant, smtp_server: ServerFactory, walking_video: Path, tmp_path: Path
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    model = make_model(tmp_path / "model.onnx", [(300, 400, 200, 100, 2, 0.9)])
    server = await smtp_server("starttls")
    await setup_camera(hass, server, walking_video, detections=["vehicle"], model_path=str(model))
    (mail,) = await next_mail(server, 1)
    assert mail.message["Subject"] == "Front Gate – Vehicle Detected"
    assert hass.states.get(f"binary_sensor.{CAMERA}_vehicle").state == "on"  # type: ignore[union-attr]


async def test_live_view_draws_zones_lines_and_ignored_areas(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    video = await encode(scene(2, lambda t: np.full_like(STILL_TEXTURE, 60)), tmp_path / "grey.mp4")
    server = await smtp_server("starttls")
    entry = await setup_camera(
        hass,
        server,
        video,
        detections=["region_intrusion", "line_crossing"],
        zones="yard: 0.1,0.1 0.4,0.1 0.4,0.4 0.1,0.4",
        lines="gate: 0.7,0.2 0.7,0.9 both",
        ignore_areas="tree: 0.5,0.05 0.9,0.05 0.9,0.15 0.5,0.15",
        draw_layout=True,
    )
    monitor = next(iter(entry.runtime_data.cameras.values()))
    async with asyncio.timeout(30):
        while monitor.ring.latest is None:
            await hass.async_block_till_done()
    image = await async_get_image(hass, f"camera.{CAMERA}_live")
    picture = Image.open(io.BytesIO(image.content)).convert("RGB")
    width, height = picture.size
    red, green, blue = picture.getpixel((int(0.7 * width), int(0.5 * height)))  # type: ignore[misc]
    assert red > 150 > green  # the line
    red, green, blue = picture.getpixel((int(0.25 * width), int(0.1 * height) + 1))  # type: ignore[misc]
    assert red > 150 and green > 120 and blue < 100  # the zone's yellow edge
    red, green, blue = picture.getpixel((int(0.6 * width), int(0.05 * height) + 1))  # type: ignore[misc]
    assert min(red, green, blue) > 120 and abs(red - blue) < 30  # the ignored area's grey edge
    red, green, blue = picture.getpixel((int(0.55 * width), int(0.6 * height)))  # type: ignore[misc]
    assert abs(red - green) < 20  # elsewhere: the grey picture


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


async def test_failing_snapshot_url_keeps_the_alert(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    walking_video: Path,
    tmp_path: Path,
    camera_http: CameraHttp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    server = await smtp_server("starttls")
    camera_http.open_fails = True
    entry = await setup_camera(
        hass, server, walking_video, detections=["tamper"], snapshot_url=camera_http.url("/open")
    )
    monitor = next(iter(entry.runtime_data.cameras.values()))
    folder = tmp_path / "media" / DOMAIN / "front_gate"

    await monitor.alerts.async_alert("motion", burst=1, force=True)
    await monitor.alerts.async_alert("motion", burst=1, force=True)
    mails = await next_mail(server, 2)
    assert all(mail.message["Subject"] == "Front Gate – Motion Detected" for mail in mails)
    assert not list(folder.rglob("*_full.jpg"))
    assert len(list(folder.rglob("*_motion_1.jpg"))) == 2  # both alerts' pictures kept
    warnings = [r for r in caplog.records if "no full-resolution picture" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per alert
    assert "HTTP 503" in warnings[0].getMessage()
    assert CAMERA_PASSWORD not in caplog.text

    camera_http.open_fails = False
    await monitor.alerts.async_alert("motion", burst=1, force=True)
    assert len(list(folder.rglob("*_full.jpg"))) == 1
    assert "full-resolution pictures work again" in caplog.text
    await next_mail(server, 3)  # the email is queued before the pictures are kept: let it go
