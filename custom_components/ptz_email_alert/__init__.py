"""PTZ Email Alert: camera alerts by email through a UI-managed SMTP account."""

from __future__ import annotations

from types import ModuleType

from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType
from homeassistant.requirements import RequirementsNotFound, async_process_requirements

from .account import MailAccount, PtzEmailAlertConfigEntry, PtzEmailAlertData
from .const import CONF_DETECTIONS, DOMAIN, LOGGER, OPENCV_REQUIREMENT, SUBENTRY_CAMERA
from .monitor import CameraMonitor, opencv_missing_issue
from .services import async_setup_services
from .storage import OutboxFiles
from .vision.person import load_opencv

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CAMERA,
    Platform.EVENT,
    Platform.IMAGE,
    Platform.NOTIFY,
    Platform.SENSOR,
    Platform.SWITCH,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions (they exist even before an account is set up)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> bool:
    """Set up one SMTP account and its cameras.

    The mail server is not contacted before setup finishes: an unreachable server must not keep
    the account from loading (mail waits in the outbox); a refused login found when sending
    starts reauth. Mail left in the outbox by a previous run is sent in the background.
    """
    account = MailAccount(hass, entry)
    entry.runtime_data = PtzEmailAlertData(account=account)
    entry.async_on_unload(account.async_stop)
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    cameras = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_CAMERA]
    if cameras:
        opencv = None
        if any(
            {"person", "vehicle"} & set(camera.data.get(CONF_DETECTIONS, [])) for camera in cameras
        ):
            opencv = await _async_load_opencv(hass, [c.title for c in cameras])
        binary = get_ffmpeg_manager(hass).binary
        for subentry in cameras:
            entry.runtime_data.cameras[subentry.subentry_id] = CameraMonitor(
                hass, entry, subentry, binary, opencv
            )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    await account.async_start()
    for monitor in entry.runtime_data.cameras.values():
        entry.async_on_unload(monitor.async_stop)
        await monitor.async_start()
    return True


async def _async_load_opencv(hass: HomeAssistant, cameras: list[str]) -> ModuleType | None:
    """OpenCV for person detection: installed now if missing; else a repair, and the rest runs."""
    opencv = await hass.async_add_executor_job(load_opencv)
    if opencv is None:
        try:
            await async_process_requirements(hass, DOMAIN, [OPENCV_REQUIREMENT])
        except RequirementsNotFound:
            LOGGER.warning("OpenCV could not be installed: person detection is off")
        opencv = await hass.async_add_executor_job(load_opencv)
    if opencv is None:
        opencv_missing_issue(hass, ", ".join(cameras))
    return opencv


async def async_unload_entry(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> bool:
    """Unload an account; its outbox stays on disk."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> None:
    """The account was deleted: delete its outbox too."""
    await OutboxFiles(hass, entry.entry_id).async_remove()


async def _async_entry_updated(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> None:
    """Options or cameras changed: reload so that every part sees them."""
    await hass.config_entries.async_reload(entry.entry_id)
