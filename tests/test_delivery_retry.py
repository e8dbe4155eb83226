"""The retry schedule: temporary errors are tried again after 10 s and 30 s, permanent ones
stop at once (with a repair and a reauth flow for a refused login).

A real SMTP server on loopback, made to refuse, reply 4xx/5xx, drop, stall or fail TLS; time
moves with the harness's frozen clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import itertools
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.ptz_email_alert.const import DOMAIN, EVENT_DELIVERY_FAILED
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir

from .delivery_helpers import PREFIX, advance, notify, setup_account, state
from .smtp_server import ServerFactory


def attempt_times(entry: MockConfigEntry) -> list[float]:
    log = entry.runtime_data.account.outbox.delivery_log
    start = log[0].time
    return [round(attempt.time - start, 1) for attempt in log]


TEMPORARY = [
    ("refused", {}, "refused", None),
    ("4xx", {"rcpt_reply": "451 4.3.0 Mail server temporarily rejected message"}, "temporary", 451),
    ("disconnect", {"drop_in_data": True}, "disconnected", None),
    ("dns", {}, "dns", None),
    ("tls", {}, "tls", None),
]


@pytest.mark.parametrize(("condition", "behaviour", "kind", "code"), TEMPORARY)
async def test_temporary_errors_follow_the_schedule(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    smtp_server: ServerFactory,
    caplog: pytest.LogCaptureFixture,
    unknown_host: str,
    condition: str,
    behaviour: dict[str, Any],
    kind: str,
    code: int | None,
) -> None:
    server = await smtp_server("starttls", **behaviour)
    data: dict[str, Any] = {}
    if condition == "refused":
        await server.stop()
    if condition == "dns":
        data["host"] = unknown_host
    if condition == "tls":  # the test CA is not trusted: the handshake fails
        data["verify_ssl"] = True
    entry = await setup_account(hass, server, data=data)
    failed = async_capture_events(hass, EVENT_DELIVERY_FAILED)

    await notify(hass, "Gate alarm")  # attempt 1, at once
    assert state(hass, f"binary_sensor.{PREFIX}_delivery_problem") == "on"
    assert state(hass, f"sensor.{PREFIX}_last_error") == kind
    assert state(hass, f"sensor.{PREFIX}_outbox") == "1"
    await advance(hass, freezer, 9)
    assert len(entry.runtime_data.account.outbox.delivery_log) == 1  # not yet
    await advance(hass, freezer, 1)  # attempt 2 at +10 s
    await advance(hass, freezer, 29)
    assert len(entry.runtime_data.account.outbox.delivery_log) == 2
    assert failed == []
    await advance(hass, freezer, 1)  # attempt 3, 30 s after attempt 2

    assert attempt_times(entry) == [0, 10, 40]
    assert [attempt.error.value for attempt in entry.runtime_data.account.outbox.delivery_log] == [
        kind
    ] * 3
    assert len(failed) == 1
    assert failed[0].data | {"message_id": None} == {
        "entry_id": entry.entry_id,
        "message_id": None,
        "subject": "Gate alarm",
        "kind": "message",
        "error": kind,
        "code": code,
        "detail": failed[0].data["detail"],
        "attempts": 3,
        "server": entry.runtime_data.account.server,
    }
    assert state(hass, f"sensor.{PREFIX}_lost_emails") == "0"  # kept for redelivery: not lost
    assert state(hass, f"sensor.{PREFIX}_outbox") == "1"  # kept for redelivery
    assert state(hass, f"binary_sensor.{PREFIX}_delivery_problem") == "on"
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "Gate alarm" in r.getMessage()
    ]
    # A server out of reach is logged once when it goes away, not at every attempt; a reply
    # that refuses this message is logged each time.
    expected = 3 if kind == "temporary" else 1
    assert len([r for r in warnings if "was not accepted" in r.getMessage()]) == expected
    assert any("failed after 3 attempt(s)" in r.getMessage() for r in warnings)
    # Nothing more is tried until the probe interval.
    await advance(hass, freezer, 120)
    assert len(entry.runtime_data.account.outbox.delivery_log) == 3


async def test_timeout_follows_the_schedule(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    """A server that never answers: each attempt waits out the 1 s timeout, then the schedule."""
    server = await smtp_server("starttls")
    stalled = await smtp_server.stalling()
    server.port = stalled.port
    entry = await setup_account(hass, server)
    failed = async_capture_events(hass, EVENT_DELIVERY_FAILED)
    # The frozen clock also drives asyncio's timeouts (that is what makes the silent server
    # time out), so the clock moves while the send waits: the send runs untracked, and the
    # loop is only yielded to (block_till_done would wait for the send, which waits for time).
    sending = asyncio.ensure_future(notify(hass, "Quiet server"))
    for _ in range(400):
        if failed and sending.done():
            break
        freezer.tick(timedelta(seconds=0.5))
        async_fire_time_changed(hass)
        for _ in range(20):
            await asyncio.sleep(0)
    await sending
    log = entry.runtime_data.account.outbox.delivery_log
    assert [attempt.error.value for attempt in log] == ["timeout"] * 3
    gaps = [later.time - earlier.time for earlier, later in itertools.pairwise(log)]
    assert 10 <= gaps[0] <= 13
    assert 30 <= gaps[1] <= 33
    assert failed[0].data["error"] == "timeout"
    assert state(hass, f"sensor.{PREFIX}_last_error") == "timeout"


PERMANENT = [
    (
        "auth",
        {"auth_reply": "535 5.7.8 Username and Password not accepted."},
        "auth",
        "login_refused",
    ),
    (
        "app_password",
        {"auth_reply": "534 5.7.9 Application-specific password required."},
        "app_password_required",
        "app_password_required",
    ),
    (
        "basic_auth",
        {
            "auth_reply": "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
        },
        "basic_auth_disabled",
        "basic_auth_disabled",
    ),
    (
        "too_large",
        {"data_reply": "552 5.3.4 Message size exceeds fixed limit"},
        "message_too_large",
        None,
    ),
    ("rejected", {"data_reply": "554 5.7.1 Rejected as spam"}, "rejected", None),
]


@pytest.mark.parametrize(("condition", "behaviour", "kind", "issue"), PERMANENT)
async def test_permanent_errors_stop_at_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    smtp_server: ServerFactory,
    condition: str,
    behaviour: dict[str, Any],
    kind: str,
    issue: str | None,
) -> None:
    server = await smtp_server("starttls", **behaviour)
    entry = await setup_account(hass, server)
    failed = async_capture_events(hass, EVENT_DELIVERY_FAILED)
    with pytest.raises(HomeAssistantError) as err:
        await notify(hass, "Door")
    assert err.value.translation_key == f"send_{kind}"
    await advance(hass, freezer, 60)
    assert len(entry.runtime_data.account.outbox.delivery_log) == 1
    assert [event.data["error"] for event in failed] == [kind]
    assert state(hass, f"sensor.{PREFIX}_last_error") == kind
    assert state(hass, f"binary_sensor.{PREFIX}_delivery_problem") == "on"
    registry = ir.async_get(hass)
    repair = registry.async_get_issue(DOMAIN, f"login_{entry.entry_id}")
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    if issue is None:
        assert repair is None
        assert flows == []
    else:
        assert repair is not None
        assert repair.translation_key == issue
        assert [flow["context"]["source"] for flow in flows] == ["reauth"]
