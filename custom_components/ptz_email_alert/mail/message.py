"""Build RFC 5322 messages: text + optional HTML, attachments, safe headers.

Every header value passes through :func:`one_line`, so no value (a subject template, a camera
name, an address) can start a new header line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
import mimetypes
import re

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
# A pragmatic address check: one @, a dotted domain, no spaces or control characters.
_ADDRESS = re.compile(r"^[^@\s\"<>()\[\],;:\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_LOCAL_DOMAIN = re.compile(r"^[A-Za-z0-9-]+$")


class InvalidAddressError(ValueError):
    """An email address that cannot be used."""

    def __init__(self, address: str) -> None:
        """Keep the offending address (cleaned to one line) for the error message."""
        self.address = one_line(address)
        super().__init__(f"invalid email address: {self.address!r}")


def one_line(value: str) -> str:
    """Neutralise CR, LF and other control characters: a value can never add a header line."""
    return " ".join(_CONTROL_CHARS.sub(" ", value).split())


def normalize_address(value: str) -> str:
    """Return ``value`` as a bare address, or raise :class:`InvalidAddressError`.

    A domain without a dot is accepted only as ``user@localhost``-style names for LAN relays.
    """
    if _CONTROL_CHARS.search(value):
        raise InvalidAddressError(value)
    address = value.strip()
    if not _ADDRESS.match(address):
        raise InvalidAddressError(value)
    domain = address.rsplit("@", 1)[1]
    if "." not in domain and not _LOCAL_DOMAIN.match(domain):
        raise InvalidAddressError(value)
    if ".." in domain or len(address) > 254:
        raise InvalidAddressError(value)
    return address


def normalize_addresses(values: Sequence[str]) -> list[str]:
    """Validate a list of addresses, dropping blanks and duplicates but keeping order."""
    seen: dict[str, str] = {}
    for raw in values:
        for part in re.split(r"[,;]", raw):
            if not part.strip():
                continue
            address = normalize_address(part)
            seen.setdefault(address.lower(), address)
    return list(seen.values())


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to attach. ``content_id`` makes it addressable from HTML as ``cid:<id>``."""

    filename: str
    content: bytes
    content_type: str | None = None
    content_id: str | None = None

    @property
    def mime_type(self) -> tuple[str, str]:
        """Main and sub type, guessed from the file name when not given."""
        guessed = self.content_type or mimetypes.guess_type(self.filename)[0]
        if not guessed or "/" not in guessed:
            return "application", "octet-stream"
        maintype, subtype = guessed.split("/", 1)
        return maintype, subtype


@dataclass(frozen=True, slots=True)
class EmailContent:
    """What to say: independent of who sends it and to whom."""

    subject: str
    text: str
    html: str | None = None
    attachments: Sequence[Attachment] = field(default_factory=tuple)


def build_message(
    content: EmailContent,
    *,
    sender: str,
    recipients: Sequence[str],
    sender_name: str | None = None,
    message_id: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """Build a complete message; addresses are validated, every header value is one line.

    CPU work (base64 of attachments): call it from an executor when attachments are large.
    """
    from_address = normalize_address(sender)
    to_addresses = normalize_addresses(recipients)
    if not to_addresses:
        raise InvalidAddressError("")

    message = EmailMessage(policy=SMTP)
    message["Subject"] = one_line(content.subject)
    local, domain = from_address.rsplit("@", 1)
    message["From"] = Address(one_line(sender_name or ""), local, domain)
    message["To"] = ", ".join(to_addresses)
    message["Date"] = format_datetime(date or datetime.now().astimezone())
    message["Message-ID"] = one_line(message_id or make_msgid(domain=domain))
    message["X-Mailer"] = "PTZ Email Alert"

    message.set_content(content.text, subtype="plain", charset="utf-8")
    inline = [a for a in content.attachments if a.content_id and content.html]
    regular = [a for a in content.attachments if a not in inline]
    if content.html is not None:
        message.add_alternative(content.html, subtype="html", charset="utf-8")
        html_part = message.get_body(preferencelist=("html",))
        assert isinstance(html_part, EmailMessage)
        for attachment in inline:
            maintype, subtype = attachment.mime_type
            html_part.add_related(
                attachment.content,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{one_line(attachment.content_id or '')}>",
                filename=one_line(attachment.filename),
                disposition="inline",
            )
    for attachment in regular:
        maintype, subtype = attachment.mime_type
        message.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            filename=one_line(attachment.filename),
        )
    return message
