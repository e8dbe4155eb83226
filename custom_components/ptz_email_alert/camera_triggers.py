"""External triggers: which state changes of other entities start a camera's alert, as what."""

from __future__ import annotations

from homeassistant.const import STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import State

from .const import DEFAULT_BURST

# A sensor's device class says what it saw.
_BINARY_SENSOR_TYPES = {"motion": "motion", "occupancy": "person", "presence": "person"}


def trigger_event_type(new: State | None, old: State | None) -> str | None:
    """The alert's event type for this change, or None when it is not a trigger.

    A binary sensor that turns on; an event entity that fires (its state is the time of the
    event: any new value). An event entity's own type is kept when it names a detection.
    """
    if new is None:
        return None
    domain = new.domain
    if domain == "binary_sensor":
        if new.state != STATE_ON or (old is not None and old.state == STATE_ON):
            return None
        return _BINARY_SENSOR_TYPES.get(str(new.attributes.get("device_class")), "external")
    if domain == "event":
        if old is None or new.state == old.state or new.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
            return None
        kind = str(new.attributes.get("event_type", ""))
        return kind if kind in DEFAULT_BURST else "external"
    return None
