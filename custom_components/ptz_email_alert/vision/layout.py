"""Zones and lines as users type them, one per line.

Zone: ``yard: 0.6,0.5 1,0.5 1,1 0.6,1`` (a polygon, fractions of the frame), optionally
``@2`` at the end for the seconds something must stay inside (default 1).
Line: ``gate: 0.5,0.3 0.5,1 a_to_b`` (start, end, then ``a_to_b``, ``b_to_a`` or ``both``).
Side A is on your left when you walk from the start to the end.
Area to ignore: ``tree: 0,0 0.3,0 0.3,0.4 0,0.4`` (a polygon; motion inside does not count).
"""

from __future__ import annotations

from .analytics import Direction, Line, Zone
from .geometry import Point


class LayoutError(ValueError):
    """A zone or line that cannot be understood; the message says which."""


def _points(parts: list[str], where: str) -> tuple[Point, ...]:
    points = []
    for part in parts:
        try:
            x_text, y_text = part.split(",")
            x, y = float(x_text), float(y_text)
        except ValueError as err:
            raise LayoutError(f"{where}: {part!r} is not x,y") from err
        if not (0 <= x <= 1 and 0 <= y <= 1):
            raise LayoutError(f"{where}: {part!r} is outside 0-1")
        points.append((x, y))
    return tuple(points)


def _split(line: str, what: str) -> tuple[str, list[str]]:
    name, sep, rest = line.partition(":")
    if not sep or not name.strip():
        raise LayoutError(f"{what} {line!r} needs a name and a colon")
    return name.strip(), rest.split()


def parse_zones(text: str) -> list[Zone]:
    """Zones from text; raises :class:`LayoutError`."""
    zones = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        name, parts = _split(raw, "Zone")
        min_time = 1.0
        if parts and parts[-1].startswith("@"):
            try:
                min_time = float(parts.pop()[1:])
            except ValueError as err:
                raise LayoutError(f"Zone {name}: the time after @ must be seconds") from err
        polygon = _points(parts, f"Zone {name}")
        if len(polygon) < 3:
            raise LayoutError(f"Zone {name} needs at least 3 points")
        zones.append(Zone(name, polygon, min_time))
    return zones


def parse_lines(text: str) -> list[Line]:
    """Lines from text; raises :class:`LayoutError`."""
    lines = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        name, parts = _split(raw, "Line")
        direction = Direction.BOTH
        if parts and parts[-1] in {d.value for d in Direction}:
            direction = Direction(parts.pop())
        points = _points(parts, f"Line {name}")
        if len(points) != 2:
            raise LayoutError(f"Line {name} needs exactly 2 points")
        lines.append(Line(name, points[0], points[1], direction))
    return lines


def parse_areas(text: str) -> list[tuple[str, tuple[Point, ...]]]:
    """Areas where motion does not count, as (name, polygon); raises :class:`LayoutError`."""
    areas = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        name, parts = _split(raw, "Area")
        polygon = _points(parts, f"Area {name}")
        if len(polygon) < 3:
            raise LayoutError(f"Area {name} needs at least 3 points")
        areas.append((name, polygon))
    return areas
