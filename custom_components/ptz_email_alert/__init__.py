"""PTZ Email Alert: camera alerts by email through a UI-managed SMTP account."""

from __future__ import annotations

import asyncio
from functools import partial

from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .account import MailAccount, addresses_store
from .camera_runtime import CameraRuntime
from .const import DOMAIN, SUBENTRY_CAMERA
from .heartbeat import Heartbeat
from .home_position import HomePositions
from .opencv_support import async_installed_opencv, async_load_opencv
from .relay import RelayRuntime, async_remove_relay_files
from .relay_settings import relay_settings
from .runtime_data import PtzEmailAlertConfigEntry, PtzEmailAlertData
from .services import async_setup_services
from .storage import OutboxFiles
from .upload import EvidenceUpload, upload_storage, upload_target

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
    starts reauth. Mail left in the outbox by a previous run goes out first, in the background;
    OpenCV (which may need installing) is loaded after everything else has started.
    """
    account = MailAccount(hass, entry)
    data = PtzEmailAlertData(
        account=account,
        heartbeat=Heartbeat(hass, entry, account, partial(_lines, entry)),
        homes=HomePositions(hass, entry.entry_id),
    )
    entry.runtime_data = data
    entry.async_on_unload(account.async_stop)
    entry.async_on_unload(data.heartbeat.async_stop)
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    await account.async_start()
    data.heartbeat.async_start()
    # The relay after the account: what it accepts goes into the account's outbox.
    if (relay := relay_settings(entry.options)).enabled:
        data.relay = RelayRuntime(hass, entry, account, relay)
        entry.async_on_unload(data.relay.async_stop)
        await data.relay.async_start()
    # Evidence also goes to the upload server, when one is set (a queue of its own).
    if (target := upload_target(entry.options)) is not None:
        data.upload = EvidenceUpload(hass, entry, account, target)
        entry.async_on_unload(data.upload.async_stop)
        await data.upload.async_start()
    binary = get_ffmpeg_manager(hass).binary
    await data.homes.async_load()
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_CAMERA:
            data.cameras[subentry.subentry_id] = CameraRuntime(
                hass, entry, subentry, account, binary, data.homes
            )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    for camera in data.cameras.values():
        entry.async_on_unload(camera.async_stop)
        await camera.async_start()
    if wanting := [c for c in data.cameras.values() if c.settings.wants_objects]:
        # Installed: loaded now (an import). To be installed: in the background, since pip
        # can take minutes and mail and motion detection must not wait for it.
        if opencv := await async_installed_opencv(hass):
            for camera in wanting:
                camera.set_opencv(opencv)
        else:
            data.opencv_loading = entry.async_create_background_task(
                hass, _async_enable_objects(hass, wanting), f"{DOMAIN} load OpenCV"
            )
    return True


def _lines(entry: PtzEmailAlertConfigEntry) -> list[str]:
    """One status line per camera, for the heartbeat email."""
    lines = []
    for camera in entry.runtime_data.cameras.values():
        alert = camera.last_alert
        last = f"last alert {alert.time:%Y-%m-%d %H:%M} UTC" if alert else "no alert yet"
        state = "streaming" if camera.connected else "NO PICTURES"
        armed = "alerts on" if camera.armed else "alerts off"
        lines.append(f"{camera.name}: {state}, {armed}, {last}")
    return lines


async def _async_enable_objects(hass: HomeAssistant, cameras: list[CameraRuntime]) -> None:
    """Person/vehicle detection starts once OpenCV is there (installing it can take minutes)."""
    opencv = await async_load_opencv(hass, [camera.name for camera in cameras])
    for camera in cameras:
        camera.set_opencv(opencv)


async def async_unload_entry(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> bool:
    """Unload an account; bursts in progress are queued first; the outbox stays on disk."""
    data = entry.runtime_data
    if data.relay is not None:
        await data.relay.async_stop()  # no new mail while the outbox closes
    await asyncio.gather(*(camera.async_finish_alerts() for camera in data.cameras.values()))
    # Stopped here, their ffmpeg tasks end on their own; left to the unload's cancellation,
    # each would keep a traceback cycle holding the whole old runtime until a rare full GC.
    await asyncio.gather(*(camera.async_stop() for camera in data.cameras.values()))
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    await data.homes.async_flush()
    # A batch on the wire finishes and is recorded: cut off, it would be sent twice.
    await data.account.outbox.async_close(grace=data.account.settings.timeout + 5)
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> None:
    """The account was deleted: delete its outbox and what it kept (homes, addresses) too."""
    await OutboxFiles(hass, entry.entry_id).async_remove()
    await HomePositions(hass, entry.entry_id).async_remove()
    await addresses_store(hass, entry.entry_id).async_remove()
    await upload_storage(hass, entry.entry_id).async_remove()
    await async_remove_relay_files(hass, entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: PtzEmailAlertConfigEntry, device: dr.DeviceEntry
) -> bool:
    """A camera known through the relay may be deleted (it returns with its next mail)."""
    relay = entry.runtime_data.relay if hasattr(entry, "runtime_data") else None
    return relay is not None and any(
        domain == DOMAIN and relay.async_forget(identifier)
        for domain, identifier in device.identifiers
    )


async def _async_entry_updated(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> None:
    """Options or cameras changed: reload so that every part sees them."""
    if entry.runtime_data.account.only_token_changed():
        return  # an OAuth2 token refresh: the account reads the token from the entry
    await hass.config_entries.async_reload(entry.entry_id)
