"""Marked copies of alert pictures: a box around what moved, the line or zone, a time stamp.

Only the emailed copies are marked; the evidence folder keeps the clean originals. CPU work:
run in an executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import io

from PIL import Image, ImageDraw

from .analyser import Analyser

type Box = tuple[float, float, float, float]  # x, y, width, height as fractions of the picture
type Polygon = Sequence[tuple[float, float]]

BOX_COLOUR = (0, 255, 120)
LINE_COLOUR = (230, 30, 30)
ZONE_COLOUR = (255, 214, 0)


@dataclass(frozen=True, slots=True)
class Marks:
    """What to draw on one picture."""

    boxes: Sequence[Box] = ()
    lines: Sequence[tuple[str, tuple[float, float], tuple[float, float]]] = ()
    zones: Sequence[tuple[str, Polygon]] = ()
    stamp: str = ""


def marks_near(
    history: Iterable[tuple[float, Sequence[Box]]],
    time: float,
    within: float,
    *,
    lines: set[str | None],
    zones: set[str | None],
    analyser: Analyser,
) -> Marks:
    """Boxes of the analysed frame nearest ``time`` (if within ``within`` s); named lines, zones."""
    nearest = min(history, key=lambda item: abs(item[0] - time), default=None)
    boxes = list(nearest[1]) if nearest and abs(nearest[0] - time) <= within else []
    return Marks(
        boxes=boxes,
        lines=[(ln.name, ln.start, ln.end) for ln in analyser.lines.lines if ln.name in lines],
        zones=[(zn.name, zn.polygon) for zn in analyser.zones.zones if zn.name in zones],
    )


def mark_picture(jpeg: bytes, marks: Marks, quality: int = 85) -> bytes:
    """``jpeg`` with thin boxes, the crossed line or entered zone, and a small time stamp."""
    picture = Image.open(io.BytesIO(jpeg)).convert("RGB")
    draw = ImageDraw.Draw(picture)
    width, height = picture.size
    thickness = max(1, width // 480)  # thin: the box shows where, it must not hide what
    for x, y, w, h in marks.boxes:
        left, top = x * width, y * height
        right = min(width - 1, left + w * width)
        bottom = min(height - 1, top + h * height)
        draw.rectangle([left, top, right, bottom], outline=BOX_COLOUR, width=thickness)
    for name, polygon in marks.zones:
        points = [(px * width, py * height) for px, py in polygon]
        draw.polygon(points, outline=ZONE_COLOUR, width=thickness)
        draw.text((points[0][0] + 3, points[0][1] + 3), name, fill=ZONE_COLOUR)
    for name, start, end in marks.lines:
        a = (start[0] * width, start[1] * height)
        b = (end[0] * width, end[1] * height)
        draw.line([a, b], fill=LINE_COLOUR, width=thickness + 1)
        draw.text((a[0] + 4, a[1] + 4), name, fill=LINE_COLOUR)
    if marks.stamp:
        left, top, right, bottom = draw.textbbox((0, 0), marks.stamp)
        pad = 3
        box = (4, height - (bottom - top) - 2 * pad - 4)
        draw.rectangle(
            [box[0], box[1], box[0] + right - left + 2 * pad, box[1] + bottom - top + 2 * pad],
            fill=(0, 0, 0),
        )
        draw.text((box[0] + pad - left, box[1] + pad - top), marks.stamp, fill=(255, 255, 255))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
