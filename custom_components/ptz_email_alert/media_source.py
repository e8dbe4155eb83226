"""Media browser: PTZ Email Alert → camera → day → the pictures and clip of each alert."""

from __future__ import annotations

from pathlib import Path

from homeassistant.components.media_player.const import MediaClass, MediaType
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.core import HomeAssistant
from homeassistant.util import raise_if_invalid_path

from .const import DOMAIN
from .evidence import evidence_root


async def async_get_media_source(hass: HomeAssistant) -> MediaSource:
    """The evidence kept by the cameras."""
    return EvidenceMediaSource(hass)


class EvidenceMediaSource(MediaSource):
    """Alert pictures kept under ``<media>/ptz_email_alert``."""

    name = "PTZ Email Alert"

    def __init__(self, hass: HomeAssistant) -> None:
        """Browse the evidence folder."""
        super().__init__(DOMAIN)
        self.hass = hass

    def _path(self, identifier: str) -> Path:
        try:
            raise_if_invalid_path(identifier)
        except ValueError as err:
            raise Unresolvable("Invalid path") from err
        return evidence_root(self.hass) / identifier

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """A picture, served by the local media view (it lies in the ``local`` folder)."""
        path = self._path(item.identifier)
        if not await self.hass.async_add_executor_job(path.is_file):
            raise Unresolvable("No such picture")
        mime = "video/mp4" if path.suffix == ".mp4" else "image/jpeg"
        return PlayMedia(f"/media/local/{DOMAIN}/{item.identifier}", mime)

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """Cameras, then days, then pictures (newest first)."""
        identifier = item.identifier or ""
        path = self._path(identifier)
        entries = await self.hass.async_add_executor_job(_list, path, not identifier)
        if entries is None:
            raise Unresolvable("No such folder")
        children = [
            BrowseMediaSource(
                domain=DOMAIN,
                identifier=f"{identifier}/{name}".strip("/"),
                media_class=MediaClass.DIRECTORY if is_dir else _media_class(name),
                media_content_type="" if is_dir else _content_type(name),
                title=name,
                can_play=not is_dir,
                can_expand=is_dir,
                thumbnail=None
                if is_dir or name.endswith(".mp4")
                else f"/media/local/{DOMAIN}/{identifier}/{name}",
            )
            for name, is_dir in entries
        ]
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=identifier or None,
            media_class=MediaClass.DIRECTORY,
            media_content_type="",
            title=path.name if identifier else self.name,
            can_play=False,
            can_expand=True,
            children=children,
            children_media_class=MediaClass.DIRECTORY if not identifier else None,
        )


def _list(path: Path, is_root: bool) -> list[tuple[str, bool]] | None:
    if not path.exists():
        return [] if is_root else None  # no alert yet: an empty folder, not an error
    if not path.is_dir():
        return None
    return sorted(
        (
            (child.name, child.is_dir())
            for child in path.iterdir()
            if not child.name.startswith(".")
        ),
        reverse=True,
    )


def _media_class(name: str) -> MediaClass:
    return MediaClass.VIDEO if name.endswith(".mp4") else MediaClass.IMAGE


def _content_type(name: str) -> str:
    return MediaType.VIDEO if name.endswith(".mp4") else MediaType.IMAGE
