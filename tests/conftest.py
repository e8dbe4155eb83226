"""Shared fixtures: a real SMTP server factory and a configured account."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Iterator
import gc
from pathlib import Path
import socket
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import (
    CONF_ENCRYPTION,
    CONF_PROVIDER,
    CONF_RECIPIENTS,
    CONF_SENDER,
    DOMAIN,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_TIMEOUT,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from .camera_http import CameraHttp
from .certificates import Certificates, make_certificates
from .scenes import encode, ffmpeg_binary, scene, walk
from .smtp_server import PASSWORD, USERNAME, ServerFactory, TestSmtpServer

SENDER = "camera@example.com"
RECIPIENTS = ["owner@example.com", "installer@example.net"]


@pytest.fixture(autouse=True)
async def auto_enable_custom_integrations(
    hass: HomeAssistant, enable_custom_integrations: None, tmp_path: Path
) -> AsyncGenerator[None]:
    """Load the integration from custom_components in every test.

    The config folder is the test's own (outbox files are written there, not into the
    harness's package). Afterwards, let reloads started by a flow finish before the harness
    stops Home Assistant (otherwise a registry's delayed save can race the shutdown).
    """
    hass.config.config_dir = str(tmp_path / "config")
    # The integration decodes with the ffmpeg of Home Assistant's ffmpeg integration.
    assert await async_setup_component(hass, "ffmpeg", {"ffmpeg": {"ffmpeg_bin": ffmpeg_binary()}})
    yield
    await hass.async_block_till_done()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throw-away CA and server certificate."""
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
async def smtp_server(
    socket_enabled: None, certificates: Certificates
) -> AsyncGenerator[ServerFactory]:
    """Start real SMTP servers on loopback: ``await smtp_server("ssl", auth_reply=...)``."""
    factory = ServerFactory(certificates)
    yield factory
    await factory.stop_all()


@pytest.fixture
async def camera_http(socket_enabled: None) -> AsyncGenerator[CameraHttp]:
    """A camera's HTTP snapshot endpoints on loopback."""
    server = CameraHttp()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def walking_video(tmp_path: Path) -> Path:
    """A camera's video: a still scene, then a person-sized shape walking in (6 s)."""
    return await encode(scene(6, walk), tmp_path / "walk.mp4")


def entry_data(server: TestSmtpServer, **overrides: Any) -> dict[str, Any]:
    """Config entry data for an account on ``server``."""
    encryption = {"ssl": "ssl", "starttls": "starttls", "none": "none"}[server.mode]
    data: dict[str, Any] = {
        CONF_PROVIDER: "custom",
        CONF_HOST: server.host,
        CONF_PORT: server.port,
        CONF_ENCRYPTION: encryption,
        CONF_USERNAME: USERNAME,
        CONF_PASSWORD: PASSWORD,
        CONF_SENDER: SENDER,
        # The test CA is not in Home Assistant's trust store; verification itself is tested in
        # test_mail_sender (own context) and test_config_flow (invalid_cert).
        CONF_VERIFY_SSL: False,
        CONF_TIMEOUT: 5,
    }
    data.update(overrides)
    return data


@pytest.fixture
async def mail_server(smtp_server: ServerFactory) -> TestSmtpServer:
    """A well-behaved STARTTLS server."""
    return await smtp_server("starttls")


@pytest.fixture
def config_entry(mail_server: TestSmtpServer) -> MockConfigEntry:
    """An account entry pointing at ``mail_server``."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        unique_id=f"{USERNAME}@{mail_server.host}",
        data=entry_data(mail_server),
        options={CONF_RECIPIENTS: RECIPIENTS},
    )


@pytest.fixture
async def setup_entry(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """The account, set up."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


@pytest.fixture
def media_dir(tmp_path: Path, hass: HomeAssistant) -> Generator[Path]:
    """A folder Home Assistant may read attachments from."""
    folder = tmp_path / "media"
    folder.mkdir()
    hass.config.allowlist_external_dirs = {str(folder)}
    return folder


@pytest.fixture
def unknown_host(monkeypatch: pytest.MonkeyPatch) -> str:
    """A host name that does not resolve.

    Name resolution is the one remote part here: the harness blocks DNS and this machine has no
    network, so the resolver is replaced by one that answers NXDOMAIN for ``*.invalid`` exactly
    as glibc reports it (``socket.gaierror``) and passes everything else through.
    """
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "smtp.does-not-exist.invalid"


@pytest.fixture
def collector_off() -> Iterator[None]:
    """No automatic garbage collection during the test: what it leaves in cycles stays to be
    found (``gc.garbage`` with ``DEBUG_SAVEALL``)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
