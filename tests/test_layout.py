"""Zones and lines as users type them."""

from __future__ import annotations

import pytest

from custom_components.ptz_email_alert.vision.analytics import Direction
from custom_components.ptz_email_alert.vision.layout import (
    LayoutError,
    parse_areas,
    parse_lines,
    parse_zones,
)


def test_zones_and_lines_parse() -> None:
    (zone,) = parse_zones("\n yard: 0.6,0.5 1,0.5 1,1 0.6,1 @2.5\n")
    assert zone.name == "yard"
    assert zone.min_time == 2.5
    assert zone.polygon[1] == (1.0, 0.5)
    gate, fence = parse_lines("gate: 0.5,0.3 0.5,1 a_to_b\nfence: 0,0 1,0")
    assert (gate.direction, fence.direction) == (Direction.A_TO_B, Direction.BOTH)
    assert parse_zones("") == []
    assert parse_areas("tree: 0,0 0.3,0 0.3,0.4\n\nflag: 0.9,0 1,0 1,0.2") == [
        ("tree", ((0.0, 0.0), (0.3, 0.0), (0.3, 0.4))),
        ("flag", ((0.9, 0.0), (1.0, 0.0), (1.0, 0.2))),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "yard 0,0 1,0 1,1",
        ": 0,0 1,0 1,1",
        "yard: 0,0 1,0",
        "yard: 0,0 1,0 x",
        "yard: 0,0 1,0 2,2",
        "yard: 0,0 1,0 1,1 @soon",
    ],
)
def test_bad_zones(text: str) -> None:
    with pytest.raises(LayoutError):
        parse_zones(text)


@pytest.mark.parametrize("text", ["gate: 0,0", "gate: 0,0 1,1 1,0", "gate 0,0 1,1"])
def test_bad_lines(text: str) -> None:
    with pytest.raises(LayoutError):
        parse_lines(text)


@pytest.mark.parametrize("text", ["tree: 0,0 1,1", "tree 0,0 1,0 1,1", "tree: 0,0 1,0 1,1 @2"])
def test_bad_areas(text: str) -> None:
    with pytest.raises(LayoutError):
        parse_areas(text)
