"""Microsoft 365 / Outlook.com and Gmail over OAuth2: sign-in, XOAUTH2 sending, refresh, reauth.

Real: the config flow through Home Assistant's OAuth callback, the SMTP server and its AUTH
XOAUTH2 check of the bearer token (tests/xoauth2_mechanism.py), entries, outbox and repairs.
Mocked: only the providers' token endpoints (they cannot be reached from here), through the
harness's ``aioclient_mock`` (see tests/oauth_helpers.py).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from custom_components.ptz_email_alert.application_credentials import (
    async_get_description_placeholders,
)
from custom_components.ptz_email_alert.const import (
    CONF_ENCRYPTION,
    CONF_PROVIDER,
    CONF_RECIPIENTS,
    CONF_SENDER,
    DOMAIN,
)
from custom_components.ptz_email_alert.diagnostics import async_get_config_entry_diagnostics
from custom_components.ptz_email_alert.oauth import mailbox_from_token
from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TIMEOUT, CONF_USERNAME, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from .conftest import RECIPIENTS
from .oauth_helpers import (
    GOOGLE_CLIENT_ID,
    GOOGLE_MAILBOX,
    MICROSOFT_CLIENT_ID,
    MICROSOFT_MAILBOX,
    SMTP_AUTH_DISABLED,
    TokenEndpoint,
    endpoints,
    id_token,
    setup_credentials,
    sign_in,
    token_response,
)
from .smtp_server import ServerFactory, TestSmtpServer

pytestmark = pytest.mark.usefixtures("current_request_with_host")


def _server_form(server: TestSmtpServer, sender: str) -> dict[str, Any]:
    return {
        CONF_HOST: server.host,
        CONF_PORT: server.port,
        CONF_ENCRYPTION: server.mode,
        CONF_SENDER: sender,
        CONF_VERIFY_SSL: False,  # the test CA is not in Home Assistant's trust store
        CONF_TIMEOUT: 5,
        CONF_RECIPIENTS: RECIPIENTS,
    }


def _suggested(result: dict[str, Any], key: str) -> Any:
    for marker in result["data_schema"].schema:
        if marker == key:
            return (marker.description or {}).get("suggested_value")
    raise KeyError(key)


async def _start(hass: HomeAssistant, provider: str) -> dict[str, Any]:
    """Choose the provider (and for Gmail, Google sign-in): the external sign-in step."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PROVIDER: provider}
    )
    if provider == "gmail":
        assert result["type"] is FlowResultType.MENU
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "pick_implementation"}
        )
    return result


async def _add_account(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    token_endpoint: TokenEndpoint,
    server: TestSmtpServer,
    provider: str,
    mailbox: str,
    access: str,
) -> dict[str, Any]:
    result = await _start(hass, provider)
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    await sign_in(hass, hass_client_no_auth, result)
    token_endpoint.answer(token_response(access, f"rt-{access}", mailbox))
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["step_id"] == "oauth_smtp"
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], _server_form(server, mailbox)
    )


async def test_outlook_and_gmail_side_by_side(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    aioclient_mock: AiohttpClientMocker,
    smtp_server: ServerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Both providers' credentials in one Home Assistant; each account signs in with its own,
    the server step comes prefilled, the login with the token is checked, mail goes out."""
    caplog.set_level(logging.DEBUG)
    await setup_credentials(hass)
    token = endpoints(aioclient_mock)
    microsoft = await smtp_server(
        "starttls", bearer_tokens={"at-ms"}, bearer_user=MICROSOFT_MAILBOX
    )
    google = await smtp_server(
        "ssl", bearer_tokens={"at-g"}, bearer_user=GOOGLE_MAILBOX, xoauth2_style="google"
    )

    result = await _start(hass, "outlook")
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    url = result["url"]
    assert url.startswith("https://login.microsoftonline.com/common/oauth2/v2.0/authorize?")
    assert f"client_id={MICROSOFT_CLIENT_ID}" in url
    assert "SMTP.Send" in url and "offline_access" in url
    await sign_in(hass, hass_client_no_auth, result)
    token["outlook"].answer(token_response("at-ms", "rt-ms", MICROSOFT_MAILBOX))
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "oauth_smtp"
    assert _suggested(result, CONF_HOST) == "smtp.office365.com"
    assert _suggested(result, CONF_PORT) == 587
    assert _suggested(result, CONF_ENCRYPTION) == "starttls"
    assert _suggested(result, CONF_SENDER) == MICROSOFT_MAILBOX
    assert CONF_USERNAME not in result["data_schema"].schema  # the token named the mailbox
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _server_form(microsoft, MICROSOFT_MAILBOX)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    outlook_entry = result["result"]
    assert outlook_entry.unique_id == MICROSOFT_MAILBOX
    assert result["data"][CONF_PROVIDER] == "outlook"
    assert result["data"][CONF_USERNAME] == MICROSOFT_MAILBOX
    assert result["data"]["auth_implementation"] == "outlook"
    assert result["data"]["token"]["access_token"] == "at-ms"
    assert "password" not in result["data"]
    assert token["outlook"].grants == ["authorization_code"]
    assert microsoft.bearer_seen == ["at-ms"]  # the login was checked with the token

    result = await _start(hass, "gmail")
    url = result["url"]
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert f"client_id={GOOGLE_CLIENT_ID}" in url
    assert "access_type=offline" in url and "prompt=consent" in url
    await sign_in(hass, hass_client_no_auth, result)
    token["gmail"].answer(token_response("at-g", "rt-g", GOOGLE_MAILBOX))
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert _suggested(result, CONF_HOST) == "smtp.gmail.com"
    assert _suggested(result, CONF_PORT) == 465
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _server_form(google, GOOGLE_MAILBOX)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    gmail_entry = result["result"]
    assert gmail_entry.unique_id == GOOGLE_MAILBOX
    assert gmail_entry.data["auth_implementation"] == "gmail"
    await hass.async_block_till_done()

    for entry, server, access in (
        (outlook_entry, microsoft, "at-ms"),
        (gmail_entry, google, "at-g"),
    ):
        assert entry.state is ConfigEntryState.LOADED
        submission = await entry.runtime_data.account.async_send_test_email()
        assert submission.accepted is not None
        assert server.received[-1].login == entry.unique_id
        assert server.bearer_seen[-1] == access

    # Neither tokens nor the client secret are logged or shown in diagnostics.
    diagnostics = await async_get_config_entry_diagnostics(hass, outlook_entry)
    assert diagnostics["data"]["token"] == "**REDACTED**"
    for secret in ("at-ms", "rt-ms", "at-g", "rt-g", "client-secret"):
        assert secret not in caplog.text
        assert secret not in str(diagnostics)


async def test_same_mailbox_twice_aborts(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    aioclient_mock: AiohttpClientMocker,
    smtp_server: ServerFactory,
) -> None:
    await setup_credentials(hass, "outlook")
    token = endpoints(aioclient_mock)
    server = await smtp_server("starttls", bearer_tokens={"at-1"}, bearer_user=MICROSOFT_MAILBOX)
    result = await _add_account(
        hass, hass_client_no_auth, token["outlook"], server, "outlook", MICROSOFT_MAILBOX, "at-1"
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    result = await _start(hass, "outlook")
    await sign_in(hass, hass_client_no_auth, result)
    token["outlook"].answer(token_response("at-1", "rt-2", MICROSOFT_MAILBOX))
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_mailbox_asked_when_the_token_does_not_name_it(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    aioclient_mock: AiohttpClientMocker,
    smtp_server: ServerFactory,
) -> None:
    await setup_credentials(hass, "outlook")
    token = endpoints(aioclient_mock)
    server = await smtp_server("starttls", bearer_tokens={"at-1"}, bearer_user=MICROSOFT_MAILBOX)
    result = await _start(hass, "outlook")
    await sign_in(hass, hass_client_no_auth, result)
    token["outlook"].answer(token_response("at-1"))  # no id_token
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert CONF_USERNAME in result["data_schema"].schema
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**_server_form(server, MICROSOFT_MAILBOX), CONF_USERNAME: MICROSOFT_MAILBOX.upper()},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == MICROSOFT_MAILBOX


async def test_missing_credentials_for_the_provider(hass: HomeAssistant) -> None:
    """A Microsoft credential is not offered for Gmail: the frontend is asked to add one."""
    await setup_credentials(hass, "outlook")
    result = await _start(hass, "gmail")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "missing_credentials"


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ({"auth_reply": SMTP_AUTH_DISABLED}, "smtp_auth_disabled"),
        ({"bearer_tokens": set()}, "oauth_rejected"),  # refused even after a refresh
        ({"bearer_tokens": None}, "xoauth2_not_supported"),  # no AUTH XOAUTH2 offered
    ],
)
async def test_server_step_errors(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    aioclient_mock: AiohttpClientMocker,
    smtp_server: ServerFactory,
    behaviour: dict[str, Any],
    error: str,
) -> None:
    await setup_credentials(hass, "outlook")
    token = endpoints(aioclient_mock)
    server = await smtp_server(
        "starttls", **{"bearer_tokens": {"at-1"}, "bearer_user": MICROSOFT_MAILBOX, **behaviour}
    )
    result = await _start(hass, "outlook")
    await sign_in(hass, hass_client_no_auth, result)
    token["outlook"].answer(token_response("at-1", "rt-1", MICROSOFT_MAILBOX))
    token["outlook"].answer(token_response("at-2", "rt-2"))  # the one refresh-and-retry
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _server_form(server, MICROSOFT_MAILBOX)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    if error == "oauth_rejected":
        assert server.bearer_seen == ["at-1", "at-2"]
        assert token["outlook"].grants == ["authorization_code", "refresh_token"]


async def test_two_credentials_of_one_provider_offer_a_choice(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    aioclient_mock: AiohttpClientMocker,
) -> None:
    """Two Microsoft apps (and a Google client, not offered): the user picks one."""
    await setup_credentials(hass)
    await async_import_client_credential(
        hass,
        DOMAIN,
        ClientCredential("0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6", "secret-2", "Second app"),
        "outlook_2",
    )
    result = await _start(hass, "outlook")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick_implementation"
    choices = result["data_schema"].schema["implementation"].container
    assert set(choices) == {"outlook", "outlook_2"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"implementation": "outlook_2"}
    )
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    assert "client_id=0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6" in result["url"]


@pytest.mark.parametrize(
    ("token", "mailbox"),
    [
        ({"id_token": id_token("Alerts@Contoso.com")}, "alerts@contoso.com"),
        ({"id_token": id_token("me@outlook.com", "preferred_username")}, "me@outlook.com"),
        ({"id_token": id_token("not-an-address", "preferred_username")}, None),
        ({"id_token": "a.!!!.c"}, None),
        ({"id_token": "a.WzFd.c"}, None),  # a JSON list, not claims
        ({"id_token": "not a jwt"}, None),
        ({}, None),
    ],
)
def test_mailbox_from_token(token: dict[str, Any], mailbox: str | None) -> None:
    assert mailbox_from_token(token) == mailbox


async def test_credentials_dialog_placeholders(hass: HomeAssistant) -> None:
    placeholders = await async_get_description_placeholders(hass)
    assert placeholders["redirect_url"] == "https://my.home-assistant.io/redirect/oauth"
    assert "entra.microsoft.com" in placeholders["microsoft_apps_url"]
