"""The DATA section goes out a piece at a time, and the server gets the message as it was.

Before, a send made three whole copies of each message (line endings, dot-stuffing, the final
dot): 12 MB at once for a 4 MB alert. Now it holds one piece of 64 KB besides the message.
"""

from __future__ import annotations

import random

from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
import pytest

from custom_components.ptz_email_alert.mail import send_messages
from custom_components.ptz_email_alert.mail.sender import RawMessage, SendResult
from custom_components.ptz_email_alert.mail.wire import PIECE, data_pieces, wire_size

from .smtp_server import ServerFactory
from .test_mail_sender import _settings


def whole(message: bytes) -> bytes:
    """aiosmtplib's way: the whole message transformed at once."""
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"


@pytest.mark.parametrize("piece", [1, 2, 5, 64])
def test_pieces_join_to_what_the_whole_message_gives(piece: int) -> None:
    chooser = random.Random(piece)
    for _ in range(500):
        message = bytes(chooser.choice(b"ab.\r\n") for _ in range(chooser.randint(0, 200)))
        assert b"".join(data_pieces(message, piece)) == whole(message), message
        assert wire_size(message) == len(normalize_message_line_endings(message))


def test_each_piece_is_small_whatever_the_message() -> None:
    body = b"".join(b"." + bytes([65 + n % 26]) * 75 + b"\n" for n in range(60_000))  # 4.6 MB
    pieces = list(data_pieces(body))
    assert len(pieces) > 60
    # A piece ends at the first line end after PIECE bytes (lines of 77 here); a CRLF and a
    # doubled dot add 2 bytes a line.
    assert max(len(piece) for piece in pieces) <= (PIECE + 77) * 79 // 77
    assert b"".join(pieces) == whole(body)


async def test_a_large_message_with_dots_and_bare_line_ends_arrives_intact(
    smtp_server: ServerFactory,
) -> None:
    server = await smtp_server("starttls")
    lines = [b"Subject: dots", b"", *(b"." * (n % 3) + b"x" * (n % 90) for n in range(20_000))]
    data = b"\n".join(lines) + b"\r\n.\n..\rend"  # LF lines, a lone CR, lines of dots, no end
    message = RawMessage("<m@example.com>", "cam@example.com", ("o@example.com",), data)
    (outcome,) = await send_messages(_settings(server), [message])
    assert isinstance(outcome, SendResult)
    (received,) = server.received
    assert received.raw == normalize_message_line_endings(data)
