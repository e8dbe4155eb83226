"""Options of an account: everything not needed to connect (recipients, retries, heartbeat)."""

from __future__ import annotations

import re
from typing import Any

import voluptuous as vol

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
    TimeSelector,
)
from homeassistant.util import dt as dt_util

from .const import (
    CONF_FALLBACK_NOTIFY,
    CONF_HEARTBEAT_GRACE,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HEARTBEAT_TIME,
    CONF_OUTBOX_MAX_AGE,
    CONF_RECIPIENTS,
    CONF_RETRY_DELAYS,
    DEFAULT_HEARTBEAT_GRACE_MINUTES,
    DEFAULT_OUTBOX_MAX_AGE_HOURS,
    DEFAULT_RETRY_DELAYS,
    HEARTBEAT_CHOICES,
    HEARTBEAT_DAILY,
    HEARTBEAT_OFF,
)
from .form_numbers import checked_number, range_errors
from .mail import InvalidAddressError, normalize_addresses
from .relay_flow import (
    RELAY_KEYS,
    RELAY_SECTION,
    async_validate_relay,
    relay_section,
    suggested_relay,
)
from .upload_flow import UploadOptionsStep

EMAILS = TextSelector(TextSelectorConfig(type=TextSelectorType.EMAIL, multiple=True))


def validate_recipients(values: list[str]) -> tuple[list[str], dict[str, str]]:
    """Recipients normalised, or the form error."""
    try:
        recipients = normalize_addresses(values)
    except InvalidAddressError:
        return [], {CONF_RECIPIENTS: "invalid_email"}
    if not recipients:
        return [], {CONF_RECIPIENTS: "invalid_email"}
    return recipients, {}


def _parse_retry_delays(text: str) -> list[int] | None:
    """``"0, 10, 30"`` or ``"0 10 30"`` -> ``[0, 10, 30]``: 1 to 10 seconds, each <= a day."""
    try:
        delays = [int(part) for part in re.split(r"[\s,;]+", text) if part]
    except ValueError:
        return None
    if not 1 <= len(delays) <= 10 or any(not 0 <= delay <= 86400 for delay in delays):
        return None
    return delays


def _options_schema() -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_RECIPIENTS): EMAILS,
            vol.Required(CONF_RETRY_DELAYS): TextSelector(),
            vol.Required(CONF_OUTBOX_MAX_AGE): checked_number(1, 168, unit="h"),
            vol.Required(CONF_HEARTBEAT_INTERVAL): SelectSelector(
                SelectSelectorConfig(
                    options=HEARTBEAT_CHOICES,
                    mode=SelectSelectorMode.DROPDOWN,
                    translation_key=CONF_HEARTBEAT_INTERVAL,
                )
            ),
            vol.Optional(CONF_HEARTBEAT_TIME): TimeSelector(),
            vol.Required(CONF_HEARTBEAT_GRACE): checked_number(1, 720, unit="min"),
            # Text, not an entity picker: a legacy notify service (notify.mobile_app_x) is allowed.
            vol.Optional(CONF_FALLBACK_NOTIFY): TextSelector(),
            **relay_section(),
        }
    )


class PtzEmailAlertOptionsFlow(UploadOptionsStep, OptionsFlow):
    """Everything not needed to connect: recipients, retries, heartbeat, fallback."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Edit the options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            recipients, errors = validate_recipients(user_input[CONF_RECIPIENTS])
            errors.update(range_errors(_options_schema(), user_input))
            delays = _parse_retry_delays(str(user_input[CONF_RETRY_DELAYS]))
            if delays is None:
                errors[CONF_RETRY_DELAYS] = "invalid_retry_delays"
            interval = user_input[CONF_HEARTBEAT_INTERVAL]
            at = user_input.get(CONF_HEARTBEAT_TIME)
            if interval == HEARTBEAT_DAILY and (not at or dt_util.parse_time(str(at)) is None):
                errors[CONF_HEARTBEAT_TIME] = "heartbeat_time_required"
            fallback = str(user_input.get(CONF_FALLBACK_NOTIFY) or "").strip()
            if fallback in self._own_notify_entities():
                errors[CONF_FALLBACK_NOTIFY] = "fallback_is_this_account"
            elif fallback and not self._notify_target_exists(fallback):
                errors[CONF_FALLBACK_NOTIFY] = "invalid_fallback"
            if (relay_input := user_input.get(RELAY_SECTION)) is not None:
                relay, relay_errors = await async_validate_relay(
                    self.hass, self.config_entry, relay_input
                )
                errors.update(relay_errors)
            else:  # a form without the section (a script, an old frontend): relay as it is
                stored = self.config_entry.options
                relay = {key: stored[key] for key in RELAY_KEYS if key in stored}
            if not errors:
                options = {
                    CONF_RECIPIENTS: recipients,
                    CONF_RETRY_DELAYS: delays,
                    CONF_OUTBOX_MAX_AGE: int(user_input[CONF_OUTBOX_MAX_AGE]),
                    CONF_HEARTBEAT_INTERVAL: interval,
                    CONF_HEARTBEAT_GRACE: int(user_input[CONF_HEARTBEAT_GRACE]),
                }
                if at:
                    options[CONF_HEARTBEAT_TIME] = str(at)
                if fallback:
                    options[CONF_FALLBACK_NOTIFY] = fallback
                options.update(relay)
                self._options = options  # the upload step saves them with its own
                return await self.async_step_upload()
        current = self.config_entry.options
        suggested = user_input or {
            CONF_RETRY_DELAYS: ", ".join(
                str(d) for d in current.get(CONF_RETRY_DELAYS, DEFAULT_RETRY_DELAYS)
            ),
            CONF_OUTBOX_MAX_AGE: current.get(CONF_OUTBOX_MAX_AGE, DEFAULT_OUTBOX_MAX_AGE_HOURS),
            CONF_HEARTBEAT_INTERVAL: current.get(CONF_HEARTBEAT_INTERVAL, HEARTBEAT_OFF),
            CONF_HEARTBEAT_GRACE: current.get(
                CONF_HEARTBEAT_GRACE, DEFAULT_HEARTBEAT_GRACE_MINUTES
            ),
            RELAY_SECTION: suggested_relay(current),
            **{
                key: current[key]
                for key in (CONF_RECIPIENTS, CONF_HEARTBEAT_TIME, CONF_FALLBACK_NOTIFY)
                if key in current
            },
        }
        return self.async_show_form(
            step_id="init",
            description_placeholders={"services": ", ".join(self._suggested_targets()[:8]) or "-"},
            data_schema=self.add_suggested_values_to_schema(_options_schema(), suggested),
            errors=errors,
        )

    def _notify_targets(self) -> list[str]:
        entities = self.hass.states.async_entity_ids("notify")
        services = [
            f"notify.{name}" for name in self.hass.services.async_services_for_domain("notify")
        ]
        return sorted(
            {*entities, *services} - {"notify.send_message", "notify.persistent_notification"}
        )

    def _suggested_targets(self) -> list[str]:
        """Notify targets worth naming: not this account's own email, which is what failed."""
        own = self._own_notify_entities()
        return [target for target in self._notify_targets() if target not in own]

    def _own_notify_entities(self) -> set[str]:
        registry = er.async_get(self.hass)
        return {
            entity.entity_id
            for entity in er.async_entries_for_config_entry(registry, self.config_entry.entry_id)
            if entity.domain == "notify"
        }

    def _notify_target_exists(self, target: str) -> bool:
        return target in self._notify_targets()
