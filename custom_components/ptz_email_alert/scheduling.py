"""Home Assistant's clock for the pure queues (outbox, uploads): timers they can cancel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from homeassistant.core import HassJob, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later


def call_later(hass: HomeAssistant, delay: float, action: Callable[[], None]) -> Callable[[], None]:
    """Run ``action`` after ``delay`` seconds (the harness's clock in tests); returns a cancel."""

    @callback
    def _run(_now: datetime) -> None:
        action()

    return async_call_later(hass, delay, HassJob(_run, cancel_on_shutdown=True))
