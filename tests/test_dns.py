"""DNS trouble: the server's name does not resolve, its last known address is used.

TLS must still be checked against the name (SNI and certificate): the address alone proves
nothing. The certificates are made in the test for ``mail.invalid``, a name that never
resolves (the ``unknown_host`` fixture answers NXDOMAIN for ``*.invalid``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
import logging
from pathlib import Path
import socket
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, DOMAIN
from custom_components.ptz_email_alert.mail import (
    Encryption,
    FailureCause,
    SendResult,
    SmtpError,
    SmtpSettings,
    send_messages,
)
from custom_components.ptz_email_alert.mail.link_watch import KnownAddresses
from homeassistant.core import HomeAssistant

from .certificates import Certificates, make_certificates
from .conftest import RECIPIENTS, SENDER, entry_data
from .smtp_server import PASSWORD, USERNAME, ServerFactory
from .test_pipelining import alert

NAME = "mail.invalid"


@pytest.fixture
def named_certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path, NAME)


@pytest.fixture
async def named_servers(
    socket_enabled: None, named_certificates: Certificates
) -> AsyncGenerator[ServerFactory]:
    factory = ServerFactory(named_certificates)
    yield factory
    await factory.stop_all()


def _settings(
    port: int, certificates: Certificates, known: KnownAddresses | None, mode: str = "ssl"
) -> SmtpSettings:
    return SmtpSettings(
        host=NAME,
        port=port,
        encryption=Encryption(mode),
        username=USERNAME,
        password=PASSWORD,
        timeout=5,
        tls_context=certificates.client_context(),  # verifies the name
        local_hostname="camera.test",
        known_addresses=known,
    )


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
async def test_unresolvable_name_falls_back_to_the_last_address(
    named_servers: ServerFactory,
    named_certificates: Certificates,
    unknown_host: str,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    server = await named_servers(mode)
    known = KnownAddresses(("127.0.0.1",))
    settings = _settings(server.port, named_certificates, known, mode)

    with caplog.at_level(logging.WARNING):
        first = await send_messages(settings, [alert()])
        second = await send_messages(settings, [alert()])

    assert [type(o) for o in (*first, *second)] == [SendResult, SendResult]
    assert isinstance(first[0], SendResult)
    assert first[0].via_known_address
    assert len(server.received) == 2
    assert known.used == 2
    # Logged once for the outage, not at every connection; no password in it.
    warnings = [r for r in caplog.records if "does not resolve" in r.getMessage()]
    assert len(warnings) == 1
    assert "127.0.0.1" in warnings[0].getMessage()
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
async def test_fallback_still_refuses_a_wrong_certificate(
    smtp_server: ServerFactory,
    named_certificates: Certificates,
    unknown_host: str,
    mode: str,
) -> None:
    """The server at the remembered address shows a certificate for another name (localhost),
    signed by the same trusted CA: the name check must refuse it."""
    impostor = await smtp_server(mode)
    trusted = Certificates(
        smtp_server.certificates.ca_file, named_certificates.cert_file, named_certificates.key_file
    )
    settings = _settings(impostor.port, trusted, KnownAddresses(("127.0.0.1",)), mode)
    (outcome,) = await send_messages(settings, [alert()])
    assert isinstance(outcome, SmtpError)
    assert outcome.cause is FailureCause.INVALID_CERT
    assert impostor.received == []


async def test_no_known_address_is_still_dns(
    named_servers: ServerFactory, named_certificates: Certificates, unknown_host: str
) -> None:
    server = await named_servers("ssl")
    (outcome,) = await send_messages(
        _settings(server.port, named_certificates, KnownAddresses()), [alert()]
    )
    assert isinstance(outcome, SmtpError)
    assert outcome.cause is FailureCause.DNS


async def test_resolved_addresses_are_remembered(
    smtp_server: ServerFactory, unknown_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The harness lets sockets reach 127.0.0.1 only; where /etc/hosts also names ::1 for
    # localhost (Debian sid), that answer would be tried first and blocked by the harness.
    resolve = socket.getaddrinfo

    def ipv4(host: Any, port: Any, family: int = 0, *args: Any, **kwargs: Any) -> Any:
        return resolve(host, port, socket.AF_INET, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", ipv4)
    server = await smtp_server("ssl")  # a certificate for localhost
    changes: list[tuple[str, ...]] = []
    known = KnownAddresses(changed=changes.append)
    settings = SmtpSettings(
        host="localhost",
        port=server.port,
        encryption=Encryption.SSL,
        username=USERNAME,
        password=PASSWORD,
        timeout=5,
        tls_context=smtp_server.certificates.client_context(),
        local_hostname="camera.test",
        known_addresses=known,
    )
    (outcome,) = await send_messages(settings, [alert()])
    assert isinstance(outcome, SendResult)
    assert not outcome.via_known_address
    assert "127.0.0.1" in known.addresses
    assert changes == [known.addresses]
    await send_messages(settings, [alert()])
    assert len(changes) == 1  # the same answer again: nothing to store


async def test_account_keeps_addresses_in_its_store_and_logs_the_fallback(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    named_servers: ServerFactory,
    unknown_host: str,
) -> None:
    """The account loads the remembered addresses from its own store (not entry.data) and the
    delivery log says when a mail went to one of them."""
    server = await named_servers("starttls")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        data=entry_data(server, host=NAME),
        options={CONF_RECIPIENTS: RECIPIENTS},
    )
    hass_storage[f"{DOMAIN}.{entry.entry_id}.addresses"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}.addresses",
        "data": {"host": NAME, "addresses": ["127.0.0.1"]},
    }
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    account = entry.runtime_data.account
    submission = await account.async_send_test_email()
    assert submission.accepted is not None
    assert len(server.received) == 1
    (line,) = account.outbox.delivery_log
    assert "last known address" in line.text
    assert account.known_addresses.used == 1
