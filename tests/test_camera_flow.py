"""The camera subentry flow: every form error from a real condition, then create and change."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import config_validation as cv

try:  # the serializer the frontend's form comes from: Home Assistant 2025.4, then 2026.x
    from voluptuous_serialize import convert as to_fields
except ImportError:
    from probatio import to_field_list as to_fields

from .camera_http import CameraHttp
from .onnx_model import make_model
from .scenes import STILL_TEXTURE, encode, scene

TRANSLATIONS = (
    Path(__file__).parent.parent / "custom_components/ptz_email_alert/translations/en.json"
)


def translations() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(TRANSLATIONS.read_text(encoding="utf-8"))
    return loaded


def serialize(schema: vol.Schema) -> list[dict[str, Any]]:
    """The form as the frontend gets it."""
    fields: list[dict[str, Any]] = to_fields(schema, custom_serializer=cv.custom_serializer)
    return fields


@pytest.fixture
async def video(tmp_path: Path) -> Path:
    return await encode(scene(1, lambda t: STILL_TEXTURE), tmp_path / "camera.mp4")


async def _start(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "camera"), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    return result


BASE = {
    "name": "North Fence",
    "detections": ["motion"],
    "sensitivity": 6,
    "burst_interval": 1,
    "pre_trigger": True,
    "snapshot_size": "d1",
    "max_email_kb": 450,
    "subject_template": "Site A – %Camera_Name% – %Event_Type%",
    "cooldown": 30,
    "offline_after": 120,
}


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({}, {"base": "one_source"}),
        ({"stream_url": "VIDEO", "camera_entity": "camera.x"}, {"base": "one_source"}),
        ({"stream_url": "/no/such/video.mp4"}, {"stream_url": "cannot_read_stream"}),
        ({"camera_entity": "camera.missing"}, {"camera_entity": "camera_not_found"}),
        (
            {"stream_url": "VIDEO", "zones": "yard 0.1,0.1", "detections": ["region_intrusion"]},
            {"zones": "invalid_zones"},
        ),
        ({"stream_url": "VIDEO", "detections": ["region_intrusion"]}, {"zones": "zones_required"}),
        ({"stream_url": "VIDEO", "lines": "gate: 0.5,0.1 2,1"}, {"lines": "invalid_lines"}),
        ({"stream_url": "VIDEO", "detections": ["line_crossing"]}, {"lines": "lines_required"}),
        (
            {"stream_url": "VIDEO", "ignore_areas": "tree: 0,0 0.3,0"},
            {"ignore_areas": "invalid_ignore_areas"},
        ),
        (
            {"stream_url": "VIDEO", "snapshot_url": "LOGIN_PAGE"},
            {"snapshot_url": "cannot_read_snapshot"},
        ),
        (
            {"stream_url": "VIDEO", "snapshot_url": "http://127.0.0.1:9/snapshot.jpg"},
            {"snapshot_url": "cannot_read_snapshot"},
        ),
        ({"stream_url": "VIDEO", "detections": ["vehicle"]}, {"detections": "vehicle_needs_model"}),
        (
            {"stream_url": "VIDEO", "detections": ["person"], "model_path": "/no/model.onnx"},
            {"model_path": "invalid_model"},
        ),
        (
            {"stream_url": "VIDEO", "detections": ["person"], "model_path": "NOT_A_MODEL"},
            {"model_path": "invalid_model"},
        ),
    ],
)
async def test_errors(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    video: Path,
    camera_http: CameraHttp,
    change: dict[str, Any],
    errors: dict[str, str],
) -> None:
    result = await _start(hass, setup_entry)
    not_a_model = video.parent / "not-a-model.onnx"
    not_a_model.write_bytes(b"this is not ONNX")
    paths = {
        "VIDEO": str(video),
        "NOT_A_MODEL": str(not_a_model),
        "LOGIN_PAGE": camera_http.url("/html"),
    }
    form = {**BASE, **{k: paths.get(v, v) if isinstance(v, str) else v for k, v in change.items()}}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors


async def test_add_and_change_a_camera(
    hass: HomeAssistant, setup_entry: MockConfigEntry, video: Path, camera_http: CameraHttp
) -> None:
    result = await _start(hass, setup_entry)
    form = {
        **BASE,
        "stream_url": str(video),
        "detections": ["motion", "vehicle", "region_intrusion", "line_crossing", "tamper"],
        "model_path": str(make_model(video.parent / "model.onnx", [(8, 8, 4, 4, 2, 0.9)])),
        "zones": "yard: 0.6,0.5 1,0.5 1,1 0.6,1 @2",
        "lines": "gate: 0.5,0.3 0.5,1 a_to_b",
        "ignore_areas": "tree: 0,0 0.3,0 0.3,0.4 0,0.4",
        "snapshot_url": camera_http.url("/digest"),
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "North Fence"
    await hass.async_block_till_done()
    (subentry,) = setup_entry.subentries.values()
    assert subentry.data["zones"].startswith("yard:")
    assert subentry.data["ignore_areas"].startswith("tree:")
    assert camera_http.requests == ["/digest"]  # the flow read a picture before saving
    # The account reloaded with the camera: its entities exist.
    assert hass.states.get("binary_sensor.north_fence_region_intrusion") is not None
    assert hass.states.get("switch.north_fence_email_alerts") is not None

    result = await hass.config_entries.subentries.async_init(
        (setup_entry.entry_id, "camera"),
        context={"source": "reconfigure", "subentry_id": subentry.subentry_id},
    )
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {**form, "name": "North Fence East", "detections": ["motion"]}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert setup_entry.subentries[subentry.subentry_id].title == "North Fence East"


OUT_OF_RANGE = [
    ("burst_count", 0),
    ("burst_count", 6),
    ("sensitivity", 11),
    ("burst_interval", 0.1),
    ("max_email_kb", 10),
    ("cooldown", -1),
    ("offline_after", 5),
    ("clip_before", 0),
    ("clip_after", 61),
    ("retention_days", 0),
    ("retention_mb", 5),
]


@pytest.mark.parametrize(("field", "value"), OUT_OF_RANGE)
async def test_a_number_out_of_range_is_a_translated_error_at_its_field(
    hass: HomeAssistant, setup_entry: MockConfigEntry, field: str, value: float
) -> None:
    result = await _start(hass, setup_entry)
    form = {**BASE, "camera_entity": "camera.missing", field: value}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], form)
    # A form again, not a refused request: the error sits next to the field.
    assert result["type"] is FlowResultType.FORM
    assert result["errors"][field] == f"{field}_out_of_range"
    errors = translations()["config_subentries"]["camera"]["error"]
    assert errors[f"{field}_out_of_range"]


async def test_the_form_keeps_the_bounds_and_orders_detection_before_evidence(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    result = await _start(hass, setup_entry)
    fields = serialize(result["data_schema"])
    bounds = {
        field["name"]: (field["selector"]["number"]["min"], field["selector"]["number"]["max"])
        for field in fields
        if "number" in field.get("selector", {})
    }
    assert bounds["burst_count"] == (1, 5)
    assert bounds["sensitivity"] == (1, 10)
    assert {field for field, _ in OUT_OF_RANGE} <= set(bounds)
    errors = translations()["config_subentries"]["camera"]["error"]
    for field in bounds:  # every number, also those added later (AI on newer releases)
        assert errors[f"{field}_out_of_range"], field
    names = [field["name"] for field in fields]
    for early in ("detections", "zones", "lines", "ignore_areas", "model_path"):
        for late in ("burst_count", "clip", "retention_days", "retention_mb"):
            assert names.index(early) < names.index(late), (early, late)
    # Example URLs are code, not mailto links (user:pass@host reads as an address).
    step = translations()["config_subentries"]["camera"]["step"]["user"]["data_description"]
    assert "`rtsp://user:pass@192.168.1.20:554/stream2`" in step["stream_url"]
    for text in step.values():
        for word in re.findall(r"\w@\w", re.sub(r"`[^`]*`", "", text)):
            pytest.fail(f"address-like text outside backticks: {word}")
