"""The Home Assistant side of one SMTP account: settings from the entry, sending, reauth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
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
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util
from homeassistant.util.ssl import client_context, client_context_no_verify

from .const import CONF_ENCRYPTION, CONF_RECIPIENTS, CONF_SENDER, DEFAULT_TIMEOUT, DOMAIN, LOGGER
from .mail import (
    AUTH_CAUSES,
    EmailContent,
    Encryption,
    InvalidAddressError,
    SendResult,
    SmtpError,
    SmtpSettings,
    build_message,
    send_message,
)


def smtp_settings(data: Mapping[str, Any]) -> SmtpSettings:
    """SMTP settings from config entry data (or a config flow form)."""
    verify = bool(data.get(CONF_VERIFY_SSL, True))
    return SmtpSettings(
        host=str(data[CONF_HOST]).strip(),
        port=int(data[CONF_PORT]),
        encryption=Encryption(data[CONF_ENCRYPTION]),
        username=data.get(CONF_USERNAME) or None,
        password=data.get(CONF_PASSWORD) or None,
        timeout=float(data.get(CONF_TIMEOUT, DEFAULT_TIMEOUT)),
        # Home Assistant's cached contexts: no blocking certificate load, no ALPN.
        tls_context=client_context() if verify else client_context_no_verify(),
    )


class MailAccount:
    """Sends mail for one config entry and remembers how the last attempt went."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Bind to the entry; settings are read from it on every send."""
        self.hass = hass
        self.entry = entry
        self.last_error: SmtpError | None = None
        self.last_success: datetime | None = None

    @property
    def sender(self) -> str:
        """The From address."""
        return str(self.entry.data[CONF_SENDER])

    @property
    def recipients(self) -> list[str]:
        """Default recipients (options)."""
        return list(self.entry.options.get(CONF_RECIPIENTS, []))

    @property
    def server(self) -> str:
        """``host:port`` of the account's server."""
        return f"{self.entry.data[CONF_HOST]}:{self.entry.data[CONF_PORT]}"

    async def async_send(
        self, content: EmailContent, recipients: Sequence[str] | None = None
    ) -> SendResult:
        """Build and send one message; raise a translated error if it does not go out."""
        to = list(recipients) if recipients else self.recipients
        try:
            # MIME and base64 work for attachments is CPU: keep it off the event loop.
            message = await self.hass.async_add_executor_job(
                partial(build_message, content, sender=self.sender, recipients=to)
            )
        except InvalidAddressError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_recipient",
                translation_placeholders={"address": err.address or "(none)"},
            ) from err
        try:
            result = await send_message(smtp_settings(self.entry.data), message)
        except SmtpError as err:
            self.last_error = err
            LOGGER.warning(
                "Email %r to %d recipient(s) was not sent via %s: %s",
                message["Subject"],
                len(to),
                err.server,
                err,
            )
            if err.cause in AUTH_CAUSES:
                self.entry.async_start_reauth(self.hass)
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=f"send_{err.cause.value}",
                translation_placeholders={"server": err.server, "detail": err.detail},
            ) from err
        self.last_error = None
        self.last_success = dt_util.utcnow()
        return result


@dataclass(slots=True)
class PtzEmailAlertData:
    """Runtime objects of one account (``entry.runtime_data``)."""

    account: MailAccount


type PtzEmailAlertConfigEntry = ConfigEntry[PtzEmailAlertData]
