"""Line crossing and region intrusion on tracked blobs, and tamper detection.

Tamper is the "camera sabotage" analytic of camera firmware: lens covered, defocused, moved.

Coordinates in configuration are fractions of the frame (0-1), so they survive a change of
stream resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
import math

import numpy as np
from numpy.typing import NDArray

from .frames import GreyPixels
from .geometry import Point, inside
from .motion import Blob


@dataclass(slots=True)
class Track:
    """One moving thing followed over frames."""

    track_id: int
    points: list[Point]  # foot points, normalised
    first_seen: float
    last_seen: float


class Tracker:
    """Nearest-neighbour tracking of blob foot points: enough for crossings and dwell times."""

    def __init__(self, max_jump: float = 0.15, max_gap: float = 1.5) -> None:
        """``max_jump``: largest move between frames (fraction of the frame)."""
        self.max_jump = max_jump
        self.max_gap = max_gap
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, blobs: Sequence[Blob], size: tuple[int, int], time: float) -> list[Track]:
        """Assign blobs to tracks; returns the tracks seen in this frame."""
        width, height = size
        points = [(blob.foot[0] / width, blob.foot[1] / height) for blob in blobs]
        free = dict(self.tracks)
        seen: list[Track] = []
        for point in points:
            best = min(
                free.values(),
                key=lambda track: math.dist(track.points[-1], point),
                default=None,
            )
            if best is not None and math.dist(best.points[-1], point) <= self.max_jump:
                del free[best.track_id]
                best.points.append(point)
                best.points[:] = best.points[-20:]
                best.last_seen = time
                seen.append(best)
            else:
                track = Track(self._next_id, [point], time, time)
                self._next_id += 1
                self.tracks[track.track_id] = track
                seen.append(track)
        for track in list(self.tracks.values()):
            if time - track.last_seen > self.max_gap:
                del self.tracks[track.track_id]
        return seen


class Direction(StrEnum):
    """Which way across a line counts."""

    A_TO_B = "a_to_b"
    B_TO_A = "b_to_a"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class Line:
    """A directed tripwire from ``start`` to ``end``; side A is on the left of start→end."""

    name: str
    start: Point
    end: Point
    direction: Direction = Direction.BOTH


@dataclass(frozen=True, slots=True)
class Zone:
    """A polygon; something inside it for ``min_time`` seconds is an intrusion."""

    name: str
    polygon: tuple[Point, ...]
    min_time: float = 1.0


@dataclass(frozen=True, slots=True)
class Crossing:
    """A track crossed a line."""

    line: str
    direction: Direction
    track_id: int


def _side(line: Line, point: Point) -> float:
    (x1, y1), (x2, y2) = line.start, line.end
    return (x2 - x1) * (point[1] - y1) - (y2 - y1) * (point[0] - x1)


def _segments_cross(line: Line, p: Point, q: Point) -> bool:
    side_p, side_q = _side(line, p), _side(line, q)
    if side_p * side_q >= 0:
        return False
    # The move must also pass between the line's ends.
    helper = Line("", p, q)
    return _side(helper, line.start) * _side(helper, line.end) < 0


class LineCrossingDetector:
    """Reports a crossing once per track and line, in the configured direction."""

    def __init__(self, lines: Sequence[Line]) -> None:
        """Watch ``lines``."""
        self.lines = list(lines)
        self._reported: set[tuple[int, str]] = set()

    def reset(self) -> None:
        """Forget every track (the tracker starts its ids again)."""
        self._reported.clear()

    def forget_except(self, live: set[int]) -> None:
        """Forget tracks that ended, so that memory stays bounded."""
        self._reported = {key for key in self._reported if key[0] in live}

    def update(self, tracks: Sequence[Track]) -> list[Crossing]:
        """Crossings made by the last move of each track."""
        crossings = []
        for track in tracks:
            if len(track.points) < 2:
                continue
            before, after = track.points[-2], track.points[-1]
            for line in self.lines:
                if (track.track_id, line.name) in self._reported:
                    continue
                if not _segments_cross(line, before, after):
                    continue
                # Side A is where the cross product is negative (left of start→end in image
                # coordinates, where y grows downwards).
                direction = Direction.A_TO_B if _side(line, before) < 0 else Direction.B_TO_A
                if line.direction in (Direction.BOTH, direction):
                    self._reported.add((track.track_id, line.name))
                    crossings.append(Crossing(line.name, direction, track.track_id))
        return crossings


class ZoneDetector:
    """Reports a track that stays inside a zone for the zone's minimum time, once per visit."""

    def __init__(self, zones: Sequence[Zone]) -> None:
        """Watch ``zones``."""
        self.zones = list(zones)
        self._entered: dict[tuple[int, str], float] = {}
        self._reported: set[tuple[int, str]] = set()

    def reset(self) -> None:
        """Forget every track (the tracker starts its ids again)."""
        self._entered.clear()
        self._reported.clear()

    def forget_except(self, live: set[int]) -> None:
        """Forget tracks that ended, so that memory stays bounded."""
        self._entered = {key: t for key, t in self._entered.items() if key[0] in live}
        self._reported = {key for key in self._reported if key[0] in live}

    def update(self, tracks: Sequence[Track], time: float) -> list[tuple[str, int]]:
        """(zone, track) intrusions that became true in this frame."""
        found = []
        for track in tracks:
            for zone in self.zones:
                key = (track.track_id, zone.name)
                if not inside(zone.polygon, track.points[-1]):
                    self._entered.pop(key, None)
                    self._reported.discard(key)
                    continue
                entered = self._entered.setdefault(key, time)
                if time - entered >= zone.min_time and key not in self._reported:
                    self._reported.add(key)
                    found.append((zone.name, track.track_id))
        return found


class TamperKind(StrEnum):
    """How the camera was sabotaged."""

    COVERED = "covered"
    DEFOCUSED = "defocused"
    MOVED = "moved"


@dataclass(slots=True)
class TamperDetector:
    """Covered, defocused or moved, each reported only when it lasts.

    Covered: dark or uniform. Defocused: fine detail collapses against its long-term baseline.
    Moved: the structure differs from the long-term picture.
    """

    persist: float = 3.0
    learn_rate: float = 0.02
    # Sabotage lasts seconds: one look a second finds it as surely as five, at a fifth the cost.
    interval: float = 1.0
    _last_look: float | None = None
    _edge_baseline: float | None = None
    _reference: NDArray[np.float32] | None = None
    _since: dict[TamperKind, float] = field(default_factory=dict)
    active: TamperKind | None = None

    def update(self, pixels: GreyPixels, time: float) -> TamperKind | None:
        """Returns the tamper kind once it has lasted ``persist`` seconds (else None)."""
        if self._last_look is not None and time - self._last_look < self.interval:
            return self.active
        self._last_look = time
        frame = pixels.astype(np.float32)
        edges = _edge_map(frame)
        energy = _sharpness(frame)
        found: TamperKind | None = None
        if frame.mean() < 12 or frame.std() < 5:
            found = TamperKind.COVERED
        elif self._edge_baseline is not None and energy < 0.45 * self._edge_baseline:
            found = TamperKind.DEFOCUSED
        elif self._reference is not None and _similarity(edges, self._reference) < 0.35:
            found = TamperKind.MOVED
        if found is None:
            self._since.clear()
            self.active = None
            # Learn only from healthy pictures, so that a slow cover does not become normal.
            self._edge_baseline = (
                energy
                if self._edge_baseline is None
                else self._edge_baseline + self.learn_rate * (energy - self._edge_baseline)
            )
            self._reference = (
                edges
                if self._reference is None
                else (self._reference + self.learn_rate * (edges - self._reference)).astype(
                    np.float32
                )
            )
            return None
        for kind in list(self._since):
            if kind is not found:
                del self._since[kind]
        started = self._since.setdefault(found, time)
        if time - started >= self.persist:
            if self.active is not found and found is TamperKind.MOVED:
                # The camera stays where it was moved to: that is the new normal afterwards.
                self._reference = edges
            self.active = found
            return found
        return None


def _edge_map(frame: NDArray[np.float32]) -> NDArray[np.float32]:
    """Gradient magnitude (a cheap Sobel) on a half-size picture."""
    small = frame[::2, ::2]
    gx = np.abs(small[:, 2:] - small[:, :-2])[1:-1, :]
    gy = np.abs(small[2:, :] - small[:-2, :])[:, 1:-1]
    edges: NDArray[np.float32] = (gx + gy).astype(np.float32)
    return edges


def _sharpness(frame: NDArray[np.float32]) -> float:
    """Mean neighbour difference at full resolution: fine detail, the first thing blur takes."""
    return float(np.abs(np.diff(frame, axis=1)).mean() + np.abs(np.diff(frame, axis=0)).mean())


def _similarity(edges: NDArray[np.float32], reference: NDArray[np.float32]) -> float:
    """Normalised correlation of two edge maps (1 = the same scene)."""
    a = edges - edges.mean()
    b = reference - reference.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / denominator if denominator else 1.0
