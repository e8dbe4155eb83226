"""PTZ cameras' home positions, kept across restarts.

Zones, lines and areas to ignore of a PTZ camera apply only at its home position (see
:class:`.vision.analyser.Analyser`). Without a kept picture the home would be wherever the
camera happens to look after a restart, perhaps a preset far from where the lines were drawn.
A picture is kept together with a key of what it belongs to (the camera's source and its
zones, lines and areas): when the user edits those, the kept picture no longer applies, and
the position the camera settles at next (where the user just saw it in the form) is home.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .camera_settings import CameraSettings
from .const import DOMAIN
from .vision.analyser import Analyser

_LOGGER = logging.getLogger(__name__)

STORAGE_VERSION = 1
SAVE_DELAY = 10  # seconds: a tour that settles at several presets writes once


def layout_key(settings: CameraSettings) -> str:
    """What a home picture belongs to: the source and what was drawn on it."""
    drawn = [
        settings.stream_url, settings.camera_entity,
        settings.zones, settings.lines, settings.ignore_areas,
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(drawn, default=str).encode()).hexdigest()[:16]


class HomePositions:
    """The home pictures of one account's PTZ cameras (``.storage``, one small file)."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """``.storage/ptz_email_alert.home_positions.<entry>``."""
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.home_positions.{entry_id}"
        )
        self._data: dict[str, Any] = {}
        self._unsaved = False

    async def async_load(self) -> None:
        """Read the kept pictures (a damaged file only costs them: homes are learned again)."""
        try:
            self._data = await self._store.async_load() or {}
        except (ValueError, TypeError, KeyError) as err:
            _LOGGER.warning("Home positions not read (%s): learned again", err)
            self._data = {}

    def get(self, camera_id: str, key: str) -> NDArray[np.uint8] | None:
        """The kept home picture of a camera, if it belongs to this layout."""
        kept = self._data.get(camera_id)
        try:
            if not isinstance(kept, dict) or kept.get("key") != key:
                return None
            height, width = (int(side) for side in kept["shape"])
            pixels = np.frombuffer(base64.b64decode(kept["picture"]), np.uint8)
            return pixels.reshape(height, width).copy()
        except (KeyError, TypeError, ValueError) as err:
            _LOGGER.debug("Kept home picture of %s not usable: %s", camera_id, err)
            return None

    @callback
    def async_keep(self, camera_id: str, key: str, picture: NDArray[np.uint8]) -> None:
        """Keep a camera's new home picture (written a few seconds later)."""
        self._data[camera_id] = {
            "key": key,
            "shape": list(picture.shape),
            "picture": base64.b64encode(picture.tobytes()).decode(),
        }
        self._unsaved = True
        self._store.async_delay_save(self._saved, SAVE_DELAY)

    def _saved(self) -> dict[str, Any]:
        self._unsaved = False
        return self._data

    async def async_flush(self) -> None:
        """Write now what waits (an unload: the next set-up reads the file)."""
        if self._unsaved:
            await self._store.async_save(self._saved())

    async def async_remove(self) -> None:
        """The account was deleted."""
        await self._store.async_remove()


class HomeKeeper:
    """One PTZ camera: its kept home restored at start, a new home kept when it is set."""

    def __init__(
        self, positions: HomePositions, camera_id: str, settings: CameraSettings, analyser: Analyser
    ) -> None:
        """Nothing happens until :meth:`restore`."""
        self._positions = positions
        self._camera_id = camera_id
        self._key = layout_key(settings)
        self._analyser = analyser
        self._kept_version = 0

    @callback
    def restore(self) -> None:
        """Give the analyser the kept home picture, if there is one for this layout."""
        if (picture := self._positions.get(self._camera_id, self._key)) is not None:
            self._analyser.set_home_position(picture)

    @callback
    def after_frame(self) -> None:
        """Keep the home picture when the analyser has a new one."""
        version = self._analyser.home_version
        if version == self._kept_version:
            return
        self._kept_version = version
        if (picture := self._analyser.home_reference) is not None:
            self._positions.async_keep(self._camera_id, self._key, picture)

    @callback
    def set_here(self) -> None:
        """Make where the camera looks now its home position (from the next frame)."""
        self._analyser.set_home_position()
