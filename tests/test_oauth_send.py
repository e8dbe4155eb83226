"""OAuth2 accounts at work: XOAUTH2 sending, token refresh, refused tokens, reauth, reconfigure.

Real: the SMTP server and its AUTH XOAUTH2 check of the bearer token, the entry, its outbox and
repairs, the reauth flow through Home Assistant's OAuth callback. Mocked: only the providers'
token endpoints (they cannot be reached from here), through the harness's ``aioclient_mock``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import ClientConnectionError
import aiosmtplib
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
from custom_components.ptz_email_alert.mail import EmailContent, FailureCause, classify
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TIMEOUT, CONF_USERNAME, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir

from .conftest import RECIPIENTS
from .oauth_helpers import (
    GOOGLE_MAILBOX,
    MICROSOFT_MAILBOX,
    SMTP_AUTH_DISABLED,
    endpoints,
    setup_credentials,
    sign_in,
    stored_token,
    token_response,
)
from .smtp_server import ServerFactory, TestSmtpServer
from .xoauth2_mechanism import GOOGLE_REFUSAL, MICROSOFT_REFUSAL

pytestmark = pytest.mark.usefixtures("current_request_with_host")


def oauth_entry(server: TestSmtpServer, token: dict[str, Any], provider: str) -> MockConfigEntry:
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


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
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
    entry = oauth_entry(server, stored_token("at-1", expires_in=-60), "outlook")
    await set_up(hass, entry)
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
    entry = oauth_entry(server, stored_token("at-1"), provider)
    await set_up(hass, entry)
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
    entry = oauth_entry(server, stored_token("at-1", expires_in=-60), "outlook")
    await set_up(hass, entry)
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
    entry = oauth_entry(server, stored_token("at-1"), "outlook")
    await set_up(hass, entry)
    await entry.runtime_data.account.async_queue(EmailContent(subject="Alert", text="motion"))
    await hass.async_block_till_done(wait_background_tasks=True)

    error = entry.runtime_data.account.last_error
    assert error is not None
    assert (error.cause.value, error.kind.value, error.code) == ("smtp_auth_disabled", "auth", 535)
    assert token["outlook"].requests == []
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"login_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "smtp_auth_disabled"


@pytest.mark.parametrize("down", ["503", "no_answer"])
async def test_token_endpoint_unreachable_mail_waits(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, smtp_server: ServerFactory, down: str
) -> None:
    """The provider is down: the mail waits for a retry; no reauth for that."""
    await setup_credentials(hass, "outlook")
    token = endpoints(aioclient_mock)
    server = await smtp_server("starttls", bearer_tokens={"at-2"}, bearer_user=MICROSOFT_MAILBOX)
    entry = oauth_entry(server, stored_token("at-1", expires_in=-60), "outlook")
    await set_up(hass, entry)
    if down == "503":
        token["outlook"].answer({"error": "temporarily_unavailable"}, status=503)
    else:
        token["outlook"].fail(ClientConnectionError("Cannot connect to host"))

    submission = await entry.runtime_data.account.async_send_test_email()

    assert submission.accepted is None
    assert submission.error is not None
    assert submission.error.cause is FailureCause.TEMPORARY
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"login_{entry.entry_id}") is None


async def test_removed_credential_starts_reauth(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, smtp_server: ServerFactory
) -> None:
    """The entry's application credential is gone: sign in again (with another one)."""
    await setup_credentials(hass, "outlook")
    endpoints(aioclient_mock)
    server = await smtp_server("starttls", bearer_tokens={"at-1"}, bearer_user=MICROSOFT_MAILBOX)
    entry = oauth_entry(server, stored_token("at-1", expires_in=-60), "outlook")
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=entry.unique_id,
        title=entry.title,
        data={**entry.data, "auth_implementation": "deleted"},
        options=dict(entry.options),
    )
    await set_up(hass, entry)
    await entry.runtime_data.account.async_queue(EmailContent(subject="Alert", text="motion"))
    await hass.async_block_till_done(wait_background_tasks=True)

    error = entry.runtime_data.account.last_error
    assert error is not None
    assert error.cause is FailureCause.OAUTH_EXPIRED
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH


async def test_reconfigure_oauth_account(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, smtp_server: ServerFactory
) -> None:
    """Another server for the same sign-in (a national cloud, say): no password fields, the
    login with the token is checked, the mailbox and token stay."""
    await setup_credentials(hass, "outlook")
    endpoints(aioclient_mock)
    old = await smtp_server("starttls", bearer_tokens={"at-1"}, bearer_user=MICROSOFT_MAILBOX)
    new = await smtp_server("ssl", bearer_tokens={"at-1"}, bearer_user=MICROSOFT_MAILBOX)
    entry = oauth_entry(old, stored_token("at-1"), "outlook")
    await set_up(hass, entry)

    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    assert "password" not in result["data_schema"].schema
    assert CONF_USERNAME not in result["data_schema"].schema
    form = {
        CONF_HOST: new.host,
        CONF_PORT: new.port,
        CONF_ENCRYPTION: "ssl",
        CONF_SENDER: MICROSOFT_MAILBOX,
        CONF_VERIFY_SSL: False,
        CONF_TIMEOUT: 5,
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_PORT] == new.port
    assert entry.data[CONF_USERNAME] == MICROSOFT_MAILBOX
    assert entry.data["token"]["access_token"] == "at-1"
    assert entry.data[CONF_PROVIDER] == "outlook"
    assert entry.unique_id == MICROSOFT_MAILBOX
    assert new.bearer_seen == ["at-1"]


def _auth_error(code: int, message: str) -> aiosmtplib.SMTPAuthenticationError:
    return aiosmtplib.SMTPAuthenticationError(code, message)


@pytest.mark.parametrize(
    ("error", "oauth", "cause"),
    [
        # Microsoft: a token that is expired or for another mailbox.
        (_auth_error(535, MICROSOFT_REFUSAL[4:]), True, FailureCause.OAUTH_REJECTED),
        # Google, after its 334 challenge (aiosmtplib answers it and raises on the 535).
        (
            _auth_error(535, GOOGLE_REFUSAL.replace("535-", "").replace("\r\n535 ", "\n")),
            True,
            FailureCause.OAUTH_REJECTED,
        ),
        # Microsoft, SMTP AUTH off for the tenant or mailbox: with a token, and with a password.
        (_auth_error(535, SMTP_AUTH_DISABLED[4:]), True, FailureCause.SMTP_AUTH_DISABLED),
        (_auth_error(535, SMTP_AUTH_DISABLED[4:]), False, FailureCause.BASIC_AUTH_DISABLED),
        (
            _auth_error(
                535, "5.7.139 Authentication unsuccessful, basic authentication is disabled."
            ),
            False,
            FailureCause.BASIC_AUTH_DISABLED,
        ),
        (_auth_error(454, "4.7.0 Temporary authentication failure"), True, FailureCause.TEMPORARY),
        (
            aiosmtplib.SMTPException(
                "oauth_token_generator provided but server does not support XOAUTH2"
            ),
            True,
            FailureCause.AUTH_NOT_SUPPORTED,
        ),
    ],
)
def test_reply_texts_classified(error: Exception, oauth: bool, cause: FailureCause) -> None:
    """The providers' real reply texts map to the right causes (and so form errors, repairs)."""
    classified = classify(error, "smtp.example:587", oauth=oauth)
    assert classified.cause is cause
    # The public error kinds are unchanged: every OAuth2 cause is reported as "auth".
    expected = {
        FailureCause.TEMPORARY: "temporary",
        FailureCause.BASIC_AUTH_DISABLED: "basic_auth_disabled",
    }
    assert classified.kind.value == expected.get(cause, "auth")


async def test_reauth_refused_when_smtp_auth_is_off(
    hass: HomeAssistant,
    hass_client_no_auth: Any,
    aioclient_mock: AiohttpClientMocker,
    smtp_server: ServerFactory,
) -> None:
    """A new sign-in that still cannot log in (5.7.139) is not saved; the flow says why."""
    await setup_credentials(hass, "outlook")
    token = endpoints(aioclient_mock)
    server = await smtp_server(
        "starttls",
        bearer_tokens={"at-2"},
        bearer_user=MICROSOFT_MAILBOX,
        auth_reply=SMTP_AUTH_DISABLED,
    )
    entry = oauth_entry(server, stored_token("at-1"), "outlook")
    await set_up(hass, entry)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_oauth"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    await sign_in(hass, hass_client_no_auth, result)
    token["outlook"].answer(token_response("at-2", "rt-2", MICROSOFT_MAILBOX))
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "smtp_auth_disabled"
    assert entry.data["token"]["access_token"] == "at-1"
