"""Person detection on real footage (tests/fixtures/pedestrians-4s.mp4), decoded by real ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.ptz_email_alert.vision.motion import MotionDetector
from custom_components.ptz_email_alert.vision.person import (
    OnnxDetector,
    PersonDetector,
    load_opencv,
)

from .onnx_model import INPUT, make_model
from .scenes import STILL_TEXTURE, decode, encode, scene

FIXTURE = Path(__file__).parent / "fixtures" / "pedestrians-4s.mp4"

cv2 = load_opencv()
pytestmark = pytest.mark.skipif(cv2 is None, reason="OpenCV is not installed")


async def test_people_are_found_in_real_footage() -> None:
    assert cv2 is not None
    _, jpegs = await decode(FIXTURE, snapshot_size="original", snapshot_fps=1.0)
    assert len(jpegs) >= 3
    detector = PersonDetector(cv2)
    counts = [len(detector.detect(jpeg.data)) for jpeg in jpegs]
    # The clip shows several people walking at all times.
    assert min(counts) >= 1
    assert sum(counts) >= 2 * len(counts)
    person = detector.detect(jpegs[0].data)[0]
    x, y, width, height = person.box
    assert person.label == "person"
    assert 0 <= x < 768 and 0 <= y < 576
    assert height > width  # upright


async def test_no_people_in_an_empty_scene(tmp_path: Path) -> None:
    assert cv2 is not None
    path = await encode(scene(2, lambda t: STILL_TEXTURE), tmp_path / "empty.mp4")
    _, jpegs = await decode(path, snapshot_size="original", snapshot_fps=1.0)
    detector = PersonDetector(cv2)
    assert [detector.detect(jpeg.data) for jpeg in jpegs] == [[] for _ in jpegs]
    assert detector.detect(b"not a jpeg") == []


def test_opencv_5_without_hog_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import types

    monkeypatch.setattr(importlib, "import_module", lambda name: types.ModuleType("cv2"))
    assert load_opencv() is None


async def test_onnx_model_finds_people_and_vehicles(tmp_path: Path) -> None:
    assert cv2 is not None
    model = make_model(
        tmp_path / "model.onnx",
        [
            (16, 32, 8, 24, 0, 0.9),  # a person
            (48, 48, 16, 10, 2, 0.8),  # a car
            (49, 48, 16, 10, 7, 0.7),  # the same car, also seen as a truck: suppressed
            (30, 30, 8, 8, 0, 0.2),  # too unsure
            (10, 10, 4, 4, 16, 0.9),  # a dog: not an alert
        ],
    )
    _, jpegs = await decode(FIXTURE, snapshot_size="original", snapshot_fps=1.0)
    detector = OnnxDetector(cv2, str(model), input_size=INPUT)
    found = detector.detect(jpegs[0].data)
    assert [(d.label, round(d.confidence, 1)) for d in found] == [("person", 0.9), ("vehicle", 0.8)]
    # Boxes come back in the picture's pixels (768x576 from a 64x64 input).
    assert found[0].box == (144, 180, 96, 216)
    assert detector.detect(b"not a jpeg") == []


async def test_people_found_in_motion_regions_only() -> None:
    """Where things moved: the crops around motion blobs still show the people."""
    assert cv2 is not None
    greys, jpegs = await decode(FIXTURE, snapshot_size="original", snapshot_fps=1.0)
    motion = MotionDetector(6)
    results = [motion.process(frame.pixels) for frame in greys]
    height, width = greys[-1].pixels.shape
    regions = [
        (b.x / width, b.y / height, b.width / width, b.height / height) for b in results[-1].blobs
    ]
    assert regions
    detector = PersonDetector(cv2)
    found = detector.detect(jpegs[-1].data, regions)
    assert found
    assert all(d.label == "person" for d in found)
    # Nowhere to look: nothing is found, and nothing is computed.
    assert detector.detect(jpegs[-1].data, []) == []
    assert detector.detect(jpegs[-1].data, [(0.5, 0.5, 0.001, 0.001)]) == []
