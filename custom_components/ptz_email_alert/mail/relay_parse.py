"""Relayed mail: header edits for the upstream server, and a summary for events and entities.

Header edits work on bytes and touch only the header fields they name: cameras send quirky
MIME, and whatever the camera sent (bodies, attachments, odd headers) goes upstream as it came.
Parsing for the summary never raises: a message it cannot read gives an empty summary.
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime as dt
from email import policy as email_policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, getaddresses
import re

_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]+")
_HELO_UNSAFE = re.compile(r"[^A-Za-z0-9.\-_:\[\]]")
_BARE_LF = re.compile(rb"(?<!\r)\n|\r(?!\n)")
MAX_NAMES = 20


def transport_error(data: bytes) -> str | None:
    """Why the body breaks SMTP's rules (bare CR or LF, NUL), or None.

    Such bytes are how messages are smuggled past the next server, and 8BITMIME forbids them.
    """
    if b"\x00" in data:
        return "NUL byte in the message"
    if _BARE_LF.search(data):
        return "bare CR or LF in the message (lines must end with CRLF)"
    return None


def _header_fields(data: bytes) -> tuple[list[bytes], int]:
    """The message's leading header fields (each with its continuation lines) and where they end.

    The header block ends at the empty line, or at the first line that is not a header field:
    everything from there on is left exactly as it is.
    """
    fields: list[bytes] = []
    position = 0
    while position < len(data):
        end = data.find(b"\r\n", position)
        end = len(data) if end < 0 else end + 2
        line = data[position:end]
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        elif _FIELD.match(line):
            fields.append(line)
        else:
            break
        position = end
    return fields, position


def _name(field: bytes) -> bytes:
    match = _FIELD.match(field)
    return match.group(1).lower() if match else b""


def _value_text(field: bytes) -> str:
    """A field's value, unfolded, as text (RFC 2047 words decoded)."""
    raw = field.split(b":", 1)[1].decode("utf-8", "replace")
    return re.sub(r"\r\n([ \t])", r"\1", raw).strip()


def _decoded(text: str) -> str:
    try:
        return str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError):
        return text


def camera_from(data: bytes) -> tuple[str, str]:
    """``(display name, address)`` of the message's From field (empty when absent)."""
    fields, _ = _header_fields(data)
    for field in fields:
        if _name(field) == b"from":
            name, address = getaddresses([_value_text(field)])[0]
            return _UNSAFE.sub(" ", _decoded(name)).strip(), address.strip()
    return "", ""


@dataclass(frozen=True, slots=True)
class Upstream:
    """What the relay adds in front of a camera's message."""

    account: str  # the envelope sender upstream, and the address in the new From
    message_id: str
    client: str  # the camera's IP address
    helo: str
    hostname: str
    protocol: str  # ESMTP, ESMTPS (TLS) or ESMTPSA (TLS and login)
    sender: str  # the camera's envelope sender
    now: dt.datetime


def rewrite_for_upstream(data: bytes, upstream: Upstream) -> bytes:
    """The message as the upstream server gets it.

    From becomes the account's address (servers refuse foreign From addresses), with the
    camera's name in the display name; the camera's From is kept as Reply-To (when it has none)
    and as X-Original-From, its Sender as X-Original-Sender. A Received trace field is added,
    and Message-ID and Date when missing. Nothing else changes.
    """
    fields, end = _header_fields(data)
    names = {_name(field) for field in fields}
    name, address = camera_from(data)
    address = address or upstream.sender
    display = _UNSAFE.sub(" ", name or address).strip()[:120]
    helo = _HELO_UNSAFE.sub("", upstream.helo)[:64] or "unknown"
    added = [
        f"Received: from {helo} ([{upstream.client}])\r\n\tby {upstream.hostname} "
        f"(PTZ Email Alert relay) with {upstream.protocol};\r\n"
        f"\t{format_datetime(upstream.now)}\r\n".encode("ascii"),
        f"From: {formataddr((display, upstream.account), charset='utf-8')}\r\n".encode(),
    ]
    kept: list[bytes] = []
    for field in fields:
        field_name = _name(field)
        if field_name == b"from":
            if b"reply-to" not in names:
                added.append(b"Reply-To:" + field.split(b":", 1)[1])
                names.add(b"reply-to")
            kept.append(b"X-Original-" + field)
        elif field_name == b"sender":
            kept.append(b"X-Original-" + field)
        else:
            kept.append(field)
    if b"from" not in names and b"reply-to" not in names and address:
        added.append(f"Reply-To: <{_UNSAFE.sub('', address)}>\r\n".encode())
    if b"message-id" not in names:
        added.append(f"Message-ID: {upstream.message_id}\r\n".encode("ascii"))
    if b"date" not in names:
        added.append(f"Date: {format_datetime(upstream.now)}\r\n".encode("ascii"))
    head = b"".join([*added, *kept])
    if kept and not kept[-1].endswith(b"\r\n"):
        head += b"\r\n"  # a message of headers only, without a final line end
    rest = data[end:]
    if not fields and rest and not rest.startswith(b"\r\n"):
        rest = b"\r\n" + rest  # no header block at all: keep the content as the body
    return head + rest


@dataclass(frozen=True, slots=True)
class MailSummary:
    """What events and entities show of a relayed message."""

    subject: str = ""
    from_name: str = ""
    from_address: str = ""
    attachments: tuple[str, ...] = ()
    image: bytes | None = None  # the first picture attached
    image_type: str | None = None


def summarize(data: bytes) -> MailSummary:
    """Subject, sender and attachments of a message (CPU: run in an executor). Never raises."""
    name, address = "", ""
    try:
        name, address = camera_from(data)
        message = BytesParser(policy=email_policy.default).parsebytes(data)
        subject = _UNSAFE.sub(" ", _decoded(str(message.get("Subject", "") or ""))).strip()
    except Exception:
        return MailSummary(from_name=name, from_address=address)
    names: list[str] = []
    image: bytes | None = None
    image_type: str | None = None
    for index, part in enumerate(_leaves(message)):
        try:
            filename = part.get_filename()
            disposition = part.get_content_disposition()
            content_type = part.get_content_type()
            if (
                not filename
                and disposition != "attachment"
                and part.get_content_maintype()
                in (
                    "text",
                    "multipart",
                )
            ):
                continue
            if len(names) < MAX_NAMES:
                names.append(_UNSAFE.sub(" ", str(filename or f"attachment-{index}"))[:200])
            if image is None and part.get_content_maintype() == "image":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes) and payload:
                    image, image_type = payload, content_type
        except Exception:  # noqa: S112 - one unreadable part must not hide the others
            continue
    return MailSummary(subject[:500], name, address, tuple(names), image, image_type)


def _leaves(message: Message) -> list[Message]:
    try:
        return [part for part in message.walk() if not part.is_multipart()]
    except Exception:
        return []


__all__ = [
    "MailSummary",
    "Upstream",
    "camera_from",
    "rewrite_for_upstream",
    "summarize",
    "transport_error",
]
