"""Burst capture: the pre-trigger picture and pictures at the burst interval from the ring."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .frames import JpegFrame, JpegRing


@dataclass(frozen=True, slots=True)
class Burst:
    """The pictures of one alert; ``complete`` is False when the stream gave fewer than asked."""

    frames: list[JpegFrame]
    complete: bool

    @property
    def pictures(self) -> list[bytes]:
        """The JPEGs."""
        return [frame.data for frame in self.frames]


async def collect_burst(
    ring: JpegRing,
    arrived: asyncio.Event,
    *,
    count: int,
    start: float,
    interval: float,
    pre_trigger: bool,
    within: float,
) -> Burst:
    """Pictures from stream time ``start`` on; waits for new ones at most ``within`` seconds.

    ``arrived`` is set by whoever adds frames to ``ring``. Nothing is made up: a stream that
    stops mid-burst gives a short burst (``complete`` False), and the caller decides.
    """
    if count <= 0:
        return Burst([], complete=True)
    pictures: list[JpegFrame] = []
    if pre_trigger and (before := ring.before(start)):
        pictures.append(before)
    wanted = start
    try:
        async with asyncio.timeout(within):
            while len(pictures) < count:
                frame = ring.after(wanted)
                if frame is None:
                    arrived.clear()
                    await arrived.wait()
                    continue
                pictures.append(frame)
                wanted = frame.time + interval
    except TimeoutError:
        return Burst(pictures, complete=False)
    return Burst(pictures, complete=True)
