"""Delivery test helpers: an account on a real SMTP server, its notify entity, the clock.

Time moves with the harness's frozen clock, in steps, so each due timer and send finishes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, DOMAIN
from homeassistant.core import HomeAssistant

from .conftest import RECIPIENTS, SENDER, entry_data
from .smtp_server import USERNAME, TestSmtpServer

PREFIX = "camera_example_com"


async def advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """Move the clock in steps of at most 5 s, letting each due timer and send finish."""
    while seconds > 0:
        step = min(5.0, seconds)
        seconds -= step
        freezer.tick(timedelta(seconds=step))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


async def notify(hass: HomeAssistant, title: str, message: str = "body") -> None:
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": f"notify.{PREFIX}_email", "title": title, "message": message},
        blocking=True,
    )


def state(hass: HomeAssistant, entity: str) -> str:
    current = hass.states.get(entity)
    assert current is not None, entity
    return current.state


async def setup_account(
    hass: HomeAssistant,
    server: TestSmtpServer,
    data: dict[str, Any] | None = None,
    **options: Any,
) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        unique_id=f"{USERNAME}@{server.host}",
        data=entry_data(server, timeout=1, **(data or {})),
        options={CONF_RECIPIENTS: RECIPIENTS, **options},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
