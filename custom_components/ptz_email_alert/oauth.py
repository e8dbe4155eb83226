"""OAuth2 for Microsoft 365 / Outlook.com and Gmail: providers, mailbox, tokens of an account."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping
import json
from typing import Any, Final

from aiohttp import ClientError, ClientResponseError

from homeassistant.components.application_credentials import (
    AuthImplementation,
    AuthorizationServer,
    ClientCredential,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_entry_oauth2_flow

from .const import PROVIDER_GMAIL, PROVIDER_OUTLOOK
from .mail.errors import FailureCause, SmtpError

CONF_TOKEN: Final = "token"
CONF_AUTH_IMPLEMENTATION: Final = "auth_implementation"

# Authority "common": work or school accounts and personal Microsoft accounts alike.
MICROSOFT_SERVER: Final = AuthorizationServer(
    authorize_url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
    token_url="https://login.microsoftonline.com/common/oauth2/v2.0/token",  # noqa: S106
)
GOOGLE_SERVER: Final = AuthorizationServer(
    authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
    token_url="https://oauth2.googleapis.com/token",  # noqa: S106
)
# The mail scope, plus OpenID scopes so that the token response names the mailbox (id_token).
MICROSOFT_SCOPES: Final = "https://outlook.office.com/SMTP.Send offline_access openid email profile"
GOOGLE_SCOPES: Final = "https://mail.google.com/ openid email"
GOOGLE_CLIENT_SUFFIX: Final = ".apps.googleusercontent.com"

MICROSOFT_APPS_URL: Final = (
    "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/ApplicationsListBlade"
)
GOOGLE_CREDENTIALS_URL: Final = "https://console.cloud.google.com/apis/credentials"


def provider_of_client(client_id: str) -> str:
    """Which provider a client id belongs to.

    Google's end in .apps.googleusercontent.com, Microsoft's are GUIDs. One integration, two
    authorization servers: this tells them apart.
    """
    return PROVIDER_GMAIL if client_id.strip().endswith(GOOGLE_CLIENT_SUFFIX) else PROVIDER_OUTLOOK


class MailOAuth2Implementation(AuthImplementation):
    """An application credential of one provider, with the scopes SMTP needs."""

    def __init__(self, hass: HomeAssistant, auth_domain: str, credential: ClientCredential) -> None:
        """Pick the authorization server from the client id."""
        self.provider = provider_of_client(credential.client_id)
        server = GOOGLE_SERVER if self.provider == PROVIDER_GMAIL else MICROSOFT_SERVER
        super().__init__(hass, auth_domain, credential, server)

    @property
    def extra_authorize_data(self) -> dict[str, Any]:
        """Scopes; Google only returns a refresh token with offline access and consent."""
        if self.provider == PROVIDER_GMAIL:
            return {"scope": GOOGLE_SCOPES, "access_type": "offline", "prompt": "consent"}
        return {"scope": MICROSOFT_SCOPES, "prompt": "select_account"}


def provider_of(
    implementation: config_entry_oauth2_flow.AbstractOAuth2Implementation,
) -> str | None:
    """The provider of an implementation (all of this domain's come from its credentials)."""
    if isinstance(implementation, MailOAuth2Implementation):
        return implementation.provider
    return None


def mailbox_from_token(token: Mapping[str, Any]) -> str | None:
    """The mailbox the token was issued for, from its OpenID id_token.

    The id_token comes straight from the provider's token endpoint over TLS, so its claims are
    read without checking the signature (OpenID Connect Core 3.1.3.7). Microsoft puts the
    address in ``email`` or ``preferred_username``, Google in ``email``.
    """
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return None
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict):
        return None
    for claim in ("email", "preferred_username"):
        value = claims.get(claim)
        if isinstance(value, str) and "@" in value:
            return value.strip().lower()
    return None


def token_error(err: Exception) -> SmtpError:
    """A failed token request as an SMTP error: refused means sign in again, else retry."""
    if isinstance(err, ClientResponseError) and 400 <= err.status < 500 and err.status != 429:
        # invalid_grant: consent revoked, password changed, or a Google app still "in testing"
        # (its refresh tokens end after 7 days).
        return SmtpError(
            FailureCause.OAUTH_EXPIRED,
            f"the sign-in has expired or was revoked (token endpoint: {err.status})",
        )
    if isinstance(err, ClientResponseError):
        return SmtpError(FailureCause.TEMPORARY, f"token endpoint answered {err.status}")
    return SmtpError(FailureCause.TEMPORARY, "the token endpoint could not be reached")


class AccountTokens:
    """Access tokens of one account entry, saved to the entry.

    Refreshed when due, or when the server refused one. This is the ``token_source`` of the
    account's SMTP settings.
    """

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Nothing is looked up until the first token is needed (setup never waits on it)."""
        self._hass = hass
        self._entry = entry
        self._session: config_entry_oauth2_flow.OAuth2Session | None = None
        self._lock = asyncio.Lock()

    async def _async_session(self) -> config_entry_oauth2_flow.OAuth2Session:
        if self._session is None:
            try:
                implementation = (
                    await config_entry_oauth2_flow.async_get_config_entry_implementation(
                        self._hass, self._entry
                    )
                )
            except ValueError as err:
                raise SmtpError(
                    FailureCause.OAUTH_EXPIRED,
                    "the application credential of this account was removed",
                ) from err
            except HomeAssistantError as err:  # provider not available yet (newer releases)
                raise SmtpError(
                    FailureCause.TEMPORARY, "the application credential is not available"
                ) from err
            self._session = config_entry_oauth2_flow.OAuth2Session(
                self._hass, self._entry, implementation
            )
        return self._session

    async def __call__(self, refresh: bool) -> str:
        """A valid access token; with ``refresh``, a new one whatever its expiry says."""
        session = await self._async_session()
        try:
            if refresh:
                async with self._lock:
                    token = await session.implementation.async_refresh_token(session.token)
                    self._hass.config_entries.async_update_entry(
                        self._entry, data={**self._entry.data, CONF_TOKEN: token}
                    )
            else:
                await session.async_ensure_token_valid()
        except (ClientError, TimeoutError) as err:
            raise token_error(err) from err
        return str(session.token["access_token"])
