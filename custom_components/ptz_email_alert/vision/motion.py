"""Motion on small grey frames: running-average background, contrast normalisation, blobs.

Learned from Frigate's detector (small frame, running average, contrast stretch, a whole-frame
change treated as a light change) and Motion's light-switch handling; written for numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .frames import GreyPixels

# Cell size of the coarse grid on which blobs are found (pixels of the detection frame).
CELL = 8


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """What a sensitivity level (1-10, 10 most sensitive) means in numbers."""

    level: int
    pixel_threshold: int  # grey-level change (0-255, after contrast stretch) that counts
    min_area: float  # smallest blob, as a fraction of the frame
    cell_fill: float  # share of changed pixels that makes a grid cell active

    @classmethod
    def of(cls, level: int) -> Sensitivity:
        """Level 10: 10 grey levels, blobs from 0.02 % of the frame; level 1: 46 and 1 %."""
        level = max(1, min(10, level))
        return cls(
            level=level,
            pixel_threshold=10 + (10 - level) * 4,
            min_area=0.0002 * 50 ** ((10 - level) / 9),
            cell_fill=0.05 + (10 - level) * 0.015,
        )


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

    @property
    def motion(self) -> bool:
        """True when there is at least one blob."""
        return bool(self.blobs)


class MotionDetector:
    """Stateful motion detector for one camera."""

    def __init__(
        self,
        sensitivity: int = 5,
        *,
        ignore_mask: NDArray[np.bool_] | None = None,
        learn_rate: float = 0.05,
        light_change_fraction: float = 0.45,
        warmup_frames: int = 5,
    ) -> None:
        """``ignore_mask``: True where motion does not count (trees, a road), frame-sized."""
        self.sensitivity = Sensitivity.of(sensitivity)
        self.ignore_mask = ignore_mask
        self.learn_rate = learn_rate
        self.light_change_fraction = light_change_fraction
        self.warmup_frames = warmup_frames
        self._background: NDArray[np.float32] | None = None
        self._raw_background: NDArray[np.float32] | None = None
        self._frames = 0

    def reset(self) -> None:
        """Forget the background (after the stream was lost, a PTZ move)."""
        self._background = None
        self._raw_background = None
        self._frames = 0

    def process(self, pixels: GreyPixels) -> MotionResult:
        """Compare a frame with the background, then learn it."""
        frame = _normalise(pixels)
        raw = pixels[::4, ::4].astype(np.float32)
        if self._background is None or self._background.shape != frame.shape:
            self._background = frame.copy()
            self._raw_background = raw
            self._frames = 1
            return MotionResult()
        assert self._raw_background is not None
        self._frames += 1
        # Lights on, a cloud, the IR switch: most of the picture changes at once, so even the
        # median pixel differs. Someone walking in leaves the median alone, however big.
        global_shift = float(np.median(np.abs(raw - self._raw_background)))
        self._raw_background += self.learn_rate * (raw - self._raw_background)
        if global_shift > 8:
            self._background = frame
            self._raw_background = raw
            return MotionResult(light_change=True)
        difference = np.abs(frame - self._background)
        changed_pixels = difference > self.sensitivity.pixel_threshold
        if self.ignore_mask is not None and self.ignore_mask.shape == changed_pixels.shape:
            changed_pixels &= ~self.ignore_mask
        changed = float(changed_pixels.mean())
        if changed > self.light_change_fraction:
            # Most of the picture changed: not motion; take it as the new background.
            self._background = frame
            self._raw_background = raw
            return MotionResult(changed=changed, light_change=True)
        # Learn slowly, and not where something moves (a person standing still stays visible).
        rate = np.where(changed_pixels, self.learn_rate / 10, self.learn_rate).astype(np.float32)
        self._background += rate * (frame - self._background)
        if self._frames <= self.warmup_frames:
            return MotionResult(changed=changed)
        return MotionResult(blobs=self._blobs(changed_pixels), changed=changed)

    def _blobs(self, changed_pixels: NDArray[np.bool_]) -> list[Blob]:
        height, width = changed_pixels.shape
        rows, columns = height // CELL, width // CELL
        cells = (
            changed_pixels[: rows * CELL, : columns * CELL]
            .reshape(rows, CELL, columns, CELL)
            .mean(axis=(1, 3))
        )
        active = cells >= self.sensitivity.cell_fill
        blobs = []
        for group in _connected(active):
            cell_rows = [r for r, _ in group]
            cell_columns = [c for _, c in group]
            top, bottom = min(cell_rows), max(cell_rows) + 1
            left, right = min(cell_columns), max(cell_columns) + 1
            area = float(
                changed_pixels[top * CELL : bottom * CELL, left * CELL : right * CELL].sum()
            )
            area /= height * width
            if area >= self.sensitivity.min_area:
                blobs.append(
                    Blob(
                        left * CELL, top * CELL, (right - left) * CELL, (bottom - top) * CELL, area
                    )
                )
        return sorted(blobs, key=lambda blob: blob.area, reverse=True)


def _normalise(pixels: GreyPixels) -> NDArray[np.float32]:
    """Blur a little (sensor noise), then stretch contrast to the 2nd-98th percentile."""
    frame = pixels.astype(np.float32)
    blurred = frame.copy()
    blurred[1:-1, 1:-1] = (
        frame[:-2, 1:-1] + frame[2:, 1:-1] + frame[1:-1, :-2] + frame[1:-1, 2:] + frame[1:-1, 1:-1]
    ) / 5
    low, high = np.percentile(blurred[::4, ::4], (2, 98))
    if high - low < 16:  # a flat picture (lens covered, night): do not amplify noise
        return blurred
    stretched: NDArray[np.float32] = np.clip((blurred - low) * (255.0 / (high - low)), 0, 255)
    return stretched


def _connected(active: NDArray[np.bool_]) -> list[list[tuple[int, int]]]:
    """8-connected groups of active cells (the grid is small: 40 x 30 cells)."""
    seen = np.zeros_like(active)
    groups = []
    rows, columns = active.shape
    for start in zip(*np.nonzero(active), strict=True):
        if seen[start]:
            continue
        group = []
        stack = [(int(start[0]), int(start[1]))]
        seen[start] = True
        while stack:
            row, column = stack.pop()
            group.append((row, column))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    r, c = row + dr, column + dc
                    if 0 <= r < rows and 0 <= c < columns and active[r, c] and not seen[r, c]:
                        seen[r, c] = True
                        stack.append((r, c))
        groups.append(group)
    return groups
