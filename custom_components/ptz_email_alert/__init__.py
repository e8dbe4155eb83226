"""PTZ Email Alert: camera alerts by email through a UI-managed SMTP account."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .account import MailAccount, PtzEmailAlertConfigEntry, PtzEmailAlertData
from .const import DOMAIN
from .services import async_setup_services
from .storage import OutboxFiles

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.NOTIFY,
    Platform.SENSOR,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions (they exist even before an account is set up)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> bool:
    """Set up one SMTP account.

    The server is not contacted before setup finishes: an unreachable server must not keep the
    account from loading (mail waits in the outbox); a refused login found when sending starts
    reauth. Mail left in the outbox by a previous run is sent in the background.
    """
    account = MailAccount(hass, entry)
    entry.runtime_data = PtzEmailAlertData(account=account)
    entry.async_on_unload(account.async_stop)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    await account.async_start()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> bool:
    """Unload an account; its outbox stays on disk."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> None:
    """The account was deleted: delete its outbox too."""
    await OutboxFiles(hass, entry.entry_id).async_remove()


async def _async_options_updated(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> None:
    """Reload so that every part sees the new options."""
    await hass.config_entries.async_reload(entry.entry_id)
