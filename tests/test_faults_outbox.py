"""The outbox after damage: unreadable message files, foreign or broken indexes, orphaned
files, power cuts. Real files on disk and a real SMTP server wherever the fault allows it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
import json
from pathlib import Path
import re
import shutil
import subprocess
import sys
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, DOMAIN, EVENT_DROPPED
from custom_components.ptz_email_alert.mail import EmailContent, RawMessage, build_message
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store

from .conftest import RECIPIENTS, SENDER, entry_data
from .outbox_harness import START, Harness, MemoryStorage
from .smtp_server import USERNAME, ServerFactory, TestSmtpServer

# Pure outbox ------------------------------------------------------------------------------


async def _queue_while_down(server: TestSmtpServer, subjects: list[str]) -> MemoryStorage:
    """Queue ``subjects`` with the server down and return what is left on "disk"."""
    storage = MemoryStorage()
    harness = Harness(server, storage)
    for subject in subjects:
        await harness.enqueue(subject)
    await harness.run()
    harness.outbox.close()
    return storage


async def test_index_of_another_version_loads_what_it_can(smtp_server: ServerFactory) -> None:
    server = await smtp_server("starttls")
    port = server.port
    await server.stop()
    storage = await _queue_while_down(server, ["Readable", "Wrong type"])
    readable, wrong = storage.index["items"]
    readable["priority"] = "high"  # a key of a newer version: ignored
    wrong["created"] = "yesterday"  # unreadable, but its message file is there
    lost = {"item_id": "f00d", "subject": "No file"}  # unreadable, and nothing to send
    storage.index = {"items": [readable, wrong, lost], "failed_total": "many", "schema": 7}

    await server.start(port)
    harness = Harness(server, storage)
    await harness.outbox.async_load()
    await harness.run()
    assert harness.recorder.recovered == [(1, 1)]
    assert sorted(r.message["Subject"] for r in server.received) == ["Readable", "Wrong type"]
    assert storage.index["set_aside"] == [lost]  # kept for a person to look at
    assert storage.bodies == {}
    harness.outbox.close()


@pytest.mark.parametrize("index", [None, [1, 2], {"items": {"0": "x"}}, {"items": "x"}])
async def test_message_files_without_an_index_are_sent(
    smtp_server: ServerFactory, index: Any
) -> None:
    """The index is gone or useless: every message file is an email to send, as it was."""
    server = await smtp_server("starttls")
    port = server.port
    await server.stop()
    storage = await _queue_while_down(server, ["Tür offen – Person erkannt", "Second"])
    message_ids = [item["message_id"] for item in storage.index["items"]]
    storage.index = index

    await server.start(port)
    harness = Harness(server, storage)
    await harness.outbox.async_load()
    assert [(i.subject, i.kind, i.created) for i in harness.outbox.items] == [
        ("Tür offen – Person erkannt", "alert", START),
        ("Second", "alert", START),
    ]
    await harness.run()
    assert harness.recorder.recovered == [(2, 0 if index is None else 1)]
    assert [r.message["Message-ID"] for r in server.received] == message_ids
    await harness.advance(600)
    assert len(server.received) == 2
    harness.outbox.close()


async def test_recovered_files_keep_their_kind(smtp_server: ServerFactory) -> None:
    """The kind is stored with the message; a file of an older version has none: alert."""
    server = await smtp_server("starttls")
    await server.stop()
    storage = MemoryStorage()
    harness = Harness(server, storage)
    await harness.enqueue("Heartbeat", kind="heartbeat")
    message = build_message(EmailContent("Old", "x"), sender="c@example.com", recipients=["o@x"])
    envelope = json.dumps({"from": "c@example.com", "to": ["o@x"]}).encode()
    storage.bodies["0123abcd"] = envelope + b"\n" + RawMessage.from_message(message).data
    storage.index = None
    second = Harness(server, storage)
    await second.outbox.async_load()
    assert sorted((i.subject, i.kind) for i in second.outbox.items) == [
        ("Heartbeat", "heartbeat"),
        ("Old", "alert"),
    ]
    harness.outbox.close()
    second.outbox.close()


async def test_a_delivered_message_file_that_came_back_is_not_sent_again(
    smtp_server: ServerFactory,
) -> None:
    """A crash after the index said "delivered" but before the file was deleted."""
    server = await smtp_server("starttls")
    port = server.port
    await server.stop()
    storage = await _queue_while_down(server, ["Once"])
    leftover = dict(storage.bodies)
    await server.start(port)
    first = Harness(server, storage)
    await first.outbox.async_load()
    await first.run()
    assert len(server.received) == 1
    storage.bodies.update(leftover)

    second = Harness(server, storage)
    await second.outbox.async_load()
    await second.run()
    assert len(server.received) == 1
    assert storage.bodies == {}
    assert second.recorder.recovered == []
    first.outbox.close()
    second.outbox.close()


async def test_an_index_entry_cannot_name_a_file_outside_the_outbox(
    smtp_server: ServerFactory,
) -> None:
    server = await smtp_server("starttls")
    storage = MemoryStorage()
    entry = {"item_id": "../../secrets", "message_id": "<x@y>", "subject": "x"}
    storage.index = {"items": [entry | {"kind": "alert", "created": START, "size": 1}]}
    harness = Harness(server, storage)
    await harness.outbox.async_load()
    assert harness.outbox.items == []
    assert harness.recorder.recovered == [(0, 1)]
    harness.outbox.close()


# Home Assistant ----------------------------------------------------------------------------

PREFIX = "camera_example_com"


async def _setup(hass: HomeAssistant, server: TestSmtpServer, entry_id: str = "") -> str:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=SENDER,
        unique_id=f"{USERNAME}@{server.host}",
        data=entry_data(server, timeout=1),
        options={CONF_RECIPIENTS: RECIPIENTS},
        **({"entry_id": entry_id} if entry_id else {}),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry.entry_id


async def _notify(hass: HomeAssistant, title: str) -> None:
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": f"notify.{PREFIX}_email", "title": title, "message": "body"},
        blocking=True,
    )


async def _advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    for _ in range(int(seconds // 5)):
        freezer.tick(timedelta(seconds=5))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


def _outbox(hass: HomeAssistant, entry_id: str) -> Any:
    entry = hass.config_entries.async_get_entry(entry_id)
    assert entry is not None
    return entry.runtime_data.account.outbox


async def test_damaged_message_file_on_disk(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    server = await smtp_server("starttls")
    port = server.port
    await server.stop()
    entry_id = await _setup(hass, server)
    dropped = async_capture_events(hass, EVENT_DROPPED)
    for number in range(3):
        await _notify(hass, f"Alert {number}")
    damaged = _outbox(hass, entry_id).items[1]
    folder = Path(hass.config.path(".storage", DOMAIN, entry_id))
    (folder / f"{damaged.item_id}.eml").write_bytes(b"\x00\x13 not an outbox file \xff\n")

    await server.start(port)
    await _advance(hass, freezer, 10)  # the retry
    assert [r.message["Subject"] for r in server.received] == ["Alert 0", "Alert 2"]
    assert [(e.data["subject"], e.data["reason"]) for e in dropped] == [("Alert 1", "corrupt")]
    assert not list(folder.glob("*.eml"))
    await _advance(hass, freezer, 600)
    assert len(server.received) == 2  # exactly once each


@pytest.fixture
def real_store_load(hass_storage: dict[str, Any]) -> Iterator[None]:
    """Let ``Store`` read its file from disk (the harness serves ``.storage`` from memory).

    ``_async_load_data`` is Home Assistant's own loader, the one the harness's stand-in wraps.
    Set after the harness's stand-in and put back before it is removed.
    """
    stand_in = Store.__dict__["_async_load"]
    setattr(Store, "_async_load", Store._async_load_data)  # noqa: B010
    yield
    setattr(Store, "_async_load", stand_in)  # noqa: B010


def _damaged_index(case: str, saved: dict[str, Any]) -> bytes:
    items = saved["data"]["items"]
    if case == "not_json":
        return b'{"version": 1, "data": {"items": [{"item_id": '  # cut short by a power cut
    if case == "no_envelope":
        return b"[1, 2, 3]"
    if case == "items_not_a_list":
        data = {"items": {"0": "x"}, "failed_total": "many"}
    else:  # another_version: one item readable, one with a wrong type, one without a file
        items[0]["priority"] = "high"
        items[1]["created"] = "yesterday"
        data = {"items": [*items, {"item_id": "f00d"}], "schema": 2}
    return json.dumps(
        {"version": 2, "minor_version": 1, "key": saved["key"], "data": data}
    ).encode()


@pytest.mark.parametrize(
    ("case", "recovered", "set_aside"),
    [
        ("not_json", 2, 0),
        ("no_envelope", 2, 1),
        ("items_not_a_list", 2, 1),
        ("another_version", 1, 1),
    ],
)
async def test_damaged_index_on_disk(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    smtp_server: ServerFactory,
    real_store_load: None,
    case: str,
    recovered: int,
    set_aside: int,
) -> None:
    server = await smtp_server("starttls")
    port = server.port
    await server.stop()
    entry_id = await _setup(hass, server)
    await _notify(hass, "Kept 1")
    await _notify(hass, "Kept 2")
    assert await hass.config_entries.async_unload(entry_id)
    key = f"{DOMAIN}.outbox.{entry_id}"
    Path(hass.config.path(".storage", key)).write_bytes(_damaged_index(case, hass_storage[key]))
    del hass_storage[key]  # from now on the file on disk is all there is

    await server.start(port)
    assert await hass.config_entries.async_setup(entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    entry = hass.config_entries.async_get_entry(entry_id)
    assert entry is not None
    assert entry.state is ConfigEntryState.LOADED
    assert sorted(r.message["Subject"] for r in server.received) == ["Kept 1", "Kept 2"]
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"outbox_recovered_{entry_id}")
    assert issue is not None
    assert issue.translation_key == "outbox_recovered"
    assert issue.translation_placeholders == {
        "title": SENDER,
        "recovered": str(recovered),
        "set_aside": str(set_aside),
    }


# Power cuts --------------------------------------------------------------------------------

_WRITE_AND_DELETE = """
import sys
from pathlib import Path
from custom_components.ptz_email_alert.storage import delete_durably, write_durably
folder = Path(sys.argv[1])
write_durably(folder, "a1", b"first")
write_durably(folder, "b2", b"second")
delete_durably(folder, "a1")
"""


def test_renames_and_deletes_are_synced_to_the_folder(tmp_path: Path) -> None:
    """After a power cut the index must not name a file the folder lost.

    A power cut cannot be made here, so the real system calls are watched instead (strace on
    a child process that writes and deletes real files): each rename and each delete must be
    followed by an fsync of the folder that holds it.
    """
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    folder = tmp_path / "storage" / "outbox"
    trace = tmp_path / "trace.txt"
    calls = "trace=openat,rename,renameat,renameat2,unlink,unlinkat,fsync,fdatasync"
    run = subprocess.run(
        [
            strace,
            "-f",
            "-qq",
            "-e",
            calls,
            "-o",
            str(trace),
            sys.executable,
            "-c",
            _WRITE_AND_DELETE,
            str(folder),
        ],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode and "ptrace" in run.stderr:
        pytest.skip(f"strace cannot trace here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    lines = [line.split(None, 1)[1] for line in trace.read_text().splitlines()]
    descriptors: dict[str, str] = {}  # fd -> path, for directories opened
    pending: list[str] = []  # folder changes not yet synced
    synced: list[str] = []
    for line in lines:
        if opened := re.match(
            r'openat\(AT_FDCWD, "([^"]+)", [^)]*O_DIRECTORY[^)]*\) = (\d+)', line
        ):
            descriptors[opened[2]] = opened[1]
        elif re.match(r"rename\w*\(.*\.tmp.*\.eml", line) or re.match(r"unlink\w*\(.*\.eml", line):
            pending.append(line)
        elif (fsync := re.match(r"f(?:data)?sync\((\d+)\)", line)) and descriptors.get(
            fsync[1]
        ) == str(folder):
            synced.extend(pending)
            pending.clear()
    assert len(synced) == 3, synced  # two renames and one delete, each synced
    assert pending == []
    assert not (folder / "a1.eml").exists()
    assert (folder / "b2.eml").read_bytes() == b"second"
