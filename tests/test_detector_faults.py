"""A detector that keeps failing in a running camera: said once, a repair, motion goes on.

Real ffmpeg decodes a video made in the test; the object model is a real file on disk that was
damaged after the camera was set up (the form checks it when it is entered).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.ptz_email_alert.const import DOMAIN
from custom_components.ptz_email_alert.vision.person import load_opencv
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .camera_helpers import next_mail, setup_camera
from .scenes import encode, scene, walk
from .smtp_server import ServerFactory

pytestmark = pytest.mark.skipif(load_opencv() is None, reason="OpenCV is not installed")


async def test_damaged_model_is_a_repair_and_motion_still_mails(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"this is not an onnx model")
    video = await encode(scene(6, walk), tmp_path / "walk.mp4")
    server = await smtp_server("starttls")
    entry = await setup_camera(
        hass, server, video, detections=["motion", "person"], model_path=str(model)
    )

    (mail,) = await next_mail(server, 1)
    assert "Motion" in mail.message["Subject"]  # the motion detector goes on
    await hass.async_block_till_done()

    (subentry_id,) = entry.subentries
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"detector_failed_{subentry_id}_objects")
    assert issue is not None
    assert issue.translation_key == "detector_failed"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["camera"] == "Front Gate"
    # Told once, however many frames came after: not a line per frame.
    assert caplog.text.count("detector keeps failing") == 1
    assert caplog.text.count("detector failed on a frame") == 1
    assert "Traceback" not in caplog.text
