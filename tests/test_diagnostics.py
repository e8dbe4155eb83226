"""Diagnostics show settings and the last outcome, never secrets or addresses."""

from __future__ import annotations

import json

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.diagnostics import async_get_config_entry_diagnostics
from homeassistant.core import HomeAssistant

from .conftest import RECIPIENTS, SENDER
from .smtp_server import PASSWORD, USERNAME, TestSmtpServer


async def test_diagnostics_redacted(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mail_server: TestSmtpServer
) -> None:
    mail_server.behaviour.data_reply = "452 4.3.1 Insufficient system storage"
    # A temporary refusal: the call returns, the email waits in the outbox.
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": "notify.camera_example_com_email", "message": "x"},
        blocking=True,
    )
    diagnostics = await async_get_config_entry_diagnostics(hass, setup_entry)
    dumped = json.dumps(diagnostics)
    for secret in (PASSWORD, USERNAME, SENDER, *RECIPIENTS):
        assert secret not in dumped
    assert diagnostics["data"]["password"] == "**REDACTED**"
    assert diagnostics["data"]["host"] == "127.0.0.1"
    assert diagnostics["recipient_count"] == 2
    assert diagnostics["last_error"] == {
        "kind": "temporary",
        "cause": "temporary",
        "code": 452,
        "detail": "4.3.1 Insufficient system storage",
    }
    assert diagnostics["outbox"]["pending"] == 1
    assert diagnostics["delivery_log"][0]["code"] == 452
