"""Every detector of one camera, fed one small grey frame at a time (runs in an executor).

A fault in one detector never stops the others: that frame's result of that detector is
skipped, the detector is rebuilt (it learns the scene again), and after repeated faults it is
switched off. Each fault is reported once through ``problems`` for the caller to log and show.

While the camera itself moves (a pan, tilt or zoom, measured or commanded, or a scene that
changes as a whole) nothing is reported: no motion, line, zone or tamper. Tracks start again
after a move.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import logging
from types import ModuleType
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from .analytics import LineCrossingDetector, TamperDetector, TamperKind, Tracker, ZoneDetector
from .camera_motion import HomeWatch
from .frames import GreyFrame, JpegFrame
from .layout import parse_areas, parse_lines, parse_zones
from .motion import MotionDetector, MotionResult
from .person import Detection, OnnxDetector, PersonDetector

_LOGGER = logging.getLogger(__name__)

# Faults in a row after which a detector is switched off until the camera restarts.
MAX_FAULTS = 3
MIN_SIDE = 16  # pixels: a smaller frame is damaged, not a picture
OBJECT_CHECK_INTERVAL = 1.0  # seconds of stream time between object detector runs
MOVE_SETTLE = 3.0  # seconds a commanded move is given before the picture is watched again


class ObjectDetector(Protocol):
    """HOG people or an ONNX model: labelled boxes in a JPEG's regions."""

    def detect(
        self, jpeg: bytes, regions: list[tuple[float, float, float, float]]
    ) -> list[Detection]:
        """Objects found in ``regions`` (fractions of the picture)."""


@dataclass(frozen=True, slots=True)
class AnalyserConfig:
    """What one camera detects (plain values: no Home Assistant types)."""

    detections: frozenset[str] = frozenset({"motion"})
    sensitivity: int = 6
    zones: str = ""
    lines: str = ""
    ignore_areas: str = ""
    model_path: str | None = None
    ptz: bool = False  # the camera pans, tilts or zooms: see Analyser


@dataclass(frozen=True, slots=True)
class Finding:
    """A detection in one frame."""

    event_type: str
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """A detector that failed: ``disabled`` when it is off until the camera restarts."""

    detector: str
    error: str
    disabled: bool


@dataclass(slots=True)
class _Guard:
    faults: int = 0
    disabled: bool = False


def _object_detector(opencv: ModuleType, model: str | None) -> ObjectDetector:
    """The model's detector when there is a model, else HOG for people."""
    return OnnxDetector(opencv, model) if model else PersonDetector(opencv)


class Analyser:
    """Motion, tracks, lines, zones, tamper and objects of one camera.

    With ``ptz``, zones, lines and areas to ignore belong to one camera position, the home
    position: the first position the camera settles at after start, or the one the caller
    sets with :meth:`set_home_position`. They apply only while the camera looks there
    (:attr:`at_home_position`: the learned background matches the home picture within 2 px
    of shift in the 160-px binned frame, about 1 % of the width, and 2 % of zoom, see
    :class:`.camera_motion.Position`); elsewhere motion counts everywhere and no line or
    zone is watched, so that a preset tour does not draw the gate line across the sky. A
    scene that changes and then settles is a move, never tamper "moved": tamper learns each
    new position afresh. Without ``ptz`` there is one position, and tamper "moved" reports a
    camera that was turned away.
    """

    def __init__(self, config: AnalyserConfig, opencv: ModuleType | None = None) -> None:
        """Build the detectors the camera asks for (layouts are validated by the flow)."""
        self.config = config
        self.detections = config.detections
        self.ignore_areas = parse_areas(config.ignore_areas)
        self.lines = LineCrossingDetector(
            parse_lines(config.lines) if "line_crossing" in config.detections else []
        )
        self.zones = ZoneDetector(
            parse_zones(config.zones) if "region_intrusion" in config.detections else []
        )
        self.motion = self._new_motion()
        self.tracker = Tracker()
        self.tamper = TamperDetector() if "tamper" in config.detections else None
        self.objects: ObjectDetector | None = None
        self._make_objects: Callable[[], ObjectDetector] | None = None
        self.set_opencv(opencv)
        self._last_object_check = -1e9
        self._shape: tuple[int, ...] | None = None
        self._guards: dict[str, _Guard] = {}
        self.problems: list[Problem] = []
        self.reset_requested = False
        self._home = HomeWatch()
        self._position_known = False  # the position learned since the last move was checked
        self._move_requested: float | None = None  # settle seconds of a commanded move
        self._hold_until: float | None = None
        # What moved in the last frame (x, y, width, height as fractions): marks the pictures.
        self.last_boxes: list[tuple[float, float, float, float]] = []

    def set_opencv(self, opencv: ModuleType | None) -> None:
        """Enable object detection once OpenCV is there (it may be installed after start)."""
        if opencv is not None and self.detections & {"person", "vehicle"}:
            # Built on the next frame, in the executor: loading a model file is blocking I/O.
            self._make_objects = lambda: _object_detector(opencv, self.config.model_path)

    def _new_motion(self) -> MotionDetector:
        return MotionDetector(
            self.config.sensitivity,
            ignore_areas=[polygon for _, polygon in self.ignore_areas],
        )

    @property
    def moving(self) -> bool:
        """The camera is moving: measured from the picture, or a commanded move's settle time.

        Nothing is reported while it moves.
        """
        return self.motion.moving or self._hold_until is not None

    @property
    def at_home_position(self) -> bool:
        """Zones, lines and areas to ignore apply here (always without ``ptz``)."""
        return not self.config.ptz or (self._home.at_home and not self.moving)

    @property
    def home_reference(self) -> NDArray[np.uint8] | None:
        """The home position's picture (binned grey background), to keep across restarts."""
        home = self._home.home
        return None if home is None else home.picture.copy()

    @property
    def home_version(self) -> int:
        """Grows each time the home position is set (learned, restored or requested)."""
        return self._home.version

    def set_home_position(self, reference: NDArray[np.uint8] | None = None) -> None:
        """Make the current position (None) or a kept ``home_reference`` the home position.

        Applied from the next frame (safe to call from another thread).
        """
        self._home.request(reference)
        self._position_known = False

    def note_move(self, settle: float = MOVE_SETTLE) -> None:
        """A move was commanded (a PTZ preset, a patrol step).

        From the next frame, nothing is reported for ``settle`` seconds of stream time and
        until the picture is at rest; then the scene is learned there. Safe to call from
        another thread.
        """
        self._move_requested = settle

    def reset(self) -> None:
        """Learn the scene again (a new stream, a new picture size)."""
        self.motion.reset()
        self._after_move()
        if self.tamper is not None:
            self.tamper = TamperDetector()

    def release(self) -> None:
        """A stopped camera's: forget the scene and drop the model, now.

        Callback cycles keep a stopped camera's objects until a rare full garbage collection;
        what they learned (backgrounds, a DNN model of tens of MB) must not wait for it.
        """
        self.reset()
        self.objects = None
        self._make_objects = None
        self._home = HomeWatch()

    def _after_move(self) -> None:
        """Track ids start again: what lines and zones remember of old ids must go too."""
        self.tracker = Tracker()
        self.lines.reset()
        self.zones.reset()
        self.last_boxes = []
        self._position_known = False

    def analyse(self, frame: GreyFrame, latest_jpeg: JpegFrame | None) -> list[Finding]:
        """Detections in ``frame`` (CPU: executor only; never raises)."""
        if min(frame.pixels.shape) < MIN_SIDE:
            return []  # a frame cut short: nothing to learn from it
        if self.reset_requested or frame.pixels.shape != self._shape:
            # Applied here, in the analysing thread, never while a frame is half analysed.
            if self._shape is not None and not self.reset_requested:
                _LOGGER.info(
                    "Picture size changed from %s to %s: learning the scene again",
                    self._shape,
                    frame.pixels.shape,
                )
            self.reset_requested = False
            self._shape = frame.pixels.shape
            self.reset()
        if self._move_requested is not None:
            settle, self._move_requested = self._move_requested, None
            self._hold_until = max(self._hold_until or frame.time, frame.time + settle)
        if self._hold_until is not None and frame.time >= self._hold_until:
            self._hold_until = None
        was_moving = self.motion.moving
        result = self._guarded(
            "motion", self.motion.process, frame.pixels, hold=self._hold_until is not None
        )
        self.last_boxes = []
        if self.motion.moving:
            if not was_moving:
                self._after_move()
            return []
        if result is not None and result.settled:
            self._after_move()
            if self.config.ptz and self.tamper is not None:
                self.tamper = TamperDetector()  # a new position: its own picture and detail
        self._check_position()
        findings: list[Finding] = []
        if self.tamper is not None:
            kind = self._guarded("tamper", self.tamper.update, frame.pixels, frame.time)
            if kind is not None and not (self.config.ptz and kind is TamperKind.MOVED):
                findings.append(Finding("tamper", self.tamper.active))
        if result is None or not result.motion:
            return findings
        height, width = frame.pixels.shape
        self.last_boxes = [
            (b.x / width, b.y / height, b.width / width, b.height / height) for b in result.blobs
        ]
        if "motion" in self.detections:
            findings.append(Finding("motion"))
        if self.at_home_position:
            findings += self._guarded("tracks", self._tracks, frame, result) or []
        findings += self._guarded("objects", self._objects, frame, result, latest_jpeg) or []
        return findings

    def _check_position(self) -> None:
        """Once a position is learned (PTZ): is it home? Areas to ignore follow the answer."""
        if not self.config.ptz or self._position_known or not self.motion.learned:
            return
        self._position_known = True
        at_home = self._home.check(self.motion.background)
        self.motion.use_ignore_areas = at_home
        _LOGGER.debug("Camera settled %s its home position", "at" if at_home else "away from")

    def _tracks(self, frame: GreyFrame, result: MotionResult) -> list[Finding]:
        height, width = frame.pixels.shape
        tracks = self.tracker.update(result.blobs[:5], (width, height), frame.time)
        live = set(self.tracker.tracks)
        found = [Finding("line_crossing", c.line) for c in self.lines.update(tracks)]
        found += [Finding("region_intrusion", z) for z, _ in self.zones.update(tracks, frame.time)]
        self.lines.forget_except(live)
        self.zones.forget_except(live)
        return found

    def _objects(
        self, frame: GreyFrame, result: MotionResult, latest_jpeg: JpegFrame | None
    ) -> list[Finding]:
        if self._make_objects is not None:
            make, self._make_objects = self._make_objects, None
            self.objects = make()
        # Object detection is the expensive part: only on motion, at most once a second.
        if (
            self.objects is None
            or latest_jpeg is None
            or frame.time - self._last_object_check < OBJECT_CHECK_INTERVAL
        ):
            return []
        self._last_object_check = frame.time
        height, width = frame.pixels.shape
        regions = [
            (b.x / width, b.y / height, b.width / width, b.height / height) for b in result.blobs
        ]
        labels = {found.label for found in self.objects.detect(latest_jpeg.data, regions)}
        return [Finding(label) for label in sorted(labels & self.detections)]

    def _guarded[**P, R](
        self, name: str, step: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R | None:
        """Run one detector; on a fault, skip its result, rebuild it, and after repeats stop it."""
        guard = self._guards.setdefault(name, _Guard())
        if guard.disabled:
            return None
        try:
            value = step(*args, **kwargs)
        except Exception as err:
            guard.faults += 1
            # A model that does not load is not tried again on every frame.
            guard.disabled = guard.faults >= MAX_FAULTS or (
                name == "objects" and self.objects is None
            )
            self.problems.append(Problem(name, f"{type(err).__name__}: {err}", guard.disabled))
            self._rebuild(name)
            return None
        guard.faults = 0
        return value

    def _rebuild(self, name: str) -> None:
        if name == "tamper" and self.tamper is not None:
            self.tamper = TamperDetector()
        elif name == "motion":
            self.motion = self._new_motion()
            self._position_known = False
        elif name == "tracks":
            self.tracker = Tracker()
            self.lines.reset()
            self.zones.reset()
        self._last_object_check = -1e9

    def take_problems(self) -> list[Problem]:
        """Faults since the last call (the caller logs them and raises a repair)."""
        problems, self.problems = self.problems, []
        return problems
