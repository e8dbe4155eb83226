"""What a user reads about deliveries: lost emails, and the delivery log in short and in full.

A real SMTP server on loopback; time moves with the harness's frozen clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import json

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.ptz_email_alert.const import EVENT_DROPPED
from custom_components.ptz_email_alert.delivery_log import readable_attempt, readable_log
from custom_components.ptz_email_alert.diagnostics import async_get_config_entry_diagnostics
from custom_components.ptz_email_alert.mail import ErrorKind
from custom_components.ptz_email_alert.mail.outbox_records import DeliveryAttempt
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .delivery_helpers import PREFIX, advance, notify, setup_account, state
from .smtp_server import ServerFactory

LOST = f"sensor.{PREFIX}_lost_emails"
EN_LOG_KEYS = {
    "time",
    "server",
    "subject",
    "attempt",
    "error",
    "code",
    "reply",
    "duration_ms",
    "message_id",
}


async def _hours(hass: HomeAssistant, freezer: FrozenDateTimeFactory, hours: float) -> None:
    """Move the clock a minute at a time, letting each due timer finish."""
    for _ in range(round(hours * 60)):
        freezer.tick(timedelta(minutes=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


async def test_lost_counts_only_what_is_never_delivered(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    server = await smtp_server("starttls")
    entry = await setup_account(hass, server, retry_delays=[0], outbox_max_age=1)
    port = server.port
    dropped = async_capture_events(hass, EVENT_DROPPED)
    assert state(hass, LOST) == "0"

    # Fails its whole schedule, then goes out when the server is back: not lost.
    await server.stop()
    await notify(hass, "Late but delivered")
    await advance(hass, freezer, 10)
    assert entry.runtime_data.account.outbox.failed_count == 1
    assert state(hass, LOST) == "0"
    await server.start(port)
    await advance(hass, freezer, 300)
    assert [r.message["Subject"] for r in server.received] == ["Late but delivered"]
    assert state(hass, LOST) == "0"

    # Never delivered within the outbox's age: dropped, and that is lost mail.
    await server.stop()
    await notify(hass, "Never delivered")
    await _hours(hass, freezer, 1.2)
    assert [event.data["reason"] for event in dropped] == ["expired"]
    assert state(hass, LOST) == "1"
    assert state(hass, f"sensor.{PREFIX}_outbox") == "0"
    assert entry.runtime_data.account.outbox.ledger.failed_total == 2  # both used up their retries


async def test_delivery_log_is_readable_short_in_attributes_full_in_diagnostics(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    server = await smtp_server("starttls")
    entry = await setup_account(hass, server)
    for number in range(12):
        await notify(hass, f"Alert {number:02d}")
        await advance(hass, freezer, 1)
    server.behaviour.data_reply = "451 4.3.0 try later"
    await notify(hass, "Refused")
    await advance(hass, freezer, 1)

    attributes = hass.states.get(f"sensor.{PREFIX}_last_error").attributes
    log = attributes["delivery_log"]
    assert len(log) == 10
    assert set(log[0]) == EN_LOG_KEYS
    # Newest first: the refused attempt, then the alerts from the last backwards.
    assert [line["subject"] for line in log[:3]] == ["Refused", "Alert 11", "Alert 10"]
    assert log[0]["error"] == "temporary"
    assert log[0]["code"] == 451
    assert log[1]["error"] == "none"
    times = [datetime.fromisoformat(line["time"]) for line in log]
    assert all(time.tzinfo is not None for time in times)
    assert times == sorted(times, reverse=True)
    assert log[0]["time"] == times[0].isoformat(timespec="seconds")  # no fractions
    assert all(type(line["duration_ms"]) is int for line in log)
    assert all(line["duration_ms"] >= 0 for line in log)

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    full = diagnostics["delivery_log"]
    assert len(full) == 13
    assert [line["subject"] for line in full[:10]] == [line["subject"] for line in log]
    assert full[-1]["subject"] == "Alert 00"
    json.dumps(diagnostics)  # JSON-ready


def test_an_attempt_in_whole_milliseconds_and_local_iso_time(hass: HomeAssistant) -> None:
    attempt = DeliveryAttempt(
        1_700_000_000.987654, "smtp.example.com:587", "id", "<m@x>", "Gate", 2,
        ErrorKind.NONE, None, "250 OK", 0.123456789,
    )  # fmt: skip
    line = readable_attempt(attempt)
    assert line["duration_ms"] == 123
    assert line["time"] == dt_util.as_local(dt_util.utc_from_timestamp(1_700_000_000)).isoformat()
    assert readable_log([attempt, attempt], limit=1) == [line]
