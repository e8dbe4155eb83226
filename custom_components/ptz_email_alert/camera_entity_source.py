"""Pictures from a Home Assistant camera entity: its stream's URL, or its still pictures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from homeassistant.components.camera import async_get_image, async_get_stream_source
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .vision.frames import GreyFrame, JpegFrame
from .vision.jpeg import grey_from_jpeg

POLL_INTERVAL = 1.0


async def async_entity_stream_url(hass: HomeAssistant, entity_id: str) -> str | None:
    """The camera entity's stream, or None when it has none (or is not there)."""
    try:
        return await async_get_stream_source(hass, entity_id)
    except HomeAssistantError:
        return None


async def async_poll_entity(
    hass: HomeAssistant,
    entity_id: str,
    *,
    connected: Callable[[], bool],
    on_connected: Callable[[bool], None],
    on_jpeg: Callable[[JpegFrame], None],
    on_grey: Callable[[GreyFrame], None],
) -> None:
    """Fetch the camera entity's picture about once a second (no stream to decode)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        try:
            image = await async_get_image(hass, entity_id, timeout=10)
        except HomeAssistantError:
            if connected():
                on_connected(False)
            await asyncio.sleep(POLL_INTERVAL)
            continue
        if not connected():
            on_connected(True)
        # Real time, as the stream's frames: the burst interval means seconds.
        frame_time = loop.time() - started
        on_jpeg(JpegFrame(frame_time, image.content))
        pixels = await hass.async_add_executor_job(grey_from_jpeg, image.content)
        if pixels is not None:
            on_grey(GreyFrame(frame_time, pixels))
        await asyncio.sleep(POLL_INTERVAL)
