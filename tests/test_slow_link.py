"""A slow uplink that works: an email that takes longer to send than the reply timeout arrives.
And one that stops is a stall, found while the body goes out: the body is handed over as the
link takes it.

The link is the user-space emulator (tests/link.py) with a bottleneck buffer: it reads the
sender only as fast as the link sends, so the client's kernel and asyncio hold the rest, as
on a real 4G uplink. The server is a real aiosmtpd with STARTTLS and AUTH. The timeout is for
a server or a link that does nothing; bytes still leaving are not a stall, however slowly
they go. A link that stops moving bytes still is one (tests/test_mtu.py).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator
import dataclasses

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, CONF_RETRY_DELAYS, DOMAIN
from custom_components.ptz_email_alert.mail import Attachment, EmailContent, send_messages
from custom_components.ptz_email_alert.mail.link_watch import StallError
from custom_components.ptz_email_alert.mail.sender import RawMessage
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .conftest import RECIPIENTS, SENDER, entry_data
from .link import SLOW, Link
from .smtp_server import ServerFactory, TestSmtpServer
from .test_mail_sender import _settings

TIMEOUT = 1  # seconds; the pictures take about 3 s to go out


@pytest.fixture
async def slow_link(smtp_server: ServerFactory) -> AsyncGenerator[tuple[TestSmtpServer, Link]]:
    server = await smtp_server("starttls")
    link = Link((server.host, server.port), SLOW, queue_limit=4_000)
    await link.start()
    yield server, link
    await link.stop()


async def _account(hass: HomeAssistant, server: TestSmtpServer, link: Link) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        data=entry_data(server, host=link.host, port=link.port, timeout=TIMEOUT),
        # One attempt: a retry would hide a send that failed.
        options={CONF_RECIPIENTS: RECIPIENTS, CONF_RETRY_DELAYS: [0]},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _pictures() -> EmailContent:
    # Incompressible bytes: about 150 KB on the wire after base64.
    pictures = [Attachment(f"snap{i}.jpg", bytes(range(256)) * 150) for i in range(3)]
    return EmailContent(subject="North Fence - Human Detected", text="x", attachments=pictures)


async def test_pictures_longer_to_send_than_the_timeout_arrive(
    hass: HomeAssistant, slow_link: tuple[TestSmtpServer, Link]
) -> None:
    server, link = slow_link
    entry = await _account(hass, server, link)
    account = entry.runtime_data.account
    # A small email first: were the big one taken for a stall, the MTU repair would open.
    assert (await account.async_send_test_email()).accepted is not None

    outcome = await account.async_send(_pictures())

    assert outcome.error is None
    assert outcome.accepted is not None
    assert len(server.received) == 2
    assert link.stats.bytes_up > 140_000  # it did cross the slow link
    mtu = ir.async_get(hass).async_get_issue(DOMAIN, f"mtu_suspected_{entry.entry_id}")
    assert mtu is None


async def test_a_link_that_stops_is_a_stall_while_the_body_goes_out(
    smtp_server: ServerFactory,
) -> None:
    """4 MB to a link that stops after 20 KB: more than the kernel takes, so the writer waits.

    It waits for the link to take more, not for a reply to a body it never finished: the
    rest of the message stays with the sender, and the stall is told as such.
    """
    server = await smtp_server("starttls")
    link = Link((server.host, server.port), SLOW, stall_up_after=20_000)
    await link.start()
    body = b"".join(b"%07d " % n + b"x" * 92 + b"\r\n" for n in range(40_000))  # 4 MB of lines
    data = b"Subject: big\r\n\r\n" + body
    message = RawMessage("<big@example.com>", "cam@example.com", ("o@example.com",), data)
    settings = dataclasses.replace(_settings(server, timeout=1), host=link.host, port=link.port)
    try:
        (outcome,) = await send_messages(settings, [message])
    finally:
        await link.stop()

    assert isinstance(outcome, StallError)
    assert outcome.phase == "data"
    assert "no byte of the message body went out in 1 s" in str(outcome)
    assert not server.received


async def test_without_pipelining_pictures_longer_to_send_than_the_timeout_arrive(
    smtp_server: ServerFactory,
) -> None:
    """A server that does not offer PIPELINING gets the body the same way, turn by turn."""
    server = await smtp_server("starttls", offer_pipelining=False)
    link = Link((server.host, server.port), SLOW, queue_limit=4_000)
    await link.start()
    body = bytes(range(256)) * 450  # about 150 KB on the wire after base64
    message = RawMessage(
        "<pictures@example.com>",
        "cam@example.com",
        ("o@example.com",),
        b"Subject: pictures\r\n\r\n" + base64.encodebytes(body).replace(b"\n", b"\r\n"),
    )
    settings = dataclasses.replace(
        _settings(server, timeout=TIMEOUT), host=link.host, port=link.port
    )
    try:
        (outcome,) = await send_messages(settings, [message])
    finally:
        await link.stop()

    assert not isinstance(outcome, Exception), outcome
    assert len(server.received) == 1
    assert link.stats.bytes_up > 140_000  # it did cross the slow link
