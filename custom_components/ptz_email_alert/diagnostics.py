"""Diagnostics: settings and the last outcome, with secrets and addresses redacted."""

from __future__ import annotations

import re
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_RECIPIENTS, CONF_SENDER, CONF_SNAPSHOT_URL, CONF_STREAM_URL
from .delivery_log import readable_log
from .runtime_data import PtzEmailAlertConfigEntry

# Server replies repeat addresses ("5.1.1 <owner@example.com>: user unknown").
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def redact_addresses(text: str) -> str:
    """``text`` with every email address replaced."""
    return _ADDRESS.sub(REDACTED, text)


TO_REDACT = {
    CONF_PASSWORD, CONF_USERNAME, CONF_SENDER, CONF_RECIPIENTS,
    "upload_password", "upload_private_key", "upload_username",
}  # fmt: skip
# Camera URLs carry the camera's login.
CAMERA_TO_REDACT = {CONF_STREAM_URL, CONF_SNAPSHOT_URL}
# OAuth2 accounts: the sign-in's access and refresh tokens.
TO_REDACT.add("token")
# The local relay: its login, and the camera addresses it allows.
TO_REDACT |= {"relay_password", "relay_username", "relay_senders"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PtzEmailAlertConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for an account."""
    account = entry.runtime_data.account
    heartbeat = entry.runtime_data.heartbeat
    last_error = account.last_error
    return {
        "data": async_redact_data(dict(entry.data), TO_REDACT),
        "options": async_redact_data(dict(entry.options), TO_REDACT),
        "recipient_count": len(account.recipients),
        "outbox": {
            "pending": account.outbox.pending_count,
            "failed": account.outbox.failed_count,
            "bytes": account.outbox.total_bytes,
            "failed_total": account.outbox.ledger.failed_total,
            "lost_total": account.outbox.ledger.lost_total,
            "items": [item.as_dict() for item in account.outbox.items],
        },
        "delivery_log": [  # the whole log, newest first
            {**line, "reply": redact_addresses(line["reply"])}
            for line in readable_log(account.outbox.delivery_log)
        ],
        "heartbeat": {
            "last": heartbeat.last.isoformat() if heartbeat.last else None,
            "missed": heartbeat.missed,
        },
        "cameras": [
            {
                "data": async_redact_data(dict(monitor.data), CAMERA_TO_REDACT),
                "connected": monitor.connected,
                "armed": monitor.armed,
                "clip": monitor.alerts.clips.diagnostics(),
                "last_alert": None
                if monitor.last_alert is None
                else {
                    "time": monitor.last_alert.time.isoformat(),
                    "event_type": monitor.last_alert.event_type,
                    "snapshots": monitor.last_alert.snapshots,
                    "queued": monitor.last_alert.message_id is not None,
                },
            }
            for monitor in entry.runtime_data.cameras.values()
        ],
        "last_success": account.last_success.isoformat() if account.last_success else None,
        "last_error": None
        if last_error is None
        else {
            "kind": last_error.kind.value,
            "cause": last_error.cause.value,
            "code": last_error.code,
            "detail": redact_addresses(last_error.detail),
        },
    }
