"""Config, reauth, reconfigure and options flows, each error produced by a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import (
    CONF_ENCRYPTION,
    CONF_PROVIDER,
    CONF_RECIPIENTS,
    CONF_SENDER,
    DOMAIN,
)
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_TIMEOUT,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from .conftest import RECIPIENTS, SENDER, entry_data
from .smtp_server import PASSWORD, USERNAME, ServerFactory, TestSmtpServer, refused_port

EN = json.loads(
    (
        Path(__file__).parent.parent / "custom_components/ptz_email_alert/translations/en.json"
    ).read_text(encoding="utf-8")
)


def _form_input(server: TestSmtpServer, **overrides: Any) -> dict[str, Any]:
    data = entry_data(server)
    data.pop(CONF_PROVIDER)
    data[CONF_RECIPIENTS] = RECIPIENTS
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


async def _start(hass: HomeAssistant, provider: str = "custom") -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: provider}
    )
    if provider == "gmail":  # app password or Google sign-in: the app password here
        assert result["type"] is FlowResultType.MENU
        assert result["menu_options"] == ["smtp", "pick_implementation"]
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "smtp"}
        )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "smtp"
    return result


def _suggested(result: dict[str, Any], key: str) -> Any:
    for marker in result["data_schema"].schema:
        if marker == key:
            return (marker.description or {}).get("suggested_value")
    raise KeyError(key)


@pytest.mark.parametrize(
    ("provider", "host", "port", "encryption", "password_required"),
    [
        ("gmail", "smtp.gmail.com", 465, "ssl", True),
        # outlook signs in with OAuth2 (test_oauth.py)
        ("custom", "", 587, "starttls", True),
        ("local_relay", "", 25, "none", False),
    ],
)
async def test_provider_presets(
    hass: HomeAssistant,
    provider: str,
    host: str,
    port: int,
    encryption: str,
    password_required: bool,
) -> None:
    result = await _start(hass, provider)
    assert _suggested(result, CONF_HOST) == host
    assert _suggested(result, CONF_PORT) == port
    assert _suggested(result, CONF_ENCRYPTION) == encryption
    password = next(m for m in result["data_schema"].schema if m == CONF_PASSWORD)
    assert (type(password).__name__ == "Required") is password_required
    assert "apppasswords" in result["description_placeholders"]["app_password_url"]


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
async def test_create_entry(hass: HomeAssistant, smtp_server: ServerFactory, mode: str) -> None:
    server = await smtp_server(mode)
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _form_input(server, **{CONF_HOST: f" {server.host} ", CONF_PORT: float(server.port)}),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == SENDER
    assert result["data"] == {
        CONF_PROVIDER: "custom",
        CONF_HOST: server.host,
        CONF_PORT: server.port,
        CONF_ENCRYPTION: mode,
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
        CONF_SENDER: SENDER,
        CONF_VERIFY_SSL: False,
        CONF_TIMEOUT: 5,
    }
    assert result["options"] == {CONF_RECIPIENTS: RECIPIENTS}
    assert result["result"].unique_id == f"{USERNAME}@{server.host}"
    assert server.connections == 1  # the login was really tried
    assert server.received == []  # but nothing was sent


async def test_local_relay_without_login(hass: HomeAssistant, smtp_server: ServerFactory) -> None:
    server = await smtp_server("none", offer_auth=False)
    result = await _start(hass, "local_relay")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        _form_input(server, **{CONF_USERNAME: None, CONF_PASSWORD: None}),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_USERNAME not in result["data"]
    assert CONF_PASSWORD not in result["data"]
    assert result["result"].unique_id == f"{SENDER}@{server.host}"


async def _server_for(
    smtp_server: ServerFactory, condition: str, unknown_host: str
) -> tuple[str, dict[str, Any]]:
    """A real server condition and the form input that meets it."""
    if condition == "wrong_password":
        server = await smtp_server("ssl")
        return "ssl", _form_input(server, **{CONF_PASSWORD: "wrong"})
    if condition == "gmail_534":
        server = await smtp_server(
            "ssl",
            # Gmail's real reply is two lines long.
            auth_reply="534-5.7.9 Application-specific password required. Learn more at\r\n"
            "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor",
        )
        return "ssl", _form_input(server)
    if condition == "microsoft_5_7_139":
        server = await smtp_server(
            "starttls",
            auth_reply="535 5.7.139 Authentication unsuccessful, basic authentication is disabled.",
        )
        return "starttls", _form_input(server)
    if condition == "no_auth":
        server = await smtp_server("none", offer_auth=False)
        return "none", _form_input(server)
    if condition == "refused":
        return "none", {**_form_input(await smtp_server("none")), CONF_PORT: refused_port()}
    if condition == "unknown_host":
        return "none", {
            **_form_input(await smtp_server("none")),
            CONF_HOST: unknown_host,
        }
    if condition == "silent":
        stalled = await smtp_server.stalling()
        form = _form_input(await smtp_server("ssl"))
        return "ssl", {**form, CONF_PORT: stalled.port, CONF_TIMEOUT: 1}
    if condition == "ssl_on_starttls_port":
        server = await smtp_server("starttls")
        return "starttls", _form_input(server, **{CONF_ENCRYPTION: "ssl"})
    if condition == "untrusted_cert":
        server = await smtp_server("starttls")
        return "starttls", _form_input(server, **{CONF_VERIFY_SSL: True})
    if condition == "bad_sender":
        server = await smtp_server("ssl")
        return "ssl", _form_input(server, **{CONF_SENDER: "camera at example.com"})
    if condition == "bad_recipient":
        server = await smtp_server("ssl")
        return "ssl", _form_input(server, **{CONF_RECIPIENTS: ["ok@example.com", "nope"]})
    assert condition == "no_recipient"
    server = await smtp_server("ssl")
    return "ssl", _form_input(server, **{CONF_RECIPIENTS: [" "]})


CONDITIONS = [
    ("wrong_password", {"base": "invalid_auth"}),
    ("gmail_534", {CONF_PASSWORD: "app_password_required"}),
    ("microsoft_5_7_139", {"base": "basic_auth_disabled"}),
    ("no_auth", {"base": "auth_not_supported"}),
    ("refused", {"base": "cannot_connect"}),
    ("unknown_host", {CONF_HOST: "dns_failure"}),
    ("silent", {"base": "timeout"}),
    ("ssl_on_starttls_port", {CONF_ENCRYPTION: "tls_mode_mismatch"}),
    ("untrusted_cert", {CONF_VERIFY_SSL: "invalid_cert"}),
    ("bad_sender", {CONF_SENDER: "invalid_email"}),
    ("bad_recipient", {CONF_RECIPIENTS: "invalid_email"}),
    ("no_recipient", {CONF_RECIPIENTS: "invalid_email"}),
]


@pytest.mark.parametrize(("condition", "errors"), CONDITIONS)
async def test_errors_then_recover(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    unknown_host: str,
    condition: str,
    errors: dict[str, str],
) -> None:
    _, form = await _server_for(smtp_server, condition, unknown_host)
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "smtp"
    assert result["errors"] == errors
    # What the user typed is kept in the form.
    assert _suggested(result, CONF_HOST) == form[CONF_HOST]

    good = await smtp_server("starttls")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _form_input(good))
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_same_account_twice_aborts(
    hass: HomeAssistant, config_entry: MockConfigEntry, mail_server: TestSmtpServer
) -> None:
    config_entry.add_to_hass(hass)
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form_input(mail_server, **{CONF_USERNAME: USERNAME.upper()})
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth(
    hass: HomeAssistant, smtp_server: ServerFactory, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    result = await config_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["username"] == USERNAME

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}

    config_entry.runtime_data = None
    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, CONF_PASSWORD: "old"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: PASSWORD}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert config_entry.data[CONF_PASSWORD] == PASSWORD


async def test_reconfigure(
    hass: HomeAssistant, smtp_server: ServerFactory, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    new_server = await smtp_server("ssl")
    result = await config_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    assert _suggested(result, CONF_HOST) == config_entry.data[CONF_HOST]
    assert _suggested(result, CONF_PASSWORD) is None  # never shown back

    form = _form_input(new_server, **{CONF_PASSWORD: None})
    form.pop(CONF_RECIPIENTS)
    bad = {**form, CONF_ENCRYPTION: "starttls", CONF_TIMEOUT: 60}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], bad)
    assert result["errors"] == {CONF_ENCRYPTION: "tls_mode_mismatch"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert config_entry.data[CONF_PORT] == new_server.port
    assert config_entry.data[CONF_ENCRYPTION] == "ssl"
    assert config_entry.data[CONF_PASSWORD] == PASSWORD  # empty field kept the password
    assert config_entry.data[CONF_PROVIDER] == "custom"


async def test_reconfigure_to_another_existing_account_aborts(
    hass: HomeAssistant, smtp_server: ServerFactory, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    other_server = await smtp_server("ssl")
    other = MockConfigEntry(
        domain=DOMAIN,
        unique_id=f"other@example.com@{other_server.host}",
        data=entry_data(other_server, **{CONF_USERNAME: "other@example.com"}),
    )
    other.add_to_hass(hass)
    result = await config_entry.start_reconfigure_flow(hass)
    form = _form_input(other_server, **{CONF_USERNAME: "other@example.com"})
    form.pop(CONF_RECIPIENTS)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_changes_login(
    hass: HomeAssistant, smtp_server: ServerFactory, config_entry: MockConfigEntry
) -> None:
    """A relay without login: no password is invented, the unique id follows the sender."""
    config_entry.add_to_hass(hass)
    relay = await smtp_server("none", offer_auth=False)
    hass.config_entries.async_update_entry(
        config_entry, data={k: v for k, v in config_entry.data.items() if k != CONF_PASSWORD}
    )
    result = await config_entry.start_reconfigure_flow(hass)
    form = _form_input(relay, **{CONF_USERNAME: None, CONF_PASSWORD: None})
    form.pop(CONF_RECIPIENTS)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["reason"] == "reconfigure_successful"
    assert CONF_PASSWORD not in config_entry.data
    assert config_entry.unique_id == f"{SENDER}@{relay.host}"


OPTIONS = {
    CONF_RECIPIENTS: ["new@example.com", "second@example.com"],
    "retry_delays": "0, 5, 60",
    "outbox_max_age": 12,
    "heartbeat_interval": "daily",
    "heartbeat_time": "07:30:00",
    "heartbeat_grace": 20,
}


UPLOAD_OFF = {
    "upload_protocol": "off",
    "upload_folder": "%Camera_Name%/%Date%",
    "upload_passive": True,
    "upload_verify_ssl": True,
}


async def test_options_flow(hass: HomeAssistant, setup_entry: MockConfigEntry) -> None:
    hass.services.async_register("notify", "phone", lambda call: None)
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    assert result["step_id"] == "init"
    assert _suggested(result, "retry_delays") == "0, 10, 30"
    assert _suggested(result, CONF_RECIPIENTS) == RECIPIENTS

    bad = {
        **OPTIONS,
        CONF_RECIPIENTS: ["ok@example.com", "bad\r\nBcc: x@y.z"],
        "retry_delays": "0, soon",
        "heartbeat_time": None,
        "fallback_notify": "notify.nobody",
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {k: v for k, v in bad.items() if v is not None}
    )
    assert result["errors"] == {
        CONF_RECIPIENTS: "invalid_email",
        "retry_delays": "invalid_retry_delays",
        "heartbeat_time": "heartbeat_time_required",
        "fallback_notify": "invalid_fallback",
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**OPTIONS, "retry_delays": "0, 99999"}
    )
    assert result["errors"] == {"retry_delays": "invalid_retry_delays"}

    # This account's own email is no fallback for its own failures, nor suggested as one.
    assert "notify.camera_example_com_email" not in result["description_placeholders"]["services"]
    assert "notify.phone" in result["description_placeholders"]["services"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**OPTIONS, "fallback_notify": "notify.camera_example_com_email"}
    )
    assert result["errors"] == {"fallback_notify": "fallback_is_this_account"}
    assert EN["options"]["error"]["fallback_is_this_account"]

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**OPTIONS, "retry_delays": "0 5  60", "fallback_notify": "notify.phone"}
    )
    assert result["step_id"] == "upload"  # then the upload server, off here
    result = await hass.config_entries.options.async_configure(result["flow_id"], UPLOAD_OFF)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert dict(setup_entry.options) == {
        CONF_RECIPIENTS: ["new@example.com", "second@example.com"],
        "retry_delays": [0, 5, 60],
        "outbox_max_age": 12,
        "heartbeat_interval": "daily",
        "heartbeat_time": "07:30:00",
        "heartbeat_grace": 20,
        "fallback_notify": "notify.phone",
    }
    # The form shows what is stored.
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    assert _suggested(result, "retry_delays") == "0, 5, 60"
    assert _suggested(result, "fallback_notify") == "notify.phone"


@pytest.mark.parametrize(
    ("field", "value"),
    [("outbox_max_age", 0), ("outbox_max_age", 169), ("heartbeat_grace", 0)],
)
async def test_options_number_out_of_range_is_a_translated_error(
    hass: HomeAssistant, setup_entry: MockConfigEntry, field: str, value: int
) -> None:
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**OPTIONS, field: value}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: f"{field}_out_of_range"}
    assert EN["options"]["error"][f"{field}_out_of_range"]
