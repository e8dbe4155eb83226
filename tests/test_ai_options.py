"""The AI options in the camera form, on each Home Assistant: absent on 2025.4 (no AI Task),
present and checked where it exists; and a camera set up for the AI where there is none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, mock_config_flow

from custom_components.ptz_email_alert.ai_flow import AI_TASK_AVAILABLE
from custom_components.ptz_email_alert.vision.person import load_opencv
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from .camera_helpers import next_mail, setup_camera
from .scenes import STILL_TEXTURE, encode, scene
from .smtp_server import ServerFactory
from .test_camera_flow import BASE, serialize, translations

AI_KEYS = {"ai_task_entity", "ai_mode", "ai_timeout", "ai_fail_closed", "ai_daily_limit"}


@pytest.fixture
async def video(tmp_path: Path) -> Path:
    return await encode(scene(6, lambda t: STILL_TEXTURE), tmp_path / "camera.mp4")


async def _form(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "camera"), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    return dict(result)


@pytest.mark.skipif(AI_TASK_AVAILABLE, reason="this Home Assistant has AI Task")
async def test_no_ai_options_without_ai_task(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    result = await _form(hass, setup_entry)
    names = {field["name"] for field in serialize(result["data_schema"])}
    assert "detections" in names
    assert not names & AI_KEYS


@pytest.mark.skipif(not AI_TASK_AVAILABLE, reason="AI Task is Home Assistant 2025.8+")
async def test_ai_options_are_offered_and_checked(
    hass: HomeAssistant, setup_entry: MockConfigEntry, video: Path
) -> None:
    result = await _form(hass, setup_entry)
    fields = {field["name"]: field for field in serialize(result["data_schema"])}
    assert set(fields) >= AI_KEYS
    assert "ai_task" in str(fields["ai_task_entity"]["selector"]["entity"])
    text = translations()["config_subentries"]["camera"]
    for key in AI_KEYS:
        assert text["step"]["user"]["data"][key]
        assert text["step"]["reconfigure"]["data_description"][key]
    base = {**BASE, "stream_url": str(video)}
    for change, errors in [
        ({"ai_mode": "describe"}, {"ai_task_entity": "ai_entity_required"}),
        (
            {"ai_mode": "verify", "ai_task_entity": "ai_task.vision", "detections": ["person"]},
            {"detections": "ai_verify_needs_motion"},
        ),
        ({"ai_timeout": 1}, {"ai_timeout": "ai_timeout_out_of_range"}),
    ]:
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"], {**base, **change}
        )
        assert result["errors"] == errors
        for error in errors.values():
            assert text["error"][error]
    # Verify mode: vehicles come from the AI, no ONNX model needed.
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            **base,
            "detections": ["motion", "vehicle"],
            "ai_mode": "verify",
            "ai_task_entity": "ai_task.vision",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (subentry,) = setup_entry.subentries.values()
    assert subentry.data["ai_mode"] == "verify"
    assert subentry.data["ai_daily_limit"] == 200


async def test_ai_that_is_not_there_costs_no_alert(
    hass: HomeAssistant, smtp_server: ServerFactory, video: Path, tmp_path: Path
) -> None:
    """A camera set up for the AI (a backup from a newer Home Assistant, an AI removed)."""
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    server = await smtp_server("starttls")
    entry = await setup_camera(
        hass, server, video, ai_task_entity="ai_task.gone", ai_mode="verify",
        subject_template="%Camera_Name% – %Event_Type%%Description%",
    )  # fmt: skip
    monitor = next(iter(entry.runtime_data.cameras.values()))
    record = await monitor.async_trigger("motion")
    assert record is not None
    assert record.ai is not None
    assert record.ai["status"] == "failed"
    assert record.held_back is None
    (mail,) = await next_mail(server, 1)
    assert mail.message["Subject"] == "Front Gate – Motion Detected"
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Not verified: the AI could not be reached." in body.get_content()
    state = hass.states.get("sensor.front_gate_ai_calls_today")
    assert state is not None
    assert state.state == "1"


async def test_the_form_says_what_person_and_vehicle_can_use(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    """OpenCV if it is installed here, the AI Task entities there are, external triggers always."""
    opencv = await hass.async_add_executor_job(load_opencv)
    result = await _form(hass, setup_entry)
    assert result["description_placeholders"] == {
        "opencv": "✓" if opencv is not None else "✗",
        "ai_task": "✗",  # on 2025.4 no AI Task at all; on the newest, no AI Task entity yet
    }
    steps = translations()["config_subentries"]["camera"]["step"]
    for step in ("user", "reconfigure"):
        assert "OpenCV {opencv}" in steps[step]["description"]
        assert "AI Task (AI mode *Verify*) {ai_task}" in steps[step]["description"]
        assert "external triggers" in steps[step]["description"]
    if not AI_TASK_AVAILABLE:
        return

    from .ai_task_helpers import AI_ENTITY, TEST_DOMAIN, TestAiFlow, async_setup_ai_task

    with mock_config_flow(TEST_DOMAIN, TestAiFlow):
        await async_setup_ai_task(hass)
        result = await _form(hass, setup_entry)
    assert result["description_placeholders"]["ai_task"] == AI_ENTITY
