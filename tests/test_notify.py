"""The notify entity sends to the account's recipients; failures are translated and logged."""

from __future__ import annotations

import base64
import logging

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .conftest import RECIPIENTS, SENDER
from .smtp_server import PASSWORD, USERNAME, TestSmtpServer

ENTITY_ID = "notify.camera_example_com_email"


async def _notify(hass: HomeAssistant, message: str, title: str | None = None) -> None:
    data = {"entity_id": ENTITY_ID, "message": message}
    if title is not None:
        data["title"] = title
    await hass.services.async_call("notify", "send_message", data, blocking=True)


async def test_send_message(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mail_server: TestSmtpServer
) -> None:
    await _notify(hass, "The gate is open.\nSecond line.", "Gate – open")
    assert len(mail_server.received) == 1
    received = mail_server.received[0]
    assert received.rcpt_tos == RECIPIENTS
    assert received.login == USERNAME
    message = received.message
    assert message["Subject"] == "Gate – open"
    assert message["From"] == SENDER
    assert message.get_content().replace("\r\n", "\n").strip() == "The gate is open.\nSecond line."
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert state.state != "unknown"  # notify entities record when they last sent
    assert setup_entry.runtime_data.account.last_success is not None


async def test_default_subject(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mail_server: TestSmtpServer
) -> None:
    await _notify(hass, "no title")
    assert mail_server.received[0].message["Subject"] == "Message from Home Assistant"


async def test_server_refusal_is_a_translated_error(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    mail_server: TestSmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mail_server.behaviour.rcpt_reply = "550 5.1.1 User unknown"
    with pytest.raises(HomeAssistantError) as err:
        await _notify(hass, "hello", "Subject A")
    assert err.value.translation_key == "send_recipients_refused"
    assert err.value.translation_placeholders["detail"] == "5.1.1 User unknown"
    assert "refused the recipients" in str(err.value)
    assert "Subject A" in caplog.text and "recipients_refused" in caplog.text
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert setup_entry.runtime_data.account.last_error is not None


async def test_auth_failure_starts_reauth_and_never_logs_the_password(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    mail_server: TestSmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mail_server.behaviour.auth_reply = "535 5.7.8 Username and Password not accepted."
    with pytest.raises(HomeAssistantError) as err:
        await _notify(hass, "hello")
    assert err.value.translation_key == "send_auth"
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]

    secret_forms = {
        PASSWORD,
        base64.b64encode(f"\0{USERNAME}\0{PASSWORD}".encode()).decode(),
        base64.b64encode(PASSWORD.encode()).decode(),
    }
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert not [secret for secret in secret_forms if secret in logged]
