"""Config flow: pick a provider, sign in or enter the login, checked against the real server.

Outlook (Microsoft 365 / Outlook.com) signs in with OAuth2 only: Microsoft has turned password
login off for SMTP. A Microsoft server that still takes a password (a tenant that kept SMTP AUTH
with basic authentication, an on-premises Exchange) is set up as ``custom``. Gmail offers both:
an app password (first) or Google sign-in. The OAuth2 steps live in oauth_flow.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from .account_form import PASSWORD, PLACEHOLDERS, clean, connection_schema, validate_connection
from .camera_flow import CameraSubentryFlow
from .const import (
    CONF_ENCRYPTION,
    CONF_PROVIDER,
    CONF_RECIPIENTS,
    CONF_SENDER,
    DOMAIN,
    PROVIDER_CUSTOM,
    PROVIDER_GMAIL,
    PROVIDER_OUTLOOK,
    PROVIDER_PRESETS,
    PROVIDERS,
    SUBENTRY_CAMERA,
)
from .oauth import CONF_TOKEN, AccountTokens
from .oauth_flow import OAuth2AccountSteps
from .options_flow import EMAILS, PtzEmailAlertOptionsFlow, validate_recipients
from .runtime_data import PtzEmailAlertConfigEntry


def _unique_id(data: Mapping[str, Any]) -> str:
    """One entry per login (or sender, for relays without login) on one server.

    OAuth2 accounts: the mailbox alone (set in oauth_flow.py).
    """
    who = data.get(CONF_USERNAME) or data[CONF_SENDER]
    return f"{who}@{data[CONF_HOST]}".lower()


class PtzEmailAlertConfigFlow(OAuth2AccountSteps, domain=DOMAIN):
    """Add an SMTP account."""

    VERSION = 1

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Cameras are subentries of the account that mails their alerts."""
        return {SUBENTRY_CAMERA: CameraSubentryFlow}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: PtzEmailAlertConfigEntry) -> OptionsFlow:
        """Options: who gets the mail."""
        return PtzEmailAlertOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose the mail provider; its server settings are prefilled next."""
        if user_input is not None:
            self._provider = user_input[CONF_PROVIDER]
            if self._provider == PROVIDER_OUTLOOK:
                return await self.async_step_pick_implementation()
            if self._provider == PROVIDER_GMAIL:
                return await self.async_step_gmail()
            return await self.async_step_smtp()
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_PROVIDER, default=PROVIDER_CUSTOM): SelectSelector(
                        SelectSelectorConfig(
                            options=PROVIDERS,
                            mode=SelectSelectorMode.LIST,
                            translation_key=CONF_PROVIDER,
                        )
                    )
                }
            ),
        )

    async def async_step_gmail(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Gmail: an app password (first, the usual way) or sign in with Google (OAuth2)."""
        return self.async_show_menu(step_id="gmail", menu_options=["smtp", "pick_implementation"])

    async def async_step_smtp(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Server, login, sender and recipients; checked against the server before saving."""
        preset = PROVIDER_PRESETS[self._provider]
        errors: dict[str, str] = {}
        if user_input is not None:
            data = clean(user_input)
            recipients, errors = validate_recipients(data.pop(CONF_RECIPIENTS, []))
            await self.async_set_unique_id(_unique_id(data))
            self._abort_if_unique_id_configured()
            if not errors:
                errors = await validate_connection(data)
            if not errors:
                return self.async_create_entry(
                    title=data[CONF_SENDER],
                    data={CONF_PROVIDER: self._provider, **data},
                    options={CONF_RECIPIENTS: recipients},
                )
        schema = vol.Schema(
            {
                **connection_schema(password_required=preset.needs_login),
                vol.Required(CONF_RECIPIENTS): EMAILS,
            }
        )
        suggested = user_input or {
            CONF_HOST: preset.host,
            CONF_PORT: preset.port,
            CONF_ENCRYPTION: preset.encryption.value,
        }
        return self.async_show_form(
            step_id="smtp",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders=PLACEHOLDERS,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The server refused the login: ask for a new password, or sign in again."""
        if CONF_TOKEN in entry_data:
            return await self.async_step_reauth_oauth()
        return await self.async_step_reauth_confirm()

    def _async_save_and_abort(
        self, entry: PtzEmailAlertConfigEntry, reason: str, **changes: Any
    ) -> ConfigFlowResult:
        """Save and finish. The entry's update listener reloads it once when it changed.

        (``async_update_reload_and_abort`` would schedule a second reload on top of it, and
        every reload cuts short a burst in progress.)
        """
        self.hass.config_entries.async_update_entry(entry, **changes)
        return self.async_abort(reason=reason)

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Enter a new password (for Gmail: an app password)."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_PASSWORD: user_input[CONF_PASSWORD]}
            errors = await validate_connection(data)
            if not errors:
                return self._async_save_and_abort(entry, "reauth_successful", data=data)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_PASSWORD): PASSWORD}),
            errors=errors,
            description_placeholders={
                **PLACEHOLDERS,
                "username": entry.data.get(CONF_USERNAME, entry.data[CONF_SENDER]),
                "server": f"{entry.data[CONF_HOST]}:{entry.data[CONF_PORT]}",
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change server, port, encryption or login; an empty password keeps the current one.

        An OAuth2 account keeps its mailbox and sign-in; only the server settings change.
        """
        entry = self._get_reconfigure_entry()
        oauth = CONF_TOKEN in entry.data
        errors: dict[str, str] = {}
        if user_input is not None:
            data = clean(user_input)
            if oauth:
                data = {**entry.data, **data}
                data.pop(CONF_PROVIDER)
            if CONF_PASSWORD not in data and CONF_PASSWORD in entry.data:
                data[CONF_PASSWORD] = entry.data[CONF_PASSWORD]
            unique_id = entry.unique_id if oauth else _unique_id(data)
            if unique_id != entry.unique_id:
                await self.async_set_unique_id(unique_id)
                self._abort_if_unique_id_configured()
            tokens = AccountTokens(self.hass, entry) if oauth else None
            errors = await validate_connection(data, tokens)
            if oauth:  # the check may have refreshed the token: keep the newest
                data[CONF_TOKEN] = entry.data[CONF_TOKEN]
            if not errors:
                return self._async_save_and_abort(
                    entry,
                    "reconfigure_successful",
                    unique_id=unique_id,
                    title=data[CONF_SENDER],
                    data={CONF_PROVIDER: entry.data[CONF_PROVIDER], **data},
                )
        suggested = {k: v for k, v in (user_input or entry.data).items() if k != CONF_PASSWORD}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(connection_schema(password_required=False, login=not oauth)), suggested
            ),
            errors=errors,
            description_placeholders=PLACEHOLDERS,
        )
