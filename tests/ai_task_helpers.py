"""An AI Task entity from a test integration, for the newest Home Assistant (2025.8+).

A real vision model cannot run here (no model weights, no GPU, no network): this entity stands
in for the AI integration only. Everything around it is real: Home Assistant's ``ai_task``
component resolves the attachments (our pictures, as local media) to files and hands them
over; the entity reads those files, checks that they are JPEGs, and answers what the scenario
asks for, after a chosen delay, or never (a hung model), or with an error.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockModule,
    MockPlatform,
    mock_integration,
    mock_platform,
)

from homeassistant.components.ai_task import (
    AITaskEntity,
    AITaskEntityFeature,
    GenDataTask,
    GenDataTaskResult,
)
from homeassistant.components.conversation import ChatLog
from homeassistant.config_entries import ConfigEntry, ConfigFlow
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.setup import async_setup_component

TEST_DOMAIN = "test_vision_ai"
AI_ENTITY = "ai_task.test_vision_ai"

PERSON = {"person": True, "vehicle": False, "count": 1, "description": "A person walks in."}
NOTHING = {"person": False, "vehicle": False, "count": 0, "description": "Leaves move."}


@dataclass
class AiCall:
    """What one call received."""

    pictures: list[bytes]
    mime_types: list[str]
    media_ids: list[str]
    instructions: str
    structure_keys: list[str]
    at: float  # loop time


@dataclass
class Script:
    """How the entity answers."""

    answer: dict[str, Any] = field(default_factory=lambda: dict(PERSON))
    delay: float = 0.0
    hang: bool = False
    error: str | None = None


class ScriptedAiTask(AITaskEntity):
    """Answers per :class:`Script`; records every call."""

    _attr_name = "Test vision AI"
    _attr_unique_id = "test_vision_ai"
    _attr_supported_features = (
        AITaskEntityFeature.GENERATE_DATA | AITaskEntityFeature.SUPPORT_ATTACHMENTS
    )

    def __init__(self) -> None:
        """No call yet."""
        self.script = Script()
        self.calls: list[AiCall] = []
        self.called = asyncio.Event()
        self._never = asyncio.Event()

    async def _async_generate_data(self, task: GenDataTask, chat_log: ChatLog) -> GenDataTaskResult:
        attachments = task.attachments or []
        pictures = [
            await self.hass.async_add_executor_job(attachment.path.read_bytes)
            for attachment in attachments
        ]
        structure = task.structure.schema if task.structure is not None else {}
        self.calls.append(
            AiCall(
                pictures=pictures,
                mime_types=[attachment.mime_type for attachment in attachments],
                media_ids=[attachment.media_content_id for attachment in attachments],
                instructions=task.instructions,
                structure_keys=sorted(str(key) for key in structure),
                at=asyncio.get_running_loop().time(),
            )
        )
        self.called.set()
        if self.script.hang:
            await self._never.wait()  # a model that never answers: the caller's limit ends it
        if self.script.delay:
            await asyncio.sleep(self.script.delay)  # the model's answer time
        if self.script.error:
            raise HomeAssistantError(self.script.error)
        return GenDataTaskResult(conversation_id=chat_log.conversation_id, data=self.script.answer)


class TestAiFlow(ConfigFlow):
    """The test integration's (empty) config flow: register with ``mock_config_flow``."""


async def async_setup_ai_task(hass: HomeAssistant) -> ScriptedAiTask:
    """Set up ``ai_task`` and a test integration that provides :data:`AI_ENTITY`.

    Within ``mock_config_flow(TEST_DOMAIN, TestAiFlow)``.
    """
    entity = ScriptedAiTask()

    async def setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
        await hass.config_entries.async_forward_entry_setups(entry, ["ai_task"])
        return True

    async def setup_platform(
        hass: HomeAssistant, entry: ConfigEntry, add: AddConfigEntryEntitiesCallback
    ) -> None:
        add([entity])

    mock_integration(hass, MockModule(TEST_DOMAIN, async_setup_entry=setup_entry))
    mock_platform(hass, f"{TEST_DOMAIN}.config_flow")
    mock_platform(hass, f"{TEST_DOMAIN}.ai_task", MockPlatform(async_setup_entry=setup_platform))
    # conversation (an ai_task dependency) needs the core integration's exposed entities.
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "ai_task", {})
    entry = MockConfigEntry(domain=TEST_DOMAIN)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(AI_ENTITY) is not None
    return entity
