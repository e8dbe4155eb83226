"""Whether a camera's alerts are emailed now: the switch, an arming entity, a snooze.

Detection and evidence go on in every case; only the email is held back, and the reason is
kept for the last-alert sensor.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from homeassistant.const import STATE_NOT_HOME, STATE_ON
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import (
    async_track_point_in_utc_time,
    async_track_state_change_event,
)
from homeassistant.util import dt as dt_util

# Alarm panel states that arm a camera when the user names none.
ALARM_ARMED_STATES = (
    "armed_away",
    "armed_home",
    "armed_night",
    "armed_vacation",
    "armed_custom_bypass",
    "triggered",
)
HELD_SWITCHED_OFF = "switched_off"
HELD_DISARMED = "disarmed"
HELD_SNOOZED = "snoozed"


def default_armed_states(entity_id: str) -> tuple[str, ...]:
    """What arms by default: an alarm panel armed, nobody home, or plainly on."""
    domain = entity_id.split(".", 1)[0]
    if domain == "alarm_control_panel":
        return ALARM_ARMED_STATES
    if domain in ("person", "device_tracker", "group"):
        # A group of people is "not_home" when all are away (it is "home" when any is in).
        return (STATE_NOT_HOME,) if domain != "group" else (STATE_NOT_HOME, "off")
    if domain == "zone":
        return ("0",)  # nobody in the zone
    return (STATE_ON,)


class Arming:
    """The switch (manual override), the arming entity and the snooze of one camera."""

    def __init__(
        self,
        hass: HomeAssistant,
        armed_by: str | None,
        armed_states: tuple[str, ...],
        changed: Callable[[], None],
    ) -> None:
        """``armed_states`` empty: :func:`default_armed_states` of ``armed_by``."""
        self.hass = hass
        self.armed_by = armed_by
        self.armed_states = armed_states or (default_armed_states(armed_by) if armed_by else ())
        self.switch_on = True
        self.snoozed_until: datetime | None = None
        self._changed = changed
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._snooze_timer: CALLBACK_TYPE | None = None

    @callback
    def async_start(self) -> None:
        """Follow the arming entity."""
        if self.armed_by:
            self._unsubscribe.append(
                async_track_state_change_event(self.hass, [self.armed_by], self._on_state)
            )

    @callback
    def async_stop(self) -> None:
        """Stop following."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._snooze_timer:
            self._snooze_timer()
            self._snooze_timer = None

    @callback
    def _on_state(self, _event: Event[EventStateChangedData]) -> None:
        self._changed()

    @property
    def held_back(self) -> str | None:
        """Why an alert would not be emailed now, or None when it would."""
        if not self.switch_on:
            return HELD_SWITCHED_OFF
        if self.snoozed_until is not None and self.snoozed_until > dt_util.utcnow():
            return HELD_SNOOZED
        if self.armed_by:
            state = self.hass.states.get(self.armed_by)
            if state is None or state.state not in self.armed_states:
                return HELD_DISARMED
        return None

    @callback
    def snooze(self, until: datetime | None) -> None:
        """Hold emails back until ``until`` (None or a past time: end the snooze)."""
        if self._snooze_timer:
            self._snooze_timer()
            self._snooze_timer = None
        if until is None or until <= dt_util.utcnow():
            self.snoozed_until = None
        else:
            self.snoozed_until = until
            self._snooze_timer = async_track_point_in_utc_time(self.hass, self._wake, until)
        self._changed()

    @callback
    def _wake(self, _now: datetime) -> None:
        self._snooze_timer = None
        self.snoozed_until = None
        self._changed()
