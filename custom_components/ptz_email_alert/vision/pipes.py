"""What ffmpeg writes on its pipes, parsed: grey PGM frames, JPEGs, the tail of stderr.

Parsing is slicing bytes (no blocking, no copies beyond the frame). Damaged output costs a
frame, never the stream: the PGM reader skips to the next header and goes on.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from .frames import GreyPixels

_LOGGER = logging.getLogger(__name__)

_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"
# ffmpeg's PGM header: "P5", width, height, maxval (255 for grey), each after whitespace, then
# one whitespace byte before the pixels. No comments: ffmpeg writes none.
_PGM_HEADER = re.compile(rb"P5\s+(\d{1,5})\s+(\d{1,5})\s+(\d{1,5})\s")
_PGM_HEADER_START = re.compile(rb"P5[\s\d]*")
_PGM_HEADER_MAX = 32  # "P5\n65535 65535\n255\n" is 20 bytes


def parse_pgm(buffer: bytearray) -> tuple[GreyPixels, int] | None:
    """One PGM image from the start of ``buffer``: (pixels, bytes used), or None if incomplete.

    Raises ValueError if ``buffer`` does not start with a PGM header ffmpeg would write.
    """
    match = _PGM_HEADER.match(buffer)
    if match is None:
        head = bytes(buffer[:_PGM_HEADER_MAX])
        if len(head) < _PGM_HEADER_MAX and (
            _PGM_HEADER_START.fullmatch(head) or head in {b"", b"P"}
        ):
            return None  # the header is still arriving
        raise ValueError(f"not a PGM header: {head[:12]!r}")
    width, height, maxval = (int(field) for field in match.groups())
    if not (width and height) or maxval != 255:
        raise ValueError(f"unexpected PGM header: {width}x{height}, maxval {maxval}")
    end = match.end() + width * height
    if len(buffer) < end:
        return None
    pixels = np.frombuffer(bytes(buffer[match.end() : end]), dtype=np.uint8)
    return pixels.reshape(height, width), end


class PgmStream:
    """Grey frames out of ffmpeg's PGM stream, whatever chunks it arrives in.

    After damage (bytes that are not a frame) it skips to the next ``P5`` that starts a valid
    header, and says so once per damaged stretch. Garbage inside a frame's pixels cannot be
    seen until the next header: that one frame comes out shifted, the rest are intact.
    """

    def __init__(self) -> None:
        """Start with an empty buffer."""
        self._buffer = bytearray()
        self._damaged = False
        self.skipped_bytes = 0

    def feed(self, data: bytes) -> list[GreyPixels]:
        """Add ``data``; return the frames it completed."""
        self._buffer += data
        frames: list[GreyPixels] = []
        while True:
            try:
                parsed = parse_pgm(self._buffer)
            except ValueError as err:
                self._resync(err)
                continue
            if parsed is None:
                return frames
            pixels, used = parsed
            del self._buffer[:used]
            self._damaged = False
            frames.append(pixels)

    def _resync(self, err: ValueError) -> None:
        if not self._damaged:
            self._damaged = True
            _LOGGER.warning("ffmpeg's grey frames were damaged (%s): skipping to the next", err)
        # At least one byte goes, so a bad "P5" is not found again; a trailing "P" is kept,
        # it may start the next header.
        start = self._buffer.find(b"P5", 1)
        if start < 0:
            start = len(self._buffer) - 1 if self._buffer.endswith(b"P") else len(self._buffer)
            start = max(start, 1)
        self.skipped_bytes += start
        del self._buffer[:start]


def split_jpegs(buffer: bytearray) -> list[bytes]:
    """Take every complete JPEG off the front of ``buffer`` (ffmpeg's MJPEG stream)."""
    images: list[bytes] = []
    while True:
        start = buffer.find(_SOI)
        if start < 0:
            buffer.clear()
            return images
        end = buffer.find(_EOI, start + 2)
        if end < 0:
            del buffer[:start]
            return images
        images.append(bytes(buffer[start : end + 2]))
        del buffer[: end + 2]


class OutputTail:
    """The last ``limit`` bytes of a process's output: a long run keeps no more than that."""

    def __init__(self, limit: int = 4096) -> None:
        """Keep at most ``limit`` bytes."""
        self.limit = limit
        self._tail = bytearray()

    def feed(self, data: bytes) -> None:
        """Add output; forget what falls out of the window."""
        self._tail += data[-self.limit :]
        if len(self._tail) > self.limit:
            del self._tail[: len(self._tail) - self.limit]

    @property
    def last_line(self) -> str:
        """The last line that is not empty."""
        lines = self._tail.decode(errors="replace").strip().splitlines()
        return lines[-1].strip() if lines else ""
