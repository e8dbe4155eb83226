"""Sensitivity levels of the motion detector: 1 least, 10 most sensitive."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sensitivity:
    """What a sensitivity level (1-10, 10 most sensitive) means in numbers."""

    level: int
    pixel_threshold: int  # grey-level change (0-255, after contrast stretch) that counts
    min_area: float  # smallest blob, as a fraction of the frame
    cell_fill: float  # share of changed pixels that makes a grid cell active

    @classmethod
    def of(cls, level: int) -> Sensitivity:
        """The numbers of ``level`` (clamped to 1-10); see ``LEVELS``."""
        level = max(1, min(10, level))
        threshold, pixels, fill = LEVELS[level - 1]
        return cls(level, threshold, pixels / BINNED_PIXELS, fill)


# Per level 1-10: grey-level threshold, smallest blob in pixels of a 4:3 binned frame (160 x
# 120; a share of the frame for other sizes), cell fill. From 6 up only the threshold falls:
# 2 pixels (a person 20 px tall in a D1 picture) is already the smallest blob that stays
# apart from noise; below 6 blobs must be larger, then much larger. docs/benchmarks.md has
# the smallest person each level finds on real footage (bench/motion.py).
LEVELS = (
    (32, 120, 0.15),
    (27, 60, 0.13),
    (21, 20, 0.10),
    (17, 8, 0.08),
    (14, 4, 0.06),
    (12, 2, 0.05),
    (11, 2, 0.05),
    (10, 2, 0.05),
    (9, 2, 0.05),
    (8, 2, 0.05),
)
BINNED_PIXELS = 160 * 120
