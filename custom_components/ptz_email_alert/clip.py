"""A camera's event clips in Home Assistant: the clip ring, and each alert's clip kept.

The email never waits for a clip unless the user asked for it attached (``clip_attach``): the
clip ends ``clip_after`` seconds after the trigger, and its segment must close before it can be
cut, so it is saved in the background next to the alert's pictures, and the email names the
path it will have. The upload gets it as one more file of the alert.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from pathlib import Path
import shutil

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .camera_settings import CameraSettings
from .const import DOMAIN, LOGGER
from .evidence import Evidence, evidence_names
from .mail.message import Attachment, EmailContent
from .vision.clip_ring import ClipConfig, ClipRing
from .vision.jpeg import email_size_of

SEGMENT_SECONDS = 2.0
# Beyond clip_after: the segment holding the clip's end closes at the next keyframe after
# SEGMENT_SECONDS (cameras send one every 1-4 s; some every 10 s).
CLOSE_SLACK = 15.0


def clip_name(when: datetime, event_type: str) -> str:
    """The clip's file name: the alert's pictures' stamp, so it sorts next to them."""
    return evidence_names(when, event_type, 1)[0].removesuffix("_1.jpg") + ".mp4"


class Clips:
    """One camera's clip ring and the clips of its alerts."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, settings: CameraSettings, evidence: Evidence
    ) -> None:
        """Nothing records until :meth:`async_start`."""
        self.hass = hass
        self._entry = entry
        self.settings = settings
        self.evidence = evidence
        self.ring: ClipRing | None = None
        self._cuts: dict[datetime, asyncio.Task[Path | None]] = {}
        self._saving: set[asyncio.Task[None]] = set()

    @property
    def recording(self) -> bool:
        """The ring runs: alerts get a clip."""
        return self.ring is not None and not self.ring.stopping

    @property
    def wait_seconds(self) -> float:
        """How long after the trigger a clip may take to be ready."""
        return self.settings.clip_after + SEGMENT_SECONDS + CLOSE_SLACK

    def diagnostics(self) -> dict[str, object]:
        """Whether the ring records, what it holds, and its last error (redacted by it)."""
        ring = self.ring
        return {
            "recording": self.recording,
            "segments": len(ring.segments) if ring else 0,
            "seconds": round(ring.segments[-1].end - ring.segments[0].start, 1)
            if ring and ring.segments
            else 0,
            "last_error": ring.last_error if ring else "",
        }

    def async_start(self, ffmpeg: str, url: str) -> None:
        """Record ``url`` if clips are on (only stream cameras have a URL)."""
        if not self.settings.clip or self.ring is not None:
            return
        keep = self.settings.clip_before + self.wait_seconds + SEGMENT_SECONDS
        self.ring = ClipRing(
            ClipConfig(ffmpeg=ffmpeg, url=url, segment_seconds=SEGMENT_SECONDS, keep_seconds=keep)
        )
        self._entry.async_create_background_task(
            self.hass, self.ring.run(), f"{DOMAIN} clip ring {self.settings.name}"
        )

    async def async_stop(self) -> None:
        """Stop recording; clips still waiting for their seconds after are lost."""
        for task in [*self._cuts.values(), *self._saving]:
            task.cancel()
        if self.ring is not None:
            await self.ring.stop()

    def email_lines(self, when: datetime, event_type: str) -> list[str]:
        """Where the clip will be in the media browser (the email goes before it exists)."""
        if not self.recording:
            return []
        day = dt_util.as_local(when).strftime("%Y-%m-%d")
        folder = self.evidence.folder.name
        name = clip_name(when, event_type)
        return [
            f"Clip (ready within {self.wait_seconds:.0f} s of the alert): Media > "
            f"PTZ Email Alert > {folder} > {day} > {name} "
            f"(media-source://{DOMAIN}/{folder}/{day}/{name})"
        ]

    async def async_attach(
        self, content: EmailContent, when: datetime, event_type: str
    ) -> EmailContent:
        """``content`` with the clip attached if it fits the size budget (waits for it)."""
        if not self.recording:
            return content
        cut = self._cut(when)
        # Waited on, not awaited: a cut cancelled by a stop must not cancel the email.
        await asyncio.wait({cut})
        path = None if cut.cancelled() or cut.exception() else cut.result()
        if path is None:
            return content
        others = [len(attachment.content) for attachment in content.attachments]
        try:
            # Read only when it fits: an MJPEG camera's clip is several MB.
            size = (await self.hass.async_add_executor_job(path.stat)).st_size
            if email_size_of([*others, size]) > self.settings.max_email_kb * 1024:
                LOGGER.debug("Camera %s: clip too large to attach", self.settings.name)
                return content
            clip = await self.hass.async_add_executor_job(path.read_bytes)
        except OSError:
            return content
        video = Attachment(clip_name(when, event_type), clip, "video/mp4")
        return replace(content, attachments=[*content.attachments, video])

    def save_later(self, when: datetime, event_type: str) -> None:
        """Save the clip as MP4 beside the pictures and queue it for upload, in the background."""
        if not self.recording:
            return
        task = self._entry.async_create_background_task(
            self.hass, self._async_save(when, event_type), f"{DOMAIN} clip {self.settings.name}"
        )
        self._saving.add(task)
        task.add_done_callback(self._saving.discard)

    def _cut(self, when: datetime) -> asyncio.Task[Path | None]:
        """One cut per alert, shared by the attachment and the saved file."""
        if (task := self._cuts.get(when)) is None:
            assert self.ring is not None
            trigger = when.timestamp()
            task = self._entry.async_create_background_task(
                self.hass,
                self.ring.async_cut_file(
                    trigger - self.settings.clip_before,
                    trigger + self.settings.clip_after,
                    wait=self.wait_seconds,
                ),
                f"{DOMAIN} clip cut {self.settings.name}",
            )
            self._cuts[when] = task
        return task

    async def _async_save(self, when: datetime, event_type: str) -> None:
        try:
            cut = await self._cut(when)
        finally:
            self._cuts.pop(when, None)
        if cut is None:
            LOGGER.info("Camera %s: no clip for the alert of %s", self.settings.name, when)
            return
        name = clip_name(when, event_type)
        path = self.evidence.folder / dt_util.as_local(when).strftime("%Y-%m-%d") / name
        upload = self._entry.runtime_data.upload
        clip, error = await self.hass.async_add_executor_job(_move, cut, path, upload is not None)
        if error:
            LOGGER.warning("Camera %s: clip not saved in %s: %s", self.settings.name, path, error)
        if upload is not None and clip is not None:
            await upload.async_queue_alert(
                self.settings.name, when, event_type, [], clip=(name, clip)
            )


def _move(cut: Path, path: Path, read: bool) -> tuple[bytes | None, str]:
    """Move the cut into the evidence folder, disk to disk: (its bytes if ``read``, error).

    The bytes are for the upload, which still gets a clip that cannot be saved (a full or
    read-only media folder). The cut is gone afterwards either way.
    """
    clip: bytes | None = None
    try:
        if read:
            clip = cut.read_bytes()
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(cut, path)
    except OSError as err:
        return clip, str(err)
    finally:
        cut.unlink(missing_ok=True)
    return clip, ""
