"""How far the picture moved: global shift and zoom from row and column profiles of blocks.

A camera on a pole shakes, sways and, when it pans, tilts or zooms, moves the whole picture.
The frame is cut into 3 x 4 blocks; summing each band's columns (and rows) gives profiles in
which a shift of the picture is a shift of the profile. Matching their gradients over a range
of offsets (a normalised correlation) finds each block's shift in one batch of a few numpy
calls, where a 2-D phase correlation of the frame costs ten times as much. Gradients ignore
a light change (an offset), the normalisation a gain.

Blocks make it robust: a person changes the profiles of one or two blocks, the camera moves
all of them. The shift is the median of the blocks that match well; a zoom moves the left and
right blocks (top and bottom) apart or together; another scene (or a jump beyond the search
range) leaves most blocks without a good match.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from statistics import median

import numpy as np
from numpy.typing import NDArray

SEARCH = 6  # offsets searched on each axis, in pixels of the profiled frame
BANDS, BLOCKS = 3, 4  # blocks down and across
BLOCK_MATCH = 0.7  # a block whose best offset correlates less has no trustworthy shift
# Structure worth matching: more than noise of this many grey levels would give.
TEXTURE_SIGMA = 3.0


@dataclass(frozen=True, slots=True)
class Shift:
    """Where the picture went, relative to a reference: content at x is now at x + dx."""

    dx: float
    dy: float
    zoom: float  # scale change: 0.05 = zoomed in 5 % (the halves moved apart)
    match: float  # share of the structured blocks that found a good match, worse axis
    textured: bool  # enough blocks have structure to match; if not, nothing can be said

    @property
    def offset(self) -> tuple[int, int]:
        """The shift rounded to whole pixels."""
        return round(self.dx), round(self.dy)

    @property
    def largest(self) -> float:
        """Largest of |dx| and |dy|."""
        return max(abs(self.dx), abs(self.dy))


STILL = Shift(0.0, 0.0, 0.0, 1.0, textured=False)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each block's profile lies in the flat profile vector, for one frame size."""

    bands: NDArray[np.float32]  # BANDS x height: sums the rows of each band
    blocks: NDArray[np.float32]  # BLOCKS x width: sums the columns of each block
    parts: NDArray[np.intp]  # per block (columns first, then rows): its reference part
    windows: NDArray[np.intp]  # per block: every searched window (blocks, offsets, span)
    across: int  # how many of the blocks are column (x) profiles
    floors: NDArray[np.float32]  # per block: the energy noise alone would give
    rows: NDArray[np.intp]  # where each block's scores start in the flattened scores
    # Blocks of the left, right, top and bottom halves, and how far apart their centres are.
    left: tuple[int, ...]
    right: tuple[int, ...]
    top: tuple[int, ...]
    bottom: tuple[int, ...]
    apart: tuple[float, float]


@cache
def _layout(height: int, width: int) -> _Layout:
    band, block = height // BANDS, width // BLOCKS
    bands = np.zeros((BANDS, height), dtype=np.float32)
    blocks = np.zeros((BLOCKS, width), dtype=np.float32)
    for index in range(BANDS):
        bands[index, index * band : (index + 1) * band] = 1
    for index in range(BLOCKS):
        blocks[index, index * block : (index + 1) * block] = 1
    # One span for both axes, so that every block is matched in one batch.
    span = min(band, block) - 2 * SEARCH - 2
    starts = []
    for profile in range(BANDS):  # column profiles: BANDS of them, each width - 2 long
        base = profile * (width - 2)
        starts += [base + j * block + (block - 2 - span) // 2 for j in range(BLOCKS)]
    base = BANDS * (width - 2)
    for profile in range(BLOCKS):  # row profiles: BLOCKS of them, each height - 2 long
        start = base + profile * (height - 2)
        starts += [start + i * band + (band - 2 - span) // 2 for i in range(BANDS)]
    parts = np.array(starts)[:, None] + np.arange(span)[None, :]
    windows = parts[:, None, :] + np.arange(-SEARCH, SEARCH + 1)[None, :, None]
    # A central difference of sums of n pixels with noise sigma has variance 2 n sigma^2.
    summed = np.array([band] * (BANDS * BLOCKS) + [block] * (BANDS * BLOCKS), dtype=np.float32)
    floors = span * 2 * summed * np.float32(TEXTURE_SIGMA**2)
    across = BANDS * BLOCKS
    return _Layout(
        bands,
        blocks,
        parts,
        windows,
        across,
        floors,
        np.arange(2 * across) * (2 * SEARCH + 1),
        left=tuple(i for i in range(across) if i % BLOCKS < BLOCKS // 2),
        right=tuple(i for i in range(across) if i % BLOCKS >= BLOCKS - BLOCKS // 2),
        top=tuple(across + i for i in range(across) if i % BANDS == 0),
        bottom=tuple(across + i for i in range(across) if i % BANDS == BANDS - 1),
        apart=(width / 2, height * (BANDS - 1) / BANDS),
    )


@dataclass(frozen=True, slots=True)
class Profiles:
    """Gradients of the column sums of each band and the row sums of each block, in one vector."""

    flat: NDArray[np.float32]
    shape: tuple[int, int]

    @classmethod
    def of(cls, frame: NDArray[np.float32]) -> Profiles:
        """Profiles of ``frame``: two matrix products (BLAS: the fastest sums numpy has)."""
        height, width = frame.shape
        layout = _layout(height, width)
        columns = layout.bands @ frame
        rows = layout.blocks @ frame.T
        flat = np.empty(BANDS * (width - 2) + BLOCKS * (height - 2), dtype=np.float32)
        split = BANDS * (width - 2)
        # Central differences: a neighbour difference is so sharp that half a pixel of shift
        # already decorrelates it.
        np.subtract(columns[:, 2:], columns[:, :-2], out=flat[:split].reshape(BANDS, -1))
        np.subtract(rows[:, 2:], rows[:, :-2], out=flat[split:].reshape(BLOCKS, -1))
        return cls(flat, (height, width))


@dataclass(frozen=True, slots=True)
class Reference:
    """Profiles to match against, with what matching needs of them worked out once."""

    profiles: Profiles
    parts: NDArray[np.float32]  # each block's reference part (blocks, span)
    norms: NDArray[np.float32]  # their energies
    textured: NDArray[np.bool_]  # blocks with more structure than noise
    counts: tuple[int, int]  # structured blocks of each axis
    usable: bool  # enough structured blocks on both axes to say anything

    @classmethod
    def of(cls, profiles: Profiles) -> Reference:
        """Prepare ``profiles`` as a reference."""
        layout = _layout(*profiles.shape)
        parts = profiles.flat[layout.parts]
        norms = np.einsum("bs,bs->b", parts, parts)
        textured = norms > layout.floors
        across = layout.across
        counts = int(np.count_nonzero(textured[:across])), int(np.count_nonzero(textured[across:]))
        return cls(
            profiles, parts, norms, textured, counts, counts[0] >= BLOCKS and counts[1] >= BANDS
        )


def unmoved(current: Profiles, reference: Reference) -> float:
    """Share of the structured blocks that match the reference unmoved, on the worse axis.

    A fifth of what a full :func:`estimate` costs; 1.0 when nothing can be said.
    """
    if not reference.usable:
        return 1.0
    layout = _layout(*reference.profiles.shape)
    here = current.flat[layout.parts]
    dots = np.einsum("bs,bs->b", here, reference.parts)
    energy = np.einsum("bs,bs->b", here, here)
    # Strictly above: a flat picture (no energy) matches nothing.
    good = (dots > np.float32(BLOCK_MATCH) * np.sqrt(energy * reference.norms)) & (
        reference.textured
    )
    across = layout.across
    return min(
        int(np.count_nonzero(good[:across])) / reference.counts[0],
        int(np.count_nonzero(good[across:])) / reference.counts[1],
    )


def estimate(current: Profiles, reference: Reference) -> Shift:
    """The shift and zoom of ``current`` against ``reference`` (same frame size)."""
    if not reference.usable:
        return STILL  # too little structure on one axis to say anything
    layout = _layout(*reference.profiles.shape)
    windows = current.flat[layout.windows]  # blocks, offsets, span
    dots = np.matmul(windows, reference.parts[:, :, None])[:, :, 0]
    energy = np.einsum("bks,bks->bk", windows, windows)
    scores = dots / np.sqrt(energy * reference.norms[:, None] + np.float32(1e-6))
    best = np.argmax(scores, axis=1)
    # Whole pixels are enough: shifts are rounded for use, and a median of whole-pixel block
    # shifts (a zoom pulls outer and inner blocks apart by different amounts) is finer.
    found = scores.ravel()[best + layout.rows]
    # A best offset at the end of the range may lie beyond it: no trustworthy shift.
    good = reference.textured & (found >= BLOCK_MATCH) & (best > 0) & (best < 2 * SEARCH)
    return _combine((best - SEARCH).tolist(), good.tolist(), reference.counts, layout)


def _combine(
    shifts: list[int], good: list[bool], textured: tuple[int, int], layout: _Layout
) -> Shift:
    """The blocks' shifts made one: medians, and the halves' difference for the zoom."""
    across = layout.across  # column-profile blocks come first, band by band
    x = [float(shifts[i]) for i in range(across) if good[i]]
    y = [float(shifts[i]) for i in range(across, len(shifts)) if good[i]]
    zooms = []
    # Scale change: how far the halves moved apart over the distance between their centres
    # (half the width; two thirds of the height, from the top band to the bottom one).
    left = [shifts[i] for i in layout.left if good[i]]
    right = [shifts[i] for i in layout.right if good[i]]
    if left and right:
        zooms.append((median(right) - median(left)) / layout.apart[0])
    top = [shifts[i] for i in layout.top if good[i]]
    bottom = [shifts[i] for i in layout.bottom if good[i]]
    if top and bottom:
        zooms.append((median(bottom) - median(top)) / layout.apart[1])
    return Shift(
        median(x) if x else 0.0,
        median(y) if y else 0.0,
        sum(zooms) / len(zooms) if zooms else 0.0,
        min(len(x) / textured[0], len(y) / textured[1]),
        textured=True,
    )
