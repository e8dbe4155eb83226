"""A PTZ camera's commanded moves, told by the change of an entity.

Any change of its PTZ entity (a preset select, a patrol switch, a position sensor) marks the
camera as moving until the picture has settled.

While it moves, detections are dropped and the scene is learned again, so that a preset tour
sends no "motion" for every move.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later, async_track_state_change_event
from homeassistant.util import dt as dt_util

from .const import PTZ_SETTLE_SECONDS


class PtzWatch:
    """Follows one PTZ entity; ``moving`` while a move settles."""

    def __init__(
        self,
        hass: HomeAssistant,
        entity_id: str | None,
        *,
        on_move: Callable[[], None],
        changed: Callable[[], None],
    ) -> None:
        """``on_move`` runs at each commanded move (and when it has settled)."""
        self.hass = hass
        self.entity_id = entity_id
        self._on_move = on_move
        self._changed = changed
        self.moving_until: datetime | None = None
        self._unsubscribe: CALLBACK_TYPE | None = None
        self._settle_timer: CALLBACK_TYPE | None = None

    @property
    def moving(self) -> bool:
        """A commanded move is under way or settling."""
        return self.moving_until is not None and self.moving_until > dt_util.utcnow()

    @callback
    def async_start(self) -> None:
        """Follow the entity, if there is one."""
        if self.entity_id:
            self._unsubscribe = async_track_state_change_event(
                self.hass, [self.entity_id], self._on_state
            )

    @callback
    def async_stop(self) -> None:
        """Stop following."""
        if self._unsubscribe:
            self._unsubscribe()
            self._unsubscribe = None
        if self._settle_timer:
            self._settle_timer()
            self._settle_timer = None

    @callback
    def _on_state(self, event: Event[EventStateChangedData]) -> None:
        new, old = event.data["new_state"], event.data["old_state"]
        if new is None or old is None or new.state == old.state:
            return
        if STATE_UNAVAILABLE in (new.state, old.state) or new.state == STATE_UNKNOWN:
            return  # the entity coming and going is not a move
        self.moving_until = dt_util.utcnow() + timedelta(seconds=PTZ_SETTLE_SECONDS)
        if self._settle_timer:
            self._settle_timer()
        self._settle_timer = async_call_later(self.hass, PTZ_SETTLE_SECONDS, self._settled)
        self._on_move()
        self._changed()

    @callback
    def _settled(self, _now: datetime) -> None:
        self._settle_timer = None
        self.moving_until = None
        self._on_move()  # learn the scene at the new position from here on
        self._changed()
