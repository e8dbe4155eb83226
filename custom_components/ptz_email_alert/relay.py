"""The local relay at runtime: the server started with the account, each sending camera's state.

A message is in the account's outbox (on disk) before the camera gets "250"; it then goes
upstream with the account's TLS and login like any other email (kind ``relay``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
import shutil
import socket
from typing import Any
import uuid

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.storage import STORAGE_DIR, Store
from homeassistant.util import dt as dt_util

from .account import MailAccount
from .const import DOMAIN, EVENT_RELAY_RECEIVED, KIND_RELAY, LOGGER, RELAY_FORWARD_ACCOUNT
from .mail import RawMessage
from .mail.relay_parse import MailSummary, Upstream, rewrite_for_upstream, summarize
from .mail.relay_server import IncomingMail, RelayServer
from .mail.relay_tls import server_context
from .relay_settings import RelaySettings

STORE_VERSION = 1
SAVE_DELAY = 10


@dataclass(slots=True)
class RelayCamera:
    """One camera that mails the relay (by sender address, else client address)."""

    key: str
    name: str
    client: str
    last_mail: datetime | None = None
    subject: str = ""
    attachments: tuple[str, ...] = ()
    image: bytes | None = None  # the last picture it sent (not kept across restarts)
    image_type: str | None = None
    image_time: datetime | None = None
    heartbeat_missed: bool = False
    listeners: list[CALLBACK_TYPE] = field(default_factory=list)
    mail_listeners: list[Callable[[MailSummary], None]] = field(default_factory=list)
    cancel_check: CALLBACK_TYPE | None = None

    def as_dict(self) -> dict[str, Any]:
        """What is stored across restarts."""
        last = self.last_mail.isoformat() if self.last_mail else None
        return {"key": self.key, "name": self.name, "client": self.client, "last_mail": last}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RelayCamera:
        """Read a stored camera (values checked: the file may be hand-edited)."""
        last = dt_util.parse_datetime(str(data.get("last_mail") or ""))
        key = str(data["key"])
        return cls(key, str(data.get("name") or key), str(data.get("client") or ""), last)


async def async_remove_relay_files(hass: HomeAssistant, entry_id: str) -> None:
    """The account was deleted: forget its cameras and delete the relay's certificate."""
    await Store[dict[str, Any]](hass, STORE_VERSION, f"{DOMAIN}.relay.{entry_id}").async_remove()
    folder = Path(hass.config.path(STORAGE_DIR, f"{DOMAIN}_relay", entry_id))
    await hass.async_add_executor_job(partial(shutil.rmtree, folder, ignore_errors=True))


def device_identifier(entry_id: str, key: str) -> str:
    """The device registry identifier of a relayed camera."""
    return f"{entry_id}_relay_{key}"


def _prepare(mail: IncomingMail, upstream: Upstream) -> tuple[MailSummary, bytes]:
    """Summary and upstream bytes of one message (CPU: runs in an executor)."""
    return summarize(mail.data), rewrite_for_upstream(mail.data, upstream)


class RelayRuntime:
    """Starts and stops the server; keeps what each sending camera did last."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, account: MailAccount, settings: RelaySettings
    ) -> None:
        """Nothing listens until :meth:`async_start`."""
        self.hass = hass
        self.entry = entry
        self.account = account
        self.settings = settings
        self.cameras: dict[str, RelayCamera] = {}
        self.server: RelayServer | None = None
        self._store: Store[dict[str, Any]] = Store(
            hass, STORE_VERSION, f"{DOMAIN}.relay.{entry.entry_id}"
        )
        self._camera_listeners: list[Callable[[RelayCamera], None]] = []
        self._hostname = socket.gethostname() or "homeassistant"

    @property
    def tls_folder(self) -> Path:
        """Where the STARTTLS certificate is kept."""
        return Path(self.hass.config.path(STORAGE_DIR, f"{DOMAIN}_relay", self.entry.entry_id))

    @property
    def _issue_id(self) -> str:
        return f"relay_port_in_use_{self.entry.entry_id}"

    async def async_start(self) -> None:
        """Load the known cameras and listen; a port in use is a repair, not a failed setup."""
        stored = await self._store.async_load() or {}
        for data in stored.get("cameras", []):
            try:
                camera = RelayCamera.from_dict(data)
            except (KeyError, TypeError, ValueError):
                continue
            self.cameras[camera.key] = camera
            self._schedule_check(camera)
        tls = None
        if self.settings.policy.auth_required:
            tls = await self.hass.async_add_executor_job(
                server_context, self.tls_folder, self._hostname
            )
        server = RelayServer(
            self.settings.policy, self._async_accept, hostname=self._hostname, tls_context=tls
        )
        try:
            await server.async_start(self.settings.host, self.settings.port)
        except OSError as err:
            LOGGER.error(
                "The local relay cannot listen on %s: %s", self.settings.listen, err.strerror or err
            )
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="relay_port_in_use",
                translation_placeholders={
                    "title": self.entry.title,
                    "listen": self.settings.listen,
                    "error": str(err.strerror or err),
                },
            )
            return
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)
        self.server = server
        LOGGER.info("Local relay of %s listens on %s", self.entry.title, self.settings.listen)

    async def async_stop(self) -> None:
        """Stop listening; a message being received gets no "250" and is sent again."""
        for camera in self.cameras.values():
            if camera.cancel_check:
                camera.cancel_check()
                camera.cancel_check = None
        if self.server is not None:
            await self.server.async_stop()
            self.server = None
        if self.cameras:
            await self._store.async_save(self._data())

    @callback
    def async_add_camera_listener(self, listener: Callable[[RelayCamera], None]) -> CALLBACK_TYPE:
        """Call ``listener`` with each camera seen for the first time."""
        self._camera_listeners.append(listener)
        return lambda: self._camera_listeners.remove(listener)

    @callback
    def async_forget(self, identifier: str) -> bool:
        """The user deleted a camera's device: forget it (it comes back with its next mail)."""
        for key, camera in list(self.cameras.items()):
            if device_identifier(self.entry.entry_id, key) == identifier:
                if camera.cancel_check:
                    camera.cancel_check()
                del self.cameras[key]
                self._store.async_delay_save(self._data, SAVE_DELAY)
                return True
        return False

    async def _async_accept(self, mail: IncomingMail) -> str:
        """Store the message in the outbox, then update the camera and tell automations."""
        domain = self.account.sender.rpartition("@")[2] or "localhost"
        message_id = f"<relay.{uuid.uuid4().hex}@{domain}>"
        now = dt_util.utcnow()
        upstream = Upstream(
            account=self.account.sender,
            message_id=message_id,
            client=mail.client,
            helo=mail.helo,
            hostname=self._hostname,
            protocol=mail.protocol,
            sender=mail.sender,
            now=now,
        )
        summary, data = await self.hass.async_add_executor_job(_prepare, mail, upstream)
        recipients = list(mail.recipients)
        if self.settings.forward_to == RELAY_FORWARD_ACCOUNT and self.account.recipients:
            recipients = self.account.recipients
        raw = RawMessage(message_id, self.account.sender, tuple(recipients), data)
        # Durable before the camera hears "250": an OSError here makes it "451", and it retries.
        await self.account.outbox.async_enqueue(
            raw, kind=KIND_RELAY, subject=summary.subject or f"(no subject, from {mail.sender})"
        )
        self._record(mail, summary, now)
        return message_id

    @callback
    def _record(self, mail: IncomingMail, summary: MailSummary, now: datetime) -> None:
        key = mail.sender.lower() or mail.client
        camera = self.cameras.get(key)
        new = camera is None
        if camera is None:
            camera = RelayCamera(key, summary.from_name or mail.sender or mail.client, mail.client)
            self.cameras[key] = camera
        camera.client = mail.client
        camera.last_mail = now
        camera.subject = summary.subject
        camera.attachments = summary.attachments
        if summary.image is not None:
            camera.image, camera.image_type = summary.image, summary.image_type
            camera.image_time = now
        camera.heartbeat_missed = False
        self._schedule_check(camera)
        self._store.async_delay_save(self._data, SAVE_DELAY)
        if new:
            for add in list(self._camera_listeners):
                add(camera)
        self.hass.bus.async_fire(
            EVENT_RELAY_RECEIVED,
            {
                "entry_id": self.entry.entry_id,
                "camera": camera.name,
                "sender": mail.sender,
                "client": mail.client,
                "recipients": list(mail.recipients),
                "subject": summary.subject,
                "attachments": list(summary.attachments),
            },
        )
        for mail_listener in list(camera.mail_listeners):
            mail_listener(summary)
        for listener in list(camera.listeners):
            listener()

    @callback
    def _schedule_check(self, camera: RelayCamera) -> None:
        """Flag the camera when no mail came for ``relay_heartbeat_hours``."""
        if camera.cancel_check:
            camera.cancel_check()
            camera.cancel_check = None
        hours = self.settings.heartbeat_hours
        if hours <= 0 or camera.last_mail is None:
            return
        due = camera.last_mail + timedelta(hours=hours)
        if due <= dt_util.utcnow():
            camera.heartbeat_missed = True
            return

        @callback
        def _missed(_now: datetime) -> None:
            camera.cancel_check = None
            camera.heartbeat_missed = True
            LOGGER.warning(
                "No mail from %s through the local relay for %g hours", camera.name, hours
            )
            for listener in list(camera.listeners):
                listener()

        camera.cancel_check = async_track_point_in_utc_time(self.hass, _missed, due)

    def _data(self) -> dict[str, Any]:
        return {"cameras": [camera.as_dict() for camera in self.cameras.values()]}
