"""Durable storage for the outbox: the index in a ``Store``, each message in its own file."""

from __future__ import annotations

import logging
import os
from pathlib import Path
import shutil
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import STORAGE_DIR, Store
from homeassistant.util import json as json_util

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
BODY_SUFFIX = ".eml"
PARTIAL_SUFFIX = ".tmp"


class _IndexStore(Store[dict[str, Any]]):
    """The outbox index.

    Another version's index is handed over as it is: the outbox reads it item by item and keeps
    aside what it cannot read, so no migration can fail the entry.
    """

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        return old_data


class OutboxFiles:
    """Backs :class:`~.mail.OutboxStorage` with Home Assistant's storage folder."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """``.storage/ptz_email_alert.outbox.<entry>`` and ``.storage/ptz_email_alert/<entry>/``."""
        self._hass = hass
        self._store = _IndexStore(
            hass, STORAGE_VERSION, f"{DOMAIN}.outbox.{entry_id}", atomic_writes=True
        )
        self.folder = Path(hass.config.path(STORAGE_DIR, DOMAIN, entry_id))

    async def async_load(self) -> Any:
        """The saved index, or None if there is none.

        An index that is not JSON at all is moved aside by ``Store`` itself (it reports it and
        returns None). Valid JSON without ``Store``'s envelope makes ``Store`` raise: the
        document is then handed over as it is, for the outbox to read what it can.
        """
        try:
            return await self._store.async_load()
        # Newer Home Assistant refuses a higher version with UnsupportedStorageVersionError
        # (a HomeAssistantError); older ones reach the migration step above.
        except (KeyError, TypeError, ValueError, HomeAssistantError) as err:
            _LOGGER.error(  # noqa: TRY400 - the reason is in the message, no traceback
                "Outbox index %s is not in the expected format (%r); reading what can be read",
                self._store.path,
                err,
            )
            try:
                document = await self._hass.async_add_executor_job(
                    json_util.load_json, self._store.path
                )
            except HomeAssistantError:
                return None  # nothing readable: the outbox rebuilds from the message files
            if isinstance(document, dict) and "data" in document and "version" in document:
                return document["data"]  # Store's envelope of a version it would not read
            return document

    async def async_save(self, data: dict[str, Any]) -> None:
        """Save the index now (not delayed: an item must be on disk before it is tried)."""
        await self._store.async_save(data)

    async def async_write_body(self, item_id: str, data: bytes) -> None:
        """Write one message durably (temporary file, fsync, rename, fsync of the folder)."""
        await self._hass.async_add_executor_job(write_durably, self.folder, item_id, data)

    async def async_read_body(self, item_id: str) -> bytes | None:
        """Read one message, or None if its file is gone."""
        return await self._hass.async_add_executor_job(self._read, item_id)

    async def async_delete_body(self, item_id: str) -> None:
        """Delete one message's file."""
        await self._hass.async_add_executor_job(delete_durably, self.folder, item_id)

    async def async_list_bodies(self) -> dict[str, float]:
        """Ids of the stored messages with their modification times; partial writes go."""
        return await self._hass.async_add_executor_job(list_bodies, self.folder)

    async def async_remove(self) -> None:
        """Delete everything (the account was removed)."""
        await self._store.async_remove()
        await self._hass.async_add_executor_job(shutil.rmtree, self.folder, True)

    def _read(self, item_id: str) -> bytes | None:
        try:
            return (self.folder / f"{item_id}{BODY_SUFFIX}").read_bytes()
        except FileNotFoundError:
            return None


def write_durably(folder: Path, item_id: str, data: bytes) -> None:
    """Write ``<item_id>.eml`` in ``folder`` so that it survives a power cut once this returns.

    The file's data is synced before the rename, and the folder after it: a rename lives in the
    folder, and without that sync the index could name a file that a power cut took away.
    """
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        _fsync_folder(folder.parent)  # the new folder's own entry
    temporary = folder / f"{item_id}{PARTIAL_SUFFIX}"
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(folder / f"{item_id}{BODY_SUFFIX}")
    _fsync_folder(folder)


def delete_durably(folder: Path, item_id: str) -> None:
    """Delete ``<item_id>.eml``, synced.

    A delivered message must not come back after a power cut (it would be found as an orphan).
    """
    try:
        (folder / f"{item_id}{BODY_SUFFIX}").unlink()
    except FileNotFoundError:
        return
    _fsync_folder(folder)


def list_bodies(folder: Path) -> dict[str, float]:
    """Message ids in ``folder`` with their modification times; deletes partial writes.

    Called when the outbox loads, before anything is queued: a temporary file then is a write
    that a crash cut short, and its message was never queued.
    """
    bodies: dict[str, float] = {}
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return bodies
    for entry in entries:
        if entry.name.endswith(PARTIAL_SUFFIX):
            Path(entry.path).unlink(missing_ok=True)
        elif entry.name.endswith(BODY_SUFFIX) and entry.is_file():
            bodies[entry.name.removesuffix(BODY_SUFFIX)] = entry.stat().st_mtime
    return bodies


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
