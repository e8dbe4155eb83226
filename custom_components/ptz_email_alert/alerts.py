"""One camera's alerts: cooldown, burst, size budget, the email, then the evidence.

The email is queued first (durably, in the outbox); the pictures are kept locally after that,
best effort. An alert in progress is tracked so that a reload lets it finish and queue its
email before the old runtime stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from homeassistant.components.camera import async_get_image
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util

from .account import MailAccount
from .camera_settings import CameraSettings
from .const import EVENT_ALERT, KIND_ALERT, LOGGER
from .evidence import Evidence
from .mail.alert import alert_content, event_title, render_subject
from .snapshot import SnapshotError, async_fetch_snapshot, redact_url
from .vision.burst import collect_burst
from .vision.frames import JpegRing
from .vision.jpeg import fit_to_budget

# Extra seconds a burst may wait for the stream beyond its own length.
BURST_SLACK = 10.0


class PictureFeed(Protocol):
    """What the alerts read from the camera runtime."""

    ring: JpegRing
    jpeg_arrived: asyncio.Event
    last_picture_at: datetime | None

    @property
    def connected(self) -> bool:
        """The stream (or polled camera) gives pictures now."""

    def stream_now(self) -> float:
        """Stream time of "now"."""


@dataclass(slots=True)
class AlertRecord:
    """The last alert of a camera, for its entities."""

    time: datetime
    event_type: str
    zone: str | None
    subject: str
    images: list[bytes] = field(default_factory=list)
    message_id: str | None = None


class Alerts:
    """Decides whether to alert, captures the burst and mails it."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        entry: ConfigEntry,
        subentry_id: str,
        settings: CameraSettings,
        account: MailAccount,
        feed: PictureFeed,
        evidence: Evidence,
        changed: Callable[[], None],
    ) -> None:
        """Wire to the camera's pictures, the account and the evidence folder."""
        self.hass = hass
        self._entry = entry
        self._subentry_id = subentry_id
        self.settings = settings
        self.account = account
        self.feed = feed
        self.evidence = evidence
        self._changed = changed
        self.armed = True
        self.last_alert: AlertRecord | None = None
        self._cooldown_until: dict[str, datetime] = {}
        self._in_flight: set[asyncio.Task[AlertRecord | None]] = set()
        self._snapshot_failing = False
        self.closing = False

    def start(
        self, event_type: str, *, zone: str | None = None, trigger_time: float | None = None,
        burst: int | None = None, force: bool = False,
    ) -> asyncio.Task[AlertRecord | None]:  # fmt: skip
        """Start an alert in the background; it is tracked until its email is queued."""
        # The entry's task: cancelled on unload, after async_finish has let it queue its email.
        task = self._entry.async_create_background_task(
            self.hass,
            self.async_alert(
                event_type, zone=zone, trigger_time=trigger_time, burst=burst, force=force
            ),
            f"ptz_email_alert alert {self.settings.name}",
        )
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return task

    async def async_finish(self) -> None:
        """Let alerts in progress queue their emails (a reload must not lose a burst)."""
        self.closing = True
        if self._in_flight:
            # A burst is at most its pictures plus the slack; the email is then queued at once.
            limit = 5 * self.settings.burst_interval + BURST_SLACK + 5
            _done, pending = await asyncio.wait(set(self._in_flight), timeout=limit)
            for task in pending:
                task.cancel()

    async def async_alert(
        self,
        event_type: str,
        *,
        zone: str | None = None,
        trigger_time: float | None = None,
        burst: int | None = None,
        force: bool = False,
    ) -> AlertRecord | None:
        """Capture a burst and mail it, unless disarmed or cooling down (``force``: always)."""
        now = dt_util.utcnow()
        if not force:
            if not self.armed or self.closing:
                return None
            if self._cooldown_until.get(event_type, now) > now:
                return None
            self._cooldown_until[event_type] = now + timedelta(seconds=self.settings.cooldown)
        count = burst if burst is not None else self.settings.burst_for(event_type)
        full_resolution: asyncio.Task[list[bytes]] | None = None
        if self.settings.snapshot_url and count > 0:
            full_resolution = self.hass.async_create_task(
                self._async_full_resolution(self.settings.snapshot_url, count), eager_start=True
            )
        start = self.feed.stream_now() if trigger_time is None else trigger_time
        images, notes = await self._async_pictures(count, start)
        when = dt_util.now()
        subject = render_subject(
            self.settings.subject_template, camera=self.settings.name, event_type=event_type,
            when=when, zone=zone, count=len(images),
        )  # fmt: skip
        budget = self.settings.max_email_kb * 1024
        images = await self.hass.async_add_executor_job(fit_to_budget, images, budget)
        record = AlertRecord(now, event_type, zone, subject, images)
        self.last_alert = record
        self.hass.bus.async_fire(
            EVENT_ALERT,
            {
                "entry_id": self._entry.entry_id,
                "camera": self.settings.name,
                "subentry_id": self._subentry_id,
                "event_type": event_type,
                "event": event_title(event_type),
                "zone": zone,
                "subject": subject,
                "snapshots": len(images),
            },
        )
        self._changed()
        content = alert_content(
            subject=subject, camera=self.settings.name, event_type=event_type, when=when,
            zone=zone, images=images, extra_lines=notes,
        )  # fmt: skip
        try:
            record.message_id = await self.account.async_queue(content, kind=KIND_ALERT)
        except HomeAssistantError as err:
            LOGGER.warning("Alert email of camera %s was not queued: %s", self.settings.name, err)
        # The email is safe in the outbox: now the local copies, best effort.
        await self.evidence.async_save(record.time, event_type, images)
        if full_resolution is not None:
            # Only kept locally: the email has gone with the stream's (smaller) pictures.
            full = await full_resolution
            await self.evidence.async_save(record.time, event_type, full, "full")
        await self.evidence.async_prune(record.time)
        return record

    async def _async_pictures(self, count: int, start: float) -> tuple[list[bytes], list[str]]:
        """The burst; with the stream down, a fresh picture or the last one, said as such."""
        if count <= 0:
            return [], []
        # Lost pictures it had: do not wait for the burst. Never connected yet (just started):
        # the first pictures are on their way.
        if self.feed.connected or self.feed.last_picture_at is None:
            burst = await collect_burst(
                self.feed.ring, self.feed.jpeg_arrived, count=count, start=start,
                interval=self.settings.burst_interval, pre_trigger=self.settings.pre_trigger,
                within=count * self.settings.burst_interval + BURST_SLACK,
            )  # fmt: skip
            if burst.pictures:
                return burst.pictures, []
        if fresh := await self._async_fresh_picture():
            return [fresh], ["The stream is down: this picture was fetched from the camera now."]
        latest = self.feed.ring.latest
        if latest is None:
            return [], ["The stream is down and no picture was available."]
        taken = self.feed.last_picture_at
        when = f"{dt_util.as_local(taken):%Y-%m-%d %H:%M:%S}" if taken is not None else "earlier"
        return [latest.data], [f"The stream is down: this is the last picture, from {when}."]

    async def _async_fresh_picture(self) -> bytes | None:
        """One picture taken now, from the snapshot URL or the camera entity, if either works."""
        if url := self.settings.snapshot_url:
            try:
                return await async_fetch_snapshot(
                    async_get_clientsession(self.hass), url, within=5.0
                )
            except SnapshotError as err:
                LOGGER.debug("Camera %s: no fresh picture from %s: %s",
                             self.settings.name, redact_url(url), err)  # fmt: skip
        if entity_id := self.settings.camera_entity:
            try:
                return (await async_get_image(self.hass, entity_id, timeout=5)).content
            except HomeAssistantError as err:
                LOGGER.debug("Camera %s: no fresh picture from %s: %s",
                             self.settings.name, entity_id, err)  # fmt: skip
        return None

    async def _async_full_resolution(self, url: str, count: int) -> list[bytes]:
        """Pictures from the snapshot URL at the burst interval, while the burst runs."""
        interval = self.settings.burst_interval
        session = async_get_clientsession(self.hass)
        loop = asyncio.get_running_loop()
        started = loop.time()
        pictures: list[bytes] = []
        for index in range(count):
            if (wait := started + index * interval - loop.time()) > 0:
                await asyncio.sleep(wait)
            try:
                pictures.append(
                    await async_fetch_snapshot(session, url, within=max(2.0, 2 * interval))
                )
            except SnapshotError as err:
                if not self._snapshot_failing:
                    LOGGER.warning(
                        "Camera %s: no full-resolution picture from %s: %s. The alert keeps "
                        "the stream's pictures; check the snapshot URL in the camera's settings",
                        self.settings.name, redact_url(url), err,
                    )  # fmt: skip
                self._snapshot_failing = True
                return pictures
        if self._snapshot_failing:
            LOGGER.info("Camera %s: full-resolution pictures work again", self.settings.name)
            self._snapshot_failing = False
        return pictures
