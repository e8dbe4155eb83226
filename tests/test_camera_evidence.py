"""A camera's evidence: full-resolution pictures kept locally, the media browser, retention.

A video through real ffmpeg, a real SMTP server, and the camera's snapshot URL on a real HTTP
server on loopback (with the logins cameras use).
"""

from __future__ import annotations

from datetime import timedelta
import os
from pathlib import Path

import pytest

from custom_components.ptz_email_alert.const import DOMAIN
from custom_components.ptz_email_alert.vision.retention import prune
from homeassistant.components import media_source
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from .camera_helpers import next_mail, setup_camera
from .camera_http import CAMERA_PASSWORD, CameraHttp
from .smtp_server import ServerFactory


async def test_full_resolution_pictures_are_kept_locally(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    walking_video: Path,
    tmp_path: Path,
    camera_http: CameraHttp,
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    server = await smtp_server("starttls")
    entry = await setup_camera(hass, server, walking_video, snapshot_url=camera_http.url("/digest"))

    (mail,) = await next_mail(server, 1)
    # The email carries the stream's pictures, small for 4G links ...
    attached = [
        p.get_content() for p in mail.message.walk() if p.get_content_type() == "image/jpeg"
    ]
    assert len(attached) == 3
    assert camera_http.picture not in attached
    # ... and the camera's full-resolution pictures, taken during the burst, are kept locally.
    (alert,) = [
        task
        for task in entry._background_tasks
        if task.get_name() == "ptz_email_alert alert Front Gate"  # type: ignore[attr-defined]
    ]
    await alert
    folder = tmp_path / "media" / DOMAIN / "front_gate"
    full = sorted(folder.rglob("*_full.jpg"))
    assert [path.name.split("_", 1)[1] for path in full] == [
        "motion_1_full.jpg", "motion_2_full.jpg", "motion_3_full.jpg",
    ]  # fmt: skip
    assert all(path.read_bytes() == camera_http.picture for path in full)
    assert len(list(folder.rglob("*.jpg"))) == 6
    assert camera_http.requests == ["/digest"] * 3


async def test_evidence_in_the_media_browser_and_retention(
    hass: HomeAssistant, smtp_server: ServerFactory, walking_video: Path, tmp_path: Path
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    assert await async_setup_component(hass, "media_source", {})
    server = await smtp_server("starttls")
    await setup_camera(hass, server, walking_video)
    await next_mail(server, 1)  # the pictures are saved before the email is queued

    root = await media_source.async_browse_media(hass, f"media-source://{DOMAIN}")
    assert [child.title for child in root.children] == ["Front Gate"]
    (day,) = (
        await media_source.async_browse_media(hass, root.children[0].media_content_id)
    ).children
    pictures = (await media_source.async_browse_media(hass, day.media_content_id)).children
    assert len(pictures) == 3
    assert all(" Motion Detected – picture " in p.title for p in pictures)
    resolved = await media_source.async_resolve_media(hass, pictures[0].media_content_id, None)
    assert resolved.url.startswith(f"/media/local/{DOMAIN}/front_gate/")
    assert resolved.mime_type == "image/jpeg"
    with pytest.raises(media_source.Unresolvable):
        await media_source.async_resolve_media(hass, f"media-source://{DOMAIN}/../secret.jpg", None)

    # Retention: by age, then by size (oldest first).
    folder = tmp_path / "media" / DOMAIN / "front_gate"
    old_day = folder / "2020-01-01"
    old_day.mkdir()
    (old_day / "old.jpg").write_bytes(b"x" * 10)
    os.utime(old_day / "old.jpg", (0, 0))
    removed = prune(folder, max_age=timedelta(days=30), max_bytes=10**9, now=dt_util.utcnow())
    assert [p.name for p in removed] == ["old.jpg"]
    assert not old_day.exists()
    newest = max(folder.rglob("*.jpg"), key=lambda p: p.stat().st_mtime)
    removed = prune(
        folder, max_age=timedelta(days=30), max_bytes=newest.stat().st_size, now=dt_util.utcnow()
    )
    assert len(removed) == 2
    assert list(folder.rglob("*.jpg")) == [newest]


async def test_failing_snapshot_url_keeps_the_alert(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    walking_video: Path,
    tmp_path: Path,
    camera_http: CameraHttp,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass.config.media_dirs = {"local": str(tmp_path / "media")}
    server = await smtp_server("starttls")
    camera_http.open_fails = True
    entry = await setup_camera(
        hass, server, walking_video, detections=["tamper"], snapshot_url=camera_http.url("/open")
    )
    monitor = next(iter(entry.runtime_data.cameras.values()))
    folder = tmp_path / "media" / DOMAIN / "front_gate"

    await monitor.alerts.async_alert("motion", burst=1, force=True)
    await monitor.alerts.async_alert("motion", burst=1, force=True)
    mails = await next_mail(server, 2)
    assert all(mail.message["Subject"] == "Front Gate – Motion Detected" for mail in mails)
    assert not list(folder.rglob("*_full.jpg"))
    assert len(list(folder.rglob("*_motion_1.jpg"))) == 2  # both alerts' pictures kept
    warnings = [r for r in caplog.records if "no full-resolution picture" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per alert
    assert "HTTP 503" in warnings[0].getMessage()
    assert CAMERA_PASSWORD not in caplog.text

    camera_http.open_fails = False
    await monitor.alerts.async_alert("motion", burst=1, force=True)
    assert len(list(folder.rglob("*_full.jpg"))) == 1
    assert "full-resolution pictures work again" in caplog.text
    await next_mail(server, 3)  # the email is queued before the pictures are kept: let it go
