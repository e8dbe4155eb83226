"""Heartbeat emails: proof at a set time that mail works, and a flag when one is not accepted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import (
    async_call_later,
    async_track_time_change,
    async_track_time_interval,
)
from homeassistant.util import dt as dt_util

from .account import MailAccount, Submission
from .const import (
    CONF_HEARTBEAT_GRACE,
    CONF_HEARTBEAT_INTERVAL,
    CONF_HEARTBEAT_TIME,
    DEFAULT_HEARTBEAT_GRACE_MINUTES,
    EVENT_HEARTBEAT_MISSED,
    HEARTBEAT_DAILY,
    HEARTBEAT_INTERVALS,
    HEARTBEAT_OFF,
    KIND_HEARTBEAT,
    LOGGER,
)
from .mail import EmailContent, OutboxItem


class Heartbeat:
    """Sends the heartbeat on its schedule and watches that the server accepts it in time."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        account: MailAccount,
        camera_lines: Callable[[], list[str]],
    ) -> None:
        """``camera_lines``: one line of status per camera, for the email."""
        self.hass = hass
        self.entry = entry
        self.account = account
        self._camera_lines = camera_lines
        self.last: datetime | None = None
        self.missed = False
        self._due: datetime | None = None
        self._cancel_check: CALLBACK_TYPE | None = None
        self._unsubscribe: list[CALLBACK_TYPE] = []

    @callback
    def async_start(self) -> None:
        """Follow the schedule in the options."""
        self._unsubscribe.append(self.account.async_add_delivered_listener(self._on_delivered))
        choice = self.entry.options.get(CONF_HEARTBEAT_INTERVAL, HEARTBEAT_OFF)
        if choice in HEARTBEAT_INTERVALS:
            self._unsubscribe.append(
                async_track_time_interval(
                    self.hass,
                    self._tick,
                    timedelta(hours=HEARTBEAT_INTERVALS[choice]),
                    cancel_on_shutdown=True,
                )
            )
        elif choice == HEARTBEAT_DAILY:
            at = dt_util.parse_time(str(self.entry.options.get(CONF_HEARTBEAT_TIME, "08:00:00")))
            assert at is not None  # validated by the options flow
            self._unsubscribe.append(
                async_track_time_change(
                    self.hass, self._tick, hour=at.hour, minute=at.minute, second=at.second
                )
            )

    @callback
    def async_stop(self) -> None:
        """Stop the schedule and the pending check."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._cancel_check:
            self._cancel_check()
            self._cancel_check = None

    @callback
    def _tick(self, now: datetime) -> None:
        self.entry.async_create_background_task(
            self.hass, self._async_send_quietly(now), "ptz_email_alert heartbeat"
        )

    async def _async_send_quietly(self, due: datetime) -> None:
        try:
            await self.async_send(due)
        except HomeAssistantError as err:
            LOGGER.warning("Heartbeat email of %s was not sent: %s", self.entry.title, err)

    async def async_send(self, due: datetime | None = None) -> Submission:
        """Send a heartbeat now; it is missed if not accepted within the grace time."""
        due = due or dt_util.utcnow()
        self._due = due
        if self._cancel_check:
            self._cancel_check()
        grace = float(self.entry.options.get(CONF_HEARTBEAT_GRACE, DEFAULT_HEARTBEAT_GRACE_MINUTES))
        self._cancel_check = async_call_later(
            self.hass,
            max(0.0, (due + timedelta(minutes=grace) - dt_util.utcnow()).total_seconds()),
            HassJob(self._check, cancel_on_shutdown=True),
        )
        return await self.account.async_send(self.content(due), kind=KIND_HEARTBEAT)

    def content(self, due: datetime) -> EmailContent:
        """The heartbeat email: the account's and every camera's state."""
        account = self.account
        outbox = account.outbox
        last = account.last_success
        cameras = self._camera_lines() or ["none configured on this account yet"]
        lines = [
            "PTZ Email Alert is running and can send email.",
            "",
            f"Account: {self.entry.title} via {account.server}",
            f"Time: {dt_util.as_local(due):%Y-%m-%d %H:%M:%S %Z}",
            f"Outbox: {outbox.pending_count} waiting, {outbox.failed_count} failed "
            f"({outbox.total_bytes // 1024} KB)",
            f"Lost emails so far (never delivered): {outbox.ledger.lost_total}",
            f"Last email accepted: {dt_util.as_local(last):%Y-%m-%d %H:%M:%S}" if last else
            "Last email accepted: none yet",
            "",
            "Cameras:",
            *(f"- {line}" for line in cameras),
        ]  # fmt: skip
        return EmailContent(subject=f"Heartbeat – {self.entry.title}", text="\n".join(lines))

    @callback
    def _on_delivered(self, item: OutboxItem) -> None:
        if item.kind == KIND_HEARTBEAT:
            self.last = dt_util.utcnow()
            self.missed = False

    @callback
    def _check(self, _now: datetime) -> None:
        self._cancel_check = None
        due = self._due
        if due is None or (self.last is not None and self.last >= due):
            return
        self.missed = True
        LOGGER.warning(
            "Heartbeat of %s due at %s was not accepted by %s in time",
            self.entry.title,
            due.isoformat(),
            self.account.server,
        )
        self.hass.bus.async_fire(
            EVENT_HEARTBEAT_MISSED,
            {
                "entry_id": self.entry.entry_id,
                "due": due.isoformat(),
                "server": self.account.server,
            },
        )
        self.entry.async_create_background_task(
            self.hass,
            self.account.async_fallback(
                f"Heartbeat missed: {self.entry.title}",
                f"The heartbeat email due at {dt_util.as_local(due):%H:%M} was not accepted by "
                f"{self.account.server}. Email alerts may not be arriving.",
            ),
            "ptz_email_alert fallback",
        )
        self.account.async_notify_listeners()
