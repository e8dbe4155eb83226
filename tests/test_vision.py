"""Detectors on synthetic scenes decoded through real ffmpeg: each fires when it should and
stays quiet when it should not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from custom_components.ptz_email_alert.vision.analyser import Analyser, AnalyserConfig
from custom_components.ptz_email_alert.vision.analytics import (
    Direction,
    Line,
    LineCrossingDetector,
    TamperDetector,
    TamperKind,
    Tracker,
    Zone,
    ZoneDetector,
)
from custom_components.ptz_email_alert.vision.frames import GreyFrame
from custom_components.ptz_email_alert.vision.geometry import inside, polygon_mask
from custom_components.ptz_email_alert.vision.motion import MotionDetector

from .scenes import blur, decode, encode, scene, texture, view, with_box

BACKGROUND = texture()
STILL = view(BACKGROUND, 100, 80)


def walk(t: float, start: float = 0.1, speed: float = 0.12, y: float = 0.85) -> np.ndarray:
    """A person walking left to right from t = 1 s."""
    if t < 1:
        return STILL
    return with_box(STILL, start + speed * (t - 1), y)


async def frames_of(tmp_path: Path, seconds: float, frame_at) -> list[GreyFrame]:  # type: ignore[no-untyped-def]
    greys, jpegs = await decode(await encode(scene(seconds, frame_at), tmp_path / "scene.mp4"))
    assert len(greys) >= int(seconds * 5) - 2  # 5 fps detection from a 10 fps file
    assert greys[0].pixels.shape == (180, 320)
    assert jpegs
    assert jpegs[0].data.startswith(b"\xff\xd8")
    return greys


def motion_frames(greys: list[GreyFrame], sensitivity: int = 5) -> list[bool]:
    detector = MotionDetector(sensitivity)
    return [detector.process(frame.pixels).motion for frame in greys]


async def test_moving_person_is_motion(tmp_path: Path) -> None:
    greys = await frames_of(tmp_path, 6, walk)
    moving = motion_frames(greys)
    assert not any(moving[:5])  # still scene
    assert sum(moving[7:]) >= 0.8 * len(moving[7:])


@pytest.mark.parametrize(
    "frame_at",
    [
        # lights on: the whole picture 60 grey levels brighter from 2 s
        lambda t: STILL if t < 2 else np.clip(STILL.astype(int) + 60, 0, 255).astype(np.uint8),
        # sensor noise on a still scene
        lambda t: np.clip(
            STILL + np.random.default_rng(int(t * 10)).normal(0, 4, STILL.shape), 0, 255
        ).astype(np.uint8),
    ],
    ids=["light_step", "sensor_noise"],
)
async def test_no_motion_without_movement(tmp_path: Path, frame_at) -> None:  # type: ignore[no-untyped-def]
    greys = await frames_of(tmp_path, 5, frame_at)
    assert not any(motion_frames(greys, sensitivity=8))


async def test_sensitivity_and_areas_to_ignore(tmp_path: Path) -> None:
    greys = await frames_of(tmp_path, 6, walk)
    # An area over the bottom two thirds, where the person walks: nothing counts.
    road = ((0.0, 0.34), (1.0, 0.34), (1.0, 1.0), (0.0, 1.0))
    detector = MotionDetector(7, ignore_areas=[road])
    assert not any(detector.process(frame.pixels).motion for frame in greys)
    # The same through the camera's settings, as the user types them.
    analyser = Analyser(AnalyserConfig(sensitivity=7, ignore_areas="road: 0,0.34 1,0.34 1,1 0,1"))
    assert not any(analyser.analyse(frame, None) for frame in greys)
    # An area elsewhere changes nothing.
    sky = ((0.0, 0.0), (1.0, 0.0), (1.0, 0.2), (0.0, 0.2))
    elsewhere = MotionDetector(7, ignore_areas=[sky])
    assert sum(elsewhere.process(frame.pixels).motion for frame in greys) == sum(
        motion_frames(greys, 7)
    )
    assert sum(motion_frames(greys, 10)) >= sum(motion_frames(greys, 1))


def test_polygon_mask_agrees_with_point_test() -> None:
    triangle = ((0.1, 0.1), (0.9, 0.2), (0.4, 0.9))
    mask = polygon_mask([triangle], 40, 30)
    for row in range(30):
        for column in range(40):
            centre = ((column + 0.5) / 40, (row + 0.5) / 30)
            assert mask[row, column] == inside(triangle, centre)
    assert 0.2 < mask.mean() < 0.4


def _tracks(greys: list[GreyFrame]):  # type: ignore[no-untyped-def]
    detector, tracker = MotionDetector(6), Tracker()
    for frame in greys:
        result = detector.process(frame.pixels)
        height, width = frame.pixels.shape
        yield frame.time, tracker.update(result.blobs[:3], (width, height), frame.time)


async def test_line_crossing_direction(tmp_path: Path) -> None:
    greys = await frames_of(tmp_path, 7, walk)
    # A vertical line, drawn top to bottom: walking left to right goes from B to A.
    down = Line("gate", (0.5, 0.3), (0.5, 1.0), Direction.B_TO_A)
    wrong_way = Line("exit", (0.5, 0.3), (0.5, 1.0), Direction.A_TO_B)
    elsewhere = Line("fence", (0.05, 0.1), (0.05, 0.5), Direction.BOTH)
    lines = LineCrossingDetector([down, wrong_way, elsewhere])
    crossings = [c for _, tracks in _tracks(greys) for c in lines.update(tracks)]
    assert [(c.line, c.direction) for c in crossings] == [("gate", Direction.B_TO_A)]


async def test_region_intrusion_needs_dwell_time(tmp_path: Path) -> None:
    def enter_and_stay(t: float) -> np.ndarray:
        if t < 1:
            return STILL
        return with_box(STILL, min(0.75, 0.3 + 0.15 * (t - 1)), 0.85)

    greys = await frames_of(tmp_path, 8, enter_and_stay)
    yard = Zone("yard", ((0.6, 0.5), (1.0, 0.5), (1.0, 1.0), (0.6, 1.0)), min_time=1.5)
    road = Zone("road", ((0.0, 0.0), (0.3, 0.0), (0.3, 0.3), (0.0, 0.3)), min_time=0.5)
    zones = ZoneDetector([yard, road])
    hits = [(t, zone) for t, tracks in _tracks(greys) for zone, _ in zones.update(tracks, t)]
    assert [zone for _, zone in hits] == ["yard"]
    entered = 1 + (0.6 - 0.3) / 0.15  # the foot crosses into the zone at 3 s
    assert entered + 1.5 <= hits[0][0] <= entered + 2.5


@pytest.mark.parametrize(
    ("frame_at", "kind"),
    [
        (lambda t: STILL if t < 3 else np.full_like(STILL, 4), TamperKind.COVERED),
        (lambda t: STILL if t < 3 else np.full_like(STILL, 128), TamperKind.COVERED),
        (lambda t: STILL if t < 3 else blur(STILL, 8), TamperKind.DEFOCUSED),
        (lambda t: STILL if t < 3 else view(BACKGROUND, 500, 300), TamperKind.MOVED),
    ],
    ids=["dark", "uniform", "defocused", "moved"],
)
async def test_tamper(tmp_path: Path, frame_at, kind: TamperKind) -> None:  # type: ignore[no-untyped-def]
    greys = await frames_of(tmp_path, 9, frame_at)
    detector = TamperDetector(persist=2.0)
    found = [(frame.time, detector.update(frame.pixels, frame.time)) for frame in greys]
    fired = [(t, k) for t, k in found if k is not None]
    assert fired, "tamper not detected"
    first_time, first_kind = fired[0]
    assert first_kind is kind
    assert 5.0 <= first_time <= 6.5  # started at 3 s, must last 2 s


async def test_no_tamper_for_a_person_or_light(tmp_path: Path) -> None:
    def busy(t: float) -> np.ndarray:
        frame = walk(t)
        return frame if t < 4 else np.clip(frame.astype(int) + 50, 0, 255).astype(np.uint8)

    greys = await frames_of(tmp_path, 8, busy)
    detector = TamperDetector(persist=2.0)
    assert [detector.update(f.pixels, f.time) for f in greys] == [None] * len(greys)
