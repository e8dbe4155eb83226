"""Upload clients and the durable upload queue against real FTP and SFTP servers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from custom_components.ptz_email_alert.mail import DropReason, ItemState, OutboxConfig
from custom_components.ptz_email_alert.mail.upload_clients import (
    UploadError,
    UploadErrorKind,
    UploadProtocol,
    UploadTarget,
    async_check,
    async_upload,
)
from custom_components.ptz_email_alert.mail.upload_queue import UploadQueue
from custom_components.ptz_email_alert.mail.upload_records import UploadItem

from .upload_servers import PASSWORD, USER, DiskStorage, FtpServer, SftpServer

FILES = [("120000-000_motion_1.jpg", b"\xff\xd8one\xff\xd9"), ("clip.mp4", bytes(range(256)) * 40)]
WAIT = 10.0


class Recorder:
    """The queue's observer: what happened, and an event per kind of outcome."""

    def __init__(self) -> None:
        self.uploaded: list[UploadItem] = []
        self.failed: list[tuple[UploadItem, UploadError]] = []
        self.attempts: list[UploadError] = []
        self.dropped: list[tuple[UploadItem, DropReason]] = []
        self.changed = asyncio.Event()

    def on_uploaded(self, item: UploadItem) -> None:
        self.uploaded.append(item)
        self.changed.set()

    def on_attempt_failed(self, item: UploadItem, error: UploadError) -> None:
        self.attempts.append(error)
        self.changed.set()

    def on_failed(self, item: UploadItem, error: UploadError) -> None:
        self.failed.append((item, error))

    def on_dropped(self, item: UploadItem, reason: DropReason) -> None:
        self.dropped.append((item, reason))

    def on_changed(self) -> None:
        self.changed.set()

    async def until(self, check: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not check():
                self.changed.clear()
                await self.changed.wait()


def make_queue(
    storage: DiskStorage, target: UploadTarget, recorder: Recorder, delays: tuple[float, ...]
) -> UploadQueue:
    loop = asyncio.get_running_loop()

    def call_later(delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        return loop.call_later(delay, callback).cancel

    tasks: set[asyncio.Task[Any]] = set()

    def spawn(coro: Any) -> asyncio.Task[None]:
        task = loop.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    async def upload(folder: str, files: Any, pinned: str | None) -> str | None:
        return await async_upload(
            replace(target, host_key=pinned or target.host_key), folder, files
        )

    return UploadQueue(
        storage=storage, upload=upload, server=target.server, now=loop.time,
        call_later=call_later, spawn=spawn, observer=recorder,
        config=OutboxConfig(retry_delays=delays, probe_interval=3600),
    )  # fmt: skip


def ftp_target(port: int, password: str = PASSWORD) -> UploadTarget:
    return UploadTarget(UploadProtocol.FTP, "127.0.0.1", port, USER, password, timeout=5)


def sftp_target(port: int, **kwargs: Any) -> UploadTarget:
    values: dict[str, Any] = {"username": USER, "password": PASSWORD, "timeout": 5} | kwargs
    return UploadTarget(UploadProtocol.SFTP, "127.0.0.1", port, **values)


async def test_ftp_files_arrive_in_the_folder(socket_enabled: None, tmp_path: Path) -> None:
    """Pictures and clip arrive byte for byte in the (nested) folder, made on the way."""
    server = FtpServer(tmp_path / "ftp")
    port = await server.start()
    recorder = Recorder()
    queue = make_queue(DiskStorage(tmp_path / "q"), ftp_target(port), recorder, (0.0, 0.1))
    await queue.async_load()
    await queue.async_enqueue("Front door", "Front_door/2025-05-01", FILES)
    await recorder.until(lambda: bool(recorder.uploaded))
    for name, data in FILES:
        assert (tmp_path / "ftp/Front_door/2025-05-01" / name).read_bytes() == data
    assert queue.items == []
    assert queue.bytes_sent == sum(len(d) for _n, d in FILES)
    assert queue.log[-1].error == "none"
    assert not queue.has_problem
    await queue.async_close(1)
    await server.stop()


async def test_ftp_wrong_password_fails_for_good(socket_enabled: None, tmp_path: Path) -> None:
    """A refused login is not retried on the schedule: the item fails and is kept."""
    server = FtpServer(tmp_path / "ftp")
    port = await server.start()
    with pytest.raises(UploadError) as err:
        await async_check(ftp_target(port, "Xq9-bad"))
    assert err.value.kind is UploadErrorKind.AUTH
    recorder = Recorder()
    queue = make_queue(
        DiskStorage(tmp_path / "q"), ftp_target(port, "Xq9-bad"), recorder, (0, 0, 0)
    )
    await queue.async_load()
    await queue.async_enqueue("Cam", "x", FILES)
    await recorder.until(lambda: bool(recorder.failed))
    assert len(recorder.attempts) == 1
    assert queue.items[0].state is ItemState.FAILED
    assert queue.has_problem
    assert "Xq9-bad" not in repr(queue.log) and PASSWORD not in repr(ftp_target(port))
    await queue.async_close(1)
    await server.stop()


async def test_server_down_then_back_is_delivered_after(
    socket_enabled: None, tmp_path: Path
) -> None:
    """Refused while the server is down, retried, and delivered once it is back."""
    server = FtpServer(tmp_path / "ftp")
    port = await server.start()
    await server.stop()
    recorder = Recorder()
    queue = make_queue(DiskStorage(tmp_path / "q"), ftp_target(port), recorder, (0, 0.3, 30))
    await queue.async_load()
    await queue.async_enqueue("Cam", "later", FILES[:1])
    await recorder.until(lambda: bool(recorder.attempts))
    assert recorder.attempts[0].kind is UploadErrorKind.REFUSED
    assert queue.has_problem
    await server.start(port)
    await recorder.until(lambda: bool(recorder.uploaded))
    assert (tmp_path / "ftp/later" / FILES[0][0]).read_bytes() == FILES[0][1]
    assert not queue.has_problem
    await queue.async_close(1)
    await server.stop()


async def test_ftp_refused_write_is_retried(socket_enabled: None, tmp_path: Path) -> None:
    """A server that refuses the write: kind write_refused, retried, then failed and kept."""
    server = FtpServer(tmp_path / "ftp", writable=False)
    port = await server.start()
    recorder = Recorder()
    queue = make_queue(DiskStorage(tmp_path / "q"), ftp_target(port), recorder, (0, 0.05))
    await queue.async_load()
    await queue.async_enqueue("Cam", "", FILES[:1])
    await recorder.until(lambda: bool(recorder.failed))
    assert [e.kind for e in recorder.attempts] == [UploadErrorKind.WRITE_REFUSED] * 2
    assert len(queue.items) == 1
    await queue.async_close(1)
    await server.stop()


async def test_ftps_against_a_plain_server_is_a_tls_error(
    socket_enabled: None, tmp_path: Path
) -> None:
    """Explicit TLS asked of a server without it: said as tls, the password never sent."""
    server = FtpServer(tmp_path / "ftp")
    port = await server.start()
    target = UploadTarget(UploadProtocol.FTPS, "127.0.0.1", port, USER, PASSWORD, timeout=5)
    with pytest.raises(UploadError) as err:
        await async_check(target)
    assert err.value.kind is UploadErrorKind.TLS
    await server.stop()


async def test_sftp_pins_the_first_key_and_refuses_a_changed_one(
    socket_enabled: None, tmp_path: Path
) -> None:
    """Files arrive; the first key is pinned; a new key is refused before the login is sent."""
    server = SftpServer(tmp_path / "sftp")
    port = await server.start()
    recorder = Recorder()
    storage = DiskStorage(tmp_path / "q")
    queue = make_queue(storage, sftp_target(port), recorder, (0, 0.1))
    await queue.async_load()
    await queue.async_enqueue("Cam", "Cam/2025-05-01", FILES)
    await recorder.until(lambda: bool(recorder.uploaded))
    for name, data in FILES:
        assert (tmp_path / "sftp/Cam/2025-05-01" / name).read_bytes() == data
    assert queue.pinned_key == server.public_key
    await queue.async_close(1)
    await server.stop()

    # Another machine answers on that address now.
    impostor = SftpServer(tmp_path / "impostor")
    await impostor.start(port)
    recorder = Recorder()
    queue = make_queue(storage, sftp_target(port), recorder, (0, 0.1))
    await queue.async_load()  # the pinned key came back from disk
    assert queue.pinned_key == server.public_key
    await queue.async_enqueue("Cam", "Cam", FILES[:1])
    await recorder.until(lambda: bool(recorder.failed))
    assert recorder.attempts[0].kind is UploadErrorKind.HOST_KEY
    assert impostor.logins == []  # the password never reached it
    assert not (tmp_path / "impostor/Cam").exists()
    await queue.async_close(1)
    await impostor.stop()


async def test_sftp_private_key_and_full_disk(socket_enabled: None, tmp_path: Path) -> None:
    """Login with a private key; a full disk is write_refused; a wrong password is auth."""
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    server = SftpServer(tmp_path / "sftp", client_key=client_key)
    port = await server.start()
    pem = client_key.export_private_key().decode()
    seen = await async_upload(sftp_target(port, password="", private_key=pem), "k", FILES[:1])
    assert seen == server.public_key
    assert (tmp_path / "sftp/k" / FILES[0][0]).read_bytes() == FILES[0][1]
    server.full = True
    with pytest.raises(UploadError) as err:
        await async_upload(sftp_target(port), "k", FILES[:1])
    assert err.value.kind is UploadErrorKind.WRITE_REFUSED
    with pytest.raises(UploadError) as err:
        await async_check(sftp_target(port, password="wrong"))
    assert err.value.kind is UploadErrorKind.AUTH
    await server.stop()


async def test_kept_across_restarts_and_damaged_files_dropped(
    socket_enabled: None, tmp_path: Path
) -> None:
    """Queued items survive a restart; a damaged stored file is dropped as corrupt; a file
    whose index entry was lost is queued again from its own header."""
    server = FtpServer(tmp_path / "ftp")
    port = await server.start()
    await server.stop()
    storage = DiskStorage(tmp_path / "q")
    recorder = Recorder()
    queue = make_queue(storage, ftp_target(port), recorder, (3600,))
    await queue.async_load()
    first = await queue.async_enqueue("Cam", "a", FILES[:1])
    second = await queue.async_enqueue("Cam", "b", FILES[:1])
    orphan = await queue.async_enqueue("Cam", "c", FILES[:1])
    await queue.async_close(1)
    body = tmp_path / "q/bodies" / f"{second}.eml"
    body.write_bytes(body.read_bytes()[:-3])  # cut short
    index = await storage.async_load()
    index["items"] = [i for i in index["items"] if i["item_id"] != orphan]
    await storage.async_save(index)

    await server.start(port)
    recorder = Recorder()
    queue = make_queue(storage, ftp_target(port), recorder, (0,))
    await queue.async_load()
    assert {item.item_id for item in queue.items} == {first, second, orphan}
    await recorder.until(lambda: len(recorder.uploaded) == 2)
    assert [(i.item_id, r) for i, r in recorder.dropped] == [(second, DropReason.CORRUPT)]
    assert (tmp_path / "ftp/a" / FILES[0][0]).exists()
    assert (tmp_path / "ftp/c" / FILES[0][0]).exists()
    assert not (tmp_path / "ftp/b").exists()
    await queue.async_close(1)
    await server.stop()


async def test_bounded(socket_enabled: None, tmp_path: Path) -> None:
    """A full queue drops its oldest item to take a new one."""
    recorder = Recorder()
    queue = make_queue(DiskStorage(tmp_path / "q"), ftp_target(1), recorder, (3600,))
    queue.config.max_items = 2
    await queue.async_load()
    ids = [await queue.async_enqueue("Cam", "x", FILES[:1]) for _ in range(3)]
    assert [item.item_id for item in queue.items] == ids[1:]
    assert recorder.dropped[0][1] is DropReason.OUTBOX_FULL
    await queue.async_close(1)
