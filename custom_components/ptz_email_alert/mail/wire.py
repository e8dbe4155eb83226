"""A message's DATA section for the wire, one piece at a time.

SMTP wants CRLF line endings, a dot doubled at the start of a line and a line of one dot at
the end. Doing that to the whole message copies it three times (a 4 MB alert became 12 MB at
once); done a piece at a time, a send holds the message and one piece.

Pure Python.
"""

from __future__ import annotations

from collections.abc import Iterator
import re

PIECE = 64 * 1024
_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")


def wire_size(message: bytes) -> int:
    """Length of ``message`` as sent, without the final dot (the SIZE a server is told).

    Counted, not copied: each lone CR or LF becomes CRLF, and the last line gets one.
    """
    crlf = message.count(b"\r\n")
    ended = message.endswith((b"\r", b"\n"))
    return len(message) + message.count(b"\n") + message.count(b"\r") - 2 * crlf + 2 * (not ended)


def data_pieces(message: bytes, piece: int = PIECE) -> Iterator[bytes]:
    """``message`` ready for DATA, ending with the final dot, in pieces of about ``piece`` bytes.

    A piece ends at a line's end (after a LF), so that neither a CRLF nor a line's first
    character is split from what it needs to be read right.
    """
    start, size = 0, len(message)
    last = b""
    while start < size:
        found = message.find(b"\n", min(start + piece, size) - 1)
        end = size if found < 0 else found + 1
        last = _LEADING_DOT.sub(b"..", _LINE_END.sub(b"\r\n", message[start:end]))
        start = end
        if start < size:
            yield last
    # The end-of-data line must start a line of its own.
    yield last + (b".\r\n" if last.endswith(b"\r\n") else b"\r\n.\r\n")
