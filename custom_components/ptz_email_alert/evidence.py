"""Alert pictures kept locally, like a camera's SD card: best effort, never before the email.

A full disk or a read-only media folder must not cost an email: saving happens after the
email is queued, failures are logged once per outage (and once when it works again) and shown
as a repair issue.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util, slugify

from .camera_settings import CameraSettings
from .const import DOMAIN, LOGGER
from .vision.retention import prune


def evidence_root(hass: HomeAssistant) -> Path:
    """Where alert pictures are kept: the ``local`` media folder (``/media`` on HA OS)."""
    return Path(hass.config.media_dirs.get("local", hass.config.path("media"))) / DOMAIN


class Evidence:
    """One camera's evidence folder: save pictures and apply retention in the executor."""

    def __init__(self, hass: HomeAssistant, settings: CameraSettings, issue_key: str) -> None:
        """``issue_key`` names this camera's repair issue."""
        self.hass = hass
        self.settings = settings
        self.folder = evidence_root(hass) / slugify(settings.name)
        self._issue_id = f"evidence_{issue_key}"
        self._failing = False

    async def async_save(
        self, time: datetime, event_type: str, images: list[bytes], suffix: str = ""
    ) -> bool:
        """Write the pictures; False (logged once per outage, repair) when the disk refuses."""
        if not images:
            return True
        try:
            await self.hass.async_add_executor_job(self._write, time, event_type, images, suffix)
        except OSError as err:
            self._report(err)
            return False
        if self._failing:
            self._failing = False
            LOGGER.info("Camera %s: alert pictures are saved again", self.settings.name)
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)
        return True

    async def async_prune(self, now: datetime) -> None:
        """Delete old pictures (after the email is queued, so it never delays it)."""
        try:
            await self.hass.async_add_executor_job(self._prune, now)
        except OSError as err:
            LOGGER.debug("Camera %s: retention pass failed: %s", self.settings.name, err)

    def _write(self, time: datetime, event_type: str, images: list[bytes], suffix: str) -> None:
        folder = self.folder / dt_util.as_local(time).strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        names = evidence_names(time, event_type, len(images), suffix)
        for name, image in zip(names, images, strict=True):
            (folder / name).write_bytes(image)

    def _prune(self, now: datetime) -> None:
        prune(
            self.folder,
            max_age=self.settings.retention_age,
            max_bytes=self.settings.retention_bytes,
            now=now,
        )

    def _report(self, err: OSError) -> None:
        if self._failing:
            return
        self._failing = True
        LOGGER.warning(
            "Camera %s: alert pictures cannot be saved in %s (%s). The emails still go out; "
            "free some space or make the media folder writable",
            self.settings.name,
            self.folder,
            err.strerror or err,
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="evidence_not_saved",
            translation_placeholders={
                "camera": self.settings.name,
                "folder": str(self.folder),
                "error": str(err.strerror or err),
            },
        )


def evidence_names(time: datetime, event_type: str, count: int, suffix: str = "") -> list[str]:
    """File names of an alert's pictures in its day folder (the upload uses the same)."""
    local = dt_util.as_local(time)
    # Milliseconds too: two forced alerts in one second must not overwrite each other.
    stamp = f"{local:%H%M%S}-{local.microsecond // 1000:03d}"
    tail = f"_{suffix}" if suffix else ""
    return [f"{stamp}_{event_type}_{index}{tail}.jpg" for index in range(1, count + 1)]
