"""The typed runtime object of one account entry (``entry.runtime_data``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from homeassistant.config_entries import ConfigEntry

from .account import MailAccount
from .camera_runtime import CameraRuntime
from .heartbeat import Heartbeat
from .home_position import HomePositions
from .relay import RelayRuntime
from .upload import EvidenceUpload


@dataclass(slots=True)
class PtzEmailAlertData:
    """Runtime objects of one account."""

    account: MailAccount
    heartbeat: Heartbeat
    homes: HomePositions  # PTZ cameras' home pictures, kept across restarts
    cameras: dict[str, CameraRuntime] = field(default_factory=dict)  # by subentry id
    opencv_loading: asyncio.Task[None] | None = None  # installing OpenCV, in the background
    relay: RelayRuntime | None = None  # the local relay, when the options enable it
    upload: EvidenceUpload | None = None  # the upload server, when the options set one


type PtzEmailAlertConfigEntry = ConfigEntry[PtzEmailAlertData]
