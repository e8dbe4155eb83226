"""Media browser: PTZ Email Alert → camera → day → the pictures and clip of each alert."""

from __future__ import annotations

from pathlib import Path
import re

from homeassistant.components.media_player.const import MediaClass, MediaType
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.util import raise_if_invalid_path, slugify

from .const import DOMAIN
from .evidence import evidence_root
from .mail.alert import event_title

# What evidence.evidence_names and clip.clip_name write: 142305-123_person_1.jpg,
# 142305-123_person_1_full.jpg (the snapshot URL's picture), 142305-123_person.mp4.
_EVIDENCE_NAME = re.compile(
    r"(?P<h>\d\d)(?P<m>\d\d)(?P<s>\d\d)-\d{3}_(?P<event>[a-z_]+?)"
    r"(?:_(?P<index>\d+)(?:_(?P<suffix>[a-z]+))?)?\.(?:jpg|mp4)"
)


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
        cameras = self._camera_names()
        children = [
            BrowseMediaSource(
                domain=DOMAIN,
                identifier=f"{identifier}/{name}".strip("/"),
                media_class=MediaClass.DIRECTORY if is_dir else _media_class(name),
                media_content_type="" if is_dir else _content_type(name),
                title=cameras.get(name, name) if not identifier else _title(name),
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
            title=_folder_title(identifier, cameras) if identifier else self.name,
            can_play=False,
            can_expand=True,
            children=children,
            children_media_class=MediaClass.DIRECTORY if not identifier else None,
        )

    def _camera_names(self) -> dict[str, str]:
        """Camera folders (the slug of the name) -> the cameras' names as the user wrote them."""
        return {
            slugify(name): name
            for entry in self.hass.config_entries.async_entries(DOMAIN)
            for subentry in entry.subentries.values()
            if subentry.subentry_type == "camera"
            and (name := str(subentry.data.get(CONF_NAME) or subentry.title))
        }


def _folder_title(identifier: str, cameras: dict[str, str]) -> str:
    """``front_gate`` -> ``Front Gate``; ``front_gate/2026-11-22`` -> ``Front Gate 2026-11-22``."""
    camera, _, day = identifier.partition("/")
    return " ".join(filter(None, (cameras.get(camera, camera), day)))


def _title(name: str) -> str:
    """``142305-123_person_2_full.jpg`` -> ``14:23:05 Human Detected – picture 2 (full size)``."""
    match = _EVIDENCE_NAME.fullmatch(name)
    if match is None:
        return name
    what = "clip" if name.endswith(".mp4") else f"picture {match['index'] or 1}"
    if match["suffix"] == "full":
        what += " (full size)"
    return f"{match['h']}:{match['m']}:{match['s']} {event_title(match['event'])} – {what}"


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
