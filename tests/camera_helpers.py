"""Camera test helpers: an account with one camera on a real SMTP server, and its emails.

The camera's stream is a video file made in the test (tests/scenes.py), decoded by the same
ffmpeg pipeline a camera's RTSP stream goes through.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, DOMAIN
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.core import HomeAssistant

from .conftest import RECIPIENTS, SENDER, entry_data
from .smtp_server import USERNAME, ReceivedMessage, TestSmtpServer

CAMERA = "front_gate"


async def next_mail(server: TestSmtpServer, count: int) -> list[ReceivedMessage]:
    """Wait until the server holds ``count`` messages (the event, with a guard time)."""
    async with asyncio.timeout(60):
        while len(server.received) < count:
            server.message_received.clear()
            await server.message_received.wait()
    return server.received


async def setup_camera(
    hass: HomeAssistant, server: TestSmtpServer, video: Path, **camera: Any
) -> MockConfigEntry:
    data: dict[str, Any] = {
        "name": "Front Gate",
        "stream_url": str(video),
        "detections": ["motion"],
        "sensitivity": 6,
        "burst_interval": 0.5,
        "cooldown": 300,
        "offline_after": 10,
        **camera,
    }
    data = {key: value for key, value in data.items() if value is not None}
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        unique_id=f"{USERNAME}@{server.host}",
        data=entry_data(server),
        options={CONF_RECIPIENTS: RECIPIENTS},
        subentries_data=[
            ConfigSubentryData(
                data=data, subentry_type="camera", title="Front Gate", unique_id=None
            )
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
