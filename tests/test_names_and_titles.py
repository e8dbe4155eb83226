"""What a user reads on devices, entities and in the media browser: names, not raw keys."""

from __future__ import annotations

from collections import Counter
import json
from pathlib import Path
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, DOMAIN
from homeassistant.components import media_source
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component

from .conftest import RECIPIENTS, SENDER, entry_data
from .smtp_server import TestSmtpServer

COMPONENT = Path(__file__).parent.parent / "custom_components" / DOMAIN


def _json(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((COMPONENT / name).read_text(encoding="utf-8"))
    return loaded


async def test_account_device_model_names_the_provider(
    hass: HomeAssistant, mail_server: TestSmtpServer
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        data=entry_data(mail_server, provider="local_relay"),
        options={CONF_RECIPIENTS: RECIPIENTS},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert device.model == "SMTP account (Local relay)"


def test_person_and_vehicle_have_their_own_icons() -> None:
    icons = _json("icons.json")["entity"]["binary_sensor"]
    assert icons["person"]["default"].startswith("mdi:account")
    assert icons["person"]["state"]["on"] == "mdi:account"
    assert icons["vehicle"]["default"].startswith("mdi:car")


def test_entities_of_one_device_have_distinct_names() -> None:
    """A camera device has an image and a sensor `last_alert`: they must not read the same."""
    entity = _json("translations/en.json")["entity"]
    names = Counter(
        entity[platform][key]["name"] for platform in ("image", "sensor") for key in ("last_alert",)
    )
    assert max(names.values()) == 1, names


async def test_media_browser_shows_camera_names_and_readable_titles(
    hass: HomeAssistant, mail_server: TestSmtpServer, tmp_path: Path
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    assert await async_setup_component(hass, "media_source", {})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        data=entry_data(mail_server),
        options={CONF_RECIPIENTS: RECIPIENTS},
        subentries_data=[
            ConfigSubentryData(
                data={"name": "Demo Street", "camera_entity": "camera.not_there_yet"},
                subentry_type="camera",
                title="Demo Street",
                unique_id=None,
            )
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    day = tmp_path / "media" / DOMAIN / "demo_street" / "2026-11-22"
    day.mkdir(parents=True)
    for name in (
        "142305-123_line_crossing_1.jpg",
        "142305-123_line_crossing_1_full.jpg",
        "142305-123_line_crossing.mp4",
        "notes.txt",
    ):
        (day / name).write_bytes(b"\xff\xd8\xff\xd9")

    root = await media_source.async_browse_media(hass, f"media-source://{DOMAIN}")
    assert [child.title for child in root.children] == ["Demo Street"]
    camera = await media_source.async_browse_media(hass, root.children[0].media_content_id)
    assert camera.title == "Demo Street"
    assert [child.title for child in camera.children] == ["2026-11-22"]
    pictures = await media_source.async_browse_media(hass, camera.children[0].media_content_id)
    assert pictures.title == "Demo Street 2026-11-22"
    assert sorted(child.title for child in pictures.children) == [
        "14:23:05 Line Crossing – clip",
        "14:23:05 Line Crossing – picture 1",
        "14:23:05 Line Crossing – picture 1 (full size)",
        "notes.txt",  # not ours: as it is
    ]
