"""The actions: send_email (HTML, recipients, attachments), and the trigger picker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, DOMAIN, EVENT_ALERT
from custom_components.ptz_email_alert.services import TRIGGER_EVENT_TYPES
from homeassistant.components.camera import Camera
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er, selector
from homeassistant.helpers.entity_component import EntityComponent
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml

from .conftest import RECIPIENTS, SENDER, entry_data
from .scenes import STILL_TEXTURE, encode, scene
from .smtp_server import TestSmtpServer

SERVICES_YAML = Path(__file__).parent.parent / "custom_components/ptz_email_alert/services.yaml"
EN_JSON = Path(__file__).parent.parent / "custom_components/ptz_email_alert/translations/en.json"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"


async def _send(hass: HomeAssistant, **data: object) -> dict[str, object] | None:
    return await hass.services.async_call(
        DOMAIN,
        "send_email",
        {"subject": "Snapshot", "message": "See attached.", **data},
        blocking=True,
        return_response=True,
    )


async def test_send_with_html_recipients_and_file(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    mail_server: TestSmtpServer,
    media_dir: Path,
) -> None:
    snapshot = media_dir / "gate.jpg"
    snapshot.write_bytes(JPEG)
    response = await _send(
        hass,
        html="<p>See <b>attached</b>.</p>",
        recipients=["other@example.org"],
        attachments=[str(snapshot)],
    )
    received = mail_server.received[0]
    assert received.rcpt_tos == ["other@example.org"]
    message = received.message
    assert response == {
        "message_id": message["Message-ID"],
        "queued": False,
        "error": None,
        "refused_recipients": [],
    }
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "<b>attached</b>" in html.get_content()
    (attachment,) = message.iter_attachments()
    assert attachment.get_filename() == "gate.jpg"
    assert attachment.get_content_type() == "image/jpeg"
    assert attachment.get_content() == JPEG


async def test_default_recipients(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mail_server: TestSmtpServer
) -> None:
    await _send(hass)
    assert mail_server.received[0].rcpt_tos == RECIPIENTS


async def test_camera_snapshot_attachment(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mail_server: TestSmtpServer
) -> None:
    class StillCamera(Camera):
        _attr_name = "Gate"

        async def async_camera_image(
            self, width: int | None = None, height: int | None = None
        ) -> bytes:
            return JPEG

    assert await async_setup_component(hass, "camera", {})
    component: EntityComponent[Camera] = hass.data["camera"]
    await component.async_add_entities([StillCamera()])
    await _send(hass, attachments=["camera.gate"])
    (attachment,) = mail_server.received[0].message.iter_attachments()
    assert attachment.get_filename().startswith("gate_")
    assert attachment.get_content() == JPEG

    with pytest.raises(HomeAssistantError) as err:
        await _send(hass, attachments=["camera.missing"])
    assert err.value.translation_key == "snapshot_failed"


async def test_media_source_attachment(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    mail_server: TestSmtpServer,
    media_dir: Path,
) -> None:
    hass.config.media_dirs = {"local": str(media_dir)}
    (media_dir / "alerts").mkdir()
    (media_dir / "alerts" / "a.jpg").write_bytes(JPEG)
    assert await async_setup_component(hass, "media_source", {})
    await _send(hass, attachments=["media-source://media_source/local/alerts/a.jpg"])
    (attachment,) = mail_server.received[0].message.iter_attachments()
    assert (attachment.get_filename(), attachment.get_content()) == ("a.jpg", JPEG)

    with pytest.raises(ServiceValidationError) as err:
        await _send(hass, attachments=["media-source://media_source/local/../../etc/passwd"])
    assert err.value.translation_key == "attachment_unresolvable"
    with pytest.raises(ServiceValidationError) as err:
        await _send(hass, attachments=["media-source://tts/missing"])
    assert err.value.translation_key == "attachment_unresolvable"


async def test_attachment_errors(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    mail_server: TestSmtpServer,
    media_dir: Path,
    tmp_path: Path,
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    with pytest.raises(ServiceValidationError) as err:
        await _send(hass, attachments=[str(outside)])
    assert err.value.translation_key == "attachment_not_allowed"
    with pytest.raises(ServiceValidationError) as err:
        await _send(hass, attachments=[str(media_dir / "missing.jpg")])
    assert err.value.translation_key == "attachment_unreadable"
    with pytest.raises(ServiceValidationError) as err:
        await _send(hass, recipients=["x@example.com\r\nBcc: y@example.com"])
    assert err.value.translation_key == "invalid_recipient"
    assert mail_server.received == []


async def test_account_selection(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mail_server: TestSmtpServer
) -> None:
    await _send(hass, config_entry_id=setup_entry.entry_id)
    assert len(mail_server.received) == 1

    with pytest.raises(ServiceValidationError) as err:
        await _send(hass, config_entry_id="nope")
    assert err.value.translation_key == "account_not_found"

    second = MockConfigEntry(domain=DOMAIN, data=entry_data(mail_server), unique_id="second")
    second.add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as err:
        await _send(hass, config_entry_id=second.entry_id)
    assert err.value.translation_key == "account_not_loaded"

    assert await hass.config_entries.async_setup(second.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await _send(hass)
    assert err.value.translation_key == "account_required"


def _picked_by(entity_filter: list[dict[str, str]], entry: er.RegistryEntry) -> bool:
    """What the frontend's entity picker does with a selector's filter."""
    return any(
        entry.platform == rule.get("integration", entry.platform)
        and entry.domain == rule.get("domain", entry.domain)
        for rule in entity_filter
    )


async def test_trigger_picker_offers_only_cameras_with_translated_event_types(
    hass: HomeAssistant, mail_server: TestSmtpServer, tmp_path: Path
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    video = await encode(scene(2, lambda t: STILL_TEXTURE), tmp_path / "still.mp4")
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        data=entry_data(mail_server),
        options={CONF_RECIPIENTS: RECIPIENTS},
        subentries_data=[
            ConfigSubentryData(
                data={"name": "Gate", "stream_url": str(video), "detections": ["motion"]},
                subentry_type="camera",
                title="Gate",
                unique_id=None,
            )
        ],
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    # services.yaml as Home Assistant reads it (all of Home Assistant's descriptions would
    # import every base component on newer releases: their requirements are not all here).
    descriptions = {DOMAIN: await hass.async_add_executor_job(load_yaml, SERVICES_YAML)}
    en = json.loads(EN_JSON.read_text(encoding="utf-8"))
    for action in ("trigger", "snooze"):
        fields = descriptions[DOMAIN][action]["fields"]
        picker = fields["entity_id"]["selector"]
        selector.validate_selector(picker)
        registry = er.async_get(hass)
        ours = er.async_entries_for_config_entry(registry, config_entry.entry_id)
        offered = {e.entity_id for e in ours if _picked_by(picker["entity"]["filter"], e)}
        # Not the account's entities (Delivery problem, Email, ...): the camera alone.
        assert offered == {"camera.gate_live"}, action
        assert len(ours) > 5
    event_type = descriptions[DOMAIN]["trigger"]["fields"]["event_type"]["selector"]
    selector.validate_selector(event_type)
    assert event_type["select"]["options"] == TRIGGER_EVENT_TYPES
    key = event_type["select"]["translation_key"]
    assert set(en["selector"][key]["options"]) == set(TRIGGER_EVENT_TYPES)

    # Any entity of the camera's device still works from a script.
    (monitor,) = config_entry.runtime_data.cameras.values()
    alerts = async_capture_events(hass, EVENT_ALERT)
    await hass.services.async_call(
        DOMAIN,
        "trigger",
        {"entity_id": "binary_sensor.gate_motion", "event_type": "line_crossing"},
        blocking=True,
    )
    assert alerts[-1].data["event_type"] == "line_crossing"
    assert monitor is not None
