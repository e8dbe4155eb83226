"""Setup, unload and reload of an account."""

from __future__ import annotations

import asyncio

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from .smtp_server import TestSmtpServer


async def test_setup_unload_reload(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mail_server: TestSmtpServer
) -> None:
    assert setup_entry.state is ConfigEntryState.LOADED
    assert hass.states.get("notify.camera_example_com_email") is not None
    assert mail_server.connections == 0  # setup does not contact the server

    assert await hass.config_entries.async_reload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert setup_entry.state is ConfigEntryState.LOADED

    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert setup_entry.state is ConfigEntryState.NOT_LOADED
    assert [t for t in asyncio.all_tasks() if "ptz_email_alert" in repr(t)] == []


async def test_options_change_reloads(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mail_server: TestSmtpServer
) -> None:
    hass.config_entries.async_update_entry(
        setup_entry, options={CONF_RECIPIENTS: ["new@example.com"]}
    )
    await hass.async_block_till_done()
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": "notify.camera_example_com_email", "message": "hi"},
        blocking=True,
    )
    assert mail_server.received[0].rcpt_tos == ["new@example.com"]
