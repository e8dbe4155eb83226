"""Local relay: 200 camera mails (one 200 KB JPEG each) from 4 concurrent clients on loopback.

The relay (``RelayServer``) and a real ``Outbox`` with durable file storage (write, fsync,
rename, fsync of the folder, in a thread pool, as Home Assistant's storage does) share one
event loop, as in Home Assistant; the outbox forwards over STARTTLS with a login to an upstream
aiosmtpd server in another process. Clients are smtplib in 4 threads, one connection per mail
(as cameras do). Measured: time to "250" at the camera, time to the upstream server's "250",
and the lag of the relay's event loop meanwhile. Rewrites the "## Local relay" section of
docs/benchmarks.md.

    .venv/bin/python bench/relay.py
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import datetime as dt
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
import json
import multiprocessing
import os
from pathlib import Path
import platform
import re
import smtplib
import socket
import ssl
import statistics
import sys
import tempfile
import time
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from custom_components.ptz_email_alert.mail import (  # noqa: E402
    Encryption,
    Outbox,
    OutboxConfig,
    RawMessage,
    SmtpSettings,
    send_messages,
)
from custom_components.ptz_email_alert.mail.relay_parse import (  # noqa: E402
    Upstream,
    rewrite_for_upstream,
    summarize,
)
from custom_components.ptz_email_alert.mail.relay_policy import RelayPolicy  # noqa: E402
from custom_components.ptz_email_alert.mail.relay_server import (  # noqa: E402
    IncomingMail,
    RelayServer,
)
from custom_components.ptz_email_alert.mail.relay_tls import server_context  # noqa: E402

MESSAGES = 200
CLIENTS = 4
ATTACHMENT = 200_000
ACCOUNT = "alerts@example.com"


def _upstream(folder: str, ready: Any, results: Any, expected: int) -> None:
    """The upstream server, in its own process: STARTTLS and AUTH required."""
    from aiosmtpd.smtp import SMTP, AuthResult  # noqa: PLC0415

    stamps: dict[str, float] = {}
    done = asyncio.Event()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            match = re.search(rb"Subject: bench-(\d+)", envelope.original_content)
            stamps[match.group(1).decode() if match else "?"] = time.time()
            if len(stamps) >= expected:
                done.set()
            return "250 2.0.0 OK"

    async def main() -> None:
        context = server_context(Path(folder), "localhost")
        server = await asyncio.get_running_loop().create_server(
            lambda: SMTP(
                Handler(),
                tls_context=context,
                require_starttls=True,
                authenticator=lambda *a: AuthResult(success=True),
                data_size_limit=None,
            ),
            "127.0.0.1",
            0,
        )
        ready.put(server.sockets[0].getsockname()[1])
        await done.wait()
        server.close()

    asyncio.run(main())
    results.put(stamps)


class FileStorage:
    """Durable outbox storage on disk (what Home Assistant's ``OutboxFiles`` does)."""

    def __init__(self, folder: Path, pool: ThreadPoolExecutor) -> None:
        self.folder = folder
        self.pool = pool

    async def _run(self, func: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, func, *args)

    def _write(self, name: str, data: bytes) -> None:
        tmp = self.folder / f"{name}.{os.urandom(6).hex()}.tmp"
        with tmp.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        tmp.replace(self.folder / name)
        descriptor = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    async def async_load(self) -> Any:
        return None

    async def async_save(self, data: dict[str, Any]) -> None:
        await self._run(self._write, "index.json", json.dumps(data).encode())

    async def async_write_body(self, item_id: str, data: bytes) -> None:
        await self._run(self._write, item_id + ".eml", data)

    async def async_read_body(self, item_id: str) -> bytes | None:
        return await self._run((self.folder / (item_id + ".eml")).read_bytes)  # type: ignore[no-any-return]

    async def async_delete_body(self, item_id: str) -> None:
        await self._run(lambda: (self.folder / (item_id + ".eml")).unlink(missing_ok=True))

    async def async_list_bodies(self) -> dict[str, float]:
        return {}


class Observer:
    def __init__(self) -> None:
        self.delivered = 0
        self.all_delivered = asyncio.Event()

    def on_delivered(self, item: Any, result: Any) -> None:
        self.delivered += 1
        if self.delivered >= MESSAGES:
            self.all_delivered.set()

    def on_attempt_failed(self, item: Any, error: Any) -> None:
        print("attempt failed:", error, file=sys.stderr)

    def on_failed(self, item: Any, error: Any) -> None:
        print("failed:", error, file=sys.stderr)

    def on_dropped(self, item: Any, reason: Any) -> None:
        print("dropped:", reason, file=sys.stderr)

    def on_recovered(self, recovered: int, set_aside: int) -> None:
        pass

    def on_changed(self) -> None:
        pass


def camera_mail(index: int) -> bytes:
    message = EmailMessage()
    message["From"] = f"Camera {index % CLIENTS} <cam{index % CLIENTS}@cameras.lan>"
    message["To"] = "guard@example.org"
    message["Subject"] = f"bench-{index}"
    message.set_content("Motion detected.")
    picture = b"\xff\xd8\xff\xe0" + os.urandom(ATTACHMENT)
    message.add_attachment(picture, maintype="image", subtype="jpeg", filename="snap.jpg")
    return message.as_bytes(policy=SMTP_POLICY)


def _client(number: int, port: int, timings: Any) -> None:
    """One camera, in its own process (threads here would share the relay's interpreter lock)."""
    mails = {index: camera_mail(index) for index in range(number, MESSAGES, CLIENTS)}
    sent_at: dict[str, float] = {}
    waits: list[float] = []
    for index, data in mails.items():
        started = time.time()
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.sendmail(f"cam{number}@cameras.lan", ["guard@example.org"], data)
        sent_at[str(index)] = started
        waits.append(time.time() - started)
    timings.put((sent_at, waits))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


async def run(folder: Path) -> dict[str, Any]:  # noqa: PLR0915 - one scenario, in order
    """Everything on this loop is what Home Assistant's loop would carry."""
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=8)
    loop.set_default_executor(pool)
    ready: Any = multiprocessing.Queue()
    results: Any = multiprocessing.Queue()
    upstream = multiprocessing.Process(
        target=_upstream, args=(str(folder / "upstream"), ready, results, MESSAGES)
    )
    upstream.start()
    port = await loop.run_in_executor(None, ready.get)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    settings = SmtpSettings(
        "127.0.0.1", port, Encryption.STARTTLS, ACCOUNT, "pw", 30.0, client_context
    )
    (folder / "outbox").mkdir()
    observer = Observer()

    def call_later(delay: float, action: Any) -> Any:
        return loop.call_later(delay, action).cancel

    outbox = Outbox(
        storage=FileStorage(folder / "outbox", pool),
        send=lambda batch: send_messages(settings, batch),
        server=settings.server,
        now=time.time,
        call_later=call_later,
        spawn=lambda coro: asyncio.ensure_future(coro),
        observer=observer,
        config=OutboxConfig(retry_delays=[0, 10, 30]),
    )
    await outbox.async_load()

    async def accept(mail: IncomingMail) -> str:
        message_id = f"<relay.{os.urandom(8).hex()}@example.com>"
        upstream_info = Upstream(
            ACCOUNT, message_id, mail.client, mail.helo, "bench", mail.protocol, mail.sender,
            dt.datetime.now(dt.UTC),
        )  # fmt: skip
        summary, data = await loop.run_in_executor(
            None,
            lambda: (summarize(mail.data), rewrite_for_upstream(mail.data, upstream_info)),
        )
        raw = RawMessage(message_id, ACCOUNT, mail.recipients, data)
        await outbox.async_enqueue(raw, kind="relay", subject=summary.subject)
        return message_id

    relay = RelayServer(RelayPolicy(), accept, hostname="bench")
    await relay.async_start("127.0.0.1", 0)
    relay_port = relay.port
    assert relay_port is not None
    size = len(camera_mail(0))
    lags: list[float] = []
    stop = asyncio.Event()

    async def lag_probe() -> None:
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - before - 0.01)

    probe = asyncio.ensure_future(lag_probe())
    started = time.time()
    timings: Any = multiprocessing.Queue()
    clients = [
        multiprocessing.Process(target=_client, args=(n, relay_port, timings))
        for n in range(CLIENTS)
    ]
    for process in clients:
        process.start()
    sent_at: dict[str, float] = {}
    to_250: list[float] = []
    for _ in range(CLIENTS):
        stamps_sent, waits = await loop.run_in_executor(None, timings.get)
        sent_at.update(stamps_sent)
        to_250.extend(waits)
    for process in clients:
        process.join()
    accepted_in = time.time() - started
    await asyncio.wait_for(observer.all_delivered.wait(), 300)
    forwarded_in = time.time() - started
    stop.set()
    await probe
    stamps = await loop.run_in_executor(None, results.get)
    upstream.join()
    await relay.async_stop()
    outbox.close()
    to_upstream = [stamps[key] - sent_at[key] for key in sent_at if key in stamps]
    return {
        "accepted": len(to_250),
        "forwarded": len(stamps),
        "accepted_in": accepted_in,
        "forwarded_in": forwarded_in,
        "to_250": to_250,
        "to_upstream": to_upstream,
        "lags": lags,
        "size": size,
        "load": "/".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def report(result: dict[str, Any]) -> str:
    ms = 1000.0
    lags = result["lags"]
    rows = [
        ("Camera: time to 250 (durable in the outbox)", result["to_250"]),
        ("Upstream: from the camera's connect to upstream 250", result["to_upstream"]),
    ]
    table = "\n".join(
        f"| {name} | {len(values)} | {statistics.median(values) * ms:.0f} | "
        f"{percentile(values, 0.95) * ms:.0f} | {max(values) * ms:.0f} |"
        for name, values in rows
    )
    rate = result["accepted"] / result["accepted_in"]
    intro = (
        f"{MESSAGES} camera mails, each with one {ATTACHMENT // 1000} KB JPEG "
        f"({result['size'] / 1024:.0f} KB on the wire), from {CLIENTS} concurrent smtplib "
        "clients (one process each, one connection per mail, as cameras do) to `RelayServer` "
        "on loopback. Each mail is summarised and its headers rewritten in a thread pool, then "
        "written durably to a real `Outbox` (file, fsync, rename, fsync of the folder, and the "
        'index likewise) before the camera gets "250"; the outbox forwards over STARTTLS with a '
        "login to an aiosmtpd server in another process. Relay and outbox share one event "
        "loop, as in Home Assistant; its lag is measured by a task sleeping 10 ms."
    )
    lines = [
        "## Local relay",
        "",
        intro,
        "",
        "- Command: `.venv/bin/python bench/relay.py`",
        f"- Machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}; load average {result['load']} at the end",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- Accepted: {result['accepted']} of {MESSAGES} in {result['accepted_in']:.2f} s "
        f"({rate:.0f} mails/s); forwarded: {result['forwarded']} of {MESSAGES}, all upstream "
        f"{result['forwarded_in']:.2f} s after the start",
        f"- Event loop lag meanwhile: median {statistics.median(lags) * ms:.1f} ms, "
        f"p95 {percentile(lags, 0.95) * ms:.1f} ms, max {max(lags) * ms:.1f} ms "
        f"({len(lags)} samples)",
        "",
        "| Measure | Mails | p50 (ms) | p95 (ms) | Max (ms) |",
        "|---|---:|---:|---:|---:|",
        table,
        "",
        'The time to "250" is the transfer of the message, its summary and header edit in the '
        "thread pool, and the two fsyncs of the durable write (message and index). Upstream "
        "delivery sends what is queued in batches over one connection while more arrives, so a "
        "mail that arrives during a batch waits for it.",
    ]
    return "\n".join(lines) + "\n"


def update_docs(section: str) -> None:
    path = REPO / "docs" / "benchmarks.md"
    text = path.read_text()
    pattern = re.compile(r"## Local relay\n.*?(?=\n## |\Z)", re.S)
    text = pattern.sub(lambda _: section.rstrip("\n") + "\n", text) if pattern.search(text) else (
        text.rstrip("\n") + "\n\n" + section
    )  # fmt: skip
    path.write_text(text)


def main() -> None:
    socket.setdefaulttimeout(60)
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(run(Path(folder)))
    section = report(result)
    print(section)
    update_docs(section)


if __name__ == "__main__":
    main()
