"""Send messages over SMTP with aiosmtplib: one connection per batch, classified errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
import contextlib
from dataclasses import dataclass, field
from email.message import EmailMessage
from enum import StrEnum
import functools
import ssl
import time
from typing import Any

import aiosmtplib

from .errors import FailureCause, SmtpError, classify

# How long to wait for the server's greeting before suspecting an implicit-TLS port. A STARTTLS
# client on port 465 would otherwise sit silent until the full timeout: both sides wait for the
# other to speak first. The probe is harmless when the greeting is merely slow.
GREETING_GRACE = 1.0


class Encryption(StrEnum):
    """How the connection is protected."""

    SSL = "ssl"  # implicit TLS from the first byte (port 465)
    STARTTLS = "starttls"  # plain connect, then STARTTLS is required (port 587)
    NONE = "none"  # plain text: only for relays on a trusted LAN


type TokenSource = Callable[[bool], Awaitable[str]]
"""Gives an OAuth2 access token for XOAUTH2. Called with True after the server refused the last
one: then it must refresh even if the token looks valid. Raises :class:`SmtpError` when no token
can be had (refresh refused: ``OAUTH_EXPIRED``; token endpoint unreachable: ``TEMPORARY``)."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Everything needed to reach and log in to one SMTP server."""

    host: str
    port: int
    encryption: Encryption
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    # The caller supplies the TLS context (Home Assistant's cached ones): building one here would
    # read the certificate store, which is blocking I/O.
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    local_hostname: str | None = None
    # OAuth2: log in with XOAUTH2 as ``username`` with tokens from here (no password).
    token_source: TokenSource | None = field(default=None, repr=False, compare=False)

    @property
    def server(self) -> str:
        """``host:port``, for logs and events."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A message already serialised, with its envelope: what the outbox stores and sends."""

    message_id: str
    sender: str
    recipients: tuple[str, ...]
    data: bytes

    @classmethod
    def from_message(cls, message: EmailMessage) -> RawMessage:
        """Serialise ``message`` (CPU: run in an executor for large attachments)."""
        sender = message["From"].addresses[0].addr_spec
        recipients = tuple(address.addr_spec for address in message["To"].addresses)
        return cls(str(message["Message-ID"]), sender, recipients, message.as_bytes())


@dataclass(frozen=True, slots=True)
class SendResult:
    """A message the server accepted."""

    message_id: str
    response: str
    duration: float
    refused_recipients: dict[str, str] = field(default_factory=dict)


class SmtpSession:
    """One SMTP connection, used as ``async with SmtpSession(settings) as session``."""

    def __init__(self, settings: SmtpSettings) -> None:
        """Prepare a client; nothing is connected until ``__aenter__``."""
        self.settings = settings
        self._oauth = settings.token_source is not None
        self._refresh = False  # the next token must be a refreshed one
        self._client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username or None,
            password=settings.password if settings.username and not self._oauth else None,
            oauth_token_generator=self._token if self._oauth else None,
            timeout=settings.timeout,
            use_tls=settings.encryption is Encryption.SSL,
            # True, never None: None silently stays in plain text when STARTTLS is not offered.
            start_tls=settings.encryption is Encryption.STARTTLS,
            tls_context=settings.tls_context,
            local_hostname=settings.local_hostname,
        )

    async def __aenter__(self) -> SmtpSession:
        """Connect, negotiate TLS and log in.

        A refused access token is refreshed and tried once more on a new connection (the server
        hangs up on a failed AUTH): it may have expired between our check and the server's.
        """
        try:
            await self._connect_classified()
        except SmtpError as err:
            if err.cause is not FailureCause.OAUTH_REJECTED:
                raise
            self._refresh = True
            await self._connect_classified()
        return self

    async def _connect_classified(self) -> None:
        try:
            await self._connect()
        except BaseException as err:
            self._client.close()
            if isinstance(err, asyncio.CancelledError):
                raise
            raise classify(err, self.settings.server, oauth=self._oauth) from err

    async def _token(self) -> str:
        assert self.settings.token_source is not None
        return await self.settings.token_source(self._refresh)

    async def __aexit__(self, *exc_info: object) -> None:
        """Say QUIT politely; a failure to do so does not matter any more."""
        try:
            async with asyncio.timeout(min(self.settings.timeout, 5.0)):
                await self._client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass
        finally:
            self._client.close()

    async def send(self, message: EmailMessage | RawMessage) -> SendResult:
        """Send one message on this connection."""
        started = time.monotonic()
        try:
            if isinstance(message, RawMessage):
                message_id = message.message_id
                refused, response = await self._client.sendmail(
                    message.sender, list(message.recipients), message.data
                )
            else:
                message_id = str(message.get("Message-ID", ""))
                refused, response = await self._client.send_message(message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError) as err:
            raise classify(err, self.settings.server) from err
        return SendResult(
            message_id=message_id,
            response=response,
            duration=time.monotonic() - started,
            refused_recipients={
                address: f"{reply.code} {reply.message}" for address, reply in refused.items()
            },
        )

    async def _connect(self) -> None:
        # The connect runs as its own task (the implicit-TLS probe races it), so a cancellation
        # or failure here must end it too: a task left behind would keep its socket open until
        # its own timeout, and its exception would never be retrieved.
        connect = asyncio.ensure_future(self._client.connect())
        probe: asyncio.Future[bool] | None = None
        try:
            if self.settings.encryption is Encryption.SSL:
                await connect
                return
            done, _ = await asyncio.wait({connect}, timeout=GREETING_GRACE)
            if done:
                connect.result()
                return
            probe = asyncio.ensure_future(_speaks_implicit_tls(self.settings))
            await asyncio.wait({connect, probe}, return_when=asyncio.FIRST_COMPLETED)
            if not connect.done() and await probe:
                raise SmtpError(
                    FailureCause.TLS_MODE_MISMATCH,
                    "the server expects TLS from the first byte (implicit TLS, usually port "
                    "465): choose SSL/TLS instead of STARTTLS",
                    server=self.settings.server,
                )
            await connect
        finally:
            for task in (probe, connect):
                if task is not None:
                    await _cancel_and_wait(task)


async def _cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` if it still runs and wait until it has cleaned up.

    Its own outcome no longer matters (the caller already has one), so it is retrieved here;
    a cancellation of the caller while it waits still propagates.
    """
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled():
        task.exception()


@functools.cache
def _probe_context() -> ssl.SSLContext:
    """The no-verify client context of the implicit-TLS probe, built once.

    Only the handshake matters (no certificate is checked and none is loaded, so building it
    reads no files); one shared context saves building one for every connection.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _speaks_implicit_tls(settings: SmtpSettings) -> bool:
    """True if a TLS handshake succeeds on the port (so it is an implicit-TLS port)."""
    try:
        async with asyncio.timeout(settings.timeout):
            _, writer = await asyncio.open_connection(
                settings.host, settings.port, ssl=_probe_context(), server_hostname=settings.host
            )
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return True


async def verify_login(settings: SmtpSettings) -> None:
    """Connect, negotiate TLS and log in, then hang up. Raises :class:`SmtpError`."""
    async with SmtpSession(settings):
        pass


async def send_messages(
    settings: SmtpSettings, messages: Sequence[EmailMessage | RawMessage]
) -> list[SendResult | SmtpError]:
    """Send ``messages`` over one connection; one outcome per message, in order.

    A failure that belongs to one message (refused, too large) does not stop the others; a
    failure of the connection fails the message in flight and every one after it.
    """
    outcomes: list[SendResult | SmtpError] = []
    try:
        async with SmtpSession(settings) as session:
            for message in messages:
                try:
                    outcomes.append(await session.send(message))
                except SmtpError as err:
                    outcomes.append(err)
                    if err.cause in _CONNECTION_LOST:
                        break
    except SmtpError as err:
        outcomes.append(err)
    last_error = next((o for o in reversed(outcomes) if isinstance(o, SmtpError)), None)
    while len(outcomes) < len(messages):
        assert last_error is not None
        outcomes.append(last_error)
    return outcomes


async def send_message(settings: SmtpSettings, message: EmailMessage | RawMessage) -> SendResult:
    """Send one message on its own connection. Raises :class:`SmtpError`."""
    (outcome,) = await send_messages(settings, [message])
    if isinstance(outcome, SmtpError):
        raise outcome
    return outcome


_CONNECTION_LOST = frozenset(
    {FailureCause.DISCONNECTED, FailureCause.TIMEOUT, FailureCause.TLS, FailureCause.REFUSED}
)
