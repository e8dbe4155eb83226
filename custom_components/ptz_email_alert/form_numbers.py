"""Number fields whose bounds the flow step checks, for a translated error next to the field.

A plain `NumberSelector` refuses a value out of range while the form is parsed, before the step
runs: the frontend then gets a bare 400 and the user sees no message. These boxes keep their
`min`/`max` for the frontend, take any number, and `range_errors` names each field out of range
with the error key `<field>_out_of_range` (translated in the flow's `error` section).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
)


class CheckedNumber(NumberSelector):
    """A number box whose bounds are shown by the frontend and checked by the step."""

    def __call__(self, data: Any) -> float:
        """Any number: the step checks the bounds (see `range_errors`)."""
        value: float = vol.Coerce(float)(data)
        return value

    def in_range(self, value: float) -> bool:
        """True when ``value`` lies within the selector's min and max."""
        low = self.config.get("min")
        high = self.config.get("max")
        return (low is None or value >= low) and (high is None or value <= high)


def checked_number(
    low: float,
    high: float,
    step: float = 1,
    unit: str = "",
    mode: NumberSelectorMode = NumberSelectorMode.BOX,
) -> CheckedNumber:
    """A checked number box (or slider) from ``low`` to ``high``."""
    config = NumberSelectorConfig(min=low, max=high, step=step, mode=mode)
    if unit:
        config["unit_of_measurement"] = unit
    return CheckedNumber(config)


def out_of_range_key(field: str) -> str:
    """The form error key of ``field`` out of its range."""
    return f"{field}_out_of_range"


def range_errors(schema: vol.Schema, data: Mapping[str, Any]) -> dict[str, str]:
    """``{field: "<field>_out_of_range"}`` for each checked number of ``schema`` out of range."""
    errors: dict[str, str] = {}
    for marker, validator in schema.schema.items():
        field = str(marker)
        value = data.get(field)
        if not isinstance(validator, CheckedNumber) or value is None:
            continue
        if not validator.in_range(float(value)):
            errors[field] = out_of_range_key(field)
    return errors


def checked_fields(schema: vol.Schema) -> list[str]:
    """The fields of ``schema`` whose bounds the step checks."""
    return [
        str(marker)
        for marker, validator in schema.schema.items()
        if isinstance(validator, CheckedNumber)
    ]
