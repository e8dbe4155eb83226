"""What an account's outbox reports, turned into events, log lines, repairs and a fallback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import voluptuous as vol

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir

from .const import (
    CONF_FALLBACK_NOTIFY,
    DOMAIN,
    EVENT_DELIVERED,
    EVENT_DELIVERY_FAILED,
    EVENT_DROPPED,
    GMAIL_APP_PASSWORD_URL,
    LOGGER,
    MICROSOFT_SMTP_AUTH_URL,
)
from .mail import AUTH_CAUSES, DropReason, FailureCause, OutboxItem, SendResult, SmtpError
from .mail.link_watch import MtuWatch

# Login failures with a repair issue of their own name (the rest: "login_refused").
_OWN_ISSUE = frozenset(
    {
        FailureCause.APP_PASSWORD_REQUIRED,
        FailureCause.BASIC_AUTH_DISABLED,
        FailureCause.OAUTH_REJECTED,
        FailureCause.OAUTH_EXPIRED,
        FailureCause.SMTP_AUTH_DISABLED,
    }
)
# A server out of reach: logged when it goes and when it is back, not at every attempt.
_UNREACHABLE = frozenset(
    {
        FailureCause.DNS,
        FailureCause.REFUSED,
        FailureCause.TIMEOUT,
        FailureCause.TLS,
        FailureCause.INVALID_CERT,
        FailureCause.TLS_MODE_MISMATCH,
        FailureCause.DISCONNECTED,
    }
)


def _login_issue_key(cause: FailureCause) -> str:
    return cause.value if cause in _OWN_ISSUE else "login_refused"


class AccountReports:
    """The outbox's observer for one account."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        server: str,
        *,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Future[None]],
        changed: Callable[[], None],
        delivered: list[Callable[[OutboxItem], None]],
    ) -> None:
        """``delivered``: listeners told of each accepted item (kept by the account)."""
        self.hass = hass
        self.entry = entry
        self.server = server
        self._spawn = spawn
        self._changed = changed
        self._delivered_listeners = delivered
        self._unreachable_logged = False
        self.bytes_sent = 0  # of emails the server accepted since start
        self.wire_bytes_sent = 0  # the same on the wire: TCP payload, TLS and SMTP included
        self.mtu = MtuWatch()

    def on_delivered(self, item: OutboxItem, result: SendResult) -> None:
        """Fire the delivered event and tell the listeners (the heartbeat is one)."""
        self.bytes_sent += item.size
        self.wire_bytes_sent += result.wire_bytes if result.wire_bytes is not None else item.size
        if self.mtu.delivered(item.size):
            ir.async_delete_issue(self.hass, DOMAIN, self._mtu_issue_id)
        if self._unreachable_logged:
            self._unreachable_logged = False
            LOGGER.info("%s accepts mail again", self.server)
        for listener in list(self._delivered_listeners):
            listener(item)
        ir.async_delete_issue(self.hass, DOMAIN, self._login_issue_id)
        self.hass.bus.async_fire(
            EVENT_DELIVERED,
            {
                "entry_id": self.entry.entry_id,
                "message_id": item.message_id,
                "subject": item.subject,
                "kind": item.kind,
                "attempts": item.attempts,
                "server": self.server,
            },
        )

    def on_attempt_failed(self, item: OutboxItem, error: SmtpError) -> None:
        """Log what went wrong; a refused login starts reauth and a repair issue.

        A server that cannot be reached is logged once when it goes away and once when it is
        back (mail waits in the outbox meanwhile); a message it refuses is logged each time.
        """
        unreachable = error.cause in _UNREACHABLE
        if unreachable and self._unreachable_logged:
            log = LOGGER.debug
        else:
            log = LOGGER.warning
            self._unreachable_logged |= unreachable
        log(
            "Email %r (%s, attempt %d) was not accepted by %s: %s (code %s): %s%s",
            item.subject,
            item.message_id,
            item.attempts,
            error.server or self.server,
            error.kind.value,
            error.code if error.code is not None else "-",
            error.detail,
            "; mail waits in the outbox and is retried" if unreachable else "",
        )
        if self.mtu.failed(error, item.size):
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._mtu_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="mtu_suspected",
                translation_placeholders={
                    "title": self.entry.title,
                    "server": self.server,
                    "size": f"{item.size / 1024:.0f}",
                },
            )
        if error.cause in AUTH_CAUSES:
            self.entry.async_start_reauth(self.hass)
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._login_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=_login_issue_key(error.cause),
                translation_placeholders={
                    "title": self.entry.title,
                    "server": self.server,
                    "app_password_url": GMAIL_APP_PASSWORD_URL,
                    "microsoft_smtp_auth_url": MICROSOFT_SMTP_AUTH_URL,
                },
            )

    def on_failed(self, item: OutboxItem, error: SmtpError) -> None:
        """Fire the failed event and send the fallback notification."""
        LOGGER.warning(
            "Email %r failed after %d attempt(s): %s; %s",
            item.subject,
            item.attempts,
            error,
            "kept in the outbox and sent again when the account works"
            if item.redeliver
            else "the server will not take this message",
        )
        self.hass.bus.async_fire(
            EVENT_DELIVERY_FAILED,
            {
                "entry_id": self.entry.entry_id,
                "message_id": item.message_id,
                "subject": item.subject,
                "kind": item.kind,
                "error": error.kind.value,
                "code": error.code,
                "detail": error.detail,
                "attempts": item.attempts,
                "server": error.server or self.server,
            },
        )
        self._spawn(
            self.async_fallback(
                f"Email not delivered: {self.entry.title}",
                f"{item.subject!r} could not be sent via {self.server} "
                f"({error.kind.value}: {error.detail}).",
            )
        )

    def on_dropped(self, item: OutboxItem, reason: DropReason) -> None:
        """Fire the dropped event (the outbox has logged why)."""
        self.hass.bus.async_fire(
            EVENT_DROPPED,
            {
                "entry_id": self.entry.entry_id,
                "message_id": item.message_id,
                "subject": item.subject,
                "kind": item.kind,
                "reason": reason.value,
                "attempts": item.attempts,
            },
        )

    def on_recovered(self, recovered: int, set_aside: int) -> None:
        """The outbox was damaged: say what was rebuilt and what was kept aside."""
        LOGGER.warning(
            "Outbox of %s was damaged: %d email(s) recovered from their files, "
            "%d unreadable entry(ies) set aside",
            self.entry.title,
            recovered,
            set_aside,
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"outbox_recovered_{self.entry.entry_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="outbox_recovered",
            translation_placeholders={
                "title": self.entry.title,
                "recovered": str(recovered),
                "set_aside": str(set_aside),
            },
        )

    def on_changed(self) -> None:
        """Refresh the entities."""
        self._changed()

    @property
    def _login_issue_id(self) -> str:
        return f"login_{self.entry.entry_id}"

    @property
    def _mtu_issue_id(self) -> str:
        return f"mtu_suspected_{self.entry.entry_id}"

    async def async_fallback(self, title: str, message: str) -> None:
        """Tell the user another way (a phone push) when mail cannot."""
        target = str(self.entry.options.get(CONF_FALLBACK_NOTIFY) or "")
        if not target:
            return
        try:
            if self.hass.states.get(target) is not None:
                await self.hass.services.async_call(
                    "notify",
                    "send_message",
                    {"entity_id": target, "title": title, "message": message},
                    blocking=True,
                )
            else:
                await self.hass.services.async_call(
                    "notify",
                    target.removeprefix("notify."),
                    {"title": title, "message": message},
                    blocking=True,
                )
        except (HomeAssistantError, vol.Invalid) as err:
            LOGGER.warning("Fallback notification via %s failed: %s", target, err)
