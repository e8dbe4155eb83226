"""The local relay's SMTP server: aiosmtpd on the caller's event loop, never an open relay.

Pure Python. The caller decides what "accepted" means through ``accept`` (Home Assistant stores
the message in the outbox); the client gets "250" only after ``accept`` returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import logging
import ssl
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from .message import InvalidAddressError, normalize_address
from .relay_parse import transport_error
from .relay_policy import RelayPolicy, client_ip

_LOGGER = logging.getLogger(__name__)
MAX_REMEMBERED_REFUSALS = 1000


@dataclass(frozen=True, slots=True)
class IncomingMail:
    """One message a client handed over, with its envelope."""

    client: str  # IP address
    helo: str
    sender: str
    recipients: tuple[str, ...]
    data: bytes
    tls: bool
    login: str | None

    @property
    def protocol(self) -> str:
        """For the Received field: ESMTP, with S for TLS and A for a login."""
        return "ESMTP" + ("S" if self.tls else "") + ("A" if self.login else "")


type Accept = Callable[[IncomingMail], Awaitable[str]]


class _Refusals:
    """Logs each kind of refusal once per client (a camera retrying must not flood the log)."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()

    def log(self, client: str, reason: str, detail: str = "") -> None:
        key = (client, reason)
        if key in self._seen:
            _LOGGER.debug("Relay refused %s again: %s %s", client, reason, detail)
            return
        if len(self._seen) >= MAX_REMEMBERED_REFUSALS:
            self._seen.clear()
        self._seen.add(key)
        _LOGGER.warning("Relay refused %s: %s %s", client, reason, detail)


class RelayHandler:
    """aiosmtpd hooks: who may relay, to how many, and what is accepted."""

    def __init__(self, policy: RelayPolicy, accept: Accept) -> None:
        """``accept`` stores a message durably and returns its queue id, or raises."""
        self.policy = policy
        self._accept = accept
        self.refusals = _Refusals()

    def _client(self, session: Session) -> str:
        address = client_ip(session.peer)
        return str(address) if address is not None else str(session.peer)

    def _refuse(self, session: Session, reason: str, reply: str, detail: str = "") -> str:
        self.refusals.log(self._client(session), reason, detail)
        return reply

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook names
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Offer AUTH only when a login is configured and the client may use the relay."""
        session.host_name = hostname
        if self.policy.auth_required and self.policy.client_allowed(session.peer):
            return responses
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def handle_AUTH(  # noqa: N802 - aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, args: list[str]
    ) -> Any:
        """A client from elsewhere may not even try passwords."""
        if not self.policy.client_allowed(session.peer):
            return self._refuse(session, "client not allowed", "550 5.7.1 Client not allowed")
        if not self.policy.auth_required:
            return "503 5.5.1 AUTH not needed here"
        return MISSING

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """Check the login (aiosmtpd's ``authenticator``); the password is never logged."""
        ok = isinstance(data, LoginPassword) and self.policy.login_valid(data.login, data.password)
        if not ok:
            self.refusals.log(self._client(session), "wrong login")
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Client network, login and sender are checked before anything is taken."""
        if not self.policy.client_allowed(session.peer):
            return self._refuse(session, "client not allowed", "550 5.7.1 Client not allowed")
        if self.policy.auth_required and not session.authenticated:
            return self._refuse(
                session, "no login", "530 5.7.0 Authentication required", f"(sender {address})"
            )
        if not self.policy.sender_allowed(address):
            return self._refuse(
                session, "sender not allowed", "550 5.7.1 Sender not allowed", address
            )
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """At most ``max_recipients`` valid addresses."""
        if len(envelope.rcpt_tos) >= self.policy.max_recipients:
            return self._refuse(session, "too many recipients", "452 4.5.3 Too many recipients")
        try:
            envelope.rcpt_tos.append(normalize_address(address))
        except InvalidAddressError:
            return self._refuse(
                session, "bad recipient", "553 5.1.3 Bad recipient address", repr(address)
            )
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Hand the message over; "250" only once ``accept`` has stored it."""
        data = bytes(envelope.original_content or b"")
        if problem := transport_error(data):
            return self._refuse(session, "malformed message", f"554 5.6.0 {problem}")
        login = session.auth_data
        mail = IncomingMail(
            client=self._client(session),
            helo=str(session.host_name or ""),
            sender=str(envelope.mail_from or ""),
            recipients=tuple(envelope.rcpt_tos),
            data=data,
            tls=session.ssl is not None,
            login=login.login.decode(errors="replace")
            if isinstance(login, LoginPassword)
            else None,
        )
        try:
            queue_id = await self._accept(mail)
        except Exception as err:
            _LOGGER.warning("Relay could not store a message from %s: %r", mail.client, err)
            return "451 4.3.0 Cannot store the message now, try again later"
        return f"250 2.0.0 OK queued as {queue_id}"

    async def handle_exception(self, error: Exception) -> str:
        """A bug must cost one command, not the server."""
        _LOGGER.exception("Relay session error", exc_info=error)
        return "451 4.3.0 Local error"


class RelaySMTP(SMTP):
    """aiosmtpd's SMTP with a limit on connections at once (the other limits are its own)."""

    def __init__(self, server: RelayServer) -> None:
        """One protocol object per connection."""
        policy = server.handler.policy
        super().__init__(
            server.handler,
            data_size_limit=policy.max_bytes,
            hostname=server.hostname,
            ident="PTZ Email Alert relay",
            tls_context=server.tls_context,
            timeout=policy.idle_timeout,
            # Checked in handle_MAIL: aiosmtpd's own check warns at every connection.
            auth_required=False,
            auth_require_tls=not policy.allow_plain_auth,
            authenticator=server.handler.authenticate,
            command_call_limit=policy.max_commands,
            loop=asyncio.get_running_loop(),
        )
        self._owner = server
        self._counted = False
        self._over_limit = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the connection (not its TLS upgrade)."""
        if not self._counted:
            self._counted = True
            self._owner.connections.add(self)
            self._over_limit = (
                len(self._owner.connections) > self._owner.handler.policy.max_connections
            )
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        """Forget the connection."""
        self._owner.connections.discard(self)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        if self._over_limit:
            peer = client_ip(self.session.peer if self.session else None)
            self._owner.handler.refusals.log(str(peer), "too many connections")
            await self.push("421 4.7.0 Too many connections, try again later")
            if self.transport is not None:
                self.transport.close()
            return
        await super()._handle_client()


class RelayServer:
    """Listens on a port of the running loop; :meth:`async_stop` hangs up on every client."""

    def __init__(
        self,
        policy: RelayPolicy,
        accept: Accept,
        *,
        hostname: str,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """Nothing listens until :meth:`async_start`."""
        self.handler = RelayHandler(policy, accept)
        self.hostname = hostname
        self.tls_context = tls_context
        self.connections: set[RelaySMTP] = set()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int | None:
        """The port listened on (useful after starting on port 0)."""
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def async_start(self, host: str | None, port: int) -> None:
        """Listen on ``host`` (None or "": every interface). Raises OSError (port in use)."""
        self._server = await asyncio.get_running_loop().create_server(
            lambda: RelaySMTP(self), host or None, port
        )

    async def async_stop(self) -> None:
        """Stop listening and close every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for connection in list(self.connections):
            # Abort, not close: a TLS close waits up to 30 s for the client's goodbye.
            for transport in (connection.transport, connection._original_transport):
                if isinstance(transport, asyncio.WriteTransport):
                    transport.abort()
        await server.wait_closed()
