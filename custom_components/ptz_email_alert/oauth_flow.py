"""The OAuth2 steps of the account flow: sign in with Microsoft or Google, then the server."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import ClientError
import voluptuous as vol

from homeassistant.config_entries import SOURCE_REAUTH, ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_USERNAME
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_entry_oauth2_flow

from .account_form import EMAIL, PLACEHOLDERS, clean, connection_schema, validate_connection
from .const import (
    CONF_ENCRYPTION,
    CONF_PROVIDER,
    CONF_RECIPIENTS,
    CONF_SENDER,
    DOMAIN,
    LOGGER,
    PROVIDER_CUSTOM,
    PROVIDER_PRESETS,
)
from .oauth import (
    CONF_AUTH_IMPLEMENTATION,
    CONF_TOKEN,
    GOOGLE_CREDENTIALS_URL,
    MICROSOFT_APPS_URL,
    mailbox_from_token,
    provider_of,
    token_error,
)
from .options_flow import EMAILS, validate_recipients

# Login failures after a reauth sign-in: the new token is not saved, the flow says why.
_REAUTH_ABORTS = frozenset(
    {"oauth_rejected", "smtp_auth_disabled", "xoauth2_not_supported", "oauth_expired"}
)


class OAuth2AccountSteps(config_entry_oauth2_flow.AbstractOAuth2FlowHandler):
    """Sign-in steps; the account flow (config_flow.py) inherits them."""

    DOMAIN = DOMAIN

    def __init__(self) -> None:
        """No provider chosen and no sign-in yet."""
        super().__init__()
        self._provider = PROVIDER_CUSTOM
        self._oauth: dict[str, Any] = {}  # auth_implementation and token of the sign-in
        self._mailbox: str | None = None  # from the token's id_token, when it names one

    @property
    def logger(self) -> logging.Logger:
        """Logger of the OAuth2 helper's messages."""
        return LOGGER

    async def async_step_pick_implementation(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The credential to sign in with, among those of the chosen provider.

        One domain holds both providers' credentials: a Google client must not be offered for
        Outlook. Without one for this provider, ``missing_credentials`` makes the frontend
        open the dialog that adds it.
        """
        try:
            available = await config_entry_oauth2_flow.async_get_implementations(self.hass, DOMAIN)
        except HomeAssistantError:  # newer releases: a provider failed to load
            return self.async_abort(reason="oauth_implementation_unavailable")
        implementations = {
            key: impl for key, impl in available.items() if provider_of(impl) == self._provider
        }
        if user_input is not None and user_input["implementation"] in implementations:
            self.flow_impl = implementations[user_input["implementation"]]
            return await self.async_step_auth()
        if not implementations:
            return self.async_abort(
                reason="missing_credentials", description_placeholders=_CREDENTIAL_LINKS
            )
        if len(implementations) == 1:
            self.flow_impl = next(iter(implementations.values()))
            return await self.async_step_auth()
        return self.async_show_form(
            step_id="pick_implementation",
            data_schema=vol.Schema(
                {
                    vol.Required("implementation", default=next(iter(implementations))): vol.In(
                        {key: impl.name for key, impl in implementations.items()}
                    )
                }
            ),
        )

    async def async_oauth_create_entry(self, data: dict[str, Any]) -> ConfigFlowResult:
        """Signed in: finish a reauth, or go on to the server step."""
        self._oauth = {
            CONF_AUTH_IMPLEMENTATION: data[CONF_AUTH_IMPLEMENTATION],
            CONF_TOKEN: data[CONF_TOKEN],
        }
        self._mailbox = mailbox_from_token(data[CONF_TOKEN])
        if self.source == SOURCE_REAUTH:
            return await self._async_finish_reauth()
        if self._mailbox:
            await self.async_set_unique_id(self._mailbox)
            self._abort_if_unique_id_configured()
        return await self.async_step_oauth_smtp()

    async def _flow_token(self, refresh: bool) -> str:
        """Token source of the login check: the sign-in's token (refreshed if asked)."""
        if refresh:
            try:
                token = await self.flow_impl.async_refresh_token(self._oauth[CONF_TOKEN])
            except (ClientError, TimeoutError) as err:
                raise token_error(err) from err
            self._oauth[CONF_TOKEN] = token
        return str(self._oauth[CONF_TOKEN]["access_token"])

    async def async_step_oauth_smtp(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Server, sender and recipients; the login with the token is checked before saving.

        The provider's server is prefilled and can be changed (national clouds, Outlook.com).
        """
        preset = PROVIDER_PRESETS[self._provider]
        errors: dict[str, str] = {}
        if user_input is not None:
            data = clean(user_input)
            recipients, errors = validate_recipients(data.pop(CONF_RECIPIENTS, []))
            mailbox = self._mailbox or str(data.get(CONF_USERNAME, "")).lower()
            data[CONF_USERNAME] = mailbox
            if not self._mailbox:
                await self.async_set_unique_id(mailbox)
                self._abort_if_unique_id_configured()
            if not errors:
                errors = await validate_connection(data, self._flow_token)
            if not errors:
                return self.async_create_entry(
                    title=data[CONF_SENDER],
                    data={CONF_PROVIDER: self._provider, **data, **self._oauth},
                    options={CONF_RECIPIENTS: recipients},
                )
        schema: dict[vol.Marker, Any] = {}
        if not self._mailbox:  # the token did not name the mailbox: ask for it
            schema[vol.Required(CONF_USERNAME)] = EMAIL
        schema.update(connection_schema(password_required=False, login=False))
        schema[vol.Required(CONF_RECIPIENTS)] = EMAILS
        suggested = user_input or {
            CONF_HOST: preset.host,
            CONF_PORT: preset.port,
            CONF_ENCRYPTION: preset.encryption.value,
            CONF_SENDER: self._mailbox or "",
        }
        return self.async_show_form(
            step_id="oauth_smtp",
            data_schema=self.add_suggested_values_to_schema(vol.Schema(schema), suggested),
            errors=errors,
            description_placeholders={
                **PLACEHOLDERS,
                "mailbox": self._mailbox or "-",
            },
        )

    async def async_step_reauth_oauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Sign in again (the refresh token was refused, or the server refused the token)."""
        entry = self._get_reauth_entry()
        if user_input is not None:
            self._provider = entry.data[CONF_PROVIDER]
            # The credential used before; if it was removed, the user picks or adds one.
            return await self.async_step_pick_implementation(
                {"implementation": entry.data[CONF_AUTH_IMPLEMENTATION]}
            )
        return self.async_show_form(
            step_id="reauth_oauth",
            description_placeholders={
                "mailbox": entry.data[CONF_USERNAME],
                "server": f"{entry.data[CONF_HOST]}:{entry.data[CONF_PORT]}",
            },
        )

    async def _async_finish_reauth(self) -> ConfigFlowResult:
        """The same mailbox only; the new token must log in before it is saved.

        Only the token changes, which the entry's listener does not reload for: reload here so
        that the mail waiting in the outbox goes out.
        """
        entry = self._get_reauth_entry()
        mailbox = str(entry.data[CONF_USERNAME]).lower()
        if self._mailbox and self._mailbox != mailbox:
            return self.async_abort(
                reason="wrong_account",
                description_placeholders={"mailbox": mailbox, "other": self._mailbox},
            )
        data = {**entry.data, **self._oauth}
        errors = await validate_connection(data, self._flow_token)
        if (error := errors.get("base")) in _REAUTH_ABORTS:
            return self.async_abort(reason=str(error), description_placeholders=PLACEHOLDERS)
        # Anything else (the server is down, say) does not make the new sign-in wrong.
        return self.async_update_reload_and_abort(
            entry, data={**entry.data, **self._oauth}, reason="reauth_successful"
        )


_CREDENTIAL_LINKS = {
    "microsoft_apps_url": MICROSOFT_APPS_URL,
    "google_credentials_url": GOOGLE_CREDENTIALS_URL,
}
