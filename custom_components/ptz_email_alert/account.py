"""The Home Assistant side of one SMTP account: the outbox wired to its clock, storage, sender."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .account_reports import AccountReports
from .account_settings import reload_key, smtp_settings
from .const import (
    CONF_OUTBOX_MAX_AGE,
    CONF_RECIPIENTS,
    CONF_RETRY_DELAYS,
    CONF_SENDER,
    DEFAULT_OUTBOX_MAX_AGE_HOURS,
    DEFAULT_RETRY_DELAYS,
    DOMAIN,
    KIND_MESSAGE,
    KIND_TEST,
)
from .mail import (
    EmailContent,
    InvalidAddressError,
    Outbox,
    OutboxConfig,
    OutboxItem,
    RawMessage,
    SendResult,
    SmtpError,
    build_message,
    send_messages,
)
from .mail.link_watch import KnownAddresses
from .oauth import CONF_TOKEN, AccountTokens
from .scheduling import call_later
from .storage import OutboxFiles


@dataclass(frozen=True, slots=True)
class Submission:
    """What became of a message handed to the account, after its first attempt."""

    message_id: str
    accepted: SendResult | None  # the server took it
    error: SmtpError | None  # the first attempt failed for a reason that may pass: queued


def _build_raw(content: EmailContent, sender: str, recipients: Sequence[str]) -> RawMessage:
    """Build and serialise a message (CPU: runs in an executor)."""
    return RawMessage.from_message(build_message(content, sender=sender, recipients=recipients))


class MailAccount:
    """Everything one account does at runtime; entities read it and subscribe to it."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Wire the outbox to Home Assistant's clock, timers, tasks and storage."""
        self.hass = hass
        self.entry = entry
        # OAuth2 accounts log in with tokens refreshed from the entry's sign-in.
        self.tokens = AccountTokens(hass, entry) if CONF_TOKEN in entry.data else None
        # The server's last resolved addresses, kept for when the carrier's DNS fails (in a
        # store of their own: entry.data would reload the entry at every change).
        self.known_addresses = KnownAddresses(changed=self._addresses_changed)
        self._addresses_store = addresses_store(hass, entry.entry_id)
        self.settings = replace(
            smtp_settings(entry.data, self.tokens), known_addresses=self.known_addresses
        )
        self._loaded_as = reload_key(entry)
        self.files = OutboxFiles(hass, entry.entry_id)
        self._listeners: list[CALLBACK_TYPE] = []
        self._delivered_listeners: list[Callable[[OutboxItem], None]] = []
        self.reports = AccountReports(
            hass, entry, self.settings.server, spawn=self._spawn,
            changed=self.async_notify_listeners, delivered=self._delivered_listeners,
        )  # fmt: skip
        options = entry.options
        self.outbox = Outbox(
            storage=self.files,
            send=partial(send_messages, self.settings),
            server=self.settings.server,
            now=lambda: dt_util.utcnow().timestamp(),
            call_later=self._call_later,
            spawn=self._spawn,
            observer=self.reports,
            config=OutboxConfig(
                retry_delays=[
                    float(d) for d in options.get(CONF_RETRY_DELAYS, DEFAULT_RETRY_DELAYS)
                ],
                max_age=float(options.get(CONF_OUTBOX_MAX_AGE, DEFAULT_OUTBOX_MAX_AGE_HOURS))
                * 3600,
            ),
        )

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
        return self.outbox.ledger.last_error

    @property
    def last_success(self) -> datetime | None:
        """When the server last accepted a message."""
        stamp = self.outbox.ledger.last_success
        return dt_util.utc_from_timestamp(stamp) if stamp is not None else None

    # Life cycle ----------------------------------------------------------------------------

    @callback
    def only_token_changed(self) -> bool:
        """True when the entry changed only by a token refresh (which needs no reload)."""
        return reload_key(self.entry) == self._loaded_as

    async def async_start(self) -> None:
        """Load the outbox (and send what a previous run left)."""
        stored = await self._addresses_store.async_load()
        if stored and stored.get("host") == self.settings.host:
            self.known_addresses.addresses = tuple(stored.get("addresses", ()))
        await self.outbox.async_load()

    @callback
    def _addresses_changed(self, addresses: tuple[str, ...]) -> None:
        data = {"host": self.settings.host, "addresses": list(addresses)}
        self._addresses_store.async_delay_save(lambda: data, 1)

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
        return call_later(self.hass, delay, action)

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

    async def async_fallback(self, title: str, message: str) -> None:
        """Tell the user another way (a phone push) when mail cannot."""
        await self.reports.async_fallback(title, message)


def addresses_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where an account keeps its server's last resolved addresses."""
    return Store[dict[str, Any]](hass, 1, f"{DOMAIN}.{entry_id}.addresses")
