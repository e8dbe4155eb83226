"""Full-resolution pictures from a snapshot URL: a real HTTP server on loopback with the
logins cameras use (none, basic, digest MD5 and SHA-256)."""

from __future__ import annotations

import aiohttp
import pytest

from custom_components.ptz_email_alert.snapshot import (
    SnapshotError,
    async_fetch_snapshot,
    redact_url,
)

from .camera_http import CAMERA_PASSWORD, CameraHttp


@pytest.mark.parametrize("path", ["/open", "/basic", "/digest", "/sha256"])
async def test_fetches_a_picture_with_each_login(camera_http: CameraHttp, path: str) -> None:
    async with aiohttp.ClientSession() as session:
        picture = await async_fetch_snapshot(session, camera_http.url(path))
    assert picture == camera_http.picture
    assert camera_http.requests == [path]


async def test_basic_password_never_goes_to_a_digest_camera(camera_http: CameraHttp) -> None:
    async with aiohttp.ClientSession() as session:
        await async_fetch_snapshot(session, camera_http.url("/digest"))
    # One answer to the challenge, and it is a digest: the password itself never travels.
    (authorization,) = camera_http.authorizations
    assert authorization.startswith("Digest ")
    assert CAMERA_PASSWORD not in authorization


@pytest.mark.parametrize(
    ("path", "login", "message"),
    [
        ("/digest", "admin:wrong", "refused the user name or password"),
        ("/basic", None, "refused the user name or password"),
        ("/html", None, "not a JPEG"),
        ("/missing", None, "HTTP 404"),
    ],
)
async def test_errors_say_what_happened(
    camera_http: CameraHttp, path: str, login: str | None, message: str
) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(SnapshotError, match=message) as caught:
            await async_fetch_snapshot(session, camera_http.url(path, login))
    assert "wrong" not in str(caught.value)


async def test_unreachable_and_bad_urls(socket_enabled: None) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(SnapshotError, match="cannot connect"):
            # Port 9 (discard) is closed on loopback here: connection refused.
            await async_fetch_snapshot(session, "http://127.0.0.1:9/snapshot.jpg")
        with pytest.raises(SnapshotError, match="http:// or https://"):
            await async_fetch_snapshot(session, "rtsp://camera/stream")


def test_redact_url() -> None:
    assert redact_url("http://admin:pw@10.0.0.2/snap.jpg?x=1") == "http://10.0.0.2/snap.jpg?x=1"
