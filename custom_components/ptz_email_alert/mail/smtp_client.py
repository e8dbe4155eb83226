"""aiosmtplib's client, made for slow links: fewer round trips, its own connect.

On a 4G link every round trip costs 100-400 ms, so this client:
- pipelines MAIL FROM, every RCPT TO and DATA in one write when the server offers PIPELINING
  (RFC 2920) and reads the replies after (one turn each without it); aiosmtplib's protocol
  drops replies that arrive together, so :class:`PipeliningProtocol` keeps them;
- logs in with AUTH PLAIN and its initial response (one turn) before CRAM-MD5 (two) over TLS;
- writes QUIT and hangs up without waiting for the reply (the mail is already accepted).

It also opens the connection itself (:meth:`LinkClient._create_connection`), which lets it:
- connect to the addresses the name last resolved to when resolution fails, with TLS still
  checked against the name (:class:`KnownAddresses`);
- suspect an implicit-TLS port only when the greeting itself is late (a TLS probe races it),
  not when a slow link makes the whole login slow;
- tell a TLS handshake that stalls after the TCP connect from a server that never answers;
- tell a link that stalls from one that is slow: the timeout runs while no byte moves, so a
  message that takes a minute to go out on a weak uplink is not cut off after the timeout;
- read the bytes the socket sent (``TCP_INFO``) for the ``data_sent`` counter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
import contextlib
import functools
import ipaddress
import logging
import socket
from typing import Any

import aiosmtplib
from aiosmtplib.email import parse_address, quote_address
from aiosmtplib.response import SMTPResponse

from .errors import FailureCause, SmtpError
from .link_watch import KnownAddresses, StallError
from .smtp_protocol import PipeliningProtocol
from .tasks import cancel_and_wait
from .tcp_info import tcp_counters
from .wire import data_pieces, wire_size

_LOGGER = logging.getLogger(__name__)

# How long to wait for the server's greeting, once TCP is connected, before suspecting an
# implicit-TLS port: a STARTTLS client on port 465 would otherwise sit silent until the full
# timeout, both sides waiting for the other to speak first. The greeting needs one round trip
# after the connect, so even 400 ms links stay well inside this.
GREETING_GRACE = 1.0


type Probe = Callable[[], Awaitable[bool]]


class LinkClient(aiosmtplib.SMTP):
    """An aiosmtplib client that connects by itself and pipelines (see the module text)."""

    def __init__(
        self,
        *,
        known: KnownAddresses | None = None,
        probe: Probe | None = None,
        server: str = "",
        **kwargs: Any,
    ) -> None:
        """``probe``: tells whether the port speaks TLS first (used when the greeting is late).

        The other arguments are aiosmtplib's.
        """
        super().__init__(**kwargs)
        self._known = known
        self._probe = probe
        self._server = server
        self._raw_socket: Any = None
        self._bytes_before = 0
        self.used_known_address = False
        if kwargs.get("use_tls") or kwargs.get("start_tls"):
            # Over TLS, PLAIN with its initial response is one turn and no less safe.
            self.AUTH_METHODS = ("plain", "login", "cram-md5")

    # Connecting -----------------------------------------------------------------------------

    async def _create_connection(self, timeout: float | None) -> SMTPResponse:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        assert self.hostname is not None
        assert self.port is not None
        addresses = await self._resolve(self.hostname, self.port)
        protocol, transport = await self._connect_tcp(loop, addresses, timeout)
        self._raw_socket = transport.get_extra_info("socket")
        self._bytes_before = 0
        if self.use_tls:
            context = await self._get_tls_context()
            try:
                async with asyncio.timeout(timeout):
                    tls = await loop.start_tls(
                        transport, protocol, context, server_hostname=self.hostname
                    )
                if tls is None:  # the connection was lost during the handshake
                    raise aiosmtplib.SMTPServerDisconnected("Connection lost in the TLS handshake")
                transport = tls
            except (TimeoutError, ConnectionAbortedError) as err:
                raise aiosmtplib.SMTPConnectTimeoutError("Timed out in the TLS handshake") from err
            protocol.transport = transport
            protocol._over_ssl = True  # what the protocol's own start_tls sets
        self.protocol = protocol
        self.transport = transport
        response = await self._greeting(protocol, timeout)
        if response.code != 220:
            raise aiosmtplib.SMTPConnectResponseError(response.code, response.message)
        return response

    async def _resolve(self, host: str, port: int) -> list[str]:
        with contextlib.suppress(ValueError):
            return [str(ipaddress.ip_address(host))]  # an address: nothing to resolve
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except socket.gaierror as err:
            known = self._known
            if known is None or not known.addresses:
                raise
            known.used += 1
            self.used_known_address = True
            if not known.warned:
                known.warned = True
                _LOGGER.warning(
                    "%s does not resolve (%s); connecting to its last known address %s, with "
                    "TLS still checked against the name",
                    host,
                    err.strerror or err,
                    ", ".join(known.addresses),
                )
            return list(known.addresses)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        known = self._known
        if known is not None:
            known.warned = False
        if known is not None and tuple(addresses) != known.addresses:
            known.addresses = tuple(addresses)
            if known.changed is not None:
                known.changed(known.addresses)
        return addresses

    async def _connect_tcp(
        self, loop: asyncio.AbstractEventLoop, addresses: Sequence[str], limit: float | None
    ) -> tuple[PipeliningProtocol, asyncio.Transport]:
        """The first address that takes a TCP connection (in the resolver's order)."""
        error: Exception | None = None
        port = self.port or 0
        for address in addresses:
            protocol = PipeliningProtocol(
                loop=loop, connection_lost_callback=self._on_connection_lost
            )
            try:
                transport, _ = await asyncio.wait_for(
                    loop.create_connection(
                        lambda protocol=protocol: protocol,
                        address,
                        port,
                        local_addr=self.source_address,
                    ),
                    limit,
                )
            except TimeoutError as err:
                error = aiosmtplib.SMTPConnectTimeoutError(
                    f"Timed out connecting to {self.hostname} on port {self.port}"
                )
                error.__cause__ = err
            except OSError as err:
                error = aiosmtplib.SMTPConnectError(
                    f"Error connecting to {self.hostname} on port {self.port}: {err}"
                )
                error.__cause__ = err
            else:
                return protocol, transport
        assert error is not None
        raise error

    async def _greeting(self, protocol: PipeliningProtocol, limit: float | None) -> SMTPResponse:
        """The server's first words; a probe races them when they are late (not TLS yet)."""
        greeting = asyncio.ensure_future(protocol.read_response(timeout=limit))
        probe: asyncio.Future[bool] | None = None
        try:
            if not self.use_tls and self._probe is not None:
                done, _ = await asyncio.wait({greeting}, timeout=GREETING_GRACE)
                if not done:
                    probe = asyncio.ensure_future(self._probe())
                    await asyncio.wait({greeting, probe}, return_when=asyncio.FIRST_COMPLETED)
                    if not greeting.done() and await probe:
                        raise SmtpError(
                            FailureCause.TLS_MODE_MISMATCH,
                            "the server expects TLS from the first byte (implicit TLS, "
                            "usually port 465): choose SSL/TLS instead of STARTTLS",
                            server=self._server,
                        )
            return await greeting
        except aiosmtplib.SMTPServerDisconnected as err:
            raise aiosmtplib.SMTPConnectError(f"Error connecting: {err}") from err
        except aiosmtplib.SMTPTimeoutError as err:
            raise aiosmtplib.SMTPConnectTimeoutError(
                "Timed out waiting for server ready message"
            ) from err
        finally:
            for task in (probe, greeting):
                if task is not None:
                    await cancel_and_wait(task)

    async def starttls(self, **kwargs: Any) -> SMTPResponse:
        """STARTTLS; a handshake that stalls after the server's plain words is a stall."""
        try:
            return await super().starttls(**kwargs)
        except aiosmtplib.SMTPTimeoutError as err:
            raise StallError(
                "tls",
                "the TLS handshake stalled after STARTTLS (the server had answered in plain text)",
                server=self._server,
            ) from err

    # Counting ------------------------------------------------------------------------------

    def bytes_sent(self) -> int | None:
        """TCP payload bytes this connection has sent so far (Linux), else None."""
        counters = tcp_counters(self._raw_socket)
        return counters.bytes_sent if counters is not None else None

    def _bytes_stuck(self) -> bool:
        """Bytes we wrote are still waiting, in asyncio's buffer or in the kernel (Linux).

        Data that does not get through, unlike a server that has it all and is slow to answer.
        """
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and transport.get_write_buffer_size():
            return True
        counters = tcp_counters(self._raw_socket)
        return counters is not None and counters.waiting

    def _mark(self) -> tuple[int, int]:
        """Changes while our bytes leave: the bytes the server has (Linux), asyncio's buffer."""
        transport = self.transport
        buffered = 0
        if isinstance(transport, asyncio.WriteTransport):
            buffered = transport.get_write_buffer_size()
        counters = tcp_counters(self._raw_socket)
        return (counters.bytes_acked if counters is not None else 0, buffered)

    async def _while_moving[T](self, wait: Callable[[], Awaitable[T]], detail: str) -> T:
        """``wait()`` (it times out by itself), again while the bytes written still move.

        So the timeout counts from the last byte that moved. Then, with nothing of ours
        waiting, the server is slow: its timeout is raised as it is; with bytes waiting, the
        link stalled: :class:`StallError`.
        """
        while True:
            mark = self._mark()
            try:
                return await wait()
            except (aiosmtplib.SMTPTimeoutError, TimeoutError) as err:
                if self._mark() != mark:
                    continue  # slow, not stalled
                if not self._bytes_stuck():
                    raise
                raise StallError("data", detail, server=self._server) from err

    async def _write_body(self, protocol: PipeliningProtocol, message: bytes) -> None:
        """The DATA section in pieces, each when the transport takes more (memory stays flat)."""

        async def writable() -> None:
            async with asyncio.timeout(self.timeout):
                await protocol.writable()

        for piece in data_pieces(message):
            await self._while_moving(
                writable, f"no byte of the message body went out in {self.timeout:g} s"
            )
            protocol.write(piece)

    def bytes_since_last(self) -> int | None:
        """Bytes sent since the previous call (the first call: since the connect)."""
        total = self.bytes_sent()
        if total is None:
            return None
        delta, self._bytes_before = total - self._bytes_before, total
        return delta

    # Sending -------------------------------------------------------------------------------

    async def ehlo_or_helo_if_needed(self) -> None:
        """EHLO unless done on this connection (PIPELINING is known after it)."""
        await self._ehlo_or_helo_if_needed()

    @property
    def pipelining(self) -> bool:
        """The server offered PIPELINING after the last EHLO."""
        return self.supports_extension("pipelining")

    async def send_transaction(
        self, sender: str, recipients: Sequence[str], message: bytes
    ) -> tuple[dict[str, SMTPResponse], str]:
        """MAIL FROM, every RCPT TO and DATA, then the body as the link takes it.

        With PIPELINING the commands go in one write (two turns); without, one turn each.
        Raises what aiosmtplib's ``sendmail`` raises, so errors are classified alike.
        """
        protocol = self.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Server not connected")
        assert isinstance(protocol, PipeliningProtocol)
        timeout = self.timeout
        parse_address(sender)
        for recipient in recipients:
            parse_address(recipient)
        size = wire_size(message)
        mail = b"MAIL FROM:" + quote_address(sender).encode("ascii")
        if self.supports_extension("size"):
            mail += f" SIZE={size}".encode("ascii")
        commands = [mail] + [b"RCPT TO:" + quote_address(r).encode("ascii") for r in recipients]
        try:
            mail_reply, *rcpt_replies, data_reply = await self._commands(
                protocol, [*commands, b"DATA"]
            )
            refused = {
                address: reply
                for address, reply in zip(recipients, rcpt_replies, strict=True)
                if reply.code not in (250, 251)
            }
            failure: aiosmtplib.SMTPException | None = None
            if mail_reply.code != 250:
                failure = aiosmtplib.SMTPSenderRefused(mail_reply.code, mail_reply.message, sender)
            elif len(refused) == len(recipients):
                failure = aiosmtplib.SMTPRecipientsRefused(
                    [
                        aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, address)
                        for address, reply in refused.items()
                    ]
                )
            elif data_reply.code != 354:
                failure = aiosmtplib.SMTPDataError(data_reply.code, data_reply.message)
            if failure is not None:
                if data_reply.code == 354:  # the server waits for a body: give it none
                    protocol.write(b".\r\n")
                    await protocol.read_response(timeout=timeout)
                await self._reset(protocol)
                raise failure
            await self._write_body(protocol, message)
            # A plain timeout when the server has it all and is slow to answer.
            response = await self._while_moving(
                functools.partial(protocol.read_response, timeout=timeout),
                f"no reply within {timeout:g} s after the message body ({size} bytes), "
                "and no byte of it moved in that time",
            )
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, StallError):
            self.close()  # out of step with the server: never pair a late reply wrongly
            raise
        if response.code != 250:
            await self._reset(protocol)
            raise aiosmtplib.SMTPDataError(response.code, response.message)
        return refused, response.message

    async def _commands(
        self, protocol: PipeliningProtocol, commands: list[bytes]
    ) -> list[SMTPResponse]:
        """The replies to ``commands``: all written at once when pipelining, else in turn."""
        if self.pipelining:
            protocol.write(b"".join(command + b"\r\n" for command in commands))
            return [await protocol.read_response(timeout=self.timeout) for _ in commands]
        replies = []
        for command in commands:
            protocol.write(command + b"\r\n")
            replies.append(await protocol.read_response(timeout=self.timeout))
        return replies

    async def _reset(self, protocol: PipeliningProtocol) -> None:
        """RSET after a failed transaction, so the next message starts clean."""
        try:
            protocol.write(b"RSET\r\n")
            await protocol.read_response(timeout=self.timeout)
        except (aiosmtplib.SMTPException, ConnectionError):
            pass

    def quit_now(self) -> int:
        """Say QUIT and hang up without waiting for the reply (one turn saved per connection).

        Returns the bytes this sent after the last message was counted: QUIT, and TLS's
        close_notify alert (24 bytes in TLS 1.3), which the transport writes as it closes.
        """
        protocol = self.protocol
        tail = 0
        if protocol is not None and protocol.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPServerDisconnected):
                protocol.write(b"QUIT\r\n")
                tail = (self.bytes_since_last() or 0) + (24 if protocol._over_ssl else 0)
        self.close()
        return tail
