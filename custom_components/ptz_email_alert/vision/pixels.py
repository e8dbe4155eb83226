"""Pixel work of the motion detector on small grey frames.

Binning, contrast stretch, the background's neighbourhood envelope, and grouping changed
cells into boxes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# Tolerance that grows with the background's local contrast (max - min around a pixel):
# video compression redraws edges and fine texture with errors in proportion to them.
EDGE_TOLERANCE = 0.75
# Neighbourhood of the background a changed pixel must differ from all of: 1 pixel of the
# binned frame (2 of a 320-px detection frame, 5 of a D1 picture) either way, so that a
# picture shaking by that much shows no change. Wider hides people next to dark objects.
RADIUS = 1


def bin2(pixels: NDArray[np.uint8] | NDArray[np.uint16]) -> NDArray[np.uint16]:
    """Sums of 2x2 blocks (odd last row or column dropped): strided adds, no reductions."""
    height, width = pixels.shape[0] // 2 * 2, pixels.shape[1] // 2 * 2
    rows = pixels[0:height:2, :width].astype(np.uint16)
    rows += pixels[1:height:2, :width]
    summed: NDArray[np.uint16] = rows[:, 0::2] + rows[:, 1::2]
    return summed


class Levels:
    """Grey levels (0-255) of 2x2 sums, stretched so that the 2nd-98th percentile fills the range.

    One lookup table over the 1021 possible sums does the division and the stretch; the
    percentiles come from a histogram of one pixel in 16. The table is kept while the
    percentiles stay put, which they do from one frame to the next; during dusk or dawn it
    follows the light frame by frame, so that the stretched picture hardly changes.
    """

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._table = np.arange(1021, dtype=np.float32) / 4

    def stretch(self, sums: NDArray[np.uint16]) -> NDArray[np.float32]:
        """Stretched levels of ``sums``."""
        self._look(sums)
        stretched: NDArray[np.float32] = np.take(self._table, sums)
        return stretched

    def _look(self, sums: NDArray[np.uint16]) -> None:
        cumulative = np.cumsum(np.bincount(sums[::4, ::4].ravel(), minlength=1021))
        total = int(cumulative[-1])
        low, high = (int(i) for i in np.searchsorted(cumulative, (0.02 * total, 0.98 * total)))
        if high - low < 64:  # a flat picture (lens covered, night): do not amplify noise
            low, high = 0, 1020
        # Whole grey levels are plenty, and then the table seldom changes between frames.
        low, high = low // 4 * 4, -(-high // 4) * 4
        if self._key == (low, high):
            return
        self._key = (low, high)
        levels = np.arange(1021, dtype=np.float32)
        self._table = np.clip((levels - low) * np.float32(255 / (high - low)), 0, 255)


def envelope(
    background: NDArray[np.float32], threshold: float, radius: int = RADIUS
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Bounds (lower, upper) outside which a pixel differs from its background neighbourhood.

    Outside them a pixel differs from every background pixel within ``radius`` of it by more
    than ``threshold``, plus a tolerance that grows with the neighbourhood's contrast (for
    compression noise at edges).

    Maxima and minima run on the flattened picture (contiguous, so fast). The ``radius``
    rows and columns along the edges never count: their neighbourhood is cut, and a shaking
    picture brings in there what was beyond its edge.
    """
    height, width = background.shape
    flat = background.ravel()
    high, low = _extreme(flat, radius, width, np.maximum), _extreme(flat, radius, width, np.minimum)
    tolerance = high - low
    tolerance *= np.float32(EDGE_TOLERANCE)
    tolerance += np.float32(threshold)
    lower = np.full((height, width), -1e9, dtype=np.float32)  # the cut edges: never changed
    upper = np.full((height, width), 1e9, dtype=np.float32)
    inner = slice(radius * (width + 1), radius * (width + 1) + high.size)
    np.subtract(low, tolerance, out=lower.ravel()[inner])
    np.add(high, tolerance, out=upper.ravel()[inner])
    # The outer columns too: a shaking picture brings in what was beyond its edge.
    for bound, never in ((lower, -1e9), (upper, 1e9)):
        bound[:, :radius] = never
        bound[:, width - radius :] = never
    return lower, upper


def _extreme(
    flat: NDArray[np.float32], radius: int, width: int, pick: np.ufunc
) -> NDArray[np.float32]:
    """Maximum (or minimum) over the (2 radius + 1)^2 square whose corner is each element."""
    span = 2 * radius
    along = flat[: flat.size - span].copy()
    for step in range(1, span + 1):
        pick(along, flat[step : flat.size - span + step], out=along)
    rows = along.size - span * width
    square = along[:rows].copy()
    for step in range(1, span + 1):
        pick(square, along[step * width : rows + step * width], out=square)
    return square


def paired(changed: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Changed pixels that have a changed neighbour (left, right, above or below).

    A shaking picture makes video compression redraw fine texture every frame, which leaves
    lone changed pixels scattered over grass and gravel; a person, even 4 pixels tall here,
    is a connected group.
    """
    flat = changed.ravel()
    width = changed.shape[1]
    paired = np.zeros_like(flat)
    across = flat[1:] & flat[:-1]
    paired[1:] |= across
    paired[:-1] |= across
    down = flat[width:] & flat[:-width]
    paired[width:] |= down
    paired[:-width] |= down
    return paired.reshape(changed.shape)


def connected(active: NDArray[np.bool_]) -> list[tuple[int, int, int, int]]:
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
