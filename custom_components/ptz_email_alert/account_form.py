"""Form parts shared by the account steps (password and OAuth2): fields, cleaning, the check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol

from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_TIMEOUT,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
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

from .account_settings import smtp_settings
from .const import (
    CONF_ENCRYPTION,
    CONF_SENDER,
    DEFAULT_TIMEOUT,
    GMAIL_APP_PASSWORD_URL,
    MICROSOFT_SMTP_AUTH_URL,
)
from .mail import (
    Encryption,
    FailureCause,
    InvalidAddressError,
    SmtpError,
    normalize_address,
    verify_login,
)
from .mail.sender import TokenSource

# Where each failure is shown in the form, and under which error key.
FORM_ERRORS: dict[FailureCause, tuple[str, str]] = {
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
    FailureCause.OAUTH_REJECTED: ("base", "oauth_rejected"),
    FailureCause.OAUTH_EXPIRED: ("base", "oauth_expired"),
    FailureCause.SMTP_AUTH_DISABLED: ("base", "smtp_auth_disabled"),
}
# With a token, "no AUTH" means the server does not offer XOAUTH2 (wrong host, or no TLS yet).
_OAUTH_FORM_ERRORS = {FailureCause.AUTH_NOT_SUPPORTED: ("base", "xoauth2_not_supported")}

PLACEHOLDERS = {
    "app_password_url": GMAIL_APP_PASSWORD_URL,
    "microsoft_smtp_auth_url": MICROSOFT_SMTP_AUTH_URL,
}

EMAIL = TextSelector(TextSelectorConfig(type=TextSelectorType.EMAIL, autocomplete="email"))
PASSWORD = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="current-password")
)


def connection_schema(*, password_required: bool, login: bool = True) -> dict[vol.Marker, Any]:
    """Fields needed to connect (smtp, oauth_smtp and reconfigure steps).

    ``login``: username and password fields (an OAuth2 account logs in with its token).
    """
    password_key = vol.Required if password_required else vol.Optional
    fields: dict[vol.Marker, Any] = {
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
    }
    if login:
        fields[vol.Optional(CONF_USERNAME)] = TextSelector(
            TextSelectorConfig(type=TextSelectorType.TEXT, autocomplete="username")
        )
        fields[password_key(CONF_PASSWORD)] = PASSWORD
    fields[vol.Required(CONF_SENDER)] = EMAIL
    fields[vol.Required(CONF_VERIFY_SSL, default=True)] = bool
    fields[vol.Required(CONF_TIMEOUT, default=DEFAULT_TIMEOUT)] = NumberSelector(
        NumberSelectorConfig(min=1, max=300, unit_of_measurement="s", mode=NumberSelectorMode.BOX)
    )
    return fields


def clean(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as stored: trimmed text, whole numbers, blanks dropped."""
    data = {key: value for key, value in user_input.items() if value not in (None, "")}
    data[CONF_HOST] = str(data[CONF_HOST]).strip()
    data[CONF_PORT] = int(data[CONF_PORT])
    data[CONF_TIMEOUT] = int(data.get(CONF_TIMEOUT, DEFAULT_TIMEOUT))
    if CONF_USERNAME in data:
        data[CONF_USERNAME] = str(data[CONF_USERNAME]).strip()
    return data


async def validate_connection(
    data: Mapping[str, Any], token_source: TokenSource | None = None
) -> dict[str, str]:
    """Check the sender address, then connect, negotiate TLS and log in. Form errors.

    With ``token_source`` the login is XOAUTH2 as ``username`` (the mailbox).
    """
    try:
        normalize_address(data[CONF_SENDER])
    except InvalidAddressError:
        return {CONF_SENDER: "invalid_email"}
    try:
        await verify_login(smtp_settings(data, token_source))
    except SmtpError as err:
        errors = _OAUTH_FORM_ERRORS if token_source is not None else {}
        field, key = errors.get(err.cause) or FORM_ERRORS[err.cause]
        return {field: key}
    return {}
