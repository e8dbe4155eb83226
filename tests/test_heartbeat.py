"""Heartbeat emails: hourly or daily, missed (event, push) and recovered, or refused.

A real SMTP server on loopback; time moves with the harness's frozen clock.
"""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.ptz_email_alert.const import EVENT_HEARTBEAT_MISSED
from homeassistant.core import HomeAssistant, ServiceCall

from .conftest import SENDER
from .delivery_helpers import PREFIX, advance, setup_account, state
from .smtp_server import ServerFactory


async def test_heartbeat_missed_then_recovered(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    pushes: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        pushes.append(call)

    hass.services.async_register("notify", "my_phone", phone)
    server = await smtp_server("starttls")
    entry = await setup_account(
        hass, server, heartbeat_interval="1h", heartbeat_grace=15, fallback_notify="notify.my_phone"
    )
    missed = async_capture_events(hass, EVENT_HEARTBEAT_MISSED)
    port = server.port

    await advance(hass, freezer, 3600)  # first heartbeat: accepted
    assert [r.message["Subject"] for r in server.received] == [f"Heartbeat – {SENDER}"]
    assert "0 waiting" in server.received[0].message.get_content()
    assert state(hass, f"binary_sensor.{PREFIX}_heartbeat_missed") == "off"
    assert state(hass, f"sensor.{PREFIX}_last_heartbeat") != "unknown"

    await server.stop()
    await advance(hass, freezer, 3600)  # due, refused, retried
    await advance(hass, freezer, 14 * 60)
    assert missed == []
    await advance(hass, freezer, 60)  # grace passed
    assert state(hass, f"binary_sensor.{PREFIX}_heartbeat_missed") == "on"
    assert len(missed) == 1
    assert missed[0].data["server"] == f"127.0.0.1:{port}"
    assert [call.data["title"] for call in pushes] == [
        f"Email not delivered: {SENDER}",
        f"Heartbeat missed: {SENDER}",
    ]

    await server.start(port)
    await advance(hass, freezer, 45 * 60)  # next heartbeat (and the one left over) accepted
    assert state(hass, f"binary_sensor.{PREFIX}_heartbeat_missed") == "off"
    assert len(missed) == 1
    assert entry.runtime_data.heartbeat.missed is False


async def test_daily_heartbeat(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    await hass.config.async_set_time_zone("UTC")
    freezer.move_to("2026-11-21 06:59:00+00:00")
    server = await smtp_server("starttls")
    await setup_account(hass, server, heartbeat_interval="daily", heartbeat_time="07:00:00")
    await advance(hass, freezer, 55)
    assert server.received == []
    await advance(hass, freezer, 10)
    assert [r.message["Subject"] for r in server.received] == [f"Heartbeat – {SENDER}"]
    body = server.received[0].message.get_body(preferencelist=("plain",))
    assert body is not None
    # The same count as the Lost emails sensor (emails kept for redelivery are not lost).
    assert "Lost emails so far (never delivered): 0" in str(body.get_content())


async def test_heartbeat_that_cannot_be_sent_is_logged(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    smtp_server: ServerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await smtp_server("starttls", data_reply="554 5.7.1 Rejected")
    await setup_account(hass, server, heartbeat_interval="1h")
    await advance(hass, freezer, 3600)
    assert "Heartbeat email of camera@example.com was not sent" in caplog.text
