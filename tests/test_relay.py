"""The local relay inside Home Assistant: a real camera client, the real upstream server."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
import smtplib

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.ptz_email_alert import async_remove_config_entry_device
from custom_components.ptz_email_alert.const import DOMAIN, EVENT_RELAY_RECEIVED
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir

from .conftest import RECIPIENTS, SENDER
from .relay_helpers import CAMERA, CAMERA_TO, Camera, camera_message, relay_port, setup_relay
from .smtp_server import USERNAME, ServerFactory, TestSmtpServer


def attachment_of(raw: bytes) -> bytes:
    message = message_from_bytes(raw, policy=default_policy)
    (part,) = list(message.iter_attachments())  # type: ignore[attr-defined]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def _device(hass: HomeAssistant, entry_id: str, identifier: str) -> dr.DeviceEntry:
    """A device of the entry by identifier (the registry's lookup differs between versions)."""
    registry = dr.async_get(hass)
    (device,) = [
        device
        for device in dr.async_entries_for_config_entry(registry, entry_id)
        if (DOMAIN, identifier) in device.identifiers
    ]
    return device


async def received(server: TestSmtpServer, count: int = 1) -> None:
    """Wait until ``server`` has ``count`` messages (bounded: a hang fails the test)."""
    async with asyncio.timeout(20):
        while len(server.received) < count:
            server.message_received.clear()
            await server.message_received.wait()


async def test_camera_mail_arrives_upstream_over_tls(
    hass: HomeAssistant, mail_server: TestSmtpServer
) -> None:
    events = async_capture_events(hass, EVENT_RELAY_RECEIVED)
    entry = await setup_relay(hass, mail_server)
    data, picture = camera_message()

    assert await Camera(hass, relay_port(entry)).send(data) == {}
    await received(mail_server)

    (upstream,) = mail_server.received
    # Upstream got it after STARTTLS (the server requires it) and the account's login.
    assert upstream.login == USERNAME
    assert upstream.mail_from == SENDER
    assert upstream.rcpt_tos == [CAMERA_TO]  # relay_forward_to: original
    assert attachment_of(upstream.raw) == picture
    message = upstream.message
    assert message["From"].addresses[0].addr_spec == SENDER
    assert message["From"].addresses[0].display_name == "North Gate"
    assert message["Reply-To"].addresses[0].addr_spec == CAMERA
    assert message["Subject"] == "Motion alarm"
    assert message["Received"].startswith("from camera ([127.0.0.1])")
    # The camera's body is passed on byte for byte after the header block.
    assert data.split(b"\r\n\r\n", 1)[1] in upstream.raw

    await hass.async_block_till_done(wait_background_tasks=True)
    (event,) = events
    assert event.data["sender"] == CAMERA
    assert event.data["client"] == "127.0.0.1"
    assert event.data["subject"] == "Motion alarm"
    assert event.data["attachments"] == ["snap.jpg"]
    outbox = entry.runtime_data.account.outbox
    assert outbox.pending_count == 0


async def test_forward_to_account_recipients(
    hass: HomeAssistant, mail_server: TestSmtpServer
) -> None:
    entry = await setup_relay(hass, mail_server, relay_forward_to="account")
    data, _ = camera_message(size=1000)
    await Camera(hass, relay_port(entry)).send(data)
    await received(mail_server)
    assert mail_server.received[0].rcpt_tos == RECIPIENTS


async def test_upstream_down_then_back_and_across_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    upstream = await smtp_server("starttls")
    entry = await setup_relay(hass, upstream)
    port = upstream.port
    await upstream.stop()
    camera = Camera(hass, relay_port(entry))
    first, first_picture = camera_message("First")

    # The camera hears "250" once the message is on disk, though upstream is down.
    assert await camera.send(first) == {}
    outbox = entry.runtime_data.account.outbox
    assert [item.kind for item in outbox.items] == ["relay"]
    await hass.async_block_till_done(wait_background_tasks=True)

    await upstream.start(port)
    freezer.tick(timedelta(seconds=11))  # the second attempt of the schedule
    async_fire_time_changed(hass)
    await received(upstream)
    assert attachment_of(upstream.received[0].raw) == first_picture

    # Down again; the message waits on disk through a restart and goes out after it.
    await upstream.stop()
    second, second_picture = camera_message("Second")
    assert await camera.send(second) == {}
    await hass.async_block_till_done(wait_background_tasks=True)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await upstream.start(port)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await received(upstream, 2)
    assert attachment_of(upstream.received[1].raw) == second_picture
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data.account.outbox.pending_count == 0


async def test_outbox_not_writable_is_a_temporary_refusal(
    hass: HomeAssistant, mail_server: TestSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = await setup_relay(hass, mail_server)
    files = entry.runtime_data.account.files

    async def full(item_id: str, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "async_write_body", full)
    data, _ = camera_message(size=100)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await Camera(hass, relay_port(entry)).send(data)
    assert refused.value.smtp_code == 451
    monkeypatch.undo()
    assert await Camera(hass, relay_port(entry)).send(data) == {}  # still serving


async def test_port_in_use_is_a_repair_not_a_failure(
    hass: HomeAssistant, mail_server: TestSmtpServer, socket_enabled: None
) -> None:
    blocker = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        entry = await setup_relay(hass, mail_server, relay_port=port)
        assert entry.runtime_data.relay is not None
        assert entry.runtime_data.relay.server is None
        issue = ir.async_get(hass).async_get_issue(DOMAIN, f"relay_port_in_use_{entry.entry_id}")
        assert issue is not None
        assert issue.translation_key == "relay_port_in_use"
    finally:
        blocker.close()
        await blocker.wait_closed()


async def test_options_flow_relay_section(
    hass: HomeAssistant, mail_server: TestSmtpServer, socket_enabled: None
) -> None:
    entry = await setup_relay(hass, mail_server, relay_enabled=False)
    blocker = await asyncio.get_running_loop().create_server(asyncio.Protocol, "127.0.0.1", 0)
    taken = blocker.sockets[0].getsockname()[1]
    base = {
        "recipients": RECIPIENTS,
        "retry_delays": "0, 10, 30",
        "outbox_max_age": 24,
        "heartbeat_interval": "off",
        "heartbeat_grace": 15,
    }
    relay = {
        "relay_enabled": True,
        "relay_host": "127.0.0.1",
        "relay_port": taken,
        "relay_networks": "192.168.1.0/24\n10.0.0.7",
        "relay_senders": "@cameras.lan",
        "relay_username": "camera",
        "relay_password": "pw",
        "relay_allow_plain_auth": False,
        "relay_forward_to": "account",
        "relay_max_mb": 10,
        "relay_heartbeat_hours": 25,
    }
    try:
        result = await hass.config_entries.options.async_init(entry.entry_id)
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**base, "relay": {**relay, "relay_networks": "nonsense"}}
        )
        assert result["errors"] == {"relay_networks": "relay_invalid_network"}
        out_of_range = {"relay_port": 0, "relay_max_mb": 500, "relay_heartbeat_hours": -1}
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**base, "relay": {**relay, **out_of_range}}
        )  # said next to each field, not a refused form
        assert result["errors"] == {key: f"{key}_out_of_range" for key in out_of_range}
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**base, "relay": relay}
        )
        assert result["errors"] == {"relay_port": "relay_port_in_use"}  # tested before saving
    finally:
        blocker.close()
        await blocker.wait_closed()
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**base, "relay": relay}
    )
    if result.get("step_id") == "upload":  # the evidence upload step follows, when present
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {
                "upload_protocol": "off",
                "upload_folder": "x",
                "upload_passive": True,
                "upload_verify_ssl": True,
            },
        )
    await hass.async_block_till_done()
    options = entry.options
    assert options["relay_networks"] == ["192.168.1.0/24", "10.0.0.7/32"]
    assert options["relay_senders"] == ["@cameras.lan"]
    assert options["relay_password"] == "pw"
    assert options["relay_port"] == taken
    assert entry.runtime_data.relay is not None
    assert relay_port(entry) == taken
    # The form shows the stored values, never the password.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    shown = {
        key.schema: key.description.get("suggested_value") if key.description else None
        for key in result["data_schema"].schema["relay"].schema.schema
    }
    assert shown["relay_networks"] == "192.168.1.0/24\n10.0.0.7/32"
    assert shown["relay_password"] is None


async def test_camera_device_entities_and_heartbeat(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mail_server: TestSmtpServer,
    hass_client: ClientSessionGenerator,
) -> None:
    entry = await setup_relay(hass, mail_server, relay_heartbeat_hours=2)
    camera = Camera(hass, relay_port(entry))
    data, picture = camera_message("Daily health check")
    await camera.send(data)
    await hass.async_block_till_done(wait_background_tasks=True)

    device = _device(hass, entry.entry_id, f"{entry.entry_id}_relay_{CAMERA}")
    assert device.name == "North Gate"
    assert device.via_device_id is not None
    silent = "binary_sensor.north_gate_camera_silent"
    assert hass.states.get(silent).state == "off"
    last = hass.states.get("sensor.north_gate_last_mail")
    assert last.attributes["subject"] == "Daily health check"
    assert last.attributes["attachments"] == ["snap.jpg"]
    event = hass.states.get("event.north_gate_mail")
    assert event.attributes["event_type"] == "received"
    assert event.attributes["attachments"] == 1
    response = await (await hass_client()).get("/api/image_proxy/image.north_gate_last_attachment")
    assert response.status == 200
    assert response.content_type == "image/jpeg"
    assert await response.read() == picture

    # Silent for longer than relay_heartbeat_hours: flagged; the next mail clears it.
    freezer.tick(timedelta(hours=2, seconds=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(silent).state == "on"
    await camera.send(data)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(silent).state == "off"

    # Known across a restart (and flagged at once if it stayed silent meanwhile).
    assert await hass.config_entries.async_unload(entry.entry_id)
    freezer.tick(timedelta(hours=3))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(silent).state == "on"

    # The device can be deleted; the account's cannot.
    assert await async_remove_config_entry_device(hass, entry, device)
    account = _device(hass, entry.entry_id, entry.entry_id)
    assert not await async_remove_config_entry_device(hass, entry, account)
