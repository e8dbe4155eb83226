"""Config flow: pick a provider, enter the server and login, checked against the real server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_TIMEOUT,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .account import smtp_settings
from .camera_flow import CameraSubentryFlow
from .const import (
    CONF_ENCRYPTION,
    CONF_PROVIDER,
    CONF_RECIPIENTS,
    CONF_SENDER,
    DEFAULT_TIMEOUT,
    DOMAIN,
    GMAIL_APP_PASSWORD_URL,
    MICROSOFT_SMTP_AUTH_URL,
    PROVIDER_CUSTOM,
    PROVIDER_PRESETS,
    PROVIDERS,
    SUBENTRY_CAMERA,
)
from .mail import (
    Encryption,
    FailureCause,
    InvalidAddressError,
    SmtpError,
    normalize_address,
    verify_login,
)
from .options_flow import EMAILS, PtzEmailAlertOptionsFlow, validate_recipients
from .runtime_data import PtzEmailAlertConfigEntry

# Where each failure is shown in the form, and under which error key.
_FORM_ERRORS: dict[FailureCause, tuple[str, str]] = {
    FailureCause.DNS: (CONF_HOST, "dns_failure"),
    FailureCause.REFUSED: ("base", "cannot_connect"),
    FailureCause.TIMEOUT: ("base", "timeout"),
    FailureCause.TLS_MODE_MISMATCH: (CONF_ENCRYPTION, "tls_mode_mismatch"),
    FailureCause.INVALID_CERT: (CONF_VERIFY_SSL, "invalid_cert"),
    FailureCause.TLS: ("base", "cannot_connect"),
    FailureCause.AUTH: ("base", "invalid_auth"),
    FailureCause.AUTH_NOT_SUPPORTED: ("base", "auth_not_supported"),
    FailureCause.APP_PASSWORD_REQUIRED: (CONF_PASSWORD, "app_password_required"),
    FailureCause.BASIC_AUTH_DISABLED: ("base", "basic_auth_disabled"),
    FailureCause.SENDER_REFUSED: ("base", "cannot_connect"),
    FailureCause.RECIPIENTS_REFUSED: ("base", "cannot_connect"),
    FailureCause.MESSAGE_TOO_LARGE: ("base", "cannot_connect"),
    FailureCause.TEMPORARY: ("base", "cannot_connect"),
    FailureCause.REJECTED: ("base", "cannot_connect"),
    FailureCause.DISCONNECTED: ("base", "cannot_connect"),
}

PLACEHOLDERS = {
    "app_password_url": GMAIL_APP_PASSWORD_URL,
    "microsoft_smtp_auth_url": MICROSOFT_SMTP_AUTH_URL,
}

_EMAIL = TextSelector(TextSelectorConfig(type=TextSelectorType.EMAIL, autocomplete="email"))
_PASSWORD = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="current-password")
)


def _connection_schema(*, password_required: bool) -> dict[vol.Marker, Any]:
    """Fields needed to connect (shared by the smtp and reconfigure steps)."""
    password_key = vol.Required if password_required else vol.Optional
    return {
        vol.Required(CONF_HOST): TextSelector(),
        vol.Required(CONF_PORT): NumberSelector(
            NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX)
        ),
        vol.Required(CONF_ENCRYPTION): SelectSelector(
            SelectSelectorConfig(
                options=[mode.value for mode in Encryption],
                mode=SelectSelectorMode.DROPDOWN,
                translation_key=CONF_ENCRYPTION,
            )
        ),
        vol.Optional(CONF_USERNAME): TextSelector(
            TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
        ),
        password_key(CONF_PASSWORD): _PASSWORD,
        vol.Required(CONF_SENDER): _EMAIL,
        vol.Required(CONF_VERIFY_SSL, default=True): bool,
        vol.Required(CONF_TIMEOUT, default=DEFAULT_TIMEOUT): NumberSelector(
            NumberSelectorConfig(
                min=1, max=300, unit_of_measurement="s", mode=NumberSelectorMode.BOX
            )
        ),
    }


def _clean(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as stored: trimmed text, whole numbers, blanks dropped."""
    data = {key: value for key, value in user_input.items() if value not in (None, "")}
    data[CONF_HOST] = str(data[CONF_HOST]).strip()
    data[CONF_PORT] = int(data[CONF_PORT])
    data[CONF_TIMEOUT] = int(data.get(CONF_TIMEOUT, DEFAULT_TIMEOUT))
    if CONF_USERNAME in data:
        data[CONF_USERNAME] = str(data[CONF_USERNAME]).strip()
    return data


def _unique_id(data: Mapping[str, Any]) -> str:
    """One entry per login (or sender, for relays without login) on one server."""
    who = data.get(CONF_USERNAME) or data[CONF_SENDER]
    return f"{who}@{data[CONF_HOST]}".lower()


async def _validate_connection(data: Mapping[str, Any]) -> dict[str, str]:
    """Check the sender address, then connect, negotiate TLS and log in. Form errors."""
    try:
        normalize_address(data[CONF_SENDER])
    except InvalidAddressError:
        return {CONF_SENDER: "invalid_email"}
    try:
        await verify_login(smtp_settings(data))
    except SmtpError as err:
        field, key = _FORM_ERRORS[err.cause]
        return {field: key}
    return {}


class PtzEmailAlertConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add an SMTP account."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with no provider chosen."""
        self._provider = PROVIDER_CUSTOM

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

    async def async_step_smtp(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Server, login, sender and recipients; checked against the server before saving."""
        preset = PROVIDER_PRESETS[self._provider]
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _clean(user_input)
            recipients, errors = validate_recipients(data.pop(CONF_RECIPIENTS, []))
            await self.async_set_unique_id(_unique_id(data))
            self._abort_if_unique_id_configured()
            if not errors:
                errors = await _validate_connection(data)
            if not errors:
                return self.async_create_entry(
                    title=data[CONF_SENDER],
                    data={CONF_PROVIDER: self._provider, **data},
                    options={CONF_RECIPIENTS: recipients},
                )
        schema = vol.Schema(
            {
                **_connection_schema(password_required=preset.needs_login),
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
        """The server refused the login: ask for a new password."""
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
            errors = await _validate_connection(data)
            if not errors:
                return self._async_save_and_abort(entry, "reauth_successful", data=data)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_PASSWORD): _PASSWORD}),
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
        """Change server, port, encryption or login; an empty password keeps the current one."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _clean(user_input)
            if CONF_PASSWORD not in data and CONF_PASSWORD in entry.data:
                data[CONF_PASSWORD] = entry.data[CONF_PASSWORD]
            unique_id = _unique_id(data)
            if unique_id != entry.unique_id:
                await self.async_set_unique_id(unique_id)
                self._abort_if_unique_id_configured()
            errors = await _validate_connection(data)
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
                vol.Schema(_connection_schema(password_required=False)), suggested
            ),
            errors=errors,
            description_placeholders=PLACEHOLDERS,
        )
