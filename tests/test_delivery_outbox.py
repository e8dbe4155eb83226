"""The outbox loses nothing: an outage, a reload, a restart, a new Home Assistant, removal.

A real SMTP server on loopback that stops and starts again; time moves with the harness's
frozen clock; a second Home Assistant runs on the same config folder.
"""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_test_home_assistant,
)

from custom_components.ptz_email_alert.const import DOMAIN, EVENT_DELIVERED
from homeassistant import loader
from homeassistant.core import HomeAssistant

from .delivery_helpers import PREFIX, advance, notify, setup_account, state
from .smtp_server import ServerFactory


async def test_outage_then_recovery_delivers_all_in_order_over_few_connections(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    server = await smtp_server("starttls")
    entry = await setup_account(hass, server)
    port = server.port
    await server.stop()
    delivered = async_capture_events(hass, EVENT_DELIVERED)

    for number in range(20):
        await notify(hass, f"Alert {number:02d}")
        await advance(hass, freezer, 3)
    assert state(hass, f"sensor.{PREFIX}_outbox") == "20"
    for _ in range(4):
        await advance(hass, freezer, 30)  # every schedule used up: all failed, all kept
    assert entry.runtime_data.account.outbox.failed_count == 20

    connections_before = server.connections
    await server.start(port)
    await advance(hass, freezer, 300)  # the probe finds the server back

    subjects = [r.message["Subject"] for r in server.received]
    assert subjects == [f"Alert {n:02d}" for n in range(20)]
    assert len({r.message["Message-ID"] for r in server.received}) == 20
    assert server.connections - connections_before <= 2
    assert len(delivered) == 20
    assert state(hass, f"sensor.{PREFIX}_outbox") == "0"
    assert state(hass, f"binary_sensor.{PREFIX}_delivery_problem") == "off"
    assert state(hass, f"sensor.{PREFIX}_last_error") == "none"
    assert state(hass, f"sensor.{PREFIX}_lost_emails") == "0"  # all delivered: none lost

    await advance(hass, freezer, 3600)  # and nothing is sent twice
    assert len(server.received) == 20


async def test_success_redelivers_failed_items(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    server = await smtp_server("starttls", rcpt_reply="450 4.2.1 Mailbox busy")
    entry = await setup_account(hass, server)
    await notify(hass, "First")
    await advance(hass, freezer, 60)  # three attempts, then failed
    assert entry.runtime_data.account.outbox.failed_count == 1
    server.behaviour.rcpt_reply = None
    await notify(hass, "Second")  # works, and takes the failed one along
    await hass.async_block_till_done(wait_background_tasks=True)
    assert sorted(r.message["Subject"] for r in server.received) == ["First", "Second"]
    assert entry.runtime_data.account.outbox.pending_count == 0


async def test_outbox_survives_reload_and_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    server = await smtp_server("starttls")
    entry = await setup_account(hass, server)
    port = server.port
    await server.stop()
    await notify(hass, "Pending one")
    await advance(hass, freezer, 60)  # failed for good
    await notify(hass, "Pending two")  # still on its schedule
    assert entry.runtime_data.account.outbox.pending_count == 2

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data.account.outbox.pending_count == 2
    assert state(hass, f"sensor.{PREFIX}_outbox") == "2"

    # A restart: unload everything, then set up again from what is on disk.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await server.start(port)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert sorted(r.message["Subject"] for r in server.received) == ["Pending one", "Pending two"]
    assert entry.runtime_data.account.outbox.pending_count == 0


async def test_removing_the_account_deletes_its_outbox(
    hass: HomeAssistant, smtp_server: ServerFactory, hass_storage: dict[str, Any]
) -> None:
    server = await smtp_server("starttls")
    entry = await setup_account(hass, server)
    await server.stop()
    await notify(hass, "Left behind")
    folder = entry.runtime_data.account.files.folder
    assert list(folder.glob("*.eml"))
    await hass.async_block_till_done()
    kept = [f"{DOMAIN}.{entry.entry_id}.addresses", f"{DOMAIN}.home_positions.{entry.entry_id}"]
    for key in kept:  # what the account and its PTZ cameras keep between restarts
        hass_storage[key] = {"version": 1, "minor_version": 1, "key": key, "data": {}}
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not folder.exists()
    assert not set(kept) & set(hass_storage)


async def test_outbox_survives_a_new_home_assistant(
    hass: HomeAssistant, smtp_server: ServerFactory
) -> None:
    """A real restart: a second Home Assistant on the same config folder and storage."""
    server = await smtp_server("starttls")
    entry = await setup_account(hass, server)
    port = server.port
    await server.stop()
    await notify(hass, "Before the restart")
    assert entry.runtime_data.account.outbox.pending_count == 1
    await server.start(port)

    async with async_test_home_assistant(config_dir=hass.config.config_dir) as second:
        second.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        again = MockConfigEntry(
            domain=DOMAIN,
            entry_id=entry.entry_id,
            title=entry.title,
            unique_id=entry.unique_id,
            data=dict(entry.data),
            options=dict(entry.options),
        )
        again.add_to_hass(second)
        assert await second.config_entries.async_setup(again.entry_id)
        await second.async_block_till_done(wait_background_tasks=True)
        assert [r.message["Subject"] for r in server.received] == ["Before the restart"]
        assert again.runtime_data.account.outbox.pending_count == 0
        await second.async_stop(force=True)
