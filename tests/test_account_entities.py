"""The account's buttons (test email, heartbeat) and its data sent sensor.

A real SMTP server on loopback; the bytes counted are those of the message the server received.
"""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
import pytest

from homeassistant.core import HomeAssistant

from .conftest import SENDER
from .delivery_helpers import PREFIX, notify, setup_account, state
from .smtp_server import ServerFactory


async def test_buttons(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    server = await smtp_server("starttls")
    await setup_account(hass, server)
    for button in ("send_test_email", "send_heartbeat"):
        await hass.services.async_call(
            "button", "press", {"entity_id": f"button.{PREFIX}_{button}"}, blocking=True
        )
    subjects = [r.message["Subject"] for r in server.received]
    assert subjects == [f"Test email from Home Assistant ({SENDER})", f"Heartbeat – {SENDER}"]
    assert state(hass, f"sensor.{PREFIX}_last_success") != "unknown"


async def test_data_sent_counts_accepted_email_bytes(
    hass: HomeAssistant, smtp_server: ServerFactory
) -> None:
    """For 4G sites: what the account sent, in bytes (the server's copy is the measure)."""
    server = await smtp_server("starttls")
    await setup_account(hass, server)
    assert float(state(hass, f"sensor.{PREFIX}_data_sent")) == 0
    await notify(hass, "Gate alarm", "x" * 5000)
    await hass.async_block_till_done(wait_background_tasks=True)  # the flush's last report
    (received,) = server.received
    sensor = hass.states.get(f"sensor.{PREFIX}_data_sent")
    assert sensor is not None
    # Shown in MB; the attribute keeps the exact bytes (the message handed to the server).
    assert sensor.attributes["email_bytes"] == pytest.approx(len(received.raw), rel=0.05)
    assert float(sensor.state) > 0
