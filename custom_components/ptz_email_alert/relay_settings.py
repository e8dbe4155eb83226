"""The local relay's options, parsed once into a frozen object (the options flow checks them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    RELAY_FORWARD_ACCOUNT,
    RELAY_FORWARD_ORIGINAL,
)
from .mail.relay_policy import (
    DEFAULT_HEARTBEAT_HOURS,
    DEFAULT_MAX_MB,
    DEFAULT_NETWORKS,
    DEFAULT_PORT,
    RelayPolicy,
    parse_networks,
    parse_senders,
)


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """Where the relay listens, whom it serves and where mail goes."""

    enabled: bool
    host: str  # "" listens on every interface
    port: int
    policy: RelayPolicy
    forward_to: str
    heartbeat_hours: float  # 0: no heartbeat check

    @property
    def listen(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host or '*'}:{self.port}"


def relay_settings(options: Mapping[str, Any]) -> RelaySettings:
    """Settings from an entry's options. Raises PolicyValueError for a bad network or sender."""
    username = str(options.get(CONF_RELAY_USERNAME) or "").strip()
    forward_to = options.get(CONF_RELAY_FORWARD_TO, RELAY_FORWARD_ORIGINAL)
    return RelaySettings(
        enabled=bool(options.get(CONF_RELAY_ENABLED, False)),
        host=str(options.get(CONF_RELAY_HOST) or "").strip(),
        port=int(options.get(CONF_RELAY_PORT, DEFAULT_PORT)),
        policy=RelayPolicy(
            networks=parse_networks(options.get(CONF_RELAY_NETWORKS, DEFAULT_NETWORKS)),
            senders=parse_senders(options.get(CONF_RELAY_SENDERS)),
            username=username or None,
            password=str(options.get(CONF_RELAY_PASSWORD) or "") if username else None,
            allow_plain_auth=bool(options.get(CONF_RELAY_ALLOW_PLAIN_AUTH, False)),
            max_bytes=int(float(options.get(CONF_RELAY_MAX_MB, DEFAULT_MAX_MB)) * 1024 * 1024),
        ),
        forward_to=RELAY_FORWARD_ACCOUNT
        if forward_to == RELAY_FORWARD_ACCOUNT
        else RELAY_FORWARD_ORIGINAL,
        heartbeat_hours=float(options.get(CONF_RELAY_HEARTBEAT_HOURS, DEFAULT_HEARTBEAT_HOURS)),
    )
