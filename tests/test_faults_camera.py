"""Faults around a camera, made to happen for real: each alert arrives once or is kept and said.

A media folder that refuses writes, a reload in the middle of a burst, a stream that is gone
when the alert comes, a detector that breaks, a reauth that must reload only once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.ptz_email_alert.const import DOMAIN, EVENT_ALERT, EVENT_DELIVERED
from custom_components.ptz_email_alert.vision.analyser import Analyser, AnalyserConfig
from custom_components.ptz_email_alert.vision.analytics import TamperDetector, Track
from custom_components.ptz_email_alert.vision.frames import GreyFrame, JpegFrame
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PASSWORD
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .camera_helpers import CAMERA, next_mail, setup_camera
from .camera_http import CameraHttp
from .scenes import STILL_TEXTURE, encode, jpeg_sequence, scene
from .smtp_server import PASSWORD, ServerFactory


def body_text(mail: Any) -> str:
    part = mail.message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_media_folder_refusing_writes_loses_no_email(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The evidence folder cannot be made (a file is in its way): emails still go, with pictures."""
    media = tmp_path / "media"
    media.mkdir()
    blocker = media / DOMAIN
    blocker.write_bytes(b"not a folder")  # mkdir below it fails with a real OSError
    hass.config.media_dirs = {"local": str(media)}
    video = await encode(scene(2, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")
    server = await smtp_server("starttls")
    entry = await setup_camera(hass, server, video, detections=["tamper"])
    camera = next(iter(entry.runtime_data.cameras.values()))
    issue_id = f"evidence_{camera.subentry.subentry_id}"

    await camera.async_trigger("external")
    await camera.async_trigger("external")
    mails = await next_mail(server, 2)
    for mail in mails:
        pictures = [p for p in mail.message.walk() if p.get_content_type() == "image/jpeg"]
        assert pictures, "the email must carry its pictures even when they cannot be kept"
    warnings = [r for r in caplog.records if "cannot be saved" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per alert
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None

    blocker.unlink()  # space is back
    await camera.async_trigger("external")
    await next_mail(server, 3)
    assert list((media / DOMAIN).rglob("*.jpg"))
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_reload_during_a_burst_queues_it_first(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    tmp_path: Path,
    walking_video: Path,
    camera_http: CameraHttp,
) -> None:
    """A reload (options, cameras, reauth) lets the burst in progress finish: one email, once."""
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    camera_http.mjpeg_frames = await jpeg_sequence(walking_video)  # a live camera, 10 fps
    server = await smtp_server("starttls")
    entry = await setup_camera(
        hass, server, camera_http.url("/mjpeg"), detections=["tamper"],
        burst_interval=1.0, burst_count=3,
    )  # fmt: skip
    camera = next(iter(entry.runtime_data.cameras.values()))
    async with asyncio.timeout(30):
        while camera.ring.latest is None:
            camera.jpeg_arrived.clear()
            await camera.jpeg_arrived.wait()
    alerts = async_capture_events(hass, EVENT_ALERT)
    delivered = async_capture_events(hass, EVENT_DELIVERED)

    task = camera.alerts.start("external", force=True)
    assert await hass.config_entries.async_reload(entry.entry_id)
    assert task.done() and not task.cancelled()
    (mail,) = await next_mail(server, 1)
    assert mail.message["Subject"] == "Front Gate – Alarm Input"
    pictures = [p for p in mail.message.walk() if p.get_content_type() == "image/jpeg"]
    assert len(pictures) == 3  # the whole burst, not what was there when the reload came
    await hass.async_block_till_done()
    assert len(alerts) == 1
    assert [event.data["subject"] for event in delivered] == ["Front Gate – Alarm Input"]
    assert len(server.received) == 1


async def test_lost_stream_mails_a_fresh_picture_or_says_how_old(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    tmp_path: Path,
    camera_http: CameraHttp,
) -> None:
    """With the stream gone, an alert never passes an old picture off as a new one."""
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    video = await encode(scene(1, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")
    server = await smtp_server("starttls")
    entry = await setup_camera(
        hass, server, video, detections=["tamper"], snapshot_url=camera_http.url("/open")
    )
    camera = next(iter(entry.runtime_data.cameras.values()))
    async with asyncio.timeout(30):
        while camera.ring.latest is None:
            camera.jpeg_arrived.clear()
            await camera.jpeg_arrived.wait()
    lost = asyncio.Event()
    unsubscribe = camera.async_add_listener(lambda: None if camera.connected else lost.set())
    video.unlink()  # the stream is gone for good
    async with asyncio.timeout(30):
        await lost.wait()
    unsubscribe()

    await camera.async_trigger("external")
    (fresh,) = await next_mail(server, 1)
    assert "fetched from the camera now" in body_text(fresh)
    assert "/open" in camera_http.requests
    assert [p for p in fresh.message.walk() if p.get_content_type() == "image/jpeg"]

    camera_http.open_fails = True  # the camera itself is gone too
    await camera.async_trigger("external")
    mails = await next_mail(server, 2)
    assert "this is the last picture, from" in body_text(mails[1])


def frames_of(size: tuple[int, int], start: float, count: int) -> list[GreyFrame]:
    rng = np.random.default_rng(3)
    base = rng.integers(60, 200, size=size, dtype=np.uint8)
    frames = []
    for index in range(count):
        pixels = base.copy()
        x = 10 + index * 6
        pixels[size[0] // 3 : size[0] // 3 + 40, x : x + 20] = 255  # something walks
        frames.append(GreyFrame(start + index * 0.2, pixels))
    return frames


def test_picture_size_change_and_a_broken_detector_do_not_stop_detection() -> None:
    """The stream changes resolution mid-way; then a detector fails on every frame."""
    analyser = Analyser(AnalyserConfig(detections=frozenset({"motion", "tamper"})))
    found = [analyser.analyse(f, None) for f in frames_of((180, 320), 0, 20)]
    assert any(f for f in found)
    # A new size: before, tamper's comparison with the old reference raised here.
    found = [analyser.analyse(f, None) for f in frames_of((240, 320), 10, 20)]
    assert analyser.take_problems() == []
    assert any(any(x.event_type == "motion" for x in f) for f in found)

    # A degenerate frame (a corrupt header that still parsed): no detector may stop on it.
    for pixels in (np.zeros((1, 1), np.uint8), np.zeros((0, 320), np.uint8)):
        analyser.analyse(GreyFrame(29.9, pixels), None)
    analyser.take_problems()
    found = [analyser.analyse(f, None) for f in frames_of((240, 320), 30, 20)]
    assert any(any(x.event_type == "motion" for x in f) for f in found)

    class BrokenTamper(TamperDetector):
        def update(self, pixels: Any, time: float) -> None:
            raise ValueError("operands could not be broadcast together")

    analyser.tamper = BrokenTamper()
    found = [analyser.analyse(f, None) for f in frames_of((240, 320), 40, 20)]
    problems = analyser.take_problems()
    assert [p.detector for p in problems] == ["tamper"]  # rebuilt once: the new one works
    assert any(any(x.event_type == "motion" for x in f) for f in found)


def test_a_model_that_does_not_load_is_switched_off_once(tmp_path: Path) -> None:
    """A damaged model file: one problem, object detection off, motion goes on."""
    cv2 = pytest.importorskip("cv2")
    model = tmp_path / "broken.onnx"
    model.write_bytes(b"this is not an onnx model")
    analyser = Analyser(
        AnalyserConfig(detections=frozenset({"motion", "person"}), model_path=str(model)), cv2
    )
    jpeg_frame = JpegFrame(0, b"\xff\xd8\xff\xd9")
    found = [analyser.analyse(f, jpeg_frame) for f in frames_of((180, 320), 0, 30)]
    problems = analyser.take_problems()
    assert len(problems) == 1
    assert problems[0].detector == "objects" and problems[0].disabled
    assert any(any(x.event_type == "motion" for x in f) for f in found)


def test_lines_and_zones_forget_old_track_ids() -> None:
    """After a reconnect the tracker counts from 1 again: old ids must not hide new crossings."""
    analyser = Analyser(
        AnalyserConfig(
            detections=frozenset({"motion", "line_crossing"}), lines="gate: 0.5,0 0.5,1 both"
        )
    )
    track = Track(1, [(0.4, 0.5), (0.6, 0.5)], 0, 0)
    assert [c.line for c in analyser.lines.update([track])] == ["gate"]
    assert analyser.lines.update([track]) == []  # once per track
    analyser.reset()  # a new stream
    again = Track(1, [(0.6, 0.6), (0.4, 0.6)], 5, 5)
    assert [c.line for c in analyser.lines.update([again])] == ["gate"]
    analyser.lines.forget_except(set())  # the track ended
    assert analyser.lines._reported == set()


async def test_reauth_reloads_once_and_heartbeat_lists_cameras(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import custom_components.ptz_email_alert as integration

    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    video = await encode(scene(1, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")
    server = await smtp_server("starttls")
    entry = await setup_camera(hass, server, video, detections=["tamper"])
    setups = 0
    real_setup = integration.async_setup_entry

    async def counting_setup(*args: Any) -> bool:
        nonlocal setups
        setups += 1
        return await real_setup(*args)

    monkeypatch.setattr(integration, "async_setup_entry", counting_setup)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_PASSWORD: "old"})
    await hass.async_block_till_done()
    result = await entry.start_reauth_flow(hass)
    setups = 0
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: PASSWORD}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert setups == 1
    assert entry.state is ConfigEntryState.LOADED

    await hass.services.async_call(
        "button", "press", {"entity_id": "button.camera_example_com_send_heartbeat"}, blocking=True
    )
    (mail,) = await next_mail(server, 1)
    assert "Front Gate:" in body_text(mail)
    assert "none configured" not in body_text(mail)
    assert hass.states.get(f"binary_sensor.{CAMERA}_stream") is not None


async def test_outbox_folder_that_cannot_be_written_is_a_clear_error(
    hass: HomeAssistant, smtp_server: ServerFactory
) -> None:
    """Disk full or read-only: the action fails with a translated error, not a traceback."""
    from homeassistant.exceptions import HomeAssistantError

    from .delivery_helpers import notify, setup_account

    server = await smtp_server("starttls")
    entry = await setup_account(hass, server)
    folder = Path(hass.config.path(".storage", DOMAIN, entry.entry_id))
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        folder.rmdir()
    folder.write_bytes(b"")  # a file where the outbox folder must be: writes fail for real
    with pytest.raises(HomeAssistantError) as raised:
        await notify(hass, "Gate alarm")
    assert raised.value.translation_key == "outbox_not_writable"
    assert server.received == []
    folder.unlink()  # space is back: mail goes again
    await notify(hass, "Gate alarm")
    (mail,) = await next_mail(server, 1)
    assert mail.message["Subject"] == "Gate alarm"
