"""The Home Assistant side of one SMTP account: outbox wiring, events, repairs, heartbeat."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

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
    async_track_time_change,
    async_track_time_interval,
)
from homeassistant.util import dt as dt_util
from homeassistant.util.ssl import client_context, client_context_no_verify

from .const import (
    CONF_ENCRYPTION,
    CONF_FALLBACK_NOTIFY,
    CONF_HEARTBEAT_GRACE,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HEARTBEAT_TIME,
    CONF_OUTBOX_MAX_AGE,
    CONF_RECIPIENTS,
    CONF_RETRY_DELAYS,
    CONF_SENDER,
    DEFAULT_HEARTBEAT_GRACE_MINUTES,
    DEFAULT_OUTBOX_MAX_AGE_HOURS,
    DEFAULT_RETRY_DELAYS,
    DEFAULT_TIMEOUT,
    DOMAIN,
    EVENT_DELIVERED,
    EVENT_DELIVERY_FAILED,
    EVENT_DROPPED,
    EVENT_HEARTBEAT_MISSED,
    GMAIL_APP_PASSWORD_URL,
    HEARTBEAT_DAILY,
    HEARTBEAT_INTERVALS,
    HEARTBEAT_OFF,
    KIND_HEARTBEAT,
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
from .storage import OutboxFiles

if TYPE_CHECKING:
    from .monitor import CameraMonitor


@dataclass(frozen=True, slots=True)
class Submission:
    """What became of a message handed to the account, after its first attempt."""

    message_id: str
    accepted: SendResult | None  # the server took it
    error: SmtpError | None  # the first attempt failed for a reason that may pass: queued


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


def _build_raw(content: EmailContent, sender: str, recipients: Sequence[str]) -> RawMessage:
    """Build and serialise a message (CPU: runs in an executor)."""
    return RawMessage.from_message(build_message(content, sender=sender, recipients=recipients))


def _login_issue_key(cause: FailureCause) -> str:
    if cause is FailureCause.APP_PASSWORD_REQUIRED:
        return "app_password_required"
    if cause is FailureCause.BASIC_AUTH_DISABLED:
        return "basic_auth_disabled"
    return "login_refused"


class MailAccount:
    """Everything one account does at runtime; entities read it and subscribe to it."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Wire the outbox to Home Assistant's clock, timers, tasks and storage."""
        self.hass = hass
        self.entry = entry
        self.settings = smtp_settings(entry.data)
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
        self.last_heartbeat: datetime | None = None
        self.heartbeat_missed = False
        self._heartbeat_due: datetime | None = None
        self._cancel_heartbeat_check: CALLBACK_TYPE | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        self._unsubscribe: list[CALLBACK_TYPE] = []

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

    async def async_start(self) -> None:
        """Load the outbox (and send what a previous run left), start the heartbeat."""
        await self.outbox.async_load()
        self._start_heartbeat()

    @callback
    def async_stop(self) -> None:
        """Stop timers; queued mail stays on disk."""
        self.outbox.close()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._cancel_heartbeat_check:
            self._cancel_heartbeat_check()
            self._cancel_heartbeat_check = None

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` whenever something visible changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def _notify_listeners(self) -> None:
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
        first = await self.outbox.async_enqueue(raw, kind=kind, subject=content.subject)
        # Wait for the first attempt, within what a connection may take; the item stays queued.
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

    # Heartbeat -----------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        choice = self.entry.options.get(CONF_HEARTBEAT_INTERVAL, HEARTBEAT_OFF)
        if choice in HEARTBEAT_INTERVALS:
            self._unsubscribe.append(
                async_track_time_interval(
                    self.hass,
                    self._heartbeat_tick,
                    timedelta(hours=HEARTBEAT_INTERVALS[choice]),
                    cancel_on_shutdown=True,
                )
            )
        elif choice == HEARTBEAT_DAILY:
            at = dt_util.parse_time(str(self.entry.options.get(CONF_HEARTBEAT_TIME, "08:00:00")))
            assert at is not None  # validated by the options flow
            self._unsubscribe.append(
                async_track_time_change(
                    self.hass,
                    self._heartbeat_tick,
                    hour=at.hour,
                    minute=at.minute,
                    second=at.second,
                )
            )

    @callback
    def _heartbeat_tick(self, now: datetime) -> None:
        self._spawn(self._async_heartbeat_quietly(now))

    async def _async_heartbeat_quietly(self, due: datetime) -> None:
        try:
            await self.async_send_heartbeat(due)
        except HomeAssistantError as err:
            LOGGER.warning("Heartbeat email of %s was not sent: %s", self.entry.title, err)

    async def async_send_heartbeat(self, due: datetime | None = None) -> Submission:
        """Send a heartbeat now; it is missed if not accepted within the grace time."""
        due = due or dt_util.utcnow()
        self._heartbeat_due = due
        if self._cancel_heartbeat_check:
            self._cancel_heartbeat_check()
        grace = float(self.entry.options.get(CONF_HEARTBEAT_GRACE, DEFAULT_HEARTBEAT_GRACE_MINUTES))
        self._cancel_heartbeat_check = async_call_later(
            self.hass,
            max(0.0, (due + timedelta(minutes=grace) - dt_util.utcnow()).total_seconds()),
            HassJob(self._check_heartbeat, cancel_on_shutdown=True),
        )
        return await self.async_send(self._heartbeat_content(due), kind=KIND_HEARTBEAT)

    def _heartbeat_content(self, due: datetime) -> EmailContent:
        outbox = self.outbox
        last = self.last_success
        lines = [
            "PTZ Email Alert is running and can send email.",
            "",
            f"Account: {self.entry.title} via {self.server}",
            f"Time: {dt_util.as_local(due):%Y-%m-%d %H:%M:%S %Z}",
            f"Outbox: {outbox.pending_count} waiting, {outbox.failed_count} failed "
            f"({outbox.total_bytes // 1024} KB)",
            f"Failed deliveries so far: {outbox.failed_total}",
            f"Last email accepted: {dt_util.as_local(last):%Y-%m-%d %H:%M:%S} " if last else
            "Last email accepted: none yet",
            "Cameras: none configured on this account yet.",
        ]  # fmt: skip
        return EmailContent(subject=f"Heartbeat – {self.entry.title}", text="\n".join(lines))

    @callback
    def _check_heartbeat(self, _now: datetime) -> None:
        self._cancel_heartbeat_check = None
        due = self._heartbeat_due
        if due is None or (self.last_heartbeat is not None and self.last_heartbeat >= due):
            return
        self.heartbeat_missed = True
        LOGGER.warning(
            "Heartbeat of %s due at %s was not accepted by %s in time",
            self.entry.title,
            due.isoformat(),
            self.server,
        )
        self.hass.bus.async_fire(
            EVENT_HEARTBEAT_MISSED,
            {"entry_id": self.entry.entry_id, "due": due.isoformat(), "server": self.server},
        )
        self._spawn(
            self._async_fallback(
                f"Heartbeat missed: {self.entry.title}",
                f"The heartbeat email due at {dt_util.as_local(due):%H:%M} was not accepted by "
                f"{self.server}. Email alerts may not be arriving.",
            )
        )
        self._notify_listeners()

    # Outbox observer -----------------------------------------------------------------------

    def on_delivered(self, item: OutboxItem, result: SendResult) -> None:
        """Fire the delivered event; a delivered heartbeat clears a missed one."""
        if item.kind == KIND_HEARTBEAT:
            self.last_heartbeat = dt_util.utcnow()
            self.heartbeat_missed = False
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
        """Log each failed attempt once; a refused login starts reauth and a repair issue."""
        LOGGER.warning(
            "Email %r (%s, attempt %d) was not accepted by %s: %s (code %s): %s",
            item.subject,
            item.message_id,
            item.attempts,
            error.server or self.server,
            error.kind.value,
            error.code if error.code is not None else "-",
            error.detail,
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
            self._async_fallback(
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

    def on_changed(self) -> None:
        """Refresh the entities."""
        self._notify_listeners()

    @property
    def _login_issue_id(self) -> str:
        return f"login_{self.entry.entry_id}"

    async def _async_fallback(self, title: str, message: str) -> None:
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


@dataclass(slots=True)
class PtzEmailAlertData:
    """Runtime objects of one account (``entry.runtime_data``)."""

    account: MailAccount
    cameras: dict[str, CameraMonitor] = field(default_factory=dict)  # by subentry id


type PtzEmailAlertConfigEntry = ConfigEntry[PtzEmailAlertData]
