"""Motion on small grey frames: running-average background, contrast normalisation, blobs.

Learned from Frigate's detector (small frame, running average, contrast stretch, a whole-frame
change treated as a light change) and Motion's light-switch handling; written for numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .frames import GreyPixels
from .geometry import polygon_mask

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
    """Stateful motion detector for one camera.

    Works on the detection frame binned 2x2 (160 px wide from 320): the binning is the noise
    blur, and every step after it is a handful of vectorised passes over 19 200 pixels, so that
    motion costs a small fraction of what ffmpeg spends decoding the same frame.
    """

    def __init__(
        self,
        sensitivity: int = 5,
        *,
        ignore_areas: Sequence[Sequence[tuple[float, float]]] = (),
        learn_rate: float = 0.05,
        light_change_fraction: float = 0.45,
        warmup_frames: int = 5,
    ) -> None:
        """``ignore_areas``: polygons (fractions of the frame) where motion does not count."""
        self.sensitivity = Sensitivity.of(sensitivity)
        self.ignore_areas = [tuple(polygon) for polygon in ignore_areas]
        self.learn_rate = learn_rate
        self.light_change_fraction = light_change_fraction
        self.warmup_frames = warmup_frames
        self._background: NDArray[np.float32] | None = None
        self._raw_background: NDArray[np.float32] | None = None
        self._counted: NDArray[np.bool_] | None = None  # binned ~ignore_mask
        self._frames = 0
        # float32 scalars: a Python float would turn the per-pixel rates into float64.
        self._rate = np.float32(learn_rate)
        self._slow_rate = np.float32(learn_rate / 10)
        self._levels = _Levels()

    def reset(self) -> None:
        """Forget the background (after the stream was lost, a PTZ move)."""
        self._background = None
        self._raw_background = None
        self._frames = 0

    def process(self, pixels: GreyPixels) -> MotionResult:
        """Compare a frame with the background, then learn it."""
        sums = _bin2(pixels)  # 2x2 sums, 0-1020
        frame = self._levels.stretch(sums)
        # Every other binned pixel, unstretched: the light-change test must see raw levels.
        raw = sums[::2, ::2].astype(np.float32)
        if self._background is None or self._background.shape != frame.shape:
            self._background = frame
            self._raw_background = raw
            self._counted = self._counted_pixels(frame.shape)
            self._frames = 1
            return MotionResult()
        assert self._raw_background is not None
        self._frames += 1
        # Lights on, a cloud, the IR switch: most of the picture changes at once, so even the
        # median pixel differs by more than 8 grey levels (32 in 2x2 sums). Someone walking in
        # leaves the median alone, however big.
        raw_difference = np.abs(raw - self._raw_background)
        global_shift = np.count_nonzero(raw_difference > 32) > raw_difference.size // 2
        self._raw_background += self.learn_rate * (raw - self._raw_background)
        if global_shift:
            self._background = frame
            self._raw_background = raw
            return MotionResult(light_change=True)
        delta = frame - self._background
        changed_pixels = np.abs(delta) > self.sensitivity.pixel_threshold
        if self._counted is not None:
            changed_pixels &= self._counted
        changed = np.count_nonzero(changed_pixels) / changed_pixels.size
        if changed > self.light_change_fraction:
            # Most of the picture changed: not motion; take it as the new background.
            self._background = frame
            self._raw_background = raw
            return MotionResult(changed=changed, light_change=True)
        # Learn slowly, and not where something moves (a person standing still stays visible).
        delta *= np.where(changed_pixels, self._slow_rate, self._rate)
        self._background += delta
        if self._frames <= self.warmup_frames or changed < self.sensitivity.min_area:
            return MotionResult(changed=changed)  # too few changed pixels for any blob
        return MotionResult(blobs=self._blobs(changed_pixels), changed=changed)

    def _counted_pixels(self, shape: tuple[int, ...]) -> NDArray[np.bool_] | None:
        """Where motion counts, at the binned frame's size; None: everywhere."""
        if not self.ignore_areas:
            return None
        height, width = shape
        counted: NDArray[np.bool_] = ~polygon_mask(self.ignore_areas, width, height)
        return counted

    def _blobs(self, changed_pixels: NDArray[np.bool_]) -> list[Blob]:
        height, width = changed_pixels.shape
        # Changed pixels per grid cell: two more 2x2 binnings make 4x4 binned = 8x8 frame pixels.
        counts = _bin2(_bin2(changed_pixels.view(np.uint8)))
        active = counts >= self.sensitivity.cell_fill * CELL_BINNED * CELL_BINNED
        blobs = []
        for top, left, bottom, right in _connected(active):
            area = float(counts[top:bottom, left:right].sum()) / (height * width)
            if area >= self.sensitivity.min_area:
                blobs.append(
                    Blob(
                        left * CELL,
                        top * CELL,
                        (right - left) * CELL,
                        (bottom - top) * CELL,
                        area,
                    )
                )
        return sorted(blobs, key=lambda blob: blob.area, reverse=True)


# Grid cell in binned pixels.
CELL_BINNED = CELL // 2


def _bin2(pixels: NDArray[np.uint8] | NDArray[np.uint16]) -> NDArray[np.uint16]:
    """Sums of 2x2 blocks (odd last row or column dropped): strided adds, no reductions."""
    height, width = pixels.shape[0] // 2 * 2, pixels.shape[1] // 2 * 2
    rows = pixels[0:height:2, :width].astype(np.uint16)
    rows += pixels[1:height:2, :width]
    summed: NDArray[np.uint16] = rows[:, 0::2] + rows[:, 1::2]
    return summed


class _Levels:
    """Grey levels (0-255) of 2x2 sums, stretched so that the 2nd-98th percentile fills the range.

    One lookup table over the 1021 possible sums does the division and the stretch; the
    percentiles come from a histogram of a quarter of the pixels. The table is kept while the
    percentiles stay put, which they do from one frame to the next.
    """

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._table = np.arange(1021, dtype=np.float32) / 4

    def stretch(self, sums: NDArray[np.uint16]) -> NDArray[np.float32]:
        cumulative = np.cumsum(np.bincount(sums[::2, ::2].ravel(), minlength=1021))
        total = int(cumulative[-1])
        low, high = (int(i) for i in np.searchsorted(cumulative, (0.02 * total, 0.98 * total)))
        if high - low < 64:  # a flat picture (lens covered, night): do not amplify noise
            low, high = 0, 1020
        # Whole grey levels are plenty, and then the table seldom changes between frames.
        low, high = low // 4 * 4, -(-high // 4) * 4
        if self._key != (low, high):
            self._key = (low, high)
            levels = np.arange(1021, dtype=np.float32)
            self._table = np.clip((levels - low) * np.float32(255 / (high - low)), 0, 255)
        stretched: NDArray[np.float32] = np.take(self._table, sums)
        return stretched


def _connected(active: NDArray[np.bool_]) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (top, left, bottom, right; cells) of 8-connected groups of active cells.

    Works on runs of active cells along each row (a handful per row) rather than on cells: runs
    on neighbouring rows that touch, diagonals included, join one group (union-find).
    """
    rows, columns = active.shape
    padded = np.zeros((rows, columns + 2), dtype=np.int8)
    padded[:, 1:-1] = active
    edges = padded[:, 1:] - padded[:, :-1]
    start_rows, starts = np.nonzero(edges == 1)
    ends = np.nonzero(edges == -1)[1]  # exclusive; row-major order matches the starts
    runs = list(zip(start_rows.tolist(), starts.tolist(), ends.tolist(), strict=True))
    parent = list(range(len(runs)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    previous_row: list[int] = []  # indices of the runs on the row above
    current_row: list[int] = []
    current = -1
    for index, (row, start, end) in enumerate(runs):
        if row != current:
            previous_row = current_row if row == current + 1 else []
            current_row, current = [], row
        for above in previous_row:
            _, above_start, above_end = runs[above]
            if above_start <= end and start <= above_end:  # touching, diagonally too
                parent[root(above)] = root(index)
        current_row.append(index)
    boxes: dict[int, list[int]] = {}
    for group, (row, start, end) in zip(map(root, range(len(runs))), runs, strict=True):
        box = boxes.setdefault(group, [row, start, row + 1, end])
        box[0], box[1] = min(box[0], row), min(box[1], start)
        box[2], box[3] = max(box[2], row + 1), max(box[3], end)
    return [(top, left, bottom, right) for top, left, bottom, right in boxes.values()]
