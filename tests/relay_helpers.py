"""Helpers for the local relay tests: a camera's message and a real SMTP client (smtplib)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
import os
import smtplib
import ssl
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, DOMAIN
from homeassistant.core import HomeAssistant

from .conftest import RECIPIENTS, SENDER, entry_data
from .smtp_server import USERNAME, TestSmtpServer, refused_port

CAMERA = "cam1@cameras.lan"
CAMERA_TO = "guard@example.org"


def camera_message(
    subject: str = "Motion alarm", size: int = 200_000, sender: str = CAMERA
) -> tuple[bytes, bytes]:
    """A camera's alarm mail with one JPEG attachment: ``(message bytes, attachment bytes)``."""
    picture = b"\xff\xd8\xff\xe0" + os.urandom(size)
    message = EmailMessage()
    message["From"] = f"North Gate <{sender}>"
    message["To"] = CAMERA_TO
    message["Subject"] = subject
    message.set_content("Motion detected on channel 1.")
    message.add_attachment(picture, maintype="image", subtype="jpeg", filename="snap.jpg")
    return message.as_bytes(policy=SMTP_POLICY), picture


@dataclass
class Camera:
    """A camera's SMTP client (smtplib, run in the executor: a real, independent client)."""

    hass: HomeAssistant
    port: int
    host: str = "127.0.0.1"
    source: str | None = None  # bind the client to this address
    login: tuple[str, str] | None = None
    starttls: bool = False
    replies: list[tuple[int, bytes]] = field(default_factory=list)

    def _session(self) -> smtplib.SMTP:
        client = smtplib.SMTP(
            self.host,
            self.port,
            timeout=10,
            local_hostname="camera",  # no name lookup (the harness blocks DNS)
            source_address=(self.source, 0) if self.source else None,
        )
        client.ehlo("camera")
        if self.starttls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the relay's certificate is self-signed
            client.starttls(context=context)
            client.ehlo("camera")
        if self.login:
            client.login(*self.login)
        return client

    async def run(self, action: Callable[[smtplib.SMTP], Any]) -> Any:
        """Connect (TLS and login as configured), run ``action``, hang up."""

        def job() -> Any:
            with self._session() as client:
                return action(client)

        return await self.hass.async_add_executor_job(job)

    async def send(
        self, data: bytes, sender: str = CAMERA, recipients: list[str] | None = None
    ) -> dict[str, tuple[int, bytes]]:
        """``sendmail``: the refused recipients, or raises smtplib's error."""
        return await self.run(lambda c: c.sendmail(sender, recipients or [CAMERA_TO], data))  # type: ignore[no-any-return]


def relay_options(port: int, **overrides: Any) -> dict[str, Any]:
    """Account options with the relay on loopback."""
    options: dict[str, Any] = {
        CONF_RECIPIENTS: RECIPIENTS,
        "retry_delays": [0, 10, 30],
        "relay_enabled": True,
        "relay_host": "127.0.0.1",
        "relay_port": port,
    }
    options.update(overrides)
    return options


async def setup_relay(
    hass: HomeAssistant, upstream: TestSmtpServer, **overrides: Any
) -> MockConfigEntry:
    """An account on ``upstream`` with the relay on a free loopback port."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        unique_id=f"{USERNAME}@{upstream.host}",
        data=entry_data(upstream),
        options=relay_options(refused_port(), **overrides),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def relay_port(entry: MockConfigEntry) -> int:
    """The port the entry's relay listens on."""
    relay = entry.runtime_data.relay
    assert relay is not None
    assert relay.server is not None
    port = relay.server.port
    assert port is not None
    return port
