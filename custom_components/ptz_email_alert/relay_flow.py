"""The local relay's part of the account options: a section of the options form, checked."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .const import (
    CONF_RELAY_ALLOW_PLAIN_AUTH,
    CONF_RELAY_ENABLED,
    CONF_RELAY_FORWARD_TO,
    CONF_RELAY_HEARTBEAT_HOURS,
    CONF_RELAY_HOST,
    CONF_RELAY_MAX_MB,
    CONF_RELAY_NETWORKS,
    CONF_RELAY_PASSWORD,
    CONF_RELAY_PORT,
    CONF_RELAY_SENDERS,
    CONF_RELAY_USERNAME,
    RELAY_FORWARD_CHOICES,
    RELAY_FORWARD_ORIGINAL,
)
from .form_numbers import checked_number, range_errors
from .mail.relay_policy import (
    DEFAULT_HEARTBEAT_HOURS,
    DEFAULT_MAX_MB,
    DEFAULT_NETWORKS,
    DEFAULT_PORT,
    PolicyValueError,
    parse_networks,
    parse_senders,
    split_lines,
)

RELAY_SECTION = "relay"
RELAY_KEYS = (
    CONF_RELAY_ENABLED,
    CONF_RELAY_HOST,
    CONF_RELAY_PORT,
    CONF_RELAY_NETWORKS,
    CONF_RELAY_SENDERS,
    CONF_RELAY_USERNAME,
    CONF_RELAY_PASSWORD,
    CONF_RELAY_ALLOW_PLAIN_AUTH,
    CONF_RELAY_FORWARD_TO,
    CONF_RELAY_MAX_MB,
    CONF_RELAY_HEARTBEAT_HOURS,
)
_LINES = TextSelector(TextSelectorConfig(multiline=True))


def relay_schema() -> vol.Schema:
    """The fields of the "Local relay" section (numbers checked by the step, see form_numbers)."""
    return vol.Schema(
        {
            vol.Required(CONF_RELAY_ENABLED, default=False): BooleanSelector(),
            vol.Optional(CONF_RELAY_HOST): TextSelector(),
            vol.Required(CONF_RELAY_PORT, default=DEFAULT_PORT): checked_number(1, 65535),
            vol.Required(CONF_RELAY_NETWORKS, default="\n".join(DEFAULT_NETWORKS)): _LINES,
            vol.Optional(CONF_RELAY_SENDERS): _LINES,
            vol.Optional(CONF_RELAY_USERNAME): TextSelector(),
            vol.Optional(CONF_RELAY_PASSWORD): TextSelector(
                TextSelectorConfig(type=TextSelectorType.PASSWORD)
            ),
            vol.Required(CONF_RELAY_ALLOW_PLAIN_AUTH, default=False): BooleanSelector(),
            vol.Required(CONF_RELAY_FORWARD_TO, default=RELAY_FORWARD_ORIGINAL): SelectSelector(
                SelectSelectorConfig(
                    options=RELAY_FORWARD_CHOICES,
                    mode=SelectSelectorMode.DROPDOWN,
                    translation_key=CONF_RELAY_FORWARD_TO,
                )
            ),
            vol.Required(CONF_RELAY_MAX_MB, default=DEFAULT_MAX_MB): checked_number(
                1, 100, unit="MB"
            ),
            vol.Required(
                CONF_RELAY_HEARTBEAT_HOURS, default=DEFAULT_HEARTBEAT_HOURS
            ): checked_number(0, 720, unit="h"),
        }
    )


def relay_section() -> dict[vol.Marker, Any]:
    """The collapsed "Local relay" section of the options form."""
    return {vol.Optional(RELAY_SECTION): section(relay_schema(), {"collapsed": True})}


def suggested_relay(options: Mapping[str, Any]) -> dict[str, Any]:
    """What the form shows: the stored values (lists as one entry a line), never the password."""
    values = {key: options[key] for key in RELAY_KEYS if key in options}
    values.pop(CONF_RELAY_PASSWORD, None)
    for key in (CONF_RELAY_NETWORKS, CONF_RELAY_SENDERS):
        if key in values:
            values[key] = "\n".join(split_lines(values[key]))
    return values


async def _port_free(host: str, port: int) -> bool:
    """Bind as the relay will (every address of ``host``), then let go at once."""
    try:
        server = await asyncio.get_running_loop().create_server(
            asyncio.Protocol, host or None, port
        )
    except OSError:
        return False
    server.close()
    await server.wait_closed()
    return True


async def async_validate_relay(
    hass: HomeAssistant, entry: ConfigEntry, values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The relay's options to store, or the form's errors (keyed by field)."""
    current = entry.options
    errors = range_errors(relay_schema(), values)
    options: dict[str, Any] = {
        CONF_RELAY_ENABLED: bool(values.get(CONF_RELAY_ENABLED, False)),
        CONF_RELAY_HOST: str(values.get(CONF_RELAY_HOST) or "").strip(),
        CONF_RELAY_PORT: int(values.get(CONF_RELAY_PORT, DEFAULT_PORT)),
        CONF_RELAY_ALLOW_PLAIN_AUTH: bool(values.get(CONF_RELAY_ALLOW_PLAIN_AUTH, False)),
        CONF_RELAY_FORWARD_TO: values.get(CONF_RELAY_FORWARD_TO, RELAY_FORWARD_ORIGINAL),
        CONF_RELAY_MAX_MB: int(values.get(CONF_RELAY_MAX_MB, DEFAULT_MAX_MB)),
        CONF_RELAY_HEARTBEAT_HOURS: float(
            values.get(CONF_RELAY_HEARTBEAT_HOURS, DEFAULT_HEARTBEAT_HOURS)
        ),
    }
    try:
        networks = parse_networks(values.get(CONF_RELAY_NETWORKS, DEFAULT_NETWORKS))
        options[CONF_RELAY_NETWORKS] = [str(network) for network in networks]
    except PolicyValueError:
        errors[CONF_RELAY_NETWORKS] = "relay_invalid_network"
    try:
        options[CONF_RELAY_SENDERS] = list(parse_senders(values.get(CONF_RELAY_SENDERS)))
    except PolicyValueError:
        errors[CONF_RELAY_SENDERS] = "relay_invalid_sender"
    if username := str(values.get(CONF_RELAY_USERNAME) or "").strip():
        # An empty password field keeps the stored one (the form never shows it).
        password = values.get(CONF_RELAY_PASSWORD) or current.get(CONF_RELAY_PASSWORD)
        if not password:
            errors[CONF_RELAY_PASSWORD] = "relay_password_required"
        options[CONF_RELAY_USERNAME] = username
        options[CONF_RELAY_PASSWORD] = str(password or "")
    if options[CONF_RELAY_ENABLED] and not errors:
        relay = getattr(getattr(entry, "runtime_data", None), "relay", None)
        listening = (relay.settings.host, relay.settings.port) if relay and relay.server else None
        same = listening == (options[CONF_RELAY_HOST], options[CONF_RELAY_PORT])
        if not same and not await _port_free(options[CONF_RELAY_HOST], options[CONF_RELAY_PORT]):
            errors[CONF_RELAY_PORT] = "relay_port_in_use"
    return options, errors
