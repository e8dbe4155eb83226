"""The relay's STARTTLS certificate: self-signed, made once and kept (blocking: run in an executor).

Cameras cannot check a certificate of a LAN server anyway; what TLS buys here is that the
relay's password does not cross the network in clear.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_FILE = "relay-cert.pem"
KEY_FILE = "relay-key.pem"
VALID_DAYS = 3650


def _create(folder: Path, hostname: str) -> None:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64] or "relay")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(hostname or "relay")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_path = folder / KEY_FILE
    # The key is written readable by the owner only, from the first byte.
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    (folder / CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def server_context(folder: Path, hostname: str) -> ssl.SSLContext:
    """A server TLS context with the stored certificate, made on first use (or when unreadable)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(folder / CERT_FILE, folder / KEY_FILE)
    except (OSError, ssl.SSLError):
        _create(folder, hostname)
        context.load_cert_chain(folder / CERT_FILE, folder / KEY_FILE)
    return context
