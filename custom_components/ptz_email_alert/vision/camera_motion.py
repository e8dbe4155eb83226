"""Whether the camera itself moves, and whether it looks where its zones were drawn.

A camera moves when the picture shifts by more than a pole's shake, zooms, or changes as a
whole; it has settled when a few frames in a row match each other. While it moves, nothing in
the picture is news; once it settles, the motion detector learns the scene there afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .stabilise import Profiles, Reference, Shift, estimate

# In pixels of the motion detector's binned frame (160 wide for a 320-px detection frame).
MOVE_SHIFT = 3.0  # a larger shift from the background is a pan or tilt, not a shake
MOVE_ZOOM = 0.03  # a scale change of 3 %
SCENE_MATCH = 0.3  # fewer blocks than this share match (on one axis): another scene
STILL_SHIFT = 0.6  # frame to frame, at rest (shake of a pole: well under a pixel here)
STILL_ZOOM = 0.01
STILL_MATCH = 0.6
SETTLE_FRAMES = 2  # frames in a row at rest that end a move
# A move that never comes to rest (a crowd in every block, a long patrol) ends anyway after
# this many frames (5 s at 5 fps): the scene is learned, and a camera still moving is found
# moving again from the next frames.
LONGEST_MOVE = 25
# A position matches the home one within this much shift or zoom, and this correlation.
HOME_SHIFT = 2.0
HOME_ZOOM = 0.02
HOME_MATCH = 0.6


def is_move(shift: Shift) -> bool:
    """A shift (against the background) larger than shake: a pan, tilt or zoom."""
    if not shift.textured:
        return False  # a flat picture tells nothing about where the camera looks
    return shift.largest > MOVE_SHIFT or abs(shift.zoom) > MOVE_ZOOM or shift.match < SCENE_MATCH


class MoveWatch:
    """Moving or steady; while moving, counts the frames at rest until it settles."""

    def __init__(self, settle_frames: int = SETTLE_FRAMES) -> None:
        """``settle_frames``: frames in a row that must match their predecessor."""
        self.settle_frames = settle_frames
        self.moving = False
        self._previous: Reference | None = None
        self._still = 0
        self._frames = 0

    def start(self, profiles: Profiles) -> None:
        """The camera started moving (measured, or the caller said so)."""
        self.moving = True
        self._previous = Reference.of(profiles)
        self._still = 0
        self._frames = 0

    def settled(self, profiles: Profiles, *, hold: bool = False) -> bool:
        """While moving: True once enough frames in a row match the one before.

        ``hold``: the caller knows the move is not over (a commanded move's settle time).
        """
        assert self._previous is not None
        step = estimate(profiles, self._previous)
        self._previous = Reference.of(profiles)
        at_rest = not step.textured or (
            step.largest < STILL_SHIFT and abs(step.zoom) < STILL_ZOOM and step.match > STILL_MATCH
        )
        self._still = self._still + 1 if at_rest and not hold else 0
        self._frames += 1
        if self._still < self.settle_frames and (hold or self._frames < LONGEST_MOVE):
            return False
        self.moving = False
        return True


@dataclass(slots=True)
class Position:
    """A camera position: its small grey picture (the binned detection frame, uint8).

    Two positions are the same when their pictures' row and column profiles match within
    ``HOME_SHIFT`` pixels of shift (1-2 % of the width) and zoom, and the pictures aligned by
    that shift correlate by at least ``HOME_MATCH``: a PTZ preset recalled twice lands within
    that, a neighbouring preset or another zoom step does not. Pictures without structure
    (fog, a dark night) cannot be told apart and count as the same.
    """

    picture: NDArray[np.uint8]

    def matches(self, picture: NDArray[np.uint8]) -> bool:
        """Whether ``picture`` shows this position."""
        if picture.shape != self.picture.shape:
            return False
        here = picture.astype(np.float32)
        home = self.picture.astype(np.float32)
        shift = estimate(Profiles.of(here), Reference.of(Profiles.of(home)))
        if not shift.textured:
            return True
        if shift.largest > HOME_SHIFT or abs(shift.zoom) > HOME_ZOOM:
            return False
        dx, dy = shift.offset
        height, width = here.shape
        a = here[max(0, dy) : height + min(0, dy), max(0, dx) : width + min(0, dx)]
        b = home[max(0, -dy) : height + min(0, -dy), max(0, -dx) : width + min(0, -dx)]
        a, b = a - a.mean(), b - b.mean()
        denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
        return denominator > 0 and float((a * b).sum()) / denominator >= HOME_MATCH


class HomeWatch:
    """Whether a PTZ camera looks where its zones, lines and areas to ignore were drawn.

    The home position is the first one the camera settles at after start (its background,
    once learned), unless the caller sets one (``request``: the current position, or a
    picture kept from before). Each time the camera settles again, the new position is
    compared with home (see :class:`Position`).
    """

    def __init__(self) -> None:
        """No home yet: the first learned position becomes it."""
        self.home: Position | None = None
        self.at_home = True
        self.version = 0  # counts new home positions, for the caller to keep the latest
        self._request: NDArray[np.uint8] | None = None
        self._here_requested = False

    def request(self, picture: NDArray[np.uint8] | None = None) -> None:
        """Make ``picture``, or the current position when None, the home position.

        ``picture``: a background as ``MotionDetector.background`` gives. Applied at the next
        check.
        """
        if picture is None:
            self._here_requested = True
        else:
            self._request = picture.copy()

    def check(self, background: NDArray[np.uint8] | None) -> bool:
        """Whether this background shows home (None: the position is not learned yet)."""
        if self._request is not None:
            self.home, self._request = Position(self._request), None
            self.version += 1
        if background is None:
            return self.at_home
        if self._here_requested or self.home is None or self.home.picture.shape != background.shape:
            # A kept picture of another frame size cannot be compared: here becomes home.
            self.home, self._here_requested = Position(background.copy()), False
            self.version += 1
        self.at_home = self.home.matches(background)
        return self.at_home
