"""Real FTP and SFTP servers on loopback, on the test's own loop, and a queue storage on disk."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import Any

import aioftp
import asyncssh

from custom_components.ptz_email_alert.storage import (
    delete_durably,
    list_bodies,
    write_durably,
)

USER = "cam"
PASSWORD = "s3cret-upload"


class FtpServer:
    """aioftp's server: one user, files under ``root``; ``writable=False`` refuses writes."""

    def __init__(self, root: Path, *, writable: bool = True) -> None:
        """Not started yet."""
        self.root = root
        self.writable = writable
        self.server: aioftp.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> int:
        """Listen on loopback (on ``port`` again after a stop); returns the port."""
        self.root.mkdir(parents=True, exist_ok=True)
        user = aioftp.User(
            USER,
            PASSWORD,
            base_path=self.root,
            permissions=[aioftp.Permission("/", readable=True, writable=self.writable)],
        )
        self.server = aioftp.Server([user], path_io_factory=aioftp.PathIO)
        await self.server.start("127.0.0.1", port)
        self.port = self.server.address[1]
        return self.port

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self.server is not None:
            await self.server.close()
            self.server = None


class _Sftp(asyncssh.SFTPServer):
    """SFTP rooted in a folder; a "full" disk refuses every write."""

    full = False

    def __init__(self, chan: asyncssh.SSHServerChannel, root: Path) -> None:
        super().__init__(chan, chroot=str(root).encode())

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        if self.full:
            raise asyncssh.SFTPError(asyncssh.FX_NO_SPACE_ON_FILESYSTEM, "No space left")
        return super().write(file_obj, offset, data)  # type: ignore[arg-type, no-any-return]


class _SshServer(asyncssh.SSHServer):
    def __init__(self, authorized: asyncssh.SSHKey | None, logins: list[str]) -> None:
        self._authorized = authorized
        self._logins = logins

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        self._logins.append(password)
        return username == USER and password == PASSWORD

    def public_key_auth_supported(self) -> bool:
        return self._authorized is not None

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self._authorized is not None and key == self._authorized


@dataclass
class SftpServer:
    """asyncssh's server with one user (password, or a client key when given)."""

    root: Path
    host_key: asyncssh.SSHKey = field(
        default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519")
    )
    client_key: asyncssh.SSHKey | None = None
    full: bool = False
    logins: list[str] = field(default_factory=list)  # passwords offered, to prove none leak
    port: int = 0
    _server: Any = None

    async def start(self, port: int = 0) -> int:
        """Listen on loopback; returns the port."""
        self.root.mkdir(parents=True, exist_ok=True)

        def sftp(chan: asyncssh.SSHServerChannel) -> _Sftp:
            server = _Sftp(chan, self.root)
            server.full = self.full  # read per session: a test fills the disk at any time
            return server

        authorized = self.client_key.convert_to_public() if self.client_key else None
        self._server = await asyncssh.create_server(
            lambda: _SshServer(authorized, self.logins),
            "127.0.0.1",
            port,
            server_host_keys=[self.host_key],
            sftp_factory=sftp,
            allow_scp=False,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    @property
    def public_key(self) -> str:
        """The host key as the client pins it."""
        return self.host_key.export_public_key("openssh").decode().strip()

    async def stop(self) -> None:
        """Close the listener and its connections."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


class DiskStorage:
    """The outbox's storage contract on real files (index as plain JSON)."""

    def __init__(self, folder: Path) -> None:
        """Files under ``folder``."""
        self.folder = folder
        self.index = folder / "index.json"

    async def async_load(self) -> Any:
        """The index, or None."""
        return await asyncio.to_thread(self._load)

    def _load(self) -> Any:
        try:
            return json.loads(self.index.read_text())
        except FileNotFoundError:
            return None

    async def async_save(self, data: dict[str, Any]) -> None:
        """Write the index."""
        await asyncio.to_thread(self._save, data)

    def _save(self, data: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.index.write_text(json.dumps(data))

    async def async_write_body(self, item_id: str, data: bytes) -> None:
        """Store an item's bytes."""
        await asyncio.to_thread(write_durably, self.folder / "bodies", item_id, data)

    async def async_read_body(self, item_id: str) -> bytes | None:
        """An item's bytes, or None."""
        path = self.folder / "bodies" / f"{item_id}.eml"
        return await asyncio.to_thread(lambda: path.read_bytes() if path.exists() else None)

    async def async_delete_body(self, item_id: str) -> None:
        """Forget an item's bytes."""
        await asyncio.to_thread(delete_durably, self.folder / "bodies", item_id)

    async def async_list_bodies(self) -> dict[str, float]:
        """Stored item ids."""
        return await asyncio.to_thread(list_bodies, self.folder / "bodies")
