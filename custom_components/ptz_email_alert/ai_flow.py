"""The camera form's AI fields, shown only where Home Assistant has the AI Task (2025.8+)."""

from __future__ import annotations

from collections.abc import Mapping
import importlib.util
from typing import Any

import voluptuous as vol

from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from .ai_answer import (
    AI_MODE_OFF,
    AI_MODE_VERIFY,
    AI_MODES,
    DEFAULT_AI_DAILY_LIMIT,
    DEFAULT_AI_TIMEOUT,
    VERIFIED_TYPES,
)
from .const import (
    CONF_AI_DAILY_LIMIT,
    CONF_AI_FAIL_CLOSED,
    CONF_AI_MODE,
    CONF_AI_TASK_ENTITY,
    CONF_AI_TIMEOUT,
    CONF_DETECTIONS,
)
from .form_numbers import checked_number
from .opencv_support import async_installed_opencv

# The component's code is part of this Home Assistant (not whether it is set up: an AI Task
# entity, which the field asks for, sets it up).
AI_TASK_AVAILABLE = importlib.util.find_spec("homeassistant.components.ai_task") is not None
YES, NO = "✓", "✗"  # in the form's description: the same in every language


async def async_detection_paths(hass: HomeAssistant) -> dict[str, str]:
    """What person and vehicle detection can use on this install, for the form's description.

    ``opencv``: OpenCV is installed and usable (imported in the executor, never on the event
    loop; already imported when a camera uses it). ``ai_task``: the AI Task entities there are
    (none where Home Assistant has no AI Task). External triggers work everywhere.
    """
    opencv = await async_installed_opencv(hass)
    entities = sorted(hass.states.async_entity_ids("ai_task")) if AI_TASK_AVAILABLE else []
    return {
        "opencv": YES if opencv is not None else NO,
        "ai_task": ", ".join(entities) if entities else NO,
    }


def ai_fields() -> dict[Any, Any]:
    """The AI fields of the camera form; none on a Home Assistant without AI Task."""
    if not AI_TASK_AVAILABLE:
        return {}
    return {
        vol.Optional(CONF_AI_TASK_ENTITY): EntitySelector(EntitySelectorConfig(domain="ai_task")),
        vol.Required(CONF_AI_MODE, default=AI_MODE_OFF): SelectSelector(
            SelectSelectorConfig(
                options=AI_MODES, mode=SelectSelectorMode.DROPDOWN, translation_key=CONF_AI_MODE
            )
        ),
        vol.Required(CONF_AI_TIMEOUT, default=DEFAULT_AI_TIMEOUT): checked_number(2, 120, 1, "s"),
        vol.Required(CONF_AI_FAIL_CLOSED, default=False): BooleanSelector(),
        vol.Required(CONF_AI_DAILY_LIMIT, default=DEFAULT_AI_DAILY_LIMIT): checked_number(
            1, 100000
        ),
    }


def ai_verifies_objects(data: Mapping[str, Any]) -> bool:
    """Person and vehicle are found by the AI (verify mode), not by OpenCV."""
    return data.get(CONF_AI_MODE) == AI_MODE_VERIFY and bool(data.get(CONF_AI_TASK_ENTITY))


def ai_errors(data: Mapping[str, Any]) -> dict[str, str]:
    """An AI mode needs an entity; verify mode needs an alert for the AI to check."""
    if data.get(CONF_AI_MODE, AI_MODE_OFF) == AI_MODE_OFF:
        return {}
    if not data.get(CONF_AI_TASK_ENTITY):
        return {CONF_AI_TASK_ENTITY: "ai_entity_required"}
    detections = set(data.get(CONF_DETECTIONS, []))
    if data[CONF_AI_MODE] == AI_MODE_VERIFY and not detections & VERIFIED_TYPES:
        # Person and vehicle are found by the AI in motion, zone or line alerts.
        return {CONF_DETECTIONS: "ai_verify_needs_motion"}
    return {}
