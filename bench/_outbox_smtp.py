"""The loopback SMTP server the benches send to (aiosmtpd, STARTTLS and AUTH required) and
its certificate: shared by outbox_flush.py, cameras.py and the soak, through outbox_flush."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
from pathlib import Path
import ssl
import tempfile
from typing import Any

from _outbox_settings import HOST, PASSWORD, USERNAME
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Loopback server ---------------------------------------------------------------------------


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (server context, verifying client context)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain only reads files.
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        server.load_cert_chain(cert_file, key_file)
    # Verify as in production: the client trusts exactly this certificate.
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


class LoopbackSmtp:
    """aiosmtpd on the running loop: STARTTLS and AUTH required, PIPELINING offered; counts,
    keeps no content."""

    def __init__(self, tls: ssl.SSLContext) -> None:
        self._tls = tls
        self.connections = 0
        self.messages = 0
        self.bytes = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    def _protocol(self) -> SMTP:
        # The factory runs once per accepted TCP connection (not again for the STARTTLS upgrade).
        self.connections += 1
        return SMTP(
            self,
            hostname="bench.test",
            tls_context=self._tls,
            require_starttls=True,
            auth_require_tls=True,
            authenticator=self._authenticate,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USERNAME.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any
    ) -> list[str]:
        # PIPELINING offered, as Gmail, Microsoft and Postfix do (aiosmtpd reads commands one
        # at a time anyway, so pipelined commands are answered in order).
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.messages += 1
        self.bytes += len(envelope.original_content or b"")
        return "250 2.0.0 OK queued"

    async def start(self) -> None:
        # aiosmtpd warns on every login that it sets its own deprecated Session.login_data.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
