"""What the upload queue keeps: items, log lines, the stored file format, its observer.

Pure Python, like the rest of ``mail``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
import json
from typing import Any, Protocol

from .outbox_records import CorruptRecordError, DropReason, ItemState, is_safe_item_id
from .upload_clients import UploadError, UploadErrorKind


@dataclass(slots=True)
class UploadItem:
    """One alert's files for the server (their bytes are stored by ``item_id``)."""

    item_id: str
    camera: str
    folder: str
    names: list[str]
    created: float
    size: int
    attempts: int = 0
    state: ItemState = ItemState.PENDING
    next_attempt: float = 0.0
    error: UploadErrorKind | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> UploadItem:
        """Inverse of :meth:`as_dict`; raises :class:`CorruptRecordError`."""
        try:
            if not isinstance(data, dict) or not is_safe_item_id(data["item_id"]):
                raise CorruptRecordError("not an item")
            names = data["names"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise CorruptRecordError("names")
            error = data.get("error")
            return cls(
                item_id=str(data["item_id"]),
                camera=str(data["camera"]),
                folder=str(data["folder"]),
                names=names,
                created=float(data["created"]),
                size=int(data["size"]),
                attempts=int(data.get("attempts", 0)),
                state=ItemState(data.get("state", ItemState.PENDING.value)),
                next_attempt=float(data.get("next_attempt", 0.0)),
                error=UploadErrorKind(error) if error else None,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise CorruptRecordError(str(err)) from err


@dataclass(frozen=True, slots=True)
class UploadAttempt:
    """One line of the upload log."""

    time: float
    server: str
    item_id: str
    camera: str
    files: int
    attempt: int
    error: str  # "none" or an UploadErrorKind
    detail: str


def pack_files(camera: str, folder: str, files: Sequence[tuple[str, bytes]]) -> bytes:
    """Header line of JSON (what a lost index needs to rebuild the item), then the bytes."""
    header = {"camera": camera, "folder": folder, "files": [[n, len(d)] for n, d in files]}
    return json.dumps(header).encode() + b"\n" + b"".join(data for _name, data in files)


def unpack_files(data: bytes) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """Inverse of :func:`pack_files`; raises :class:`CorruptRecordError`."""
    head, _, body = data.partition(b"\n")
    try:
        header = json.loads(head)
        entries = [(str(name), int(size)) for name, size in header["files"]]
        str(header["camera"]), str(header["folder"])
    except (ValueError, KeyError, TypeError) as err:
        raise CorruptRecordError(f"header: {err}") from err
    if sum(size for _name, size in entries) != len(body) or not entries:
        raise CorruptRecordError("stored bytes do not match their header")
    files, offset = [], 0
    for name, size in entries:
        files.append((name, body[offset : offset + size]))
        offset += size
    return header, files


class UploadObserver(Protocol):
    """What the queue reports; the Home Assistant layer turns it into entities and repairs."""

    def on_uploaded(self, item: UploadItem) -> None:
        """All files of an item are on the server."""

    def on_attempt_failed(self, item: UploadItem, error: UploadError) -> None:
        """One attempt failed."""

    def on_failed(self, item: UploadItem, error: UploadError) -> None:
        """Its schedule is used up (or the error needs a person); kept and probed."""

    def on_dropped(self, item: UploadItem, reason: DropReason) -> None:
        """An item left the queue without being uploaded."""

    def on_changed(self) -> None:
        """Anything visible changed."""
