"""PTZ cameras in Home Assistant: the home position survives a restart, the button sets it,
and a move seen in the picture turns the moving sensor on.

The pictures are the committed footage's still background seen through a camera window
(tests/camera_scenes.py); the stream tests run them through real ffmpeg.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from custom_components.ptz_email_alert.camera_settings import CameraSettings
from custom_components.ptz_email_alert.home_position import (
    HomeKeeper,
    HomePositions,
    layout_key,
)
from custom_components.ptz_email_alert.vision.analyser import Analyser
from custom_components.ptz_email_alert.vision.frames import GreyFrame
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event

from .camera_helpers import CAMERA, setup_camera
from .camera_scenes import View, clip, encode_clip, look, moving
from .smtp_server import ServerFactory
from .test_camera_moves import AWAY, HOME, footage

KEY = "ptz_email_alert.home_positions.account"
ZONE = "gate: 0.1,0.5 0.5,0.5 0.5,0.9 0.1,0.9"


def settings(**data: Any) -> CameraSettings:
    base = {"name": "Gate", "stream_url": "rtsp://camera.lan/main", "ptz": True,
            "detections": ["motion", "region_intrusion"], "zones": ZONE}  # fmt: skip
    return CameraSettings.from_data("Gate", {**base, **data})


def look_at(analyser: Analyser, keeper: HomeKeeper, view: View, seconds: float = 4) -> None:
    """The camera looks at ``view`` still for ``seconds`` (5 analysed frames a second)."""
    world, _ = footage()
    picture = look(world, view, (320, 240))
    start = getattr(analyser, "_test_clock", 0.0)
    for index in range(round(seconds * 5)):
        analyser.analyse(GreyFrame(start + index / 5, picture), None)
        keeper.after_frame()
    analyser._test_clock = start + seconds  # type: ignore[attr-defined]


async def camera_at_start(
    hass: HomeAssistant, camera: CameraSettings
) -> tuple[HomePositions, Analyser, HomeKeeper]:
    """What a camera runtime does at start: read the kept homes, restore this camera's."""
    homes = HomePositions(hass, "account")
    await homes.async_load()
    analyser = Analyser(camera.analyser_config())
    keeper = HomeKeeper(homes, "camera", camera, analyser)
    keeper.restore()
    return homes, analyser, keeper


async def test_home_position_is_kept_across_a_restart(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    camera = settings()
    homes, analyser, keeper = await camera_at_start(hass, camera)
    look_at(analyser, keeper, HOME)
    assert analyser.home_version == 1
    assert analyser.at_home_position
    await homes.async_flush()
    assert hass_storage[KEY]["data"]["camera"]["key"] == layout_key(camera)

    # Restarted while the camera is at another preset: that one is not home.
    _, analyser, keeper = await camera_at_start(hass, camera)
    look_at(analyser, keeper, AWAY)
    assert not analyser.at_home_position
    # ... and back home it is.
    look_at(analyser, keeper, HOME)
    assert analyser.at_home_position

    # The zones were drawn again (on the picture the camera shows now): the kept home is
    # for the old drawing, so the position the camera settles at becomes home.
    redrawn = settings(zones="gate: 0.5,0.5 0.9,0.5 0.9,0.9 0.5,0.9")
    _, analyser, keeper = await camera_at_start(hass, redrawn)
    look_at(analyser, keeper, AWAY)
    assert analyser.at_home_position


@pytest.mark.parametrize(
    "kept",
    [
        {"camera": {"key": "", "shape": [240], "picture": "AAAA"}},
        {"camera": {"shape": [2, 2], "picture": "not base64!"}},
        {"camera": "a string"},
    ],
)
async def test_a_damaged_kept_home_is_learned_again(
    hass: HomeAssistant, hass_storage: dict[str, Any], kept: dict[str, Any]
) -> None:
    camera = settings()
    for entry in kept.values():
        if isinstance(entry, dict) and "key" in entry:
            entry["key"] = layout_key(camera)
    hass_storage[KEY] = {"version": 1, "minor_version": 1, "key": KEY, "data": kept}
    _, analyser, keeper = await camera_at_start(hass, camera)
    look_at(analyser, keeper, AWAY)
    assert analyser.at_home_position  # learned where it looks, no error


def states(hass: HomeAssistant, entity_id: str) -> tuple[list[tuple[str, Any]], asyncio.Event]:
    """(state, at home) of the moving sensor; an event set once it has been on and is off
    away from home."""
    seen: list[tuple[str, Any]] = []
    done = asyncio.Event()

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            seen.append((new.state, new.attributes.get("at_home_position")))
            if any(state == "on" for state, _ in seen) and seen[-1] == ("off", False):
                done.set()

    async_track_state_change_event(hass, [entity_id], changed)
    return seen, done


def kept_event(homes: HomePositions) -> Callable[[], asyncio.Event]:
    """A fresh event set at each home picture kept (watching, the keeping itself is real)."""
    current = asyncio.Event()
    original = homes.async_keep

    def keep(*args: Any) -> None:
        original(*args)
        current.set()

    homes.async_keep = keep  # type: ignore[method-assign]

    def fresh() -> asyncio.Event:
        current.clear()
        return current

    return fresh


async def test_button_sets_home_and_it_is_written_at_unload(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    smtp_server: ServerFactory,
    tmp_path: Path,
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    world, _ = footage()
    video = await encode_clip(clip(30, lambda t: world, lambda t: HOME), tmp_path / "home.mp4")
    server = await smtp_server("starttls")
    entry = await setup_camera(hass, server, video, detections=["motion"], ptz=True)
    camera = next(iter(entry.runtime_data.cameras.values()))
    next_kept = kept_event(entry.runtime_data.homes)
    kept = next_kept()
    async with asyncio.timeout(60):
        await kept.wait()  # the first position learned is home
    assert camera.analyser.home_version == 1
    moving = hass.states.get(f"binary_sensor.{CAMERA}_moving")
    assert moving is not None and moving.attributes["at_home_position"] is True

    kept = next_kept()
    await hass.services.async_call(
        "button", "press", {"entity_id": f"button.{CAMERA}_set_home_position"}, blocking=True
    )
    async with asyncio.timeout(30):
        await kept.wait()
    assert camera.analyser.home_version == 2

    assert KEY.replace("account", entry.entry_id) not in hass_storage  # written later ...
    assert await hass.config_entries.async_unload(entry.entry_id)
    saved = hass_storage[KEY.replace("account", entry.entry_id)]["data"]  # ... or at unload
    assert set(saved) == {camera.subentry.subentry_id}


async def test_fixed_cameras_have_no_home_button(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path
) -> None:
    world, _ = footage()
    video = await encode_clip(clip(2, lambda t: world, lambda t: HOME), tmp_path / "home.mp4")
    await setup_camera(hass, await smtp_server("starttls"), video, detections=["motion"])
    registry = er.async_get(hass)
    assert registry.async_get(f"button.{CAMERA}_set_home_position") is None
    assert registry.async_get(f"binary_sensor.{CAMERA}_moving") is not None


async def test_a_pan_seen_in_the_picture_is_a_move_not_an_alert(
    hass: HomeAssistant, smtp_server: ServerFactory, tmp_path: Path
) -> None:
    """No PTZ entity: the moving sensor follows the picture; the pan sends nothing."""
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    world, _ = footage()
    pan = moving(HOME, AWAY, 4, 2)
    video = await encode_clip(clip(30, lambda t: world, pan), tmp_path / "pan.mp4")
    alerts = []
    hass.bus.async_listen("ptz_email_alert_alert", alerts.append)
    moving_id = f"binary_sensor.{CAMERA}_moving"
    seen, done = states(hass, moving_id)
    server = await smtp_server("starttls")
    await setup_camera(hass, server, video, detections=["motion", "tamper"], ptz=True)
    async with asyncio.timeout(60):
        await done.wait()
    # Off at home, on during the pan, then off away from home (zones do not apply there).
    assert seen[0] == ("off", True)
    assert ("on", False) in seen
    assert alerts == []
