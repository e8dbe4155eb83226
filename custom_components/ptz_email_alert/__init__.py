"""PTZ Email Alert: camera alerts by email through a UI-managed SMTP account."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .account import MailAccount, PtzEmailAlertConfigEntry, PtzEmailAlertData
from .const import DOMAIN
from .services import async_setup_services

PLATFORMS: list[Platform] = [Platform.NOTIFY]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions (they exist even before an account is set up)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> bool:
    """Set up one SMTP account.

    The server is not contacted here: an unreachable server must not stop the account from
    loading (mail is retried); login problems surface when mail is sent and start reauth.
    """
    entry.runtime_data = PtzEmailAlertData(account=MailAccount(hass, entry))
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> bool:
    """Unload an account."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def _async_options_updated(hass: HomeAssistant, entry: PtzEmailAlertConfigEntry) -> None:
    """Reload so that every part sees the new options."""
    await hass.config_entries.async_reload(entry.entry_id)
