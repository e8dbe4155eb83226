"""A slow uplink that works: a file that takes longer to upload than the time limit arrives.
One that stops is a timeout, found while the file goes out.

The server is asyncssh's SFTP server on loopback, behind the user-space link emulator
(tests/link.py) with a bottleneck buffer, as on a 4G uplink. The time limit is for a server or
a link that does nothing: bytes still leaving are not a failure, however slowly they go.
(FTP's data connections bypass the emulator: its PASV reply names the server's own port.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.ptz_email_alert.mail.upload_clients import (
    UploadError,
    UploadErrorKind,
    UploadProtocol,
    UploadTarget,
    async_upload,
)

from .link import Link, LinkProfile
from .upload_servers import PASSWORD, USER, SftpServer

# 400 kbit/s up: 50 KB/s, about a weak 4G uplink at the edge of a cell.
SLOW = LinkProfile("slow", rtt=0.020, up_bps=400e3, down_bps=2e6)
TIMEOUT = 1.0  # seconds: the clip takes about 7 s to go out


def _target(link: Link) -> UploadTarget:
    return UploadTarget(UploadProtocol.SFTP, link.host, link.port, USER, PASSWORD, timeout=TIMEOUT)


async def test_a_clip_longer_to_upload_than_the_time_limit_arrives(
    socket_enabled: None, tmp_path: Path
) -> None:
    """Before: one budget for the whole transfer (1 + 5 x 1 s for one file) cut it off."""
    server = SftpServer(tmp_path / "sftp")
    link = Link(("127.0.0.1", await server.start()), SLOW, queue_limit=4_000)
    await link.start()
    clip = bytes(range(256)) * 1400  # 350 KB, incompressible enough
    try:
        await async_upload(_target(link), "Cam/2026-11-23", [("clip.mp4", clip)])
    finally:
        await link.stop()
        await server.stop()

    assert (tmp_path / "sftp/Cam/2026-11-23/clip.mp4").read_bytes() == clip
    assert link.stats.bytes_up > len(clip)  # it did cross the slow link


async def test_a_link_that_stops_mid_file_is_a_timeout(
    socket_enabled: None, tmp_path: Path
) -> None:
    server = SftpServer(tmp_path / "sftp")
    link = Link(("127.0.0.1", await server.start()), SLOW, stall_up_after=60_000)
    await link.start()
    try:
        with pytest.raises(UploadError) as caught:
            await async_upload(_target(link), "Cam", [("clip.mp4", bytes(400_000))])
    finally:
        await link.stop()
        await server.stop()

    assert caught.value.kind is UploadErrorKind.TIMEOUT
    stored = tmp_path / "sftp/Cam/clip.mp4"
    assert not stored.exists() or stored.stat().st_size < 400_000
