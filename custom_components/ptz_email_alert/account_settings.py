"""An account's SMTP settings from its entry, and what a change of them means."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_TIMEOUT,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.util.ssl import client_context, client_context_no_verify

from .const import CONF_ENCRYPTION, DEFAULT_TIMEOUT
from .mail import Encryption, SmtpSettings
from .mail.sender import TokenSource
from .oauth import CONF_TOKEN


def smtp_settings(data: Mapping[str, Any], token_source: TokenSource | None = None) -> SmtpSettings:
    """SMTP settings from config entry data (or a config flow form).

    With ``token_source`` (an OAuth2 account) the login is XOAUTH2 as ``username``, no password.
    """
    verify = bool(data.get(CONF_VERIFY_SSL, True))
    return SmtpSettings(
        host=str(data[CONF_HOST]).strip(),
        port=int(data[CONF_PORT]),
        encryption=Encryption(data[CONF_ENCRYPTION]),
        username=data.get(CONF_USERNAME) or None,
        password=None if token_source else data.get(CONF_PASSWORD) or None,
        timeout=float(data.get(CONF_TIMEOUT, DEFAULT_TIMEOUT)),
        # Home Assistant's cached contexts: no blocking certificate load, no ALPN.
        tls_context=client_context() if verify else client_context_no_verify(),
        token_source=token_source,
    )


def reload_key(entry: ConfigEntry) -> tuple[Any, ...]:
    """All of an entry that its runtime is built from, except the OAuth2 token."""
    data = {key: value for key, value in entry.data.items() if key != CONF_TOKEN}
    return (entry.title, data, dict(entry.options), dict(entry.subentries))
