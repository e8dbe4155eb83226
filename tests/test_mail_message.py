"""mail.message: structure, encodings and header-injection safety, parsed back with ``email``."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest

from custom_components.ptz_email_alert.mail import (
    Attachment,
    EmailContent,
    InvalidAddressError,
    build_message,
    normalize_address,
    normalize_addresses,
    one_line,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def _roundtrip(message: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(message.as_bytes(), policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_structure_and_attachments_roundtrip() -> None:
    content = EmailContent(
        subject="Étang – Bewegung erkannt 🚨",
        text="Caméra 1: mouvement\n",
        html='<p>Caméra 1</p><img src="cid:snap1">',
        attachments=[
            Attachment("snap1.jpg", b"\xff\xd8jpeg-1\xff\xd9", content_id="snap1"),
            Attachment("log.txt", "zeile ä\n".encode()),
            Attachment("image.png", PNG),
            Attachment("blob", b"\x00\x01"),
        ],
    )
    when = datetime(2026, 11, 21, 14, 30, tzinfo=UTC)
    message = build_message(
        content,
        sender="camera@example.com",
        sender_name="Site A",
        recipients=["a@example.com", "b@example.org, c@example.net", "A@example.com"],
        message_id="<fixed@example.com>",
        date=when,
    )
    parsed = _roundtrip(message)

    assert parsed["Subject"] == "Étang – Bewegung erkannt 🚨"
    assert parsed["From"] == "Site A <camera@example.com>"
    assert parsed["To"] == "a@example.com, b@example.org, c@example.net"
    assert parsed["Message-ID"] == "<fixed@example.com>"
    assert parsed["Date"] == "Sat, 21 Nov 2026 14:30:00 +0000"
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == "Caméra 1: mouvement\n"
    assert html is not None and 'src="cid:snap1"' in html.get_content()
    inline = [p for p in parsed.walk() if p.get("Content-ID") == "<snap1>"]
    assert len(inline) == 1
    assert inline[0].get_content() == b"\xff\xd8jpeg-1\xff\xd9"
    assert inline[0].get_content_type() == "image/jpeg"
    attached = {
        p.get_filename(): (p.get_content_type(), p.get_payload(decode=True))
        for p in parsed.iter_attachments()
    }
    assert attached == {
        "log.txt": ("text/plain", "zeile ä\n".encode()),
        "image.png": ("image/png", PNG),
        "blob": ("application/octet-stream", b"\x00\x01"),
    }


def test_generated_message_id_and_date() -> None:
    message = build_message(
        EmailContent("s", "t"), sender="cam@example.com", recipients=["o@example.com"]
    )
    assert message["Message-ID"].startswith("<")
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"]
    assert not message.is_multipart()


@pytest.mark.parametrize(
    "evil",
    [
        "Alert\r\nBcc: victim@example.org",
        "Alert\nBcc: victim@example.org",
        "Alert\rBcc: victim@example.org",
        "Alert\u2028Bcc: victim@example.org",
        "Alert\x85Bcc: victim@example.org",
        "Alert\r\n\r\nInjected body",
    ],
)
def test_header_injection_through_subject_and_name(evil: str) -> None:
    message = build_message(
        EmailContent(subject=evil, text="body", attachments=[Attachment(evil, b"x")]),
        sender="cam@example.com",
        sender_name=evil,
        recipients=["owner@example.com"],
    )
    raw = message.as_bytes()
    parsed = _roundtrip(message)
    assert parsed.get_all("Bcc") is None
    assert b"\r\nBcc:" not in raw
    assert b"\nInjected body" not in raw.split(b"\r\n\r\n", 1)[0]
    assert parsed["Subject"] == one_line(evil)
    assert "\n" not in parsed["Subject"] and "\r" not in parsed["Subject"]
    assert parsed["To"] == "owner@example.com"


@pytest.mark.parametrize(
    "evil_recipient",
    [
        "owner@example.com\r\nBcc: victim@example.org",
        "owner@example.com\nCc: victim@example.org",
        "owner@example.com>\r\nRCPT TO:<victim@example.org",
        "Owner <owner@example.com>",
        "no-at-sign",
        "two@@example.com",
        "spaces in@example.com",
        "dots@example..com",
    ],
)
def test_bad_recipients_are_refused(evil_recipient: str) -> None:
    with pytest.raises(InvalidAddressError) as err:
        build_message(EmailContent("s", "t"), sender="cam@example.com", recipients=[evil_recipient])
    assert "\n" not in err.value.address and "\r" not in err.value.address


def test_bad_sender_is_refused() -> None:
    with pytest.raises(InvalidAddressError):
        build_message(
            EmailContent("s", "t"),
            sender="cam@example.com\r\nBcc: victim@example.org",
            recipients=["owner@example.com"],
        )


def test_no_recipients_is_refused() -> None:
    with pytest.raises(InvalidAddressError):
        build_message(EmailContent("s", "t"), sender="cam@example.com", recipients=[" ", ""])


def test_address_normalisation() -> None:
    assert normalize_address("  user@example.com ") == "user@example.com"
    assert normalize_address("nvr@localhost") == "nvr@localhost"
    assert normalize_addresses(["a@x.io; b@y.io", "A@X.io", ""]) == ["a@x.io", "b@y.io"]
    with pytest.raises(InvalidAddressError):
        normalize_address("x" * 250 + "@example.com")
