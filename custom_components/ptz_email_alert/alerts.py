"""One camera's alerts: cooldown, burst, size budget, the email, then the evidence.

The email is queued first (durably, in the outbox); the pictures are kept locally after that,
best effort. An alert in progress is tracked so that a reload lets it finish and queue its
email before the old runtime stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from homeassistant.components.camera import async_get_image
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util

from .account import MailAccount
from .ai_verify import AiVerifier
from .alert_policy import MERGEABLE_RANK, Capture, Cooldowns, Detection
from .arming import Arming
from .camera_settings import CameraSettings
from .clip import Clips
from .const import EVENT_ALERT, KIND_ALERT, LOGGER
from .evidence import Evidence
from .mail.alert import alert_content, event_title, render_subject
from .snapshot import SnapshotError, async_fetch_snapshot, redact_url
from .vision.burst import collect_burst
from .vision.frames import JpegFrame, JpegRing
from .vision.jpeg import email_size, fit_to_budget
from .vision.marking import Marks, mark_picture
from .vision.preview import animated_preview

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

    @property
    def stream_lost(self) -> bool:
        """It gave pictures, and does not any more."""

    def stream_now(self) -> float:
        """Stream time of "now"."""

    def marks_for(self, frame: JpegFrame, joined: list[Detection]) -> Marks:
        """What to draw on a burst picture: moving things near its time, lines and zones."""


@dataclass(slots=True)
class AlertRecord:
    """The last alert of a camera, for its entities."""

    time: datetime
    event_type: str
    zone: str | None
    subject: str
    # Its first (marked) picture, for the image entity; the others went out with the email.
    picture: bytes | None = None
    snapshots: int = 0
    message_id: str | None = None
    events: list[str] = field(default_factory=list)
    held_back: str | None = None  # why it was not emailed (switched_off, disarmed, snoozed)
    ai: dict[str, Any] | None = None  # the AI's answer (AiOutcome.as_dict), when it was asked


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
        self.clips = Clips(hass, entry, settings, evidence)  # the runtime starts its ring
        self.ai = AiVerifier(
            hass, entry, settings, issue_key=subentry_id, folder=evidence.folder, changed=changed
        )
        self._changed = changed
        self.arming = Arming(hass, settings.armed_by, settings.armed_states, changed)
        self.last_alert: AlertRecord | None = None
        self._cooldowns = Cooldowns(settings.cooldown)
        self._capture: Capture | None = None
        self._in_flight: set[asyncio.Task[AlertRecord | None]] = set()
        self._snapshot_failing = False
        self.closing = False

    @property
    def armed(self) -> bool:
        """The switch (the manual override)."""
        return self.arming.switch_on

    @armed.setter
    def armed(self, value: bool) -> None:
        self.arming.switch_on = value

    def start(
        self, event_type: str, *, zone: str | None = None, trigger_time: float | None = None,
        burst: int | None = None, force: bool = False, recipients: list[str] | None = None,
    ) -> asyncio.Task[AlertRecord | None] | None:  # fmt: skip
        """Start an alert in the background, or let the detection join one being captured.

        Decided here, at once: two detections of one frame must not both start an alert.
        Returns the task (tracked until its email is queued), or None when it joined or waits
        for the cooldown.
        """
        detection = Detection(event_type, zone)
        loop_now = asyncio.get_running_loop().time()
        capture = self._capture
        if (
            not force
            and event_type in MERGEABLE_RANK
            and capture is not None
            and loop_now <= capture.joins_until
        ):
            capture.join(detection)
            return None
        if not force and (self.closing or not self._cooldowns.take(event_type, dt_util.utcnow())):
            return None
        count = burst if burst is not None else self.settings.burst_for(event_type)
        capture = Capture(
            detection,
            # Until its last picture is in (the capture ends it then), and a second more.
            joins_until=loop_now + max(count, 1) * self.settings.burst_interval + 1.0,
            held_back=None if force else self.arming.held_back,
        )
        if event_type in MERGEABLE_RANK:
            self._capture = capture
        # The entry's task: cancelled on unload, after async_finish has let it queue its email.
        task = self._entry.async_create_background_task(
            self.hass,
            self._async_run(capture, count, trigger_time, recipients),
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
            if self.settings.clip_attach:  # the email waits for its clip
                limit += self.clips.wait_seconds
            if self.settings.ai_enabled:  # the email waits for the AI (or its time limit)
                limit += self.settings.ai_timeout
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
        recipients: list[str] | None = None,
    ) -> AlertRecord | None:
        """Start an alert and wait for it (None when it joined another or is cooling down)."""
        task = self.start(
            event_type, zone=zone, trigger_time=trigger_time, burst=burst, force=force,
            recipients=recipients,
        )  # fmt: skip
        return None if task is None else await task

    async def _async_run(
        self,
        capture: Capture,
        count: int,
        trigger_time: float | None,
        recipients: list[str] | None,
    ) -> AlertRecord:
        """Capture the burst, mail it (unless held back), then keep the pictures."""
        now = dt_util.utcnow()
        full_resolution: asyncio.Task[list[bytes]] | None = None
        if self.settings.snapshot_url and count > 0:
            full_resolution = self.hass.async_create_task(
                self._async_full_resolution(self.settings.snapshot_url, count), eager_start=True
            )
        start = self.feed.stream_now() if trigger_time is None else trigger_time
        # The AI looks at the burst while it is captured (ai_verify.py).
        ai_run = self.ai.start(
            self.feed.ring, self.feed.jpeg_arrived, start, count, capture.held_back
        )
        frames, notes = await self._async_pictures(count, start)
        if self._capture is capture:
            self._capture = None  # the burst is complete: the next detection starts anew
        primary = capture.primary
        outcome, ai = await self.ai.async_verdict(ai_run, frames, primary.event_type)
        event_type, held_back = ai.event_type, capture.held_back or ai.held_back
        when = dt_util.now()
        subject = render_subject(
            self.settings.subject_template, camera=self.settings.name, event_type=event_type,
            when=when, zone=primary.zone, count=len(frames), description=ai.description,
        )  # fmt: skip
        originals = [frame.data for frame in frames]
        marks = [self.feed.marks_for(frame, capture.joined) for frame in frames]
        images, preview = await self.hass.async_add_executor_job(
            self._prepare_pictures, originals, marks, when
        )
        record = AlertRecord(
            now, event_type, primary.zone, subject, images[0] if images else None, len(images),
            events=capture.event_types,
            held_back=held_back, ai=outcome.as_dict() if outcome else None,
        )  # fmt: skip
        self.last_alert = record
        self.hass.bus.async_fire(
            EVENT_ALERT,
            {
                "entry_id": self._entry.entry_id,
                "camera": self.settings.name,
                "subentry_id": self._subentry_id,
                "event_type": event_type,
                "event": event_title(event_type),
                "events": capture.event_types,
                "zone": primary.zone,
                "subject": subject,
                "snapshots": len(images),
                "held_back": held_back,
                "ai": record.ai,
            },
        )
        self._changed()
        if held_back is None:
            clip_lines = self.clips.email_lines(now, event_type) if count else []
            content = alert_content(
                subject=subject, camera=self.settings.name, event_type=event_type,
                when=when, zone=primary.zone, images=images,
                extra_lines=[*([ai.note] if ai.note else []), *notes, *clip_lines],
                also=capture.also, preview=preview, description=ai.description,
            )  # fmt: skip
            if self.settings.clip_attach and count:
                # Asked for: the email waits until the clip's seconds after are recorded.
                content = await self.clips.async_attach(content, now, event_type)
            to = recipients or list(self.settings.recipients) or None
            try:
                record.message_id = await self.account.async_queue(content, to, kind=KIND_ALERT)
            except HomeAssistantError as err:
                LOGGER.warning(
                    "Alert email of camera %s was not queued: %s", self.settings.name, err
                )
        # The email is safe in the outbox: now the clean originals, best effort.
        await self.evidence.async_save(record.time, event_type, originals)
        if full_resolution is not None:
            # Only kept locally: the email has gone with the stream's (smaller) pictures.
            full = await full_resolution
            await self.evidence.async_save(record.time, event_type, full, "full")
        await self.evidence.async_prune(record.time)
        if (upload := self._entry.runtime_data.upload) is not None:  # second path, own queue
            await upload.async_queue_alert(self.settings.name, record.time, event_type, originals)
        if count:  # not for offline/online notices: no stream to clip
            self.clips.save_later(now, event_type)
        return record

    def _prepare_pictures(
        self, originals: list[bytes], marks: list[Marks], when: datetime
    ) -> tuple[list[bytes], bytes | None]:
        """Marked copies within the size budget, and the preview if it fits (executor)."""
        budget = self.settings.max_email_kb * 1024
        pictures = originals
        if self.settings.mark_objects:
            stamp = f"{dt_util.as_local(when):%Y-%m-%d %H:%M:%S}"
            pictures = [
                mark_picture(picture, replace(mark, stamp=stamp))
                for picture, mark in zip(originals, marks, strict=True)
            ]
        pictures = fit_to_budget(pictures, budget)
        preview = None
        if self.settings.animated_preview and len(pictures) > 1:
            gif = animated_preview(pictures, self.settings.burst_interval)
            # Only when the email stays within its budget with it.
            if gif is not None and email_size([*pictures, gif]) <= budget:
                preview = gif
        return pictures, preview

    async def _async_pictures(self, count: int, start: float) -> tuple[list[JpegFrame], list[str]]:
        """The burst; with the stream down, a fresh picture or the last one, said as such."""
        if count <= 0:
            return [], []
        # A stream that was there and is lost: do not wait for a burst that will not come.
        # Not connected yet (just started, first pictures on their way): wait for them.
        if not self.feed.stream_lost:
            burst = await collect_burst(
                self.feed.ring, self.feed.jpeg_arrived, count=count, start=start,
                interval=self.settings.burst_interval, pre_trigger=self.settings.pre_trigger,
                within=count * self.settings.burst_interval + BURST_SLACK,
            )  # fmt: skip
            if burst.frames:
                return burst.frames, []
        if fresh := await self._async_fresh_picture():
            return [JpegFrame(start, fresh)], [
                "The stream is down: this picture was fetched from the camera now."
            ]
        latest = self.feed.ring.latest
        if latest is None:
            return [], ["The stream is down and no picture was available."]
        taken = self.feed.last_picture_at
        when = f"{dt_util.as_local(taken):%Y-%m-%d %H:%M:%S}" if taken is not None else "earlier"
        return [latest], [f"The stream is down: this is the last picture, from {when}."]

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
