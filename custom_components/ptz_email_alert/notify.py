"""Notify entity: ``notify.send_message`` mails the account's recipients."""

from __future__ import annotations

from homeassistant.components.notify import NotifyEntity, NotifyEntityFeature
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DEFAULT_SUBJECT
from .entity import PtzEmailAlertAccountEntity
from .mail import EmailContent
from .runtime_data import PtzEmailAlertConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PtzEmailAlertConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the account's notify entity."""
    async_add_entities([PtzEmailNotifyEntity(entry)])


class PtzEmailNotifyEntity(PtzEmailAlertAccountEntity, NotifyEntity):
    """Send a plain email to the account's recipients."""

    _attr_translation_key = "email"
    _attr_supported_features = NotifyEntityFeature.TITLE

    def __init__(self, entry: PtzEmailAlertConfigEntry) -> None:
        """Create the entity for ``entry``."""
        super().__init__(entry, "email")

    async def async_send_message(self, message: str, title: str | None = None) -> None:
        """Send ``message`` with ``title`` as the subject."""
        await self.account.async_send(EmailContent(subject=title or DEFAULT_SUBJECT, text=message))
