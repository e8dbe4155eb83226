"""A real SMTP server for tests: aiosmtpd on loopback, on the test's own event loop.

Three modes: ``ssl`` (implicit TLS), ``starttls`` (STARTTLS required before AUTH) and ``none``
(plain). Real AUTH PLAIN/LOGIN against one account. It records every message and every
connection, and can be told to misbehave (see :class:`Behaviour`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
import socket
import ssl
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .certificates import Certificates
from .xoauth2_mechanism import XOAuth2Mechanism

USERNAME = "alerts@example.com"
# Distinctive, so that a test can search logs and diagnostics for it.
PASSWORD = "pw-Zq8#secret-never-logged"


@dataclass(slots=True)
class Behaviour:
    """How the server misbehaves. Replies are full SMTP lines, e.g. ``"452 4.3.1 Full"``."""

    auth_reply: str | None = None  # every AUTH fails with this reply
    mail_reply: str | None = None  # reply to MAIL FROM
    rcpt_reply: str | None = None  # reply to every RCPT TO
    rcpt_refusals: dict[str, str] = field(default_factory=dict)  # address -> reply to its RCPT
    data_reply: str | None = None  # reply after the message body
    drop_in_data: bool = False  # hang up after "354", while the client sends the body
    offer_auth: bool = True  # advertise AUTH at all
    # advertise PIPELINING (RFC 2920), as Gmail and Microsoft do; aiosmtpd reads commands one
    # by one from its stream, so it takes pipelined commands either way
    offer_pipelining: bool = True
    # DATA waits for this event before it answers (a server slow to take the body): the test
    # learns from ``TestSmtpServer.data_started`` that a message is in flight, then sets it.
    hold_data: asyncio.Event | None = None
    # AUTH XOAUTH2 (offered only when set): the access tokens it takes, for ``bearer_user``;
    # refusals in the words of ``xoauth2_style`` ("microsoft" or "google").
    bearer_tokens: set[str] | None = None
    bearer_user: str = USERNAME
    xoauth2_style: str = "microsoft"


@dataclass(slots=True)
class ReceivedMessage:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        """The message parsed back with the standard library."""
        parsed = message_from_bytes(self.raw, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, server: TestSmtpServer) -> None:
        self._server = server

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any
    ) -> list[str]:
        session.host_name = hostname
        if self._server.behaviour.offer_pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return list(responses)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if reply := self._server.behaviour.mail_reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if reply := self._server.behaviour.rcpt_reply:
            return reply
        if reply := self._server.behaviour.rcpt_refusals.get(address):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if (hold := self._server.behaviour.hold_data) is not None:
            self._server.data_started.set()
            await hold.wait()
        if reply := self._server.behaviour.data_reply:
            return reply
        login = session.auth_data
        self._server.received.append(
            ReceivedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                raw=bytes(envelope.original_content or b""),
                login=login.login.decode() if isinstance(login, LoginPassword) else None,
            )
        )
        self._server.message_received.set()
        return "250 2.0.0 OK queued"


class _MisbehavingSMTP(XOAuth2Mechanism, SMTP):
    """aiosmtpd's SMTP with the few misbehaviours that need the protocol itself."""

    def __init__(self, owner: TestSmtpServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None:  # not the TLS upgrade of a connection already counted
            self._owner.connections += 1
            self._owner.transports.append(transport)
        super().connection_made(transport)

    async def smtp_EHLO(self, hostname: str) -> None:
        if self._owner.behaviour.offer_auth:
            await super().smtp_EHLO(hostname)
            return
        # Answer without the AUTH line, as a relay that takes mail without login.
        self.session.host_name = hostname  # type: ignore[union-attr]
        self._set_rset_state()
        await self.push(f"250-{self.hostname}")
        if self.require_starttls and not self._tls_protocol and self.tls_context:
            await self.push("250-STARTTLS")
        if self._owner.behaviour.offer_pipelining:
            await self.push("250-PIPELINING")
        await self.push("250 HELP")

    async def smtp_DATA(self, arg: str) -> None:
        if self._owner.behaviour.drop_in_data:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            assert self.transport is not None
            self.transport.close()
            return
        await super().smtp_DATA(arg)


class TestSmtpServer:
    """A running aiosmtpd server on 127.0.0.1."""

    __test__ = False  # not a pytest test class

    def __init__(self, mode: str, certificates: Certificates, behaviour: Behaviour) -> None:
        self.mode = mode
        self.certificates = certificates
        self.behaviour = behaviour
        self.received: list[ReceivedMessage] = []
        self.message_received = asyncio.Event()
        self.data_started = asyncio.Event()
        self.connections = 0
        self.transports: list[asyncio.BaseTransport] = []
        self.bearer_seen: list[str] = []  # every token offered with AUTH XOAUTH2, in order
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncio.Server | None = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if self.behaviour.auth_reply:
            return AuthResult(success=False, handled=False, message=self.behaviour.auth_reply)
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == USERNAME
            and data.password.decode() == PASSWORD
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    def _protocol(self) -> SMTP:
        tls = self.certificates.server_context()
        return _MisbehavingSMTP(
            self,
            _Handler(self),
            hostname="mail.test",
            authenticator=self._authenticate,
            tls_context=tls if self.mode == "starttls" else None,
            require_starttls=self.mode == "starttls",
            auth_require_tls=self.mode == "starttls",
            auth_exclude_mechanism=[] if self.behaviour.bearer_tokens is not None else ["XOAUTH2"],
        )

    async def start(self, port: int = 0) -> None:
        """Listen on ``port`` (a free one by default; the same again after :meth:`stop`)."""
        loop = asyncio.get_running_loop()
        if self.mode == "ssl":
            _ignore_handshake_hangups(loop)
        ssl_context = self.certificates.server_context() if self.mode == "ssl" else None
        self._server = await loop.create_server(
            self._protocol, self.host, port or self.port, ssl=ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and hang up on every client."""
        if self._server is not None:
            self._server.close()
            for transport in self.transports:
                transport.close()
            await self._server.wait_closed()
            self._server = None


def _ignore_handshake_hangups(loop: asyncio.AbstractEventLoop) -> None:
    """Clients that hang up during the server's TLS handshake are expected in these tests
    (probes, STARTTLS clients on the implicit-TLS port); asyncio would report them as errors."""
    previous = loop.get_exception_handler()
    if getattr(previous, "ignores_handshake_hangups", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith("Error on transport creation") and (
            isinstance(context.get("exception"), ConnectionError | ssl.SSLError)
        ):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.ignores_handshake_hangups = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


class StallingServer:
    """Accepts TCP connections and never says a word (a hung server, a black-holed port)."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.connected = asyncio.Event()  # a client connected (clear it to wait for the next)
        self.hangups: list[asyncio.Event] = []  # one per connection, set when the client hangs up
        self._server: asyncio.Server | None = None
        self._transports: list[asyncio.BaseTransport] = []

    async def start(self) -> None:
        """Listen on a free loopback port."""
        owner = self

        class _Silent(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                owner._transports.append(transport)
                self.hangup = asyncio.Event()
                owner.hangups.append(self.hangup)
                owner.connected.set()

            def eof_received(self) -> bool:
                self.hangup.set()
                return False

            def connection_lost(self, exc: Exception | None) -> None:
                self.hangup.set()

        self._server = await asyncio.get_running_loop().create_server(_Silent, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close everything."""
        if self._server is not None:
            self._server.close()
            for transport in self._transports:
                transport.close()
            await self._server.wait_closed()


def refused_port() -> int:
    """A loopback port with nobody listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerFactory:
    """Starts servers for one test and stops them all afterwards."""

    certificates: Certificates
    started: list[TestSmtpServer | StallingServer] = field(default_factory=list)

    async def __call__(self, mode: str = "starttls", **behaviour: Any) -> TestSmtpServer:
        """Start an SMTP server in ``mode`` with the given misbehaviour."""
        server = TestSmtpServer(mode, self.certificates, Behaviour(**behaviour))
        await server.start()
        self.started.append(server)
        return server

    async def stalling(self) -> StallingServer:
        """Start a server that never answers."""
        server = StallingServer()
        await server.start()
        self.started.append(server)
        return server

    async def stop_all(self) -> None:
        """Stop every server this factory started."""
        for server in self.started:
            await server.stop()
