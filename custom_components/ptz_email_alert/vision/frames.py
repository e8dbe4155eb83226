"""Frames as the detectors and the burst capture see them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

type GreyPixels = NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class GreyFrame:
    """A small grey frame for detection; ``time`` in seconds on the source's clock."""

    time: float
    pixels: GreyPixels


@dataclass(frozen=True, slots=True)
class JpegFrame:
    """A JPEG at the snapshot size, as ffmpeg produced it."""

    time: float
    data: bytes


class JpegRing:
    """The last few seconds of JPEGs: the pre-trigger frame and the newest picture."""

    def __init__(self, seconds: float = 10.0) -> None:
        """Keep JPEGs for ``seconds``."""
        self.seconds = seconds
        self._frames: deque[JpegFrame] = deque()

    def add(self, frame: JpegFrame) -> None:
        """Add a frame; forget those older than the window."""
        self._frames.append(frame)
        while self._frames and self._frames[0].time < frame.time - self.seconds:
            self._frames.popleft()

    def clear(self) -> None:
        """Forget every picture (a stopped camera must not hold seconds of JPEGs)."""
        self._frames.clear()

    @property
    def latest(self) -> JpegFrame | None:
        """The newest JPEG."""
        return self._frames[-1] if self._frames else None

    def before(self, time: float) -> JpegFrame | None:
        """The newest JPEG taken before ``time`` (the pre-trigger picture)."""
        for frame in reversed(self._frames):
            if frame.time < time:
                return frame
        return None

    def after(self, time: float) -> JpegFrame | None:
        """The first JPEG taken at or after ``time``."""
        for frame in self._frames:
            if frame.time >= time:
                return frame
        return None
