"""Durable storage for the outbox: the index in a ``Store``, each message in its own file."""

from __future__ import annotations

import os
from pathlib import Path
import shutil
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import STORAGE_DIR, Store

from .const import DOMAIN

STORAGE_VERSION = 1


class OutboxFiles:
    """Backs :class:`~.mail.OutboxStorage` with Home Assistant's storage folder."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """``.storage/ptz_email_alert.outbox.<entry>`` and ``.storage/ptz_email_alert/<entry>/``."""
        self._hass = hass
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.outbox.{entry_id}", atomic_writes=True
        )
        self.folder = Path(hass.config.path(STORAGE_DIR, DOMAIN, entry_id))

    async def async_load(self) -> dict[str, Any] | None:
        """The saved index."""
        return await self._store.async_load()

    async def async_save(self, data: dict[str, Any]) -> None:
        """Save the index now (not delayed: an item must be on disk before it is tried)."""
        await self._store.async_save(data)

    async def async_write_body(self, item_id: str, data: bytes) -> None:
        """Write one message durably (temporary file, fsync, rename)."""
        await self._hass.async_add_executor_job(self._write, item_id, data)

    async def async_read_body(self, item_id: str) -> bytes | None:
        """Read one message, or None if its file is gone."""
        return await self._hass.async_add_executor_job(self._read, item_id)

    async def async_delete_body(self, item_id: str) -> None:
        """Delete one message's file."""
        await self._hass.async_add_executor_job(self._delete, item_id)

    async def async_remove(self) -> None:
        """Delete everything (the account was removed)."""
        await self._store.async_remove()
        await self._hass.async_add_executor_job(shutil.rmtree, self.folder, True)

    def _path(self, item_id: str) -> Path:
        return self.folder / f"{item_id}.eml"

    def _write(self, item_id: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self._path(item_id).with_suffix(".tmp")
        with temporary.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self._path(item_id))

    def _read(self, item_id: str) -> bytes | None:
        try:
            return self._path(item_id).read_bytes()
        except FileNotFoundError:
            return None

    def _delete(self, item_id: str) -> None:
        self._path(item_id).unlink(missing_ok=True)
