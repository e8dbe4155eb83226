"""What a camera looks for, and where: person without OpenCV, vehicles, zones, lines, areas.

A video through real ffmpeg, a real SMTP server, OpenCV's dnn with a tiny ONNX model made in
the test. OpenCV's installer is the one part replaced (nothing is installed from PyPI in a test).
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
import pytest

from custom_components.ptz_email_alert.const import DOMAIN
from homeassistant.components.camera import async_get_image
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.requirements import RequirementsNotFound

from .camera_helpers import CAMERA, next_mail, setup_camera
from .onnx_model import make_model
from .scenes import STILL_TEXTURE, encode, scene
from .smtp_server import ServerFactory


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
