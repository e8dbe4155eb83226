"""Application credentials: the user's own Microsoft Entra app or Google OAuth client."""

from __future__ import annotations

from homeassistant.components.application_credentials import ClientCredential
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_entry_oauth2_flow

from .oauth import GOOGLE_CREDENTIALS_URL, MICROSOFT_APPS_URL, MailOAuth2Implementation


async def async_get_auth_implementation(
    hass: HomeAssistant, auth_domain: str, credential: ClientCredential
) -> config_entry_oauth2_flow.AbstractOAuth2Implementation:
    """One implementation per credential.

    Its client id says whether it is Google's or Microsoft's, so both providers can be used
    side by side.
    """
    return MailOAuth2Implementation(hass, auth_domain, credential)


async def async_get_description_placeholders(hass: HomeAssistant) -> dict[str, str]:
    """Links shown in the dialog where the client id and secret are entered."""
    return {
        "microsoft_apps_url": MICROSOFT_APPS_URL,
        "google_credentials_url": GOOGLE_CREDENTIALS_URL,
        "redirect_url": config_entry_oauth2_flow.MY_AUTH_CALLBACK_PATH,
    }
