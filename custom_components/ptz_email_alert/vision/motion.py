"""Motion on small grey frames: running-average background, contrast normalisation, blobs.

Learned from Frigate's detector (small frame, running average, contrast stretch, a whole-frame
change treated as a light change) and Motion's light-switch handling; written for numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .camera_motion import MoveWatch, is_move
from .frames import GreyPixels
from .geometry import polygon_mask
from .pixels import Levels, bin2, connected, envelope, paired
from .sensitivity import Sensitivity
from .stabilise import STILL, Profiles, Reference, estimate, unmoved

# Cell size of the coarse grid on which blobs are found (pixels of the detection frame).
CELL = 8
CELL_BINNED = CELL // 2  # the same in pixels of the 2x2-binned frame
# Blobs smaller than this many times the smallest must stand out more (see _blobs).
CONFIRM_AREA = 3
STAND_OUT = 2  # times the threshold, beyond the envelope
# The background changes slowly: its envelope and profiles are worked out every few frames.
ENVELOPE_EVERY = 8
REFERENCE_EVERY = 8
# Share of blocks matching unmoved above which the camera has not moved (people in the
# picture leave 0.6-0.9; a shift of a pixel or a zoom of 2 % leaves less than 0.6).
UNMOVED = 0.6


@dataclass(frozen=True, slots=True)
class Blob:
    """A moving region, in detection-frame pixels."""

    x: int
    y: int
    width: int
    height: int
    area: float  # fraction of the frame

    @property
    def centre(self) -> tuple[float, float]:
        """Centre of the box."""
        return self.x + self.width / 2, self.y + self.height / 2

    @property
    def foot(self) -> tuple[float, float]:
        """Bottom centre: where a person or vehicle stands."""
        return self.x + self.width / 2, float(self.y + self.height)


@dataclass(slots=True)
class MotionResult:
    """What one frame showed."""

    blobs: list[Blob] = field(default_factory=list)
    changed: float = 0.0  # fraction of pixels that changed
    light_change: bool = False
    moving: bool = False  # the camera is moving: nothing in the picture counts
    settled: bool = False  # a move just ended: the background was learned here afresh

    @property
    def motion(self) -> bool:
        """True when there is at least one blob."""
        return bool(self.blobs)


class MotionDetector:
    """Stateful motion detector for one camera.

    Works on the detection frame binned 2x2 (160 px wide from 320): the binning is the noise
    blur, and every step after it is a handful of vectorised passes over 19 200 pixels, so that
    motion costs a small fraction of what ffmpeg spends decoding the same frame.

    Stabilised (the default): each frame is compared with the background moved by the
    frame's global shift (see :mod:`.stabilise`), and a pixel counts as changed only when it
    differs from every background pixel within one pixel of it (2 px of the detection frame),
    so that edges wobbling on a shaking pole are not motion. A larger shift, a zoom or a
    different scene is the camera moving (see :mod:`.camera_motion`): no motion until it
    settles, then the background is learned again there.
    """

    def __init__(
        self,
        sensitivity: int = 5,
        *,
        ignore_areas: Sequence[Sequence[tuple[float, float]]] = (),
        learn_rate: float = 0.05,
        light_change_fraction: float = 0.45,
        warmup_frames: int = 5,
        settle_warmup: int = 2,
        stabilise: bool = True,
    ) -> None:
        """``ignore_areas``: polygons (fractions of the frame) where motion does not count.

        ``settle_warmup``: frames after a move settles before motion counts again.
        ``stabilise``: off, frames are compared pixel by pixel (shake is motion; for
        comparison only).
        """
        self.sensitivity = Sensitivity.of(sensitivity)
        self.ignore_areas = [tuple(polygon) for polygon in ignore_areas]
        self.use_ignore_areas = True
        self.learn_rate = learn_rate
        self.light_change_fraction = light_change_fraction
        self.warmup_frames = warmup_frames
        self.settle_warmup = settle_warmup
        self.stabilise = stabilise
        self._background: NDArray[np.float32] | None = None
        self._raw_background: NDArray[np.float32] | None = None
        self._reference: Reference | None = None
        self._reference_frame = 0
        self._envelope: tuple[NDArray[np.float32], NDArray[np.float32]] | None = None
        self._counted: NDArray[np.bool_] | None = None  # binned ~ignore_mask
        # The frame last compared (stabilised), and the background's offset then
        self._seen: tuple[NDArray[np.float32], tuple[int, int]] | None = None
        self._frames = 0
        self._watch = MoveWatch()
        # float32 scalars: a Python float would turn the per-pixel rates into float64.
        self._rate = np.float32(learn_rate)
        self._levels = Levels()

    @property
    def moving(self) -> bool:
        """The camera is moving (as of the last frame)."""
        return self._watch.moving

    @property
    def learned(self) -> bool:
        """A background is learned and warmed up at the current position."""
        return self._frames > self.warmup_frames and not self._watch.moving

    @property
    def background(self) -> NDArray[np.uint8] | None:
        """The background (binned, contrast-stretched grey levels), or None."""
        if self._background is None:
            return None
        return self._background.astype(np.uint8)

    def reset(self) -> None:
        """Forget the background (after the stream was lost, a PTZ move)."""
        self._background = None
        self._raw_background = None
        self._reference = None
        self._envelope = None
        self._seen = None
        self._frames = 0
        self._watch = MoveWatch()

    def process(self, pixels: GreyPixels, *, hold: bool = False) -> MotionResult:
        """Compare a frame with the background, then learn it.

        ``hold``: the caller knows the camera is moving (a commanded move): no motion, and the
        move is not over before ``hold`` is False again and the picture has come to rest.
        """
        sums = bin2(pixels)  # 2x2 sums, 0-1020
        frame = self._levels.stretch(sums)
        # Every other binned pixel, unstretched: the light-change test must see raw levels.
        raw = sums[::2, ::2].astype(np.float32)
        if self._background is None or self._background.shape != frame.shape:
            self._counted = self._counted_pixels(frame.shape)
            self._learn(frame, raw)
            self._frames = 1
            return MotionResult()
        if self._watch.moving:
            if not self._watch.settled(Profiles.of(frame), hold=hold):
                return MotionResult(moving=True)
            self._learn(frame, raw)
            self._frames = max(1, self.warmup_frames - self.settle_warmup + 1)
            return MotionResult(settled=True)
        if hold and self.stabilise:
            self._start_move(Profiles.of(frame))
            return MotionResult(moving=True)
        assert self._raw_background is not None
        self._frames += 1
        # Lights on, a cloud, the IR switch: most of the picture changes at once, the same
        # way, so that even the median pixel is more than 8 grey levels (32 in 2x2 sums)
        # brighter, or darker. Someone walking in leaves the median alone, however big, and
        # a shaking picture of fine texture changes as many pixels one way as the other.
        raw_difference = raw - self._raw_background
        half = raw_difference.size // 2
        global_change = (
            np.count_nonzero(raw_difference > 32) > half
            or np.count_nonzero(raw_difference < -32) > half
        )
        self._raw_background += self.learn_rate * (raw - self._raw_background)
        if global_change:
            return self._whole_change(raw, frame, 1.0)
        offset = (0, 0)
        changed_pixels, changed, blobs = self._look(frame, offset)
        if self.stabilise and (blobs or changed > self.light_change_fraction):
            # Before anything counts as motion: did the camera itself move? Most blocks of
            # the picture matching the background where they are says no, for a fifth of
            # the cost of measuring how far it moved.
            profiles = Profiles.of(frame)
            reference = self._current_reference()
            moved = unmoved(profiles, reference) < UNMOVED
            shift = estimate(profiles, reference) if moved else STILL
            if is_move(shift):
                self._start_move(profiles)
                return MotionResult(changed=changed, moving=True)
            if shift.offset != offset:
                offset = shift.offset
                changed_pixels, changed, blobs = self._look(frame, offset)
        if changed > self.light_change_fraction:
            return self._whole_change(raw, frame, changed)
        self._absorb(frame, offset, changed_pixels)
        return MotionResult(blobs=blobs, changed=changed)

    def _look(
        self, frame: NDArray[np.float32], offset: tuple[int, int]
    ) -> tuple[NDArray[np.bool_], float, list[Blob]]:
        """Changed pixels, their share and the blobs they make (none while warming up)."""
        changed_pixels = self._changes(frame, offset)
        changed = np.count_nonzero(changed_pixels) / changed_pixels.size
        if (
            self._frames <= self.warmup_frames
            or changed < self.sensitivity.min_area  # too few changed pixels for any blob
            or changed > self.light_change_fraction
        ):
            return changed_pixels, changed, []
        return (
            changed_pixels,
            changed,
            self._blobs(self._cells(changed_pixels), changed_pixels.size),
        )

    def _learn(self, frame: NDArray[np.float32], raw: NDArray[np.float32]) -> None:
        """Take ``frame`` as the whole background."""
        self._background = frame
        self._raw_background = raw
        self._reference = None
        self._envelope = None

    def _start_move(self, profiles: Profiles) -> None:
        self._watch.start(profiles)

    def _whole_change(
        self,
        raw: NDArray[np.float32],
        frame: NDArray[np.float32],
        changed: float,
    ) -> MotionResult:
        """Most of the picture changed: a light change, or (another scene) the camera moved.

        Light leaves the picture's structure where it was (the profiles are indifferent to
        brightness and contrast); a camera that turned, or a preset recalled, does not.
        """
        if self.stabilise:
            profiles = Profiles.of(frame)
            if unmoved(profiles, self._current_reference()) < UNMOVED:
                self._start_move(profiles)
                return MotionResult(changed=changed, moving=True)
        self._learn(frame, raw)
        return MotionResult(changed=changed, light_change=True)

    def _current_reference(self) -> Reference:
        """The background's profiles, worked out again when they are a few frames old."""
        assert self._background is not None
        if self._reference is None or self._frames - self._reference_frame >= REFERENCE_EVERY:
            self._reference = Reference.of(Profiles.of(self._background))
            self._reference_frame = self._frames
        return self._reference

    @staticmethod
    def _windows(
        shape: tuple[int, ...], offset: tuple[int, int]
    ) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
        """Where the frame and the background (moved by ``offset``) overlap: (frame, background)."""
        dx, dy = offset
        height, width = shape
        return (
            (slice(max(0, dy), height + min(0, dy)), slice(max(0, dx), width + min(0, dx))),
            (slice(max(0, -dy), height + min(0, -dy)), slice(max(0, -dx), width + min(0, -dx))),
        )

    def _changes(self, frame: NDArray[np.float32], offset: tuple[int, int]) -> NDArray[np.bool_]:
        """Changed pixels of ``frame`` against the background moved by ``offset``."""
        background = self._background
        assert background is not None
        changed_pixels: NDArray[np.bool_]
        if not self.stabilise:
            changed_pixels = np.abs(frame - background) > self.sensitivity.pixel_threshold
        else:
            if self._envelope is None or self._frames % ENVELOPE_EVERY == 0:
                self._envelope = envelope(background, self.sensitivity.pixel_threshold)
            lower, upper = self._envelope
            if offset == (0, 0):
                changed_pixels = frame > upper
                changed_pixels |= frame < lower
            else:
                here, there = self._windows(frame.shape, offset)
                changed_pixels = np.zeros(frame.shape, dtype=bool)
                seen = frame[here]
                changed_pixels[here] = (seen > upper[there]) | (seen < lower[there])
            self._seen = frame, offset
        if self._counted is not None and self.use_ignore_areas:
            changed_pixels &= self._counted
        return changed_pixels

    def _absorb(
        self, frame: NDArray[np.float32], offset: tuple[int, int], changed: NDArray[np.bool_]
    ) -> None:
        """Learn ``frame`` into the background.

        Ten times slower where something moves: a person standing still stays visible.
        """
        background = self._background
        assert background is not None
        here, there = self._windows(frame.shape, offset)
        delta = frame[here] - background[there]
        delta *= self._rate
        delta[changed[here]] *= np.float32(0.1)
        background[there] += delta

    def _counted_pixels(self, shape: tuple[int, ...]) -> NDArray[np.bool_] | None:
        """Where motion counts, at the binned frame's size; None: everywhere."""
        if not self.ignore_areas:
            return None
        height, width = shape
        counted: NDArray[np.bool_] = ~polygon_mask(self.ignore_areas, width, height)
        return counted

    def _stands_out(self, top: int, left: int, bottom: int, right: int) -> bool:
        """Whether a pixel in the box is beyond the envelope by STAND_OUT x the threshold."""
        if self._seen is None or self._envelope is None:
            return True
        frame, (dx, dy) = self._seen
        lower, upper = self._envelope
        height, width = frame.shape
        # The box in the frame, and where it lies in the (moved) background.
        top, bottom = max(top, dy, 0), min(bottom, height + min(0, dy))
        left, right = max(left, dx, 0), min(right, width + min(0, dx))
        if top >= bottom or left >= right:
            return False
        seen = frame[top:bottom, left:right]
        there = (slice(top - dy, bottom - dy), slice(left - dx, right - dx))
        margin = STAND_OUT * self.sensitivity.pixel_threshold
        return bool((seen - upper[there]).max() >= margin or (lower[there] - seen).max() >= margin)

    def _cells(self, changed_pixels: NDArray[np.bool_]) -> NDArray[np.uint16]:
        """Changed pixels per grid cell (4x4 binned = 8x8 frame pixels).

        Stabilised, lone changed pixels do not count (see :func:`.pixels.paired`).
        """
        if self.stabilise:
            changed_pixels = paired(changed_pixels)
        return bin2(bin2(changed_pixels.view(np.uint8)))

    def _blobs(self, counts: NDArray[np.uint16], size: int) -> list[Blob]:
        """Blobs of active grid cells (``counts``: changed pixels per cell, of ``size``)."""
        active = counts >= self.sensitivity.cell_fill * CELL_BINNED * CELL_BINNED
        blobs = []
        for top, left, bottom, right in connected(active):
            area = float(counts[top:bottom, left:right].sum()) / size
            if area < self.sensitivity.min_area:
                continue
            # A small blob needs one pixel well beyond the background (by the threshold
            # again): compression noise on a shaking picture barely crosses the line, a
            # distant walker stands out.
            if area < CONFIRM_AREA * self.sensitivity.min_area and not self._stands_out(
                top * CELL_BINNED, left * CELL_BINNED, bottom * CELL_BINNED, right * CELL_BINNED
            ):
                continue
            blobs.append(
                Blob(left * CELL, top * CELL, (right - left) * CELL, (bottom - top) * CELL, area)
            )
        return sorted(blobs, key=lambda blob: blob.area, reverse=True)
