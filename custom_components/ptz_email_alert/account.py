"""The Home Assistant side of one SMTP account: outbox wiring, events, repairs, heartbeat."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import voluptuous as vol

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_TIMEOUT,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import (
    async_call_later,
)
from homeassistant.util import dt as dt_util
from homeassistant.util.ssl import client_context, client_context_no_verify

from .const import (
    CONF_ENCRYPTION,
    CONF_FALLBACK_NOTIFY,
    CONF_OUTBOX_MAX_AGE,
    CONF_RECIPIENTS,
    CONF_RETRY_DELAYS,
    CONF_SENDER,
    DEFAULT_OUTBOX_MAX_AGE_HOURS,
    DEFAULT_RETRY_DELAYS,
    DEFAULT_TIMEOUT,
    DOMAIN,
    EVENT_DELIVERED,
    EVENT_DELIVERY_FAILED,
    EVENT_DROPPED,
    GMAIL_APP_PASSWORD_URL,
    KIND_MESSAGE,
    KIND_TEST,
    LOGGER,
    MICROSOFT_SMTP_AUTH_URL,
)
from .mail import (
    AUTH_CAUSES,
    DropReason,
    EmailContent,
    Encryption,
    FailureCause,
    InvalidAddressError,
    Outbox,
    OutboxConfig,
    OutboxItem,
    RawMessage,
    SendResult,
    SmtpError,
    SmtpSettings,
    build_message,
    send_messages,
)
from .mail.sender import TokenSource
from .oauth import CONF_TOKEN, AccountTokens
from .storage import OutboxFiles


@dataclass(frozen=True, slots=True)
class Submission:
    """What became of a message handed to the account, after its first attempt."""

    message_id: str
    accepted: SendResult | None  # the server took it
    error: SmtpError | None  # the first attempt failed for a reason that may pass: queued


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


def _build_raw(content: EmailContent, sender: str, recipients: Sequence[str]) -> RawMessage:
    """Build and serialise a message (CPU: runs in an executor)."""
    return RawMessage.from_message(build_message(content, sender=sender, recipients=recipients))


def _login_issue_key(cause: FailureCause) -> str:
    if cause in _OWN_ISSUE:
        return cause.value
    return "login_refused"


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


def _reload_key(entry: ConfigEntry) -> tuple[Any, ...]:
    """All of an entry that its runtime is built from, except the OAuth2 token."""
    data = {key: value for key, value in entry.data.items() if key != CONF_TOKEN}
    return (entry.title, data, dict(entry.options), dict(entry.subentries))


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


class MailAccount:
    """Everything one account does at runtime; entities read it and subscribe to it."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Wire the outbox to Home Assistant's clock, timers, tasks and storage."""
        self.hass = hass
        self.entry = entry
        # OAuth2 accounts log in with tokens refreshed from the entry's sign-in.
        self.tokens = AccountTokens(hass, entry) if CONF_TOKEN in entry.data else None
        self.settings = smtp_settings(entry.data, self.tokens)
        self._loaded_as = _reload_key(entry)
        self.files = OutboxFiles(hass, entry.entry_id)
        options = entry.options
        self.outbox = Outbox(
            storage=self.files,
            send=partial(send_messages, self.settings),
            server=self.settings.server,
            now=lambda: dt_util.utcnow().timestamp(),
            call_later=self._call_later,
            spawn=self._spawn,
            observer=self,
            config=OutboxConfig(
                retry_delays=[
                    float(d) for d in options.get(CONF_RETRY_DELAYS, DEFAULT_RETRY_DELAYS)
                ],
                max_age=float(options.get(CONF_OUTBOX_MAX_AGE, DEFAULT_OUTBOX_MAX_AGE_HOURS))
                * 3600,
            ),
        )
        self._listeners: list[CALLBACK_TYPE] = []
        self._delivered_listeners: list[Callable[[OutboxItem], None]] = []
        # Log when the server goes away and when it is back, not at every attempt.
        self._unreachable_logged = False

    # Properties read by entities -----------------------------------------------------------

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
        """``host:port``."""
        return self.settings.server

    @property
    def last_error(self) -> SmtpError | None:
        """The error of the last failed attempt; None after a success."""
        return self.outbox.last_error

    @property
    def last_success(self) -> datetime | None:
        """When the server last accepted a message."""
        stamp = self.outbox.last_success
        return dt_util.utc_from_timestamp(stamp) if stamp is not None else None

    # Life cycle ----------------------------------------------------------------------------

    @callback
    def only_token_changed(self) -> bool:
        """True when the entry changed only by a token refresh (which needs no reload)."""
        return _reload_key(self.entry) == self._loaded_as

    async def async_start(self) -> None:
        """Load the outbox (and send what a previous run left)."""
        await self.outbox.async_load()

    @callback
    def async_stop(self) -> None:
        """Stop timers; queued mail stays on disk."""
        self.outbox.close()

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` whenever something visible changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_add_delivered_listener(self, listener: Callable[[OutboxItem], None]) -> CALLBACK_TYPE:
        """Call ``listener`` with each item the server accepted."""
        self._delivered_listeners.append(listener)
        return lambda: self._delivered_listeners.remove(listener)

    @callback
    def async_notify_listeners(self) -> None:
        """Tell the entities that something visible changed."""
        for listener in list(self._listeners):
            listener()

    def _call_later(self, delay: float, action: Callable[[], None]) -> Callable[[], None]:
        @callback
        def _run(_now: datetime) -> None:
            action()

        return async_call_later(self.hass, delay, HassJob(_run, cancel_on_shutdown=True))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
        # Background tasks: a slow server must not hold up Home Assistant's start-up.
        return self.entry.async_create_background_task(self.hass, coro, f"{DOMAIN} outbox")

    # Sending -------------------------------------------------------------------------------

    async def async_send(
        self,
        content: EmailContent,
        recipients: Sequence[str] | None = None,
        *,
        kind: str = KIND_MESSAGE,
    ) -> Submission:
        """Queue one message and wait for its first attempt.

        The message is queued durably first; a first attempt that fails for a reason that may
        pass leaves it queued for retries. Raises a translated error when the message cannot be
        built or the server refuses it for good.
        """
        raw, first = await self._async_enqueue(content, recipients, kind)
        # Wait for the first attempt, within what a connection may take; the item stays queued.
        # A schedule that waits before the first attempt answers "queued" at once.
        if self.outbox.config.retry_delays and self.outbox.config.retry_delays[0] <= 0:
            await asyncio.wait({first}, timeout=self.settings.timeout * 2 + 10)
        if not first.done() or first.cancelled():
            return Submission(raw.message_id, None, None)
        outcome = first.result()
        if isinstance(outcome, SendResult):
            return Submission(raw.message_id, outcome, None)
        if outcome.cause.is_permanent:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=f"send_{outcome.cause.value}",
                translation_placeholders={"server": outcome.server, "detail": outcome.detail},
            )
        return Submission(raw.message_id, None, outcome)

    async def async_queue(
        self,
        content: EmailContent,
        recipients: Sequence[str] | None = None,
        *,
        kind: str = KIND_MESSAGE,
    ) -> str:
        """Queue one message durably and return its Message-ID; sending goes on without us."""
        raw, _first = await self._async_enqueue(content, recipients, kind)
        return raw.message_id

    async def _async_enqueue(
        self, content: EmailContent, recipients: Sequence[str] | None, kind: str
    ) -> tuple[RawMessage, asyncio.Future[SendResult | SmtpError]]:
        to = list(recipients) if recipients else self.recipients
        try:
            # MIME and base64 work for attachments is CPU: keep it off the event loop.
            raw = await self.hass.async_add_executor_job(_build_raw, content, self.sender, to)
        except InvalidAddressError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_recipient",
                translation_placeholders={"address": err.address or "(none)"},
            ) from err
        try:
            first = await self.outbox.async_enqueue(raw, kind=kind, subject=content.subject)
        except OSError as err:
            # The outbox folder cannot be written (disk full, read-only): say so, clearly.
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="outbox_not_writable",
                translation_placeholders={"error": str(err.strerror or err)},
            ) from err
        return raw, first

    async def async_send_test_email(self) -> Submission:
        """Send a short test message to the account's recipients."""
        now = dt_util.now()
        content = EmailContent(
            subject=f"Test email from Home Assistant ({self.entry.title})",
            text=(
                f"This is a test email from PTZ Email Alert.\n\n"
                f"Account: {self.entry.title}\nServer: {self.server}\n"
                f"Sent: {now:%Y-%m-%d %H:%M:%S %Z}\n"
            ),
        )
        return await self.async_send(content, kind=KIND_TEST)

    # Outbox observer -----------------------------------------------------------------------

    def on_delivered(self, item: OutboxItem, result: SendResult) -> None:
        """Fire the delivered event and tell the listeners (the heartbeat is one)."""
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
        self.async_notify_listeners()

    @property
    def _login_issue_id(self) -> str:
        return f"login_{self.entry.entry_id}"

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
