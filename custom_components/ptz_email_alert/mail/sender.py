"""Send messages over SMTP with aiosmtplib: one connection per batch, classified errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
import contextlib
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from enum import StrEnum
import functools
import ssl
import time

import aiosmtplib
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message

from .errors import FailureCause, SmtpError, classify, detached
from .link_watch import KnownAddresses, StallError
from .smtp_client import GREETING_GRACE, LinkClient
from .tasks import cancel_and_wait

__all__ = ["GREETING_GRACE", "KnownAddresses", "StallError"]


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
    # The addresses ``host`` last resolved to, used when resolution fails (kept by the owner).
    known_addresses: KnownAddresses | None = field(default=None, repr=False, compare=False)

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
class StoredMessage:
    """A queued message, read from storage only when its turn comes.

    A batch of these holds one message in memory at a time, not the whole batch (up to 4 MB).
    ``read`` raises :class:`SmtpError` for a message it cannot read: that message fails, the
    batch goes on.
    """

    message_id: str
    read: Callable[[], Awaitable[RawMessage]]


type AnyMessage = EmailMessage | RawMessage | StoredMessage


@dataclass(frozen=True, slots=True)
class SendResult:
    """A message the server accepted."""

    message_id: str
    response: str
    duration: float
    refused_recipients: dict[str, str] = field(default_factory=dict)
    # TCP payload bytes sent for it (the connection's set-up counts with the first message of
    # a connection); None where the system does not tell (not Linux).
    wire_bytes: int | None = None
    # The server's name did not resolve: the connection went to its last known address.
    via_known_address: bool = False


class SmtpSession:
    """One SMTP connection, used as ``async with SmtpSession(settings) as session``."""

    def __init__(self, settings: SmtpSettings) -> None:
        """Prepare a client; nothing is connected until ``__aenter__``."""
        self.settings = settings
        self._oauth = settings.token_source is not None
        self._refresh = False  # the next token must be a refreshed one
        self.tail_bytes = 0  # sent after the last message: QUIT and the TLS close
        self._client = LinkClient(
            known=settings.known_addresses,
            probe=functools.partial(_speaks_implicit_tls, settings),
            server=settings.server,
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
        """Say QUIT and hang up: its reply tells nothing we need, and waiting costs a turn."""
        self.tail_bytes = self._client.quit_now()

    @property
    def client(self) -> LinkClient:
        """The connected client (for what the link tells: TLS version, bytes sent)."""
        return self._client

    async def send(self, message: AnyMessage) -> SendResult:
        """Send one message on this connection."""
        if isinstance(message, StoredMessage):
            message = await message.read()
        started = time.monotonic()
        client = self._client
        try:
            await client.ehlo_or_helo_if_needed()
            if isinstance(message, RawMessage):
                message_id = message.message_id
                refused, response = await client.send_transaction(
                    message.sender, message.recipients, message.data
                )
            else:
                message_id = str(message.get("Message-ID", ""))
                refused, response = await client.send_transaction(
                    extract_sender(message) or "",
                    extract_recipients(message),
                    flatten_message(message, cte_type="7bit"),
                )
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError) as err:
            raise classify(err, self.settings.server) from err
        return SendResult(
            message_id=message_id,
            response=response,
            duration=time.monotonic() - started,
            refused_recipients={
                address: f"{reply.code} {reply.message}" for address, reply in refused.items()
            },
            wire_bytes=client.bytes_since_last(),
            via_known_address=client.used_known_address,
        )

    async def _connect(self) -> None:
        # The connect runs as its own task, so that a cancellation ends it where it stands and
        # closes its socket (the client's own clean-up), probe included.
        connect = asyncio.ensure_future(self._client.connect())
        try:
            await connect
        finally:
            await cancel_and_wait(connect)


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
    settings: SmtpSettings, messages: Sequence[AnyMessage]
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
                    outcomes.append(detached(err))
                    if err.cause in _CONNECTION_LOST:
                        break
    except SmtpError as err:
        outcomes.append(detached(err))
    else:
        # The connection's last bytes are the last delivered message's (for data counters).
        last = next((i for i in reversed(range(len(outcomes))) if _counted(outcomes[i])), None)
        if last is not None and session.tail_bytes:
            result = outcomes[last]
            assert isinstance(result, SendResult)
            assert result.wire_bytes is not None
            outcomes[last] = replace(result, wire_bytes=result.wire_bytes + session.tail_bytes)
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


def _counted(outcome: SendResult | SmtpError) -> bool:
    return isinstance(outcome, SendResult) and outcome.wire_bytes is not None


_CONNECTION_LOST = frozenset(
    {FailureCause.DISCONNECTED, FailureCause.TIMEOUT, FailureCause.TLS, FailureCause.REFUSED}
)
