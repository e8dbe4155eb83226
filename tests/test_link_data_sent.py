"""The data_sent sensor counts bytes on the wire: within 1 % of what the link emulator carried."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, DOMAIN
from custom_components.ptz_email_alert.mail import Attachment, EmailContent
from homeassistant.core import HomeAssistant

from .conftest import RECIPIENTS, SENDER, entry_data
from .link import Link, LinkProfile
from .smtp_server import ServerFactory

FAST = LinkProfile("test", rtt=0.010, up_bps=50e6, down_bps=50e6)


@pytest.mark.parametrize(("mode", "pictures"), [("starttls", 0), ("starttls", 3), ("ssl", 3)])
async def test_data_sent_matches_the_link(
    hass: HomeAssistant, smtp_server: ServerFactory, mode: str, pictures: int
) -> None:
    server = await smtp_server(mode)
    link = Link((server.host, server.port), FAST)
    await link.start()
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        data=entry_data(server, host=link.host, port=link.port),
        options={CONF_RECIPIENTS: RECIPIENTS},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    content = EmailContent(
        subject="North Fence - Human Detected",
        text="A person.",
        attachments=[Attachment(f"{i}.jpg", bytes(range(256)) * 100) for i in range(pictures)],
    )
    submission = await entry.runtime_data.account.async_send(content)
    assert submission.accepted is not None
    await hass.async_block_till_done(wait_background_tasks=True)
    await link.idle()
    await link.stop()

    sensor = hass.states.get("sensor.camera_example_com_data_sent")
    assert sensor is not None
    wire = sensor.attributes["email_wire_bytes"]
    # Handshakes, commands and TLS records are counted, not only the message.
    assert wire > sensor.attributes["email_bytes"]
    assert wire == pytest.approx(link.stats.bytes_up, rel=0.01)
