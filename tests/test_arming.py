"""Arming, snooze and external triggers: what holds an email back, what starts an alert.

Real Home Assistant states and the harness's clock; no camera is needed for these rules.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.ptz_email_alert.arming import (
    ALARM_ARMED_STATES,
    HELD_DISARMED,
    HELD_SNOOZED,
    HELD_SWITCHED_OFF,
    Arming,
    default_armed_states,
)
from custom_components.ptz_email_alert.camera_triggers import trigger_event_type
from homeassistant.core import HomeAssistant, State
from homeassistant.util import dt as dt_util


@pytest.mark.parametrize(
    ("entity_id", "armed"),
    [
        ("alarm_control_panel.home", ALARM_ARMED_STATES),
        ("person.anna", ("not_home",)),
        ("device_tracker.phone", ("not_home",)),
        ("group.family", ("not_home", "off")),
        ("zone.home", ("0",)),
        ("input_boolean.away", ("on",)),
    ],
)
def test_what_arms_by_default(entity_id: str, armed: tuple[str, ...]) -> None:
    assert default_armed_states(entity_id) == armed


async def test_arming_entity_and_switch(hass: HomeAssistant) -> None:
    changes: list[None] = []
    arming = Arming(hass, "person.anna", (), lambda: changes.append(None))
    arming.async_start()
    assert arming.held_back == HELD_DISARMED  # the person is unknown yet: not armed
    hass.states.async_set("person.anna", "not_home")
    await hass.async_block_till_done()
    assert arming.held_back is None
    assert changes  # the camera hears of it (its armed attribute follows)
    hass.states.async_set("person.anna", "home")
    await hass.async_block_till_done()
    assert arming.held_back == HELD_DISARMED
    arming.switch_on = False
    assert arming.held_back == HELD_SWITCHED_OFF  # the switch wins over everything
    arming.async_stop()
    seen = len(changes)
    hass.states.async_set("person.anna", "not_home")
    await hass.async_block_till_done()
    assert len(changes) == seen  # stopped: no longer followed


async def test_snooze_ends_by_itself(hass: HomeAssistant) -> None:
    changes: list[None] = []
    arming = Arming(hass, None, (), lambda: changes.append(None))
    until = dt_util.utcnow() + timedelta(minutes=10)
    arming.snooze(until)
    assert arming.held_back == HELD_SNOOZED
    async_fire_time_changed(hass, until + timedelta(seconds=1))
    await hass.async_block_till_done()
    assert arming.held_back is None
    assert arming.snoozed_until is None
    assert len(changes) == 2  # snoozed, then woken


async def test_stop_cancels_the_snooze_timer(hass: HomeAssistant) -> None:
    changes: list[None] = []
    arming = Arming(hass, None, (), lambda: changes.append(None))
    until = dt_util.utcnow() + timedelta(minutes=10)
    arming.snooze(until)
    arming.async_stop()
    async_fire_time_changed(hass, until + timedelta(seconds=1))
    await hass.async_block_till_done()
    assert len(changes) == 1  # a stopped camera is not called back


def state(entity_id: str, value: str, **attributes: str) -> State:
    return State(entity_id, value, attributes)


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        (None, None, None),  # removed
        (state("binary_sensor.door", "on"), state("binary_sensor.door", "off"), "external"),
        (
            state("binary_sensor.hall", "on", device_class="motion"),
            state("binary_sensor.hall", "off"),
            "motion",
        ),
        (state("binary_sensor.room", "on", device_class="occupancy"), None, "person"),
        (state("binary_sensor.door", "on"), state("binary_sensor.door", "on"), None),  # still on
        (state("binary_sensor.door", "off"), state("binary_sensor.door", "on"), None),
        (
            state("event.doorbell", "2026-11-22T10:00:01", event_type="person"),
            state("event.doorbell", "2026-11-22T10:00:00"),
            "person",
        ),
        (
            state("event.doorbell", "2026-11-22T10:00:01", event_type="ring"),
            state("event.doorbell", "2026-11-22T10:00:00"),
            "external",
        ),
        (state("event.doorbell", "2026-11-22T10:00:00"), None, None),  # first state: no event
        (
            state("event.doorbell", "2026-11-22T10:00:00"),
            state("event.doorbell", "2026-11-22T10:00:00"),
            None,
        ),
        (state("event.doorbell", "unavailable"), state("event.doorbell", "unknown"), None),
        (state("sensor.temperature", "21"), state("sensor.temperature", "20"), None),
    ],
)
def test_which_changes_trigger_an_alert(
    new: State | None, old: State | None, expected: str | None
) -> None:
    assert trigger_event_type(new, old) == expected
