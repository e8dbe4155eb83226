"""What the outbox keeps and how it is wired: items, log lines, the stored message format.

Pure Python, like the rest of ``mail``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
import json
import re
from typing import Any, Protocol

from .errors import ErrorKind, FailureCause, SmtpError
from .sender import RawMessage, SendResult

# The kind of an item whose kind is not recorded anywhere (a recovered file of an older
# version): "alert", because the outbox drops alerts last when it is full, and an email of
# unknown importance is better kept than lost.
UNKNOWN_KIND = "alert"

# Item ids name files (``<id>.eml``): anything else in an index could reach outside the folder.
_SAFE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


class ItemState(StrEnum):
    """Where an item is in its life."""

    PENDING = "pending"  # on its retry schedule
    FAILED = "failed"  # schedule used up (or a permanent error); kept for redelivery


class DropReason(StrEnum):
    """Why an item left the outbox without being delivered."""

    EXPIRED = "expired"
    OUTBOX_FULL = "outbox_full"
    MISSING_BODY = "missing_body"
    CORRUPT = "corrupt"  # its stored file cannot be read back as a message


class CorruptRecordError(ValueError):
    """A stored item or message file that cannot be read back."""


@dataclass(slots=True)
class OutboxItem:
    """One queued email (its bytes are stored separately, by ``item_id``)."""

    item_id: str
    message_id: str
    kind: str
    subject: str
    created: float
    size: int
    attempts: int = 0
    state: ItemState = ItemState.PENDING
    next_attempt: float = 0.0
    error: ErrorKind | None = None
    redeliver: bool = True

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> OutboxItem:
        """Inverse of :meth:`as_dict`; raises :class:`CorruptRecordError`.

        Keys it does not know (another version's) are ignored; a missing required key or a
        value of the wrong type or range makes the whole item unreadable.
        """
        if not isinstance(data, dict):
            raise CorruptRecordError("an item is not an object")
        item_id = _field(data, "item_id", str)
        if not _SAFE_ID.fullmatch(item_id):
            raise CorruptRecordError(f"unusable item id {item_id!r}")
        error = _field(data, "error", str | None, None)
        try:
            state = ItemState(_field(data, "state", str, ItemState.PENDING.value))
            kind = ErrorKind(error) if error else None
        except ValueError as err:
            raise CorruptRecordError(str(err)) from err
        return cls(
            item_id=item_id,
            message_id=_field(data, "message_id", str),
            kind=_field(data, "kind", str, UNKNOWN_KIND),
            subject=_field(data, "subject", str),
            created=float(_field(data, "created", int | float)),
            size=_field(data, "size", int),
            attempts=_field(data, "attempts", int, 0),
            state=state,
            next_attempt=float(_field(data, "next_attempt", int | float, 0.0)),
            error=kind,
            redeliver=_field(data, "redeliver", bool, True),
        )


_REQUIRED: Any = object()


def _field(data: dict[str, Any], key: str, kind: Any, default: Any = _REQUIRED) -> Any:
    if key not in data:
        if default is _REQUIRED:
            raise CorruptRecordError(f"{key} is missing")
        return default
    value = data[key]
    # JSON has no separate bool: True must not pass for a number, nor 1 for a bool.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise CorruptRecordError(f"{key} is {type(value).__name__}")
    return value


def is_safe_item_id(item_id: str) -> bool:
    """True if ``item_id`` can name a message file."""
    return bool(_SAFE_ID.fullmatch(item_id))


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One line of the delivery log."""

    time: float
    server: str
    item_id: str
    message_id: str
    subject: str
    attempt: int
    error: ErrorKind
    code: int | None
    text: str
    duration: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class OutboxStorage(Protocol):
    """Durable storage of the outbox's index and of each message's bytes."""

    async def async_load(self) -> Any:
        """The saved index as stored (a dict unless damaged), or None on first use."""

    async def async_save(self, data: dict[str, Any]) -> None:
        """Save the index; must be on disk when it returns."""

    async def async_write_body(self, item_id: str, data: bytes) -> None:
        """Store one message's bytes; must be on disk when it returns."""

    async def async_read_body(self, item_id: str) -> bytes | None:
        """One message's bytes, or None if they are gone."""

    async def async_delete_body(self, item_id: str) -> None:
        """Forget one message's bytes."""

    async def async_list_bodies(self) -> dict[str, float]:
        """Ids of all stored messages, each with its file's modification time (Unix seconds).

        Also clears what an interrupted write left behind.
        """


class OutboxObserver(Protocol):
    """What the outbox reports; the Home Assistant layer turns it into events and entities."""

    def on_delivered(self, item: OutboxItem, result: SendResult) -> None:
        """The server accepted an item."""

    def on_attempt_failed(self, item: OutboxItem, error: SmtpError) -> None:
        """One attempt failed (logged once, at warning, by the observer)."""

    def on_failed(self, item: OutboxItem, error: SmtpError) -> None:
        """An item's schedule is used up (or the error is permanent): it failed for good."""

    def on_dropped(self, item: OutboxItem, reason: DropReason) -> None:
        """An item left the outbox undelivered."""

    def on_recovered(self, recovered: int, set_aside: int) -> None:
        """Loading found damage; called once, after the load.

        ``recovered`` emails were rebuilt from their files; ``set_aside`` index entries could
        not be read (they are kept in the index, not sent).
        """

    def on_changed(self) -> None:
        """Anything visible changed (counts, last error, log)."""


def pack_message(message: RawMessage, kind: str) -> bytes:
    """Envelope + bytes in one file: a header line of JSON, then the message as is.

    The kind rides along so that a file found without its index entry is rebuilt as it was.
    """
    envelope = json.dumps({"from": message.sender, "to": list(message.recipients), "kind": kind})
    return envelope.encode() + b"\n" + message.data


def unpack_message(message_id: str, data: bytes) -> RawMessage:
    """Inverse of :func:`pack_message`; raises :class:`CorruptRecordError`."""
    header, _, body = data.partition(b"\n")
    try:
        envelope = json.loads(header)
    except ValueError as err:  # also UnicodeDecodeError
        raise CorruptRecordError(f"envelope is not JSON: {err}") from err
    sender = envelope.get("from") if isinstance(envelope, dict) else None
    recipients = envelope.get("to") if isinstance(envelope, dict) else None
    if (
        not isinstance(sender, str)
        or not isinstance(recipients, list)
        or not recipients
        or not all(isinstance(address, str) for address in recipients)
        or not body
    ):
        raise CorruptRecordError("envelope or message missing")
    return RawMessage(message_id, sender, tuple(recipients), body)


async def async_read_message(storage: OutboxStorage, item: OutboxItem) -> RawMessage:
    """An item's stored message; raises FileNotFoundError or :class:`CorruptRecordError`."""
    data = await storage.async_read_body(item.item_id)
    if data is None:
        raise FileNotFoundError(item.item_id)
    return unpack_message(item.message_id, data)


async def async_read_for_send(storage: OutboxStorage, item: OutboxItem) -> RawMessage:
    """Read a checked item again when its turn in the batch comes.

    A file gone or damaged since the check (by hand, a failing disk) fails this message only:
    the batch goes on, so that what went before is recorded (never sent twice), and the next
    flush's check drops the item with its reason.
    """
    try:
        return await async_read_message(storage, item)
    except (OSError, CorruptRecordError) as err:
        raise SmtpError(FailureCause.TEMPORARY, f"its stored file changed ({err})") from err


def stored_kind(data: bytes) -> str | None:
    """The kind recorded in a stored message's envelope, if it has one."""
    try:
        envelope = json.loads(data.partition(b"\n")[0])
    except ValueError:
        return None
    kind = envelope.get("kind") if isinstance(envelope, dict) else None
    return kind if isinstance(kind, str) else None
