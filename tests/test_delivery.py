"""Delivery that loses nothing: retry schedule, outbox, entities, events, repairs, heartbeat.

A real SMTP server on loopback; time moves with the harness's frozen clock.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
import itertools
import json
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_test_home_assistant,
)

from custom_components.ptz_email_alert.const import (
    CONF_RECIPIENTS,
    DOMAIN,
    EVENT_DELIVERED,
    EVENT_DELIVERY_FAILED,
    EVENT_HEARTBEAT_MISSED,
)
from custom_components.ptz_email_alert.diagnostics import async_get_config_entry_diagnostics
from homeassistant import loader
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .conftest import RECIPIENTS, SENDER, entry_data
from .smtp_server import PASSWORD, USERNAME, ServerFactory, TestSmtpServer

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


async def test_outage_then_recovery_delivers_all_in_order_over_few_connections(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    server = await smtp_server("starttls")
    entry = await setup_account(hass, server)
    port = server.port
    await server.stop()
    delivered = async_capture_events(hass, EVENT_DELIVERED)

    for number in range(20):
        await notify(hass, f"Alert {number:02d}")
        await advance(hass, freezer, 3)
    assert state(hass, f"sensor.{PREFIX}_outbox") == "20"
    for _ in range(4):
        await advance(hass, freezer, 30)  # every schedule used up: all failed, all kept
    assert entry.runtime_data.account.outbox.failed_count == 20

    connections_before = server.connections
    await server.start(port)
    await advance(hass, freezer, 300)  # the probe finds the server back

    subjects = [r.message["Subject"] for r in server.received]
    assert subjects == [f"Alert {n:02d}" for n in range(20)]
    assert len({r.message["Message-ID"] for r in server.received}) == 20
    assert server.connections - connections_before <= 2
    assert len(delivered) == 20
    assert state(hass, f"sensor.{PREFIX}_outbox") == "0"
    assert state(hass, f"binary_sensor.{PREFIX}_delivery_problem") == "off"
    assert state(hass, f"sensor.{PREFIX}_last_error") == "none"
    assert state(hass, f"sensor.{PREFIX}_lost_emails") == "0"  # all delivered: none lost

    await advance(hass, freezer, 3600)  # and nothing is sent twice
    assert len(server.received) == 20


async def test_success_redelivers_failed_items(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    server = await smtp_server("starttls", rcpt_reply="450 4.2.1 Mailbox busy")
    entry = await setup_account(hass, server)
    await notify(hass, "First")
    await advance(hass, freezer, 60)  # three attempts, then failed
    assert entry.runtime_data.account.outbox.failed_count == 1
    server.behaviour.rcpt_reply = None
    await notify(hass, "Second")  # works, and takes the failed one along
    await hass.async_block_till_done(wait_background_tasks=True)
    assert sorted(r.message["Subject"] for r in server.received) == ["First", "Second"]
    assert entry.runtime_data.account.outbox.pending_count == 0


async def test_outbox_survives_reload_and_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    server = await smtp_server("starttls")
    entry = await setup_account(hass, server)
    port = server.port
    await server.stop()
    await notify(hass, "Pending one")
    await advance(hass, freezer, 60)  # failed for good
    await notify(hass, "Pending two")  # still on its schedule
    assert entry.runtime_data.account.outbox.pending_count == 2

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.runtime_data.account.outbox.pending_count == 2
    assert state(hass, f"sensor.{PREFIX}_outbox") == "2"

    # A restart: unload everything, then set up again from what is on disk.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await server.start(port)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert sorted(r.message["Subject"] for r in server.received) == ["Pending one", "Pending two"]
    assert entry.runtime_data.account.outbox.pending_count == 0


async def test_heartbeat_missed_then_recovered(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    pushes: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        pushes.append(call)

    hass.services.async_register("notify", "my_phone", phone)
    server = await smtp_server("starttls")
    entry = await setup_account(
        hass, server, heartbeat_interval="1h", heartbeat_grace=15, fallback_notify="notify.my_phone"
    )
    missed = async_capture_events(hass, EVENT_HEARTBEAT_MISSED)
    port = server.port

    await advance(hass, freezer, 3600)  # first heartbeat: accepted
    assert [r.message["Subject"] for r in server.received] == [f"Heartbeat – {SENDER}"]
    assert "0 waiting" in server.received[0].message.get_content()
    assert state(hass, f"binary_sensor.{PREFIX}_heartbeat_missed") == "off"
    assert state(hass, f"sensor.{PREFIX}_last_heartbeat") != "unknown"

    await server.stop()
    await advance(hass, freezer, 3600)  # due, refused, retried
    await advance(hass, freezer, 14 * 60)
    assert missed == []
    await advance(hass, freezer, 60)  # grace passed
    assert state(hass, f"binary_sensor.{PREFIX}_heartbeat_missed") == "on"
    assert len(missed) == 1
    assert missed[0].data["server"] == f"127.0.0.1:{port}"
    assert [call.data["title"] for call in pushes] == [
        f"Email not delivered: {SENDER}",
        f"Heartbeat missed: {SENDER}",
    ]

    await server.start(port)
    await advance(hass, freezer, 45 * 60)  # next heartbeat (and the one left over) accepted
    assert state(hass, f"binary_sensor.{PREFIX}_heartbeat_missed") == "off"
    assert len(missed) == 1
    assert entry.runtime_data.heartbeat.missed is False


async def test_buttons(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    server = await smtp_server("starttls")
    await setup_account(hass, server)
    for button in ("send_test_email", "send_heartbeat"):
        await hass.services.async_call(
            "button", "press", {"entity_id": f"button.{PREFIX}_{button}"}, blocking=True
        )
    subjects = [r.message["Subject"] for r in server.received]
    assert subjects == [f"Test email from Home Assistant ({SENDER})", f"Heartbeat – {SENDER}"]
    assert state(hass, f"sensor.{PREFIX}_last_success") != "unknown"


async def test_no_password_in_logs_or_diagnostics(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    smtp_server: ServerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await smtp_server(
        "starttls", auth_reply="535 5.7.8 Username and Password not accepted."
    )
    entry = await setup_account(hass, server)
    with pytest.raises(HomeAssistantError):
        await notify(hass, "Secret test")
    server.behaviour.auth_reply = None
    # Servers repeat addresses in their replies: diagnostics must not pass them on.
    server.behaviour.data_reply = f"451 4.7.1 <{RECIPIENTS[0]}>: try later"
    await hass.services.async_call(
        "button", "press", {"entity_id": f"button.{PREFIX}_send_test_email"}, blocking=True
    )
    await advance(hass, freezer, 60)
    diagnostics = json.dumps(await async_get_config_entry_diagnostics(hass, entry))
    assert "try later" in diagnostics
    assert RECIPIENTS[0] not in diagnostics
    secrets = {
        PASSWORD,
        base64.b64encode(f"\0{USERNAME}\0{PASSWORD}".encode()).decode(),
        base64.b64encode(PASSWORD.encode()).decode(),
    }
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert [s for s in secrets if s in logged or s in diagnostics] == []
    assert "535" in logged  # the failure itself is logged
    attributes = hass.states.get(f"sensor.{PREFIX}_last_error").attributes
    assert len(attributes["delivery_log"]) >= 2
    assert PASSWORD not in json.dumps(attributes)
    assert dt_util.utcnow()  # the clock is frozen, the test is not timed


async def test_fallback_to_a_notify_entity(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    """The fallback can be another notify entity (here: a second account's, on a good server)."""
    good = await smtp_server("none")
    other = MockConfigEntry(
        domain=DOMAIN,
        title="relay@example.com",
        unique_id="relay",
        data=entry_data(good, username=None, password=None, sender="relay@example.com"),
        options={CONF_RECIPIENTS: ["phone@example.com"]},
    )
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    broken = await smtp_server("starttls", data_reply="554 5.7.1 Rejected")
    await setup_account(hass, broken, fallback_notify="notify.relay_example_com_email")
    with pytest.raises(HomeAssistantError):
        await notify(hass, "Gate")
    await hass.async_block_till_done(wait_background_tasks=True)
    (push,) = good.received
    assert push.message["Subject"] == f"Email not delivered: {SENDER}"
    assert "'Gate' could not be sent" in push.message.get_content()


async def test_fallback_failure_is_logged(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = await smtp_server("starttls", data_reply="554 5.7.1 Rejected")
    await setup_account(hass, broken, fallback_notify="notify.gone")
    with pytest.raises(HomeAssistantError):
        await notify(hass, "Gate")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert "Fallback notification via notify.gone failed" in caplog.text


async def test_daily_heartbeat(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    await hass.config.async_set_time_zone("UTC")
    freezer.move_to("2026-11-21 06:59:00+00:00")
    server = await smtp_server("starttls")
    await setup_account(hass, server, heartbeat_interval="daily", heartbeat_time="07:00:00")
    await advance(hass, freezer, 55)
    assert server.received == []
    await advance(hass, freezer, 10)
    assert [r.message["Subject"] for r in server.received] == [f"Heartbeat – {SENDER}"]
    body = server.received[0].message.get_body(preferencelist=("plain",))
    assert body is not None
    # The same count as the Lost emails sensor (emails kept for redelivery are not lost).
    assert "Lost emails so far (never delivered): 0" in str(body.get_content())


async def test_heartbeat_that_cannot_be_sent_is_logged(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    smtp_server: ServerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await smtp_server("starttls", data_reply="554 5.7.1 Rejected")
    await setup_account(hass, server, heartbeat_interval="1h")
    await advance(hass, freezer, 3600)
    assert "Heartbeat email of camera@example.com was not sent" in caplog.text


async def test_removing_the_account_deletes_its_outbox(
    hass: HomeAssistant, smtp_server: ServerFactory, hass_storage: dict[str, Any]
) -> None:
    server = await smtp_server("starttls")
    entry = await setup_account(hass, server)
    await server.stop()
    await notify(hass, "Left behind")
    folder = entry.runtime_data.account.files.folder
    assert list(folder.glob("*.eml"))
    await hass.async_block_till_done()
    kept = [f"{DOMAIN}.{entry.entry_id}.addresses", f"{DOMAIN}.home_positions.{entry.entry_id}"]
    for key in kept:  # what the account and its PTZ cameras keep between restarts
        hass_storage[key] = {"version": 1, "minor_version": 1, "key": key, "data": {}}
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not folder.exists()
    assert not set(kept) & set(hass_storage)


async def test_outbox_survives_a_new_home_assistant(
    hass: HomeAssistant, smtp_server: ServerFactory
) -> None:
    """A real restart: a second Home Assistant on the same config folder and storage."""
    server = await smtp_server("starttls")
    entry = await setup_account(hass, server)
    port = server.port
    await server.stop()
    await notify(hass, "Before the restart")
    assert entry.runtime_data.account.outbox.pending_count == 1
    await server.start(port)

    async with async_test_home_assistant(config_dir=hass.config.config_dir) as second:
        second.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
        again = MockConfigEntry(
            domain=DOMAIN,
            entry_id=entry.entry_id,
            title=entry.title,
            unique_id=entry.unique_id,
            data=dict(entry.data),
            options=dict(entry.options),
        )
        again.add_to_hass(second)
        assert await second.config_entries.async_setup(again.entry_id)
        await second.async_block_till_done(wait_background_tasks=True)
        assert [r.message["Subject"] for r in server.received] == ["Before the restart"]
        assert again.runtime_data.account.outbox.pending_count == 0
        await second.async_stop(force=True)


async def test_data_sent_counts_accepted_email_bytes(
    hass: HomeAssistant, smtp_server: ServerFactory
) -> None:
    """For 4G sites: what the account sent, in bytes (the server's copy is the measure)."""
    server = await smtp_server("starttls")
    await setup_account(hass, server)
    assert float(state(hass, f"sensor.{PREFIX}_data_sent")) == 0
    await notify(hass, "Gate alarm", "x" * 5000)
    await hass.async_block_till_done(wait_background_tasks=True)  # the flush's last report
    (received,) = server.received
    sensor = hass.states.get(f"sensor.{PREFIX}_data_sent")
    assert sensor is not None
    # Shown in MB; the attribute keeps the exact bytes (the message handed to the server).
    assert sensor.attributes["email_bytes"] == pytest.approx(len(received.raw), rel=0.05)
    assert float(sensor.state) > 0
