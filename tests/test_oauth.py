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
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from custom_components.ptz_email_alert.const import (
    CONF_ENCRYPTION,
    CONF_PROVIDER,
    CONF_RECIPIENTS,
    CONF_SENDER,
    DOMAIN,
)
from custom_components.ptz_email_alert.diagnostics import async_get_config_entry_diagnostics
from custom_components.ptz_email_alert.mail import EmailContent
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TIMEOUT, CONF_USERNAME, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir

from .conftest import RECIPIENTS
from .oauth_helpers import (
    GOOGLE_CLIENT_ID,
    GOOGLE_MAILBOX,
    MICROSOFT_CLIENT_ID,
    MICROSOFT_MAILBOX,
    TokenEndpoint,
    endpoints,
    setup_credentials,
    sign_in,
    stored_token,
    token_response,
)
from .smtp_server import ServerFactory, TestSmtpServer

pytestmark = pytest.mark.usefixtures("current_request_with_host")

SMTP_AUTH_DISABLED = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
    "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. "
    "[AM0PR02CA0001.eurprd02.prod.outlook.com 2025-01-01T00:00:00.000Z 08DD]"
)


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


def _oauth_entry(server: TestSmtpServer, token: dict[str, Any], provider: str) -> MockConfigEntry:
    mailbox = server.behaviour.bearer_user
    return MockConfigEntry(
        domain=DOMAIN,
        title=mailbox,
        unique_id=mailbox,
        data={
            CONF_PROVIDER: provider,
            CONF_HOST: server.host,
            CONF_PORT: server.port,
            CONF_ENCRYPTION: server.mode,
            CONF_USERNAME: mailbox,
            CONF_SENDER: mailbox,
            CONF_VERIFY_SSL: False,
            CONF_TIMEOUT: 5,
            "auth_implementation": provider,
            "token": token,
        },
        options={CONF_RECIPIENTS: RECIPIENTS},
    )


async def _set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_expired_token_refreshed_before_auth(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, smtp_server: ServerFactory
) -> None:
    """A token past its expiry is refreshed before AUTH; saving it does not reload the entry."""
    await setup_credentials(hass, "outlook")
    token = endpoints(aioclient_mock)
    server = await smtp_server("starttls", bearer_tokens={"at-2"}, bearer_user=MICROSOFT_MAILBOX)
    entry = _oauth_entry(server, stored_token("at-1", expires_in=-60), "outlook")
    await _set_up(hass, entry)
    account = entry.runtime_data.account
    token["outlook"].answer(token_response("at-2", "rt-2"))

    submission = await account.async_send_test_email()
    await hass.async_block_till_done()

    assert submission.accepted is not None
    assert server.bearer_seen == ["at-2"]  # the expired one was never offered
    assert token["outlook"].grants == ["refresh_token"]
    assert token["outlook"].requests[0]["refresh_token"] == "rt-1"
    assert entry.data["token"]["access_token"] == "at-2"
    assert entry.data["token"]["refresh_token"] == "rt-2"
    assert entry.runtime_data.account is account  # no reload for a refreshed token


@pytest.mark.parametrize("style", ["microsoft", "google"])
async def test_refused_token_refreshed_once_and_retried(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, smtp_server: ServerFactory, style: str
) -> None:
    """The server refuses a token that looked valid (Microsoft 535 5.7.3, Google 334 + 535
    5.7.8): refreshed once, the second connection logs in and the mail goes out."""
    provider = "outlook" if style == "microsoft" else "gmail"
    mailbox = MICROSOFT_MAILBOX if provider == "outlook" else GOOGLE_MAILBOX
    await setup_credentials(hass, provider)
    token = endpoints(aioclient_mock)
    server = await smtp_server(
        "starttls", bearer_tokens={"at-2"}, bearer_user=mailbox, xoauth2_style=style
    )
    entry = _oauth_entry(server, stored_token("at-1"), provider)
    await _set_up(hass, entry)
    token[provider].answer(token_response("at-2", "rt-1"))

    submission = await entry.runtime_data.account.async_send_test_email()

    assert submission.accepted is not None
    assert server.bearer_seen == ["at-1", "at-2"]
    assert token[provider].grants == ["refresh_token"]
    assert len(server.received) == 1
    assert entry.data["token"]["access_token"] == "at-2"


async def test_revoked_refresh_token_reauth_then_queued_alert_delivered(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    aioclient_mock: AiohttpClientMocker,
    smtp_server: ServerFactory,
) -> None:
    """invalid_grant: reauth and a repair; the alert waits in the outbox and goes out after."""
    await setup_credentials(hass, "outlook")
    token = endpoints(aioclient_mock)
    server = await smtp_server("starttls", bearer_tokens={"at-9"}, bearer_user=MICROSOFT_MAILBOX)
    entry = _oauth_entry(server, stored_token("at-1", expires_in=-60), "outlook")
    await _set_up(hass, entry)
    token["outlook"].answer(
        {"error": "invalid_grant", "error_description": "AADSTS700082: expired"}, status=400
    )

    await entry.runtime_data.account.async_queue(
        EmailContent(subject="Motion at the gate", text="person")
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert server.bearer_seen == []  # no token, no login attempt
    assert entry.runtime_data.account.last_error is not None
    assert entry.runtime_data.account.last_error.cause.value == "oauth_expired"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"login_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "oauth_expired"
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH
    assert flow["step_id"] == "reauth_oauth"

    # Another mailbox is refused.
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.EXTERNAL_STEP
    await sign_in(hass, hass_client_no_auth, result)
    token["outlook"].answer(token_response("at-x", "rt-x", "someone.else@contoso.com"))
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_account"
    assert entry.data["token"]["access_token"] == "at-1"

    # The same mailbox: saved, reloaded, and the waiting alert is delivered.
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    await sign_in(hass, hass_client_no_auth, result)
    token["outlook"].answer(token_response("at-9", "rt-9", MICROSOFT_MAILBOX))
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done(wait_background_tasks=True)

    assert entry.data["token"]["refresh_token"] == "rt-9"
    assert entry.state is ConfigEntryState.LOADED
    assert [m.message["Subject"] for m in server.received] == ["Motion at the gate"]
    assert server.received[0].login == MICROSOFT_MAILBOX
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"login_{entry.entry_id}") is None


async def test_smtp_auth_disabled_when_sending(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, smtp_server: ServerFactory
) -> None:
    """5.7.139 with a valid token: no refresh (it cannot help), its own repair."""
    await setup_credentials(hass, "outlook")
    token = endpoints(aioclient_mock)
    server = await smtp_server(
        "starttls",
        bearer_tokens={"at-1"},
        bearer_user=MICROSOFT_MAILBOX,
        auth_reply=SMTP_AUTH_DISABLED,
    )
    entry = _oauth_entry(server, stored_token("at-1"), "outlook")
    await _set_up(hass, entry)
    await entry.runtime_data.account.async_queue(EmailContent(subject="Alert", text="motion"))
    await hass.async_block_till_done(wait_background_tasks=True)

    error = entry.runtime_data.account.last_error
    assert error is not None
    assert (error.cause.value, error.kind.value, error.code) == ("smtp_auth_disabled", "auth", 535)
    assert token["outlook"].requests == []
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"login_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "smtp_auth_disabled"
