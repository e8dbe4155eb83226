"""OAuth2 test helpers: application credentials, a token endpoint, signing in through the flow.

The providers' token endpoints (login.microsoftonline.com, oauth2.googleapis.com) cannot be
reached from the tests: they are the one part mocked, through the harness's ``aioclient_mock``.
The callback into Home Assistant, the flow, the SMTP server and its XOAUTH2 check are real.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
import json
import time
from typing import Any

from pytest_homeassistant_custom_component.test_util.aiohttp import (
    AiohttpClientMocker,
    AiohttpClientMockResponse,
)
from yarl import URL

from custom_components.ptz_email_alert.const import DOMAIN
from custom_components.ptz_email_alert.oauth import GOOGLE_SERVER, MICROSOFT_SERVER
from homeassistant.components.application_credentials import (
    ClientCredential,
    async_import_client_credential,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_entry_oauth2_flow
from homeassistant.setup import async_setup_component

MICROSOFT_CLIENT_ID = "3f2b8c1e-5a7d-4e9f-8b6a-2c1d0e9f8a7b"
GOOGLE_CLIENT_ID = "123456789012-abcdefghijklmnop.apps.googleusercontent.com"
CLIENT_SECRET = "client-secret-Zq8"
MICROSOFT_MAILBOX = "alerts@contoso.onmicrosoft.com"
GOOGLE_MAILBOX = "alerts.camera@gmail.com"
REDIRECT_URI = "https://example.com/auth/external/callback"
# Microsoft, to a valid token for a mailbox or tenant without SMTP AUTH.
SMTP_AUTH_DISABLED = (
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
    "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. "
    "[AM0PR02CA0001.eurprd02.prod.outlook.com 2025-01-01T00:00:00.000Z 08DD]"
)


async def setup_credentials(hass: HomeAssistant, *providers: str) -> dict[str, str]:
    """Add the user's Microsoft and/or Google credentials; their implementation ids by provider."""
    assert await async_setup_component(hass, "application_credentials", {})
    ids = {}
    for provider in providers or ("outlook", "gmail"):
        client_id = MICROSOFT_CLIENT_ID if provider == "outlook" else GOOGLE_CLIENT_ID
        await async_import_client_credential(
            hass, DOMAIN, ClientCredential(client_id, CLIENT_SECRET, provider), provider
        )
        ids[provider] = provider
    return ids


def id_token(mailbox: str | None, claim: str = "email") -> str:
    """An OpenID id_token as the providers send it (the signature is not checked: TLS is)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims: dict[str, Any] = {"iss": "https://issuer.example", "sub": "1234", "aud": "client"}
    if mailbox:
        claims[claim] = mailbox
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def token_response(
    access: str, refresh: str = "rt-1", mailbox: str | None = None
) -> dict[str, Any]:
    """A token endpoint's JSON answer."""
    answer: dict[str, Any] = {
        "token_type": "Bearer",
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": 3599,
        "scope": "https://outlook.office.com/SMTP.Send",
    }
    if mailbox:
        answer["id_token"] = id_token(mailbox)
    return answer


def stored_token(access: str, *, expires_in: float = 3600, refresh: str = "rt-1") -> dict[str, Any]:
    """A token as an entry keeps it."""
    return {
        "token_type": "Bearer",
        "access_token": access,
        "refresh_token": refresh,
        "expires_in": 3600,
        "expires_at": time.time() + expires_in,
    }


@dataclass
class TokenEndpoint:
    """A provider's token endpoint: answers queued in order, requests recorded."""

    url: str
    answers: list[tuple[int, dict[str, Any]] | Exception] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def register(self, aioclient_mock: AiohttpClientMocker) -> TokenEndpoint:
        """Answer this endpoint's POSTs."""
        aioclient_mock.post(self.url, side_effect=self._answer)
        return self

    def answer(self, body: dict[str, Any], status: int = 200) -> None:
        """Queue the next answer."""
        self.answers.append((status, body))

    def fail(self, error: Exception) -> None:
        """Queue a request that gets no answer (``error`` is raised by the HTTP client)."""
        self.answers.append(error)

    async def _answer(self, method: str, url: URL, data: Any) -> AiohttpClientMockResponse:
        self.requests.append(dict(data))
        assert self.answers, f"unexpected token request: {data.get('grant_type')}"
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            return AiohttpClientMockResponse(method, url, exc=answer)
        status, body = answer
        return AiohttpClientMockResponse(method, url, status=status, json=body)

    @property
    def grants(self) -> list[str]:
        """The grant types asked for, in order."""
        return [request["grant_type"] for request in self.requests]


def endpoints(aioclient_mock: AiohttpClientMocker) -> dict[str, TokenEndpoint]:
    """Both providers' token endpoints, registered."""
    return {
        "outlook": TokenEndpoint(MICROSOFT_SERVER.token_url).register(aioclient_mock),
        "gmail": TokenEndpoint(GOOGLE_SERVER.token_url).register(aioclient_mock),
    }


async def sign_in(hass: HomeAssistant, hass_client_no_auth: Any, result: dict[str, Any]) -> None:
    """The browser comes back from the provider with a code (the external step's callback)."""
    state = config_entry_oauth2_flow._encode_jwt(
        hass, {"flow_id": result["flow_id"], "redirect_uri": REDIRECT_URI}
    )
    assert f"state={state}" in result["url"]
    client = await hass_client_no_auth()
    response = await client.get(f"/auth/external/callback?code=auth-code&state={state}")
    assert response.status == 200
