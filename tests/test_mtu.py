"""MTU trouble: small mail goes out, mail with pictures stalls in DATA -> a repair says why.

The stall is the link emulator's: after N bytes of a connection it delivers nothing more and
stops reading, so the client's kernel is left holding bytes that never get through, as on a
path that loses every full-size packet. A server that has all the data and is slow to answer
(a plain timeout) must not open the repair.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, CONF_RETRY_DELAYS, DOMAIN
from custom_components.ptz_email_alert.mail import Attachment, EmailContent
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .conftest import RECIPIENTS, SENDER, entry_data
from .link import Link, LinkProfile
from .smtp_server import ServerFactory, TestSmtpServer

FAST = LinkProfile("test", rtt=0.010, up_bps=50e6, down_bps=50e6)
STALL_AFTER = 20_000  # bytes of a connection: a test email fits, three pictures do not


async def _account(
    hass: HomeAssistant, server: TestSmtpServer, host: str, port: int
) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        data=entry_data(server, host=host, port=port, timeout=1),
        # One attempt: the retries would only repeat the stall.
        options={CONF_RECIPIENTS: RECIPIENTS, CONF_RETRY_DELAYS: [0]},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _pictures() -> EmailContent:
    # Incompressible bytes: about 60 KB of base64 after encoding.
    pictures = [Attachment(f"snap{i}.jpg", bytes(range(256)) * 60) for i in range(3)]
    return EmailContent(subject="North Fence - Human Detected", text="x", attachments=pictures)


def _mtu_issue(hass: HomeAssistant, entry: MockConfigEntry) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"mtu_suspected_{entry.entry_id}")


@pytest.fixture
async def stalling_link(smtp_server: ServerFactory) -> AsyncGenerator[tuple[TestSmtpServer, Link]]:
    server = await smtp_server("starttls")
    link = Link((server.host, server.port), FAST, stall_up_after=STALL_AFTER)
    await link.start()
    yield server, link
    await link.stop()


async def test_repair_on_a_data_stall_after_a_small_mail_passed(
    hass: HomeAssistant, stalling_link: tuple[TestSmtpServer, Link]
) -> None:
    server, link = stalling_link
    entry = await _account(hass, server, link.host, link.port)
    account = entry.runtime_data.account

    small = await account.async_send_test_email()
    assert small.accepted is not None
    assert _mtu_issue(hass, entry) is None

    big = await account.async_send(_pictures())
    assert big.accepted is None
    assert big.error is not None
    assert big.error.kind.value == "timeout"
    assert len(server.received) == 1  # the pictures never arrived

    issue = _mtu_issue(hass, entry)
    assert issue is not None
    assert issue.translation_key == "mtu_suspected"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["server"] == f"{link.host}:{link.port}"


async def test_no_repair_on_a_plain_timeout(
    hass: HomeAssistant, smtp_server: ServerFactory
) -> None:
    """The server gets every byte of the pictures and does not answer: slow, not MTU."""
    server = await smtp_server("starttls")
    entry = await _account(hass, server, server.host, server.port)
    account = entry.runtime_data.account
    assert (await account.async_send_test_email()).accepted is not None

    held = asyncio.Event()
    server.behaviour.hold_data = held
    big = await account.async_send(_pictures())
    held.set()
    assert big.error is not None
    assert big.error.kind.value == "timeout"
    assert server.data_started.is_set()  # the whole message reached the server
    assert _mtu_issue(hass, entry) is None


async def test_no_repair_when_nothing_smaller_went_out(
    hass: HomeAssistant, stalling_link: tuple[TestSmtpServer, Link]
) -> None:
    """A stall with no mail delivered before says nothing about the MTU (the link may be down)."""
    server, link = stalling_link
    entry = await _account(hass, server, link.host, link.port)
    big = await entry.runtime_data.account.async_send(_pictures())
    assert big.error is not None
    assert _mtu_issue(hass, entry) is None
