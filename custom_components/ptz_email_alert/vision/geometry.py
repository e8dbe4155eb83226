"""Polygons in frame fractions (0-1): point tests for tracks, pixel masks for motion."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

type Point = tuple[float, float]


def inside(polygon: Sequence[Point], point: Point) -> bool:
    """Ray casting point-in-polygon."""
    x, y = point
    result = False
    for (x1, y1), (x2, y2) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            result = not result
    return result


def polygon_mask(polygons: Sequence[Sequence[Point]], width: int, height: int) -> NDArray[np.bool_]:
    """True for the pixels (of a ``width`` x ``height`` frame) whose centre is in a polygon."""
    xs = (np.arange(width, dtype=np.float32) + 0.5) / width
    ys = (np.arange(height, dtype=np.float32) + 0.5)[:, None] / height
    mask = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        inside_polygon = np.zeros((height, width), dtype=bool)
        for (x1, y1), (x2, y2) in zip(polygon, [*polygon[1:], polygon[0]], strict=True):
            if y1 == y2:
                continue  # a horizontal edge never crosses the ray
            spans = (ys > y1) != (ys > y2)  # rows whose ray meets this edge
            crossing = (x2 - x1) * (ys - y1) / (y2 - y1) + x1
            inside_polygon ^= spans & (xs < crossing)
        mask |= inside_polygon
    return mask
