"""PTZ cameras in Home Assistant: a commanded move pauses detection until the picture settles."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pytest_homeassistant_custom_component.common import async_fire_time_changed

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from .camera_helpers import CAMERA, setup_camera
from .scenes import STILL_TEXTURE, encode, scene
from .smtp_server import ServerFactory


async def test_a_commanded_move_pauses_detection_until_settled(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    assert await async_setup_component(
        hass, "input_select", {"input_select": {"preset": {"options": ["gate", "road"]}}}
    )
    video = await encode(scene(1, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")
    server = await smtp_server("starttls")
    entry = await setup_camera(
        hass, server, video, detections=["motion", "tamper"], ptz=True,
        ptz_entity="input_select.preset",
    )  # fmt: skip
    camera = next(iter(entry.runtime_data.cameras.values()))
    moving = f"binary_sensor.{CAMERA}_moving"
    assert hass.states.get(moving).state == "off"  # type: ignore[union-attr]

    await hass.services.async_call(
        "input_select", "select_option",
        {"entity_id": "input_select.preset", "option": "road"}, blocking=True,
    )  # fmt: skip
    await hass.async_block_till_done()
    assert hass.states.get(moving).state == "on"  # type: ignore[union-attr]
    assert camera.moving
    assert camera.moving  # the analyser learns the new view once it settles

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=6))
    await hass.async_block_till_done()
    assert hass.states.get(moving).state == "off"  # type: ignore[union-attr]
    assert not camera.moving


async def test_moving_sensor_is_disabled_for_fixed_cameras(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    video = await encode(scene(1, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")
    server = await smtp_server("starttls")
    await setup_camera(hass, server, video, detections=["motion"])
    entity = er.async_get(hass).async_get(f"binary_sensor.{CAMERA}_moving")
    assert entity is not None
    assert entity.disabled_by is er.RegistryEntryDisabler.INTEGRATION
