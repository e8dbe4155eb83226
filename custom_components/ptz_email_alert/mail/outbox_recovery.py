"""Reading what a previous run left, whatever state it is in.

The index may be another version's, hand-edited or gone (Home Assistant moves an index that is
not JSON aside and reports "no data"); message files may have no index entry (a crash between
writing a message and saving the index, or a lost index). Every item that can be read is
loaded, every message file is sent, and what cannot be read is kept aside, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
import logging
from typing import Any

from .outbox_records import (
    UNKNOWN_KIND,
    CorruptRecordError,
    OutboxItem,
    OutboxStorage,
    is_safe_item_id,
    stored_kind,
)

_LOGGER = logging.getLogger(__name__)

# Unreadable index entries kept in the index for a person (or a later version) to look at.
MAX_SET_ASIDE = 50
# Only a message's header block is parsed for its subject and Message-ID.
MAX_HEADER_BYTES = 64 * 1024


@dataclass(slots=True)
class LoadedOutbox:
    """What :func:`async_read_outbox` found."""

    items: list[OutboxItem] = field(default_factory=list)
    failed_total: int = 0
    lost_total: int = 0
    last_success: float | None = None
    delivered_ids: list[str] = field(default_factory=list)
    set_aside: list[Any] = field(default_factory=list)  # everything kept aside, old and new
    recovered: int = 0  # emails rebuilt from files this time
    newly_set_aside: int = 0  # entries set aside this time


async def async_read_outbox(
    storage: OutboxStorage, *, now: Callable[[], float], server: str
) -> LoadedOutbox:
    """Load the index leniently and turn message files it does not name into items again."""
    loaded = LoadedOutbox()
    data = await storage.async_load()
    unreadable: list[tuple[Any, str | None]] = []  # (entry, the item id it seems to have)
    if data is not None and not isinstance(data, dict):
        unreadable.append((data, None))
        data = None
    data = data or {}
    raw_items = data.get("items", [])
    if not isinstance(raw_items, list):
        unreadable.append((raw_items, None))
        raw_items = []
    known: set[str] = set()
    for raw in raw_items:
        try:
            item = OutboxItem.from_dict(raw)
            if item.item_id in known:
                raise CorruptRecordError("a second entry for the same item")  # noqa: TRY301
        except CorruptRecordError as err:
            item_id = raw.get("item_id") if isinstance(raw, dict) else None
            _LOGGER.warning(
                "Outbox of %s: an index entry cannot be read (%s): %.300r", server, err, raw
            )
            unreadable.append((raw, item_id if isinstance(item_id, str) else None))
            continue
        known.add(item.item_id)
        loaded.items.append(item)
    loaded.failed_total = _number(data.get("failed_total"), int) or 0
    loaded.lost_total = _number(data.get("lost_total"), int) or 0
    loaded.last_success = _number(data.get("last_success"), float)
    ids = data.get("delivered_ids")
    loaded.delivered_ids = [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []
    previous = data.get("set_aside")
    loaded.set_aside = list(previous) if isinstance(previous, list) else []

    recovered_ids = await _async_recover_files(storage, loaded, known, now, server)
    for raw, item_id in unreadable:
        if item_id is None or item_id not in recovered_ids:  # its email was not rebuilt
            loaded.set_aside.append(raw)
            loaded.newly_set_aside += 1
    del loaded.set_aside[:-MAX_SET_ASIDE]
    # Queue order is age order: rebuilt items take their place among the others.
    loaded.items.sort(key=lambda item: item.created)
    return loaded


async def _async_recover_files(
    storage: OutboxStorage,
    loaded: LoadedOutbox,
    known: set[str],
    now: Callable[[], float],
    server: str,
) -> set[str]:
    message_ids = {item.message_id for item in loaded.items}
    delivered = set(loaded.delivered_ids)
    recovered: set[str] = set()
    stored = await storage.async_list_bodies()
    for item_id, mtime in sorted(stored.items(), key=lambda entry: entry[1]):
        if item_id in known:
            continue
        if not is_safe_item_id(item_id):
            _LOGGER.warning(
                "Outbox of %s: ignoring the file %r, not one of its own", server, item_id
            )
            continue
        data = await storage.async_read_body(item_id)
        if data is None:
            continue
        # The file's time is when it was queued; one from the future (a clock set back since)
        # would keep it from ever expiring, so it counts from now at the latest.
        item = _item_from_file(item_id, data, min(mtime, now()))
        if item.message_id in delivered or item.message_id in message_ids:
            # Delivered (a crash before its file was deleted) or queued already: not again.
            await storage.async_delete_body(item_id)
            continue
        _LOGGER.warning(
            "Outbox of %s: email %r (%s) had no index entry; queued again from its file",
            server,
            item.subject,
            item.message_id,
        )
        message_ids.add(item.message_id)
        loaded.items.append(item)
        recovered.add(item_id)
    loaded.recovered = len(recovered)
    return recovered


def _item_from_file(item_id: str, data: bytes, created: float) -> OutboxItem:
    """An item for a stored message, from the message's own headers.

    A file too damaged to parse still becomes an item: the flush then drops it as corrupt and
    says so, through the same path as any other damaged file.
    """
    message = data.partition(b"\n")[2]
    head = message[:MAX_HEADER_BYTES]
    ends = [end for end in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if end >= 0]
    head = head[: min(ends)] if ends else head
    subject = message_id = ""
    try:
        headers = BytesHeaderParser(policy=default_policy).parsebytes(head)
        subject = str(headers.get("Subject") or "")
        message_id = str(headers.get("Message-ID") or "").strip()
    except Exception:
        _LOGGER.debug("Headers of stored message %s cannot be parsed", item_id)
    return OutboxItem(
        item_id=item_id,
        message_id=message_id or f"<{item_id}@recovered.invalid>",
        kind=stored_kind(data) or UNKNOWN_KIND,
        subject=subject or "(no subject)",
        created=created,
        size=len(message),
    )


def _number[T: (int, float)](value: object, kind: type[T]) -> T | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)
