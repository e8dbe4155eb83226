"""The second path for evidence: every alert's files go to the account's upload server too.

Independent of the email: its own durable queue (the outbox's storage and rules), its own
problem sensor, a repair for a changed SFTP host key, and the account's fallback notification
when files cannot be delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from homeassistant.util.ssl import client_context, client_context_no_verify

from .account import MailAccount
from .const import (
    CONF_OUTBOX_MAX_AGE,
    CONF_RETRY_DELAYS,
    CONF_UPLOAD_FOLDER,
    CONF_UPLOAD_HOST,
    CONF_UPLOAD_HOST_KEY,
    CONF_UPLOAD_PASSIVE,
    CONF_UPLOAD_PASSWORD,
    CONF_UPLOAD_PORT,
    CONF_UPLOAD_PRIVATE_KEY,
    CONF_UPLOAD_PROTOCOL,
    CONF_UPLOAD_USERNAME,
    CONF_UPLOAD_VERIFY_SSL,
    DEFAULT_OUTBOX_MAX_AGE_HOURS,
    DEFAULT_RETRY_DELAYS,
    DEFAULT_UPLOAD_FOLDER,
    DOMAIN,
    LOGGER,
)
from .evidence import evidence_names
from .mail import DropReason, OutboxConfig
from .mail.upload_clients import (
    DEFAULT_PORTS,
    UploadError,
    UploadErrorKind,
    UploadProtocol,
    UploadTarget,
    async_upload,
    host_key_fingerprint,
    render_folder,
)
from .mail.upload_queue import UploadQueue
from .mail.upload_records import UploadItem
from .scheduling import call_later
from .storage import OutboxFiles

UPLOAD_TIMEOUT = 30.0


def upload_target(options: Mapping[str, Any]) -> UploadTarget | None:
    """The upload server from the account's options, or None when the upload is off."""
    protocol = UploadProtocol(options.get(CONF_UPLOAD_PROTOCOL, UploadProtocol.OFF))
    host = str(options.get(CONF_UPLOAD_HOST) or "").strip()
    if protocol is UploadProtocol.OFF or not host:
        return None
    verify = bool(options.get(CONF_UPLOAD_VERIFY_SSL, True))
    return UploadTarget(
        protocol=protocol,
        host=host,
        port=int(options.get(CONF_UPLOAD_PORT) or DEFAULT_PORTS[protocol]),
        username=str(options.get(CONF_UPLOAD_USERNAME) or ""),
        password=str(options.get(CONF_UPLOAD_PASSWORD) or ""),
        private_key=str(options.get(CONF_UPLOAD_PRIVATE_KEY) or "").strip(),
        passive=bool(options.get(CONF_UPLOAD_PASSIVE, True)),
        # Home Assistant's cached contexts: no certificate loading on the event loop.
        tls_context=(client_context() if verify else client_context_no_verify())
        if protocol is UploadProtocol.FTPS
        else None,
        host_key=options.get(CONF_UPLOAD_HOST_KEY) or None,
        timeout=UPLOAD_TIMEOUT,
    )


def upload_storage(hass: HomeAssistant, entry_id: str) -> OutboxFiles:
    """The upload queue's files: the outbox's kind of storage, under its own name."""
    return OutboxFiles(hass, f"{entry_id}_upload")


class EvidenceUpload:
    """One account's upload target at runtime; its entities read it and subscribe to it."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, account: MailAccount, target: UploadTarget
    ) -> None:
        """Wire the queue to Home Assistant's clock, timers, tasks and storage."""
        self.hass = hass
        self.entry = entry
        self.account = account
        self.target = target
        self.folder_template = str(entry.options.get(CONF_UPLOAD_FOLDER) or DEFAULT_UPLOAD_FOLDER)
        self._listeners: list[CALLBACK_TYPE] = []
        self._issue_id = f"upload_host_key_{entry.entry_id}"
        self._warned = False
        options = entry.options
        self.queue = UploadQueue(
            storage=upload_storage(hass, entry.entry_id),
            upload=self._async_upload,
            server=target.server,
            now=lambda: dt_util.utcnow().timestamp(),
            call_later=self._call_later,
            spawn=self._spawn,
            observer=self,
            config=OutboxConfig(
                retry_delays=[
                    float(d) for d in options.get(CONF_RETRY_DELAYS, DEFAULT_RETRY_DELAYS)
                ],
                max_age=float(options.get(CONF_OUTBOX_MAX_AGE, DEFAULT_OUTBOX_MAX_AGE_HOURS))
                * 3600,
            ),
        )

    async def async_start(self) -> None:
        """Load what a previous run left (tried again at once)."""
        await self.queue.async_load()
        if self.target.host_key:  # the options flow's test pinned it: it wins
            self.queue.pinned_key = self.target.host_key

    async def async_stop(self) -> None:
        """Let an upload on the wire finish briefly; the queue stays on disk."""
        await self.queue.async_close(grace=5)

    @property
    def has_problem(self) -> bool:
        """The last attempt failed, or files are waiting after their retries."""
        return self.queue.has_problem

    async def async_queue_alert(
        self,
        camera: str,
        time: datetime,
        event_type: str,
        pictures: Sequence[bytes],
        clip: tuple[str, bytes] | None = None,
    ) -> None:
        """Queue an alert's pictures (and clip) under their media-folder names."""
        files = list(zip(evidence_names(time, event_type, len(pictures)), pictures, strict=True))
        if clip is not None:
            files.append(clip)
        if not files:
            return
        folder = render_folder(
            self.folder_template, camera=camera, event_type=event_type,
            when=dt_util.as_local(time),
        )  # fmt: skip
        try:
            await self.queue.async_enqueue(camera, folder, files)
        except OSError as err:
            LOGGER.warning("Camera %s: alert files not queued for upload: %s", camera, err)

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` whenever something visible changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def _async_upload(
        self, folder: str, files: Sequence[tuple[str, bytes]], pinned: str | None
    ) -> str | None:
        return await async_upload(replace(self.target, host_key=pinned), folder, files)

    # The queue's observer.

    def on_uploaded(self, item: UploadItem) -> None:
        """Uploads work (again)."""
        if self._warned:
            LOGGER.info("Uploads to %s work again", self.target.server)
            self._warned = False
        ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)

    def on_attempt_failed(self, item: UploadItem, error: UploadError) -> None:
        """Logged once per outage; a changed host key is a repair issue."""
        if not self._warned:
            self._warned = True
            LOGGER.warning(
                "Upload of %s's alert files to %s failed (%s: %s); retrying",
                item.camera, self.target.server, error.kind.value, error.detail,
            )  # fmt: skip
        if error.kind is UploadErrorKind.HOST_KEY and self.queue.pinned_key:
            ir.async_create_issue(
                self.hass, DOMAIN, self._issue_id, is_fixable=False,
                severity=ir.IssueSeverity.ERROR, translation_key="upload_host_key_changed",
                translation_placeholders={
                    "server": self.target.server,
                    "fingerprint": host_key_fingerprint(self.queue.pinned_key),
                },
            )  # fmt: skip

    def on_failed(self, item: UploadItem, error: UploadError) -> None:
        """Files could not be delivered: tell the user another way too."""
        self.hass.async_create_task(
            self.account.async_fallback(
                f"Upload failed: {self.entry.title}",
                f"Alert files of {item.camera} ({', '.join(item.names)}) could not be uploaded "
                f"to {self.target.server} ({error.kind.value}: {error.detail}).",
            )
        )

    def on_dropped(self, item: UploadItem, reason: DropReason) -> None:
        """Logged by the queue."""

    def on_changed(self) -> None:
        """Tell the entities."""
        for listener in list(self._listeners):
            listener()

    def _call_later(self, delay: float, action: Callable[[], None]) -> Callable[[], None]:
        return call_later(self.hass, delay, action)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return self.entry.async_create_background_task(self.hass, coro, f"{DOMAIN} upload")
