"""Cameras that move: shake, sway, pan, zoom, commanded moves and the home position.

Scenes are made here from the committed real footage (its still background, a person cut
from it walking in) and from a synthetic texture, seen through a camera window that moves,
encoded and decoded by real ffmpeg, and analysed as a camera stream would be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
import math
from pathlib import Path
import re

import numpy as np
import pytest

from custom_components.ptz_email_alert.vision.analyser import Analyser, AnalyserConfig
from custom_components.ptz_email_alert.vision.frames import GreyFrame
from custom_components.ptz_email_alert.vision.motion import MotionDetector
from custom_components.ptz_email_alert.vision.pixels import Levels, bin2
from custom_components.ptz_email_alert.vision.stabilise import Profiles, Reference, estimate

from .camera_scenes import (
    Grey,
    Sprite,
    View,
    clip,
    cut_person,
    encode_clip,
    look,
    moving,
    read_grey,
    shaken,
    still_world,
    swaying,
    walker,
)
from .scenes import PEDESTRIANS, decode, texture

HOME: View = (384.0, 300.0, 512.0)  # a 512 x 384 window of the 768 x 576 footage
AWAY: View = (538.0, 300.0, 512.0)  # panned right by 30 % of the picture's width
ZOOMED: View = (390.0, 330.0, 256.0)  # 2x
MOTION = frozenset({"motion", "tamper"})


@cache
def footage() -> tuple[Grey, Sprite]:
    """The footage's still background, and a person cut from it."""
    frames = read_grey(PEDESTRIANS)
    world = still_world(frames)
    return world, cut_person(frames, world)


def walking(start: float, height: int = 40) -> Callable[[float], Grey]:
    """The footage's world with a person walking along the path from ``start`` seconds."""
    world, sprite = footage()
    walk = walker(world, sprite, (300, 330), (600, 370), height)
    return lambda t: walk(t - start)


def box_walking(world: Grey, start: float) -> Callable[[float], Grey]:
    """A dark person-sized box crossing ``world`` from ``start`` seconds."""

    def at(t: float) -> Grey:
        if t < start:
            return world
        out = world.copy()
        left = round(420 + 40 * (t - start))
        out[440:530, left : left + 36] = 15
        return out

    return at


@dataclass(frozen=True, slots=True)
class Seen:
    """One analysed frame."""

    time: float
    found: frozenset[str]  # event types, tamper as "tamper:<kind>"
    moving: bool
    at_home: bool


async def camera(tmp_path: Path, frames: list[Grey]) -> list[GreyFrame]:
    """The frames as the camera's stream: H.264, decoded by FfmpegSource (5 fps, 320 px)."""
    greys, _ = await decode(await encode_clip(frames, tmp_path / "camera.mp4"))
    assert len(greys) >= len(frames) // 2 - 2
    return greys


def watch(
    greys: list[GreyFrame],
    config: AnalyserConfig,
    before: Callable[[Analyser, float], None] | None = None,
) -> list[Seen]:
    """Every frame through one camera's Analyser; ``before`` runs before each frame."""
    analyser = Analyser(config)
    seen = []
    for frame in greys:
        if before is not None:
            before(analyser, frame.time)
        findings = analyser.analyse(frame, None)
        found = frozenset(
            f"tamper:{f.zone}" if f.event_type == "tamper" else f.event_type for f in findings
        )
        seen.append(Seen(frame.time, found, analyser.moving, analyser.at_home_position))
    return seen


def between(seen: list[Seen], start: float, end: float = math.inf) -> list[Seen]:
    return [item for item in seen if start <= item.time < end]


def share(seen: list[Seen], event: str) -> float:
    assert seen
    return sum(event in item.found for item in seen) / len(seen)


def quiet(seen: list[Seen]) -> bool:
    return all(not item.found for item in seen)


@pytest.mark.parametrize("amplitude", [1, 2])
@pytest.mark.parametrize("scene", ["footage", "texture"])
async def test_shake_is_quiet_and_a_walker_is_found(
    tmp_path: Path, scene: str, amplitude: int
) -> None:
    """A pole shaking by 1 or 2 px at random: no motion, until someone walks in."""
    if scene == "footage":
        world_at, view = walking(4.0), HOME
    else:
        world_at, view = box_walking(texture(), 4.0), (640.0, 360.0, 640.0)
    greys = await camera(tmp_path, clip(7, world_at, shaken(view, amplitude, seed=amplitude)))
    seen = watch(greys, AnalyserConfig())
    assert quiet(between(seen, 0, 4))
    assert not any(item.moving for item in seen)
    assert share(between(seen, 4.6), "motion") >= 0.9


@pytest.mark.parametrize(
    ("until", "walker_from"), [(5.0, 6.0), (math.inf, 5.0)], ids=["then_still", "throughout"]
)
async def test_sway_is_quiet_and_a_walker_is_found(
    tmp_path: Path, until: float, walker_from: float
) -> None:
    """A slow 0.5 Hz sway (6 px of the footage, 2 of the detection frame) shows nothing."""
    greys = await camera(tmp_path, clip(9, walking(walker_from), swaying(HOME, 6, until=until)))
    seen = watch(greys, AnalyserConfig())
    assert quiet(between(seen, 0, walker_from))
    assert share(between(seen, walker_from + 0.6), "motion") >= 0.9


@pytest.mark.parametrize("end", [AWAY, ZOOMED], ids=["pan", "zoom"])
async def test_pan_or_zoom_then_a_walker(tmp_path: Path, end: View) -> None:
    """A pan of 30 % of the width (or a 2x zoom) over 2 s, then still, then someone walks in.

    Quiet while it moves, the scene learned again within a second of the end, the walker
    found; tamper "moved" only for a camera that is not a PTZ one.
    """
    greys = await camera(tmp_path, clip(10.5, walking(6.5), moving(HOME, end, 2, 2)))
    for ptz in (False, True):
        seen = watch(greys, AnalyserConfig(detections=MOTION, ptz=ptz))
        assert all(item.moving for item in between(seen, 2.4, 3.6))
        assert not any(item.moving for item in between(seen, 5.0))
        before_walker = between(seen, 0, 6.5)
        assert all(item.found <= {"tamper:moved"} for item in before_walker)
        assert share(between(seen, 7.1), "motion") >= 0.9
        moved = any("tamper:moved" in item.found for item in seen)
        assert moved is not ptz


async def test_a_scene_that_changes_whole_is_a_move(tmp_path: Path) -> None:
    """A preset recalled at once (another part of a texture, a little brighter): a move that
    settles, never motion; tamper "moved" 3 s later only for a camera that is not a PTZ one."""
    world = texture()
    frames = clip(
        9, lambda t: world, lambda t: (640.0, 360.0, 640.0) if t < 3 else (900.0, 480.0, 640.0)
    )
    greys = await camera(tmp_path, frames)
    for ptz in (False, True):
        seen = watch(greys, AnalyserConfig(detections=MOTION, ptz=ptz))
        assert any(item.moving for item in between(seen, 3.0, 3.6))
        assert not any(item.moving for item in between(seen, 4.0))
        assert all(item.found <= {"tamper:moved"} for item in seen)
        moved = [item.time for item in seen if "tamper:moved" in item.found]
        assert bool(moved) is not ptz
        assert all(time >= 5.5 for time in moved)


async def test_commanded_move(tmp_path: Path) -> None:
    """note_move: nothing counts for the settle time, then the scene is learned again."""
    # The picture does not change, but someone walks in during the commanded move.
    greys = await camera(tmp_path, clip(8, walking(2.5), lambda t: HOME))
    noted: list[float] = []

    def command(analyser: Analyser, time: float) -> None:
        if time >= 2.0 and not noted:
            noted.append(time)
            analyser.note_move(2.0)

    seen = watch(greys, AnalyserConfig(), before=command)
    assert quiet(between(seen, 0, 4.0))
    assert all(item.moving for item in between(seen, 2.0, 4.0))
    assert not any(item.moving for item in between(seen, 4.6))
    assert share(between(seen, 5.0), "motion") >= 0.8


async def test_zones_and_lines_apply_at_the_home_position_only(tmp_path: Path) -> None:
    """A PTZ camera pans away and back: zones and lines count at home only."""
    path = moving(HOME, AWAY, 2, 2)
    back = moving(AWAY, HOME, 9, 2)
    frames = clip(14, walking(4.5), lambda t: path(t) if t < 9 else back(t))
    greys = await camera(tmp_path, frames)
    config = AnalyserConfig(
        detections=frozenset({"motion", "region_intrusion", "line_crossing"}),
        zones="everywhere: 0,0 1,0 1,1 0,1 @0.4",
        lines="middle: 0.5,0 0.5,1 both",
        ptz=True,
    )
    seen = watch(greys, config)
    assert all(item.at_home for item in between(seen, 1.2, 2.0))
    away = between(seen, 5.0, 9.0)
    assert not any(item.at_home for item in away)
    assert share(away, "motion") >= 0.9
    assert not any(item.found & {"region_intrusion", "line_crossing"} for item in away)
    home = between(seen, 12.0)
    assert all(item.at_home for item in home)
    assert any("region_intrusion" in item.found for item in home)

    # The caller may set another home: here, at the position panned to.
    def set_home(analyser: Analyser, time: float) -> None:
        if 5.0 <= time < 5.2:
            analyser.set_home_position()

    seen = watch(greys, config, before=set_home)
    assert any("region_intrusion" in item.found for item in between(seen, 5.2, 9.0))
    assert not any(item.at_home for item in between(seen, 12.0))


def test_a_move_that_never_rests_ends_after_5_s() -> None:
    """A camera panning on and on: learned again every 5 s, found moving again at once."""
    world, _ = footage()
    detector = MotionDetector(6, warmup_frames=1)
    states = []
    for index in range(60):  # 12 s at 5 fps, panning 2 px of the footage a frame after 1 s
        view = (HOME[0] - 160 + 2 * max(0, index - 5) * 1.6 * 2, HOME[1], HOME[2])
        result = detector.process(look(world, view, (320, 240)))
        states.append("S" if result.settled else "M" if result.moving else ".")
    # Moving, learned again (S) after 25 frames, moving again after the warm-up, and so on.
    assert re.fullmatch(r"\.{5,8}M{24,25}S\.{0,2}M{24,25}S", "".join(states))


def test_shift_and_zoom_estimates() -> None:
    """The block profiles find a shift to the pixel and a zoom to the percent."""
    world, _ = footage()
    levels = Levels()

    def small(view: View) -> np.ndarray:  # type: ignore[type-arg]
        return levels.stretch(bin2(look(world, view, (320, 240))))

    reference = Reference.of(Profiles.of(small(HOME)))
    for dx, dy in [(0, 0), (1, 0), (2, -1), (-4, 3)]:
        # One pixel of the binned frame is 2 of the 320-px frame, 3.2 of the 512-px window.
        view = (HOME[0] - dx * 3.2, HOME[1] - dy * 3.2, HOME[2])
        shift = estimate(Profiles.of(small(view)), reference)
        assert shift.offset == (dx, dy)
        assert abs(shift.zoom) < 0.01
    zoomed = estimate(Profiles.of(small((HOME[0], HOME[1], HOME[2] / 1.05))), reference)
    assert 0.03 < zoomed.zoom < 0.07
    assert zoomed.offset == (0, 0)
