"""A slow uplink that works: a file that takes longer to upload than the time limit arrives.
One that stops is a timeout, found while the file goes out.

The server is asyncssh's SFTP server on loopback, behind the user-space link emulator
(tests/link.py) with a bottleneck buffer, as on a 4G uplink. The time limit is for a server or
a link that does nothing: bytes still leaving are not a failure, however slowly they go.
(FTP's data connections bypass the emulator: its PASV reply names the server's own port.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from custom_components.ptz_email_alert.mail.upload_clients import (
    UploadError,
    UploadErrorKind,
    UploadProtocol,
    UploadTarget,
    async_upload,
)

from .link import SLOW, Link
from .upload_servers import PASSWORD, USER, SftpServer

TIMEOUT = 1.0  # seconds: the clip takes about 7 s to go out


@asynccontextmanager
async def _behind_slow_link(root: Path, **link: Any) -> AsyncIterator[tuple[UploadTarget, Link]]:
    """An SFTP server storing in ``root``, reached through the slow link."""
    server = SftpServer(root)
    emulator = Link(("127.0.0.1", await server.start()), SLOW, **link)
    await emulator.start()
    target = UploadTarget(
        UploadProtocol.SFTP, emulator.host, emulator.port, USER, PASSWORD, timeout=TIMEOUT
    )
    try:
        yield target, emulator
    finally:
        await emulator.stop()
        await server.stop()


async def test_a_clip_longer_to_upload_than_the_time_limit_arrives(
    socket_enabled: None, tmp_path: Path
) -> None:
    """Before: one budget for the whole transfer (1 + 5 x 1 s for one file) cut it off."""
    clip = bytes(range(256)) * 1400  # 350 KB, incompressible enough
    async with _behind_slow_link(tmp_path / "sftp", queue_limit=4_000) as (target, link):
        await async_upload(target, "Cam/2026-11-23", [("clip.mp4", clip)])

    assert (tmp_path / "sftp/Cam/2026-11-23/clip.mp4").read_bytes() == clip
    assert link.stats.bytes_up > len(clip)  # it did cross the slow link


async def test_a_link_that_stops_mid_file_is_a_timeout(
    socket_enabled: None, tmp_path: Path
) -> None:
    async with _behind_slow_link(tmp_path / "sftp", stall_up_after=60_000) as (target, _link):
        with pytest.raises(UploadError) as caught:
            await async_upload(target, "Cam", [("clip.mp4", bytes(400_000))])

    assert caught.value.kind is UploadErrorKind.TIMEOUT
    stored = tmp_path / "sftp/Cam/clip.mp4"
    assert not stored.exists() or stored.stat().st_size < 400_000
