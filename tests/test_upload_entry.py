"""Evidence upload in Home Assistant: options step, queueing alert files, problem sensor,
repair for a changed SFTP host key, fallback notification, diagnostics without secrets."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.ptz_email_alert.const import (
    CONF_FALLBACK_NOTIFY,
    CONF_HEARTBEAT_GRACE,
    CONF_HEARTBEAT_INTERVAL,
    CONF_OUTBOX_MAX_AGE,
    CONF_RECIPIENTS,
    CONF_RETRY_DELAYS,
    DOMAIN,
)
from custom_components.ptz_email_alert.diagnostics import async_get_config_entry_diagnostics
from custom_components.ptz_email_alert.evidence import evidence_names
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .conftest import RECIPIENTS
from .upload_servers import PASSWORD, USER, FtpServer, SftpServer

ENTITY = "binary_sensor.camera_example_com_upload_problem"
PICTURES = [b"\xff\xd8first\xff\xd9", b"\xff\xd8second\xff\xd9"]


def _init_input() -> dict[str, Any]:
    return {
        CONF_RECIPIENTS: RECIPIENTS,
        CONF_RETRY_DELAYS: "0, 10, 30",
        CONF_OUTBOX_MAX_AGE: 24,
        CONF_HEARTBEAT_INTERVAL: "off",
        CONF_HEARTBEAT_GRACE: 30,
    }


def _upload(protocol: str, port: int, password: str = PASSWORD) -> dict[str, Any]:
    return {
        "upload_protocol": protocol,
        "upload_host": "127.0.0.1",
        "upload_port": port,
        "upload_username": USER,
        "upload_password": password,
        "upload_folder": "%Camera_Name%/%Date%",
        "upload_passive": True,
        "upload_verify_ssl": True,
    }


async def test_options_step_tests_the_server_and_pins_the_key(
    hass: HomeAssistant, setup_entry: MockConfigEntry, tmp_path: Path
) -> None:
    """A wrong password is a form error; SFTP saves with its host key pinned."""
    ftp = FtpServer(tmp_path / "ftp")
    port = await ftp.start()
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], _init_input())
    assert result["step_id"] == "upload"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _upload("ftp", port, "Xq9-bad")
    )
    assert result["errors"] == {"base": "upload_invalid_auth"}
    await ftp.stop()

    sftp = SftpServer(tmp_path / "sftp")
    port = await sftp.start()
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _upload("sftp", port)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert setup_entry.options["upload_host_key"] == sftp.public_key
    assert setup_entry.options[CONF_RECIPIENTS] == RECIPIENTS
    await hass.async_block_till_done()
    assert setup_entry.state is ConfigEntryState.LOADED
    assert hass.states.get(ENTITY).state == "off"
    await sftp.stop()


async def test_off_needs_no_server(hass: HomeAssistant, setup_entry: MockConfigEntry) -> None:
    """Off saves without a test and adds no upload sensor; a protocol without host is an error."""
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    result = await hass.config_entries.options.async_configure(result["flow_id"], _init_input())
    form = _upload("ftp", 21) | {"upload_host": ""}
    result = await hass.config_entries.options.async_configure(result["flow_id"], form)
    assert result["errors"] == {"upload_host": "upload_host_required"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _upload("ftp", 70000)
    )  # said next to the field, not a refused form; no connection is tried
    assert result["errors"] == {"upload_port": "upload_port_out_of_range"}
    form["upload_protocol"] = "off"
    result = await hass.config_entries.options.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert hass.states.get(ENTITY) is None


async def _until(upload: Any, check: Any) -> None:
    """Wait (bounded) for the upload runtime to reach a state: uploads run in the background."""
    changed = asyncio.Event()
    remove = upload.async_add_listener(changed.set)
    try:
        async with asyncio.timeout(10):
            while not check():
                changed.clear()
                await changed.wait()
    finally:
        remove()


async def _setup(hass: HomeAssistant, entry: MockConfigEntry, options: dict[str, Any]) -> None:
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={**entry.options, **options})
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_alert_files_arrive_with_media_names(
    hass: HomeAssistant, config_entry: MockConfigEntry, tmp_path: Path
) -> None:
    """Queued alert pictures and clip arrive under the media folder's names; a server down
    turns the problem sensor on and the fallback notification is sent; diagnostics hide
    secrets."""
    ftp = FtpServer(tmp_path / "ftp")
    port = await ftp.start()
    notes = async_mock_service(hass, "notify", "phone")
    await _setup(
        hass, config_entry,
        _upload("ftp", port) | {CONF_RETRY_DELAYS: [0], CONF_FALLBACK_NOTIFY: "notify.phone"},
    )  # fmt: skip
    upload = config_entry.runtime_data.upload
    when = datetime(2025, 5, 1, 12, 30, 5, 250000, tzinfo=dt_util.UTC)
    await upload.async_queue_alert("Front/door", when, "motion", PICTURES, ("clip.mp4", b"mp4"))
    await _until(upload, lambda: not upload.queue.items)
    day = f"{dt_util.as_local(when):%Y-%m-%d}"
    folder = tmp_path / "ftp" / "Front_door" / day
    names = evidence_names(when, "motion", 2)
    assert [(folder / n).read_bytes() for n in names] == PICTURES
    assert (folder / "clip.mp4").read_bytes() == b"mp4"
    assert hass.states.get(ENTITY).state == "off"

    await ftp.stop()
    await upload.async_queue_alert("Yard", when, "person", PICTURES[:1])
    await _until(upload, lambda: upload.queue.failed_count == 1)
    await hass.async_block_till_done()
    state = hass.states.get(ENTITY)
    assert state.state == "on"
    assert state.attributes["last_error"] == "refused"
    assert state.attributes["failed"] == 1
    assert notes and "Yard" in notes[0].data["message"]

    diagnostics = await async_get_config_entry_diagnostics(hass, config_entry)
    assert PASSWORD not in str(diagnostics)
    assert diagnostics["options"]["upload_password"] == "**REDACTED**"

    await ftp.start(port)  # back: a reload tries the kept files at once
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    upload = config_entry.runtime_data.upload
    await _until(upload, lambda: not upload.queue.items)
    assert (tmp_path / "ftp/Yard" / day / evidence_names(when, "person", 1)[0]).exists()
    assert hass.states.get(ENTITY).state == "off"
    await hass.config_entries.async_unload(config_entry.entry_id)
    await ftp.stop()


async def test_changed_host_key_is_a_repair(
    hass: HomeAssistant, config_entry: MockConfigEntry, tmp_path: Path
) -> None:
    """A server with another key than the pinned one gets nothing, and a repair says so."""
    pinned = SftpServer(tmp_path / "old")
    impostor = SftpServer(tmp_path / "new")
    port = await impostor.start()
    await _setup(hass, config_entry, _upload("sftp", port) | {"upload_host_key": pinned.public_key})
    upload = config_entry.runtime_data.upload
    await upload.async_queue_alert("Cam", dt_util.utcnow(), "motion", PICTURES)
    await _until(upload, lambda: upload.queue.failed_count == 1)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"upload_host_key_{config_entry.entry_id}")
    assert issue is not None and issue.translation_key == "upload_host_key_changed"
    assert hass.states.get(ENTITY).state == "on"
    assert impostor.logins == []
    assert not any((tmp_path / "new").iterdir())
    await hass.config_entries.async_unload(config_entry.entry_id)
    await impostor.stop()
