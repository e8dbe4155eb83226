"""Put an alert's files on an FTP, FTPS (explicit TLS) or SFTP server, and name what failed.

Pure Python, like the rest of ``mail``: plain settings in, bytes out, one error kind per failure.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath
import re
import socket
import ssl

import aioftp
import asyncssh

from .tasks import cancel_and_wait


class UploadProtocol(StrEnum):
    """How evidence leaves the site besides email (option ``upload_protocol``)."""

    OFF = "off"
    FTP = "ftp"
    FTPS = "ftps"  # explicit TLS (AUTH TLS on the FTP port)
    SFTP = "sftp"


DEFAULT_PORTS = {UploadProtocol.FTP: 21, UploadProtocol.FTPS: 21, UploadProtocol.SFTP: 22}

# A file goes in pieces, the time limit counting for each: the least that counts as moving is
# 8 KB/s (64 kbit/s), so a piece is what that rate sends in one time limit (240 KB at 30 s).
_MOVING_RATE = 8 * 1024
_PIECE_MIN = 16 * 1024
_PIECE_MAX = 1024 * 1024


class UploadErrorKind(StrEnum):
    """Why an upload failed (delivery log, sensor attributes, events)."""

    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    TLS = "tls"
    AUTH = "auth"
    HOST_KEY = "host_key"  # the SFTP server's key is not the pinned one
    WRITE_REFUSED = "write_refused"  # full disk, no permission, bad folder name
    TEMPORARY = "temporary"
    REJECTED = "rejected"
    DISCONNECTED = "disconnected"

    @property
    def is_permanent(self) -> bool:
        """Trying again with the same settings cannot help (a person must act)."""
        return self in (UploadErrorKind.AUTH, UploadErrorKind.HOST_KEY)


class UploadError(Exception):
    """One failed upload, with its kind and a short detail (never a secret)."""

    def __init__(self, kind: UploadErrorKind, detail: str) -> None:
        """Kind and detail."""
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class UploadTarget:
    """Where files go. ``host_key`` is the pinned SFTP key (OpenSSH text), if any."""

    protocol: UploadProtocol
    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)  # PEM / OpenSSH text
    passive: bool = True
    tls_context: ssl.SSLContext | None = None  # FTPS; made by the caller off the loop
    host_key: str | None = None
    timeout: float = 30.0

    @property
    def server(self) -> str:
        """``protocol://host:port`` for logs (no login)."""
        return f"{self.protocol.value}://{self.host}:{self.port}"


async def async_upload(
    target: UploadTarget, folder: str, files: Sequence[tuple[str, bytes]]
) -> str | None:
    """Make ``folder`` (and its parents) and write each ``(name, data)`` in it.

    Returns the SFTP server's host key as seen (to pin it), None for FTP. Raises
    :class:`UploadError`.
    """
    try:
        # Connect and log in (each with its own time limit), then a limit for each step.
        async with asyncio.timeout(2 * target.timeout) as deadline:
            loop = asyncio.get_running_loop()

            def moved() -> None:
                deadline.reschedule(loop.time() + target.timeout)

            if target.protocol is UploadProtocol.SFTP:
                return await _async_sftp(target, folder, files, moved)
            await _async_ftp(target, folder, files, moved)
            return None
    except UploadError:
        raise
    except Exception as err:
        raise classify(err) from err


async def async_check(target: UploadTarget) -> str | None:
    """Connect and log in, nothing written (the options flow's test). Same returns, raises."""
    return await async_upload(target, "", [])


def _pieces(data: bytes, timeout: float) -> Iterator[bytes]:
    """``data`` in pieces, each what the least rate that counts as moving sends in ``timeout``.

    The time limit applies to each piece, so a slow link that moves gets there.
    """
    size = max(_PIECE_MIN, min(_PIECE_MAX, int(timeout * _MOVING_RATE)))
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start : start + size])


async def _async_ftp(
    target: UploadTarget,
    folder: str,
    files: Sequence[tuple[str, bytes]],
    moved: Callable[[], None],
) -> None:
    # aioftp has no active mode: "not passive" keeps to plain PASV, which NAT helpers and old
    # servers know, instead of trying EPSV first.
    commands = ("epsv", "pasv") if target.passive else ("pasv",)
    client = aioftp.Client(
        socket_timeout=target.timeout,
        connection_timeout=target.timeout,
        path_timeout=target.timeout,
        passive_commands=commands,
    )
    try:
        await client.connect(target.host, target.port)
        moved()
        if target.protocol is UploadProtocol.FTPS:
            try:
                await client.upgrade_to_tls(target.tls_context)
            except aioftp.StatusCodeError as err:
                raise UploadError(UploadErrorKind.TLS, "the server does not offer TLS") from err
            moved()
        try:
            await client.login(target.username or "anonymous", target.password)
        except aioftp.StatusCodeError as err:
            raise UploadError(UploadErrorKind.AUTH, _ftp_reply(err)) from err
        moved()
        path = PurePosixPath(folder) if folder else None
        if path is not None:
            await client.make_directory(path)
            moved()
        for name, data in files:
            target_path = path / name if path is not None else PurePosixPath(name)
            async with client.upload_stream(target_path) as stream:
                for piece in _pieces(data, target.timeout):
                    await stream.write(piece)  # returns when the socket has taken it
                    moved()
            moved()  # the server confirmed the file
        await client.quit()
    finally:
        client.close()


async def _async_sftp(
    target: UploadTarget,
    folder: str,
    files: Sequence[tuple[str, bytes]],
    moved: Callable[[], None],
) -> str | None:
    keys = [asyncssh.import_private_key(target.private_key)] if target.private_key else []
    # A pinned key is checked before the login is sent: an impostor never sees the password.
    known_hosts: (
        tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey], list[asyncssh.SSHKey]] | None
    ) = ([asyncssh.import_public_key(target.host_key)], [], []) if target.host_key else None
    connection = await asyncssh.connect(
        target.host,
        target.port,
        username=target.username or None,
        password=target.password or None,
        client_keys=keys or None,
        known_hosts=known_hosts,
        agent_path=None,
        config=None,
        connect_timeout=target.timeout,
        login_timeout=target.timeout,
    )
    try:
        moved()
        key = connection.get_server_host_key()
        seen = key.export_public_key("openssh").decode().strip() if key is not None else None
        if files or folder:
            await _sftp_write(connection, folder, files, target.timeout, moved)
        connection.close()
        await connection.wait_closed()
    except BaseException:
        # A closing handshake on a link that stopped would wait for good: hang up instead.
        connection.abort()
        raise
    return seen


async def _sftp_write(
    connection: asyncssh.SSHClientConnection,
    folder: str,
    files: Sequence[tuple[str, bytes]],
    limit: float,
    moved: Callable[[], None],
) -> None:
    sftp = await connection.start_sftp_client()
    if folder:
        await sftp.makedirs(folder, exist_ok=True)
        moved()
    for name, data in files:
        remote = await sftp.open(f"{folder}/{name}" if folder else name, "wb")
        await _sftp_pieces(remote, data, limit, moved)
        await remote.close()
        moved()
    sftp.exit()


async def _sftp_pieces(
    remote: asyncssh.SFTPClientFile, data: bytes, limit: float, moved: Callable[[], None]
) -> None:
    """Write ``data`` piece by piece, the next already on its way while one is confirmed.

    Waiting for each in turn would leave the link idle for a round trip a piece.
    """
    in_flight: deque[asyncio.Future[int]] = deque()
    offset = 0
    try:
        for piece in _pieces(data, limit):
            in_flight.append(asyncio.ensure_future(remote.write(piece, offset)))
            offset += len(piece)
            if len(in_flight) == 2:
                await in_flight.popleft()  # the server has it
                moved()
        while in_flight:
            await in_flight.popleft()
            moved()
    finally:
        for write in in_flight:  # after a failure: they go with it
            await cancel_and_wait(write)


def host_key_fingerprint(key: str) -> str:
    """``SHA256:...`` of an OpenSSH public key, as ``ssh`` shows it."""
    return str(asyncssh.import_public_key(key).get_fingerprint("sha256"))


def _ftp_reply(err: aioftp.StatusCodeError) -> str:
    codes = ",".join(str(code) for code in err.received_codes)
    text = " ".join(str(line) for line in err.info).strip()
    return f"{codes} {text}".strip()[:200]


# SFTP status codes of a write the server refused (disk full, permission, bad path).
_SFTP_WRITE_REFUSED = frozenset(
    {
        asyncssh.FX_FAILURE,
        asyncssh.FX_PERMISSION_DENIED,
        asyncssh.FX_NO_SUCH_FILE,
        asyncssh.FX_NO_SPACE_ON_FILESYSTEM,
        asyncssh.FX_QUOTA_EXCEEDED,
        asyncssh.FX_WRITE_PROTECT,
    }
)


def classify(err: BaseException) -> UploadError:
    """One error kind for anything a transfer raised."""
    detail = str(err).strip() or type(err).__name__
    if isinstance(err, asyncssh.HostKeyNotVerifiable):
        return UploadError(UploadErrorKind.HOST_KEY, "the server's host key has changed")
    if isinstance(err, asyncssh.PermissionDenied):
        return UploadError(UploadErrorKind.AUTH, "login refused")
    if isinstance(err, asyncssh.KeyImportError):
        return UploadError(UploadErrorKind.AUTH, "the private key cannot be read")
    if isinstance(err, asyncssh.SFTPError):
        if err.code in _SFTP_WRITE_REFUSED:
            return UploadError(UploadErrorKind.WRITE_REFUSED, detail)
        return UploadError(UploadErrorKind.REJECTED, detail)
    if isinstance(err, aioftp.StatusCodeError):
        codes = [str(code) for code in err.received_codes]
        if any(code in {"452", "552", "553", "550", "532"} for code in codes):
            return UploadError(UploadErrorKind.WRITE_REFUSED, _ftp_reply(err))
        if any(code.startswith("4") for code in codes):
            return UploadError(UploadErrorKind.TEMPORARY, _ftp_reply(err))
        return UploadError(UploadErrorKind.REJECTED, _ftp_reply(err))
    if isinstance(err, socket.gaierror):
        return UploadError(UploadErrorKind.DNS, detail)
    if isinstance(err, ConnectionRefusedError):
        return UploadError(UploadErrorKind.REFUSED, detail)
    if isinstance(err, TimeoutError):
        return UploadError(UploadErrorKind.TIMEOUT, "no answer in time")
    if isinstance(err, ssl.SSLError):
        return UploadError(UploadErrorKind.TLS, detail)
    if isinstance(err, asyncssh.DisconnectError | ConnectionError | EOFError):
        return UploadError(UploadErrorKind.DISCONNECTED, detail)
    if isinstance(err, OSError):
        return UploadError(UploadErrorKind.REFUSED, detail)
    return UploadError(UploadErrorKind.REJECTED, detail)


def render_folder(template: str, *, camera: str, event_type: str, when: datetime) -> str:
    """The remote folder for an alert: ``%Camera_Name%/%Date%`` by default.

    A value can never add a folder level or climb out of the base folder: slashes, ``..`` and
    control characters in it become ``_``.
    """

    def safe(value: str) -> str:
        value = re.sub(r"[/\\\x00-\x1f]", "_", value).strip()
        return "_" if value in {"", ".", ".."} else value

    values = {
        "%Camera_Name%": safe(camera),
        "%Event_Type%": safe(event_type),
        "%Date%": f"{when:%Y-%m-%d}",
        "%Time%": f"{when:%H%M%S}",
    }
    folder = template
    for key, value in values.items():
        folder = folder.replace(key, value)
    parts = [part for part in folder.split("/") if part and part not in {".", ".."}]
    return "/".join(parts)
