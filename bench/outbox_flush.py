"""Outbox flush: 100 queued alerts (three 100 KB JPEGs each) to a loopback STARTTLS server.

One ``Outbox.async_flush()`` (one connection for the whole batch) against ``send_message`` with
one connection per message. Prints a Markdown table and rewrites the "## Outbox flush" section
of docs/benchmarks.md.

    .venv/bin/python bench/outbox_flush.py
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
import datetime as dt
from functools import partial
import ipaddress
import logging
import os
from pathlib import Path
import platform
import random
import re
import resource
import ssl
import statistics
import sys
import tempfile
import time
import tracemalloc
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
import aiosmtplib
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[1]
# Run as a plain script: the repo root, not bench/, must be importable.
sys.path.insert(0, str(REPO))

from custom_components.ptz_email_alert.mail import (  # noqa: E402
    Attachment,
    DropReason,
    EmailContent,
    Encryption,
    Outbox,
    OutboxConfig,
    OutboxItem,
    RawMessage,
    SendResult,
    SmtpError,
    SmtpSettings,
    build_message,
    send_message,
    send_messages,
    verify_login,
)
from custom_components.ptz_email_alert.mail.outbox_records import unpack_message  # noqa: E402
from custom_components.ptz_email_alert.mail.outbox_schedule import MAX_BATCH_BYTES  # noqa: E402

# Bodies in a dict: the flush is measured, not the disk.
from tests.outbox_harness import MemoryStorage  # noqa: E402

MESSAGES = 100
BATCH_MB = MAX_BATCH_BYTES // (1024 * 1024)
ATTACHMENTS = 3
ATTACHMENT_BYTES = 100 * 1024
RUNS = 3
HOST = "127.0.0.1"
USERNAME = "bench@example.com"
PASSWORD = "bench-password"
SECTION = "## Outbox flush"
DOCS = REPO / "docs" / "benchmarks.md"
COMMAND = ".venv/bin/python bench/outbox_flush.py"


# Loopback server ---------------------------------------------------------------------------


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (server context, verifying client context)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # load_cert_chain only reads files.
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        server.load_cert_chain(cert_file, key_file)
    # Verify as in production: the client trusts exactly this certificate.
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


class LoopbackSmtp:
    """aiosmtpd on the running loop: STARTTLS and AUTH required, PIPELINING offered; counts,
    keeps no content."""

    def __init__(self, tls: ssl.SSLContext) -> None:
        self._tls = tls
        self.connections = 0
        self.messages = 0
        self.bytes = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    def _protocol(self) -> SMTP:
        # The factory runs once per accepted TCP connection (not again for the STARTTLS upgrade).
        self.connections += 1
        return SMTP(
            self,
            hostname="bench.test",
            tls_context=self._tls,
            require_starttls=True,
            auth_require_tls=True,
            authenticator=self._authenticate,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USERNAME.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any
    ) -> list[str]:
        # PIPELINING offered, as Gmail, Microsoft and Postfix do (aiosmtpd reads commands one
        # at a time anyway, so pipelined commands are answered in order).
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.messages += 1
        self.bytes += len(envelope.original_content or b"")
        return "250 2.0.0 OK queued"

    async def start(self) -> None:
        # aiosmtpd warns on every login that it sets its own deprecated Session.login_data.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


# Outbox environment ------------------------------------------------------------------------


class Tally:
    """Observer that counts outcomes."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0

    def on_delivered(self, item: OutboxItem, result: SendResult) -> None:
        self.delivered += 1

    def on_attempt_failed(self, item: OutboxItem, error: SmtpError) -> None:
        self.failed += 1

    def on_failed(self, item: OutboxItem, error: SmtpError) -> None:
        pass

    def on_dropped(self, item: OutboxItem, reason: DropReason) -> None:
        raise AssertionError(f"dropped {item.subject}: {reason}")

    def on_changed(self) -> None:
        pass


def hold_back(coro: Coroutine[Any, Any, None]) -> asyncio.Future[None]:
    """``spawn`` that never runs the flush each enqueue asks for: alerts pile up as during an
    outage, so that the one flush measured finds all of them queued."""
    coro.close()
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


def no_timer(delay: float, action: Callable[[], None]) -> Callable[[], None]:
    """``call_later`` that never fires: retries are not part of this benchmark."""
    return lambda: None


# Scenarios ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    seconds: float
    connections: int
    received: int
    received_bytes: int


class Counted:
    """Server counters before a run; ``run()`` gives what the run added."""

    def __init__(self, server: LoopbackSmtp) -> None:
        self._server = server
        self._before = (server.connections, server.messages, server.bytes)
        self._started = time.perf_counter()

    def run(self) -> Run:
        seconds = time.perf_counter() - self._started
        connections, messages, size = self._before
        server = self._server
        return Run(
            seconds,
            server.connections - connections,
            server.messages - messages,
            server.bytes - size,
        )


def build_messages() -> list[RawMessage]:
    """100 alerts, each with three JPEG-looking attachments of random (incompressible) bytes."""
    rng = random.Random(2025)
    raws = []
    for number in range(MESSAGES):
        attachments = [
            Attachment(
                f"snapshot_{index}.jpg",
                # JPEG start and end markers around noise: base64 cost is that of a real photo.
                b"\xff\xd8\xff\xe0" + rng.randbytes(ATTACHMENT_BYTES - 6) + b"\xff\xd9",
                "image/jpeg",
            )
            for index in range(ATTACHMENTS)
        ]
        content = EmailContent(
            f"Motion at the gate #{number}", "Motion detected.", None, attachments
        )
        message = build_message(content, sender="camera@example.com", recipients=["me@example.com"])
        raws.append(RawMessage.from_message(message))
    return raws


@dataclass(slots=True)
class FlushRun:
    run: Run
    enqueue_seconds: float


def queued_outbox(settings: SmtpSettings, storage: MemoryStorage, tally: Tally) -> Outbox:
    """An outbox whose flushes run only when called (as while an outage holds them back)."""
    return Outbox(
        storage=storage,
        send=partial(send_messages, settings),
        server=settings.server,
        now=time.time,
        call_later=no_timer,
        spawn=hold_back,
        observer=tally,
        config=OutboxConfig(),
    )


async def outbox_flush(
    settings: SmtpSettings, server: LoopbackSmtp, raws: list[RawMessage]
) -> FlushRun:
    """Enqueue everything with flushing held back, then time one flush."""
    tally = Tally()
    outbox = queued_outbox(settings, MemoryStorage(), tally)
    await outbox.async_load()
    started = time.perf_counter()
    for raw in raws:
        await outbox.async_enqueue(raw, kind="alert", subject=raw.message_id)
    enqueued = time.perf_counter() - started
    assert outbox.pending_count == len(raws)

    counted = Counted(server)
    # A flush sends at most MAX_BATCH_BYTES over a connection (memory stays bounded), then
    # asks for the next one; those requests are held back here: flush until the queue is empty.
    while outbox.pending_count:
        await outbox.async_flush()
    run = counted.run()
    assert (tally.delivered, tally.failed, outbox.pending_count) == (len(raws), 0, 0)
    return FlushRun(run, enqueued)


async def flush_memory(settings: SmtpSettings, raws: list[RawMessage]) -> tuple[int, int, int]:
    """Peak traced memory of sending one batch: (the outbox, the whole batch at once, count).

    Untimed runs of their own (tracing slows everything). The peer is what the outbox did
    before: the batch read from storage into memory, then each message sent with
    aiosmtplib's ``sendmail``, which transforms the whole message at once.
    """
    storage = MemoryStorage()
    tally = Tally()
    outbox = queued_outbox(settings, storage, tally)
    await outbox.async_load()
    for raw in raws:
        await outbox.async_enqueue(raw, kind="alert", subject=raw.message_id)
    batch = [(item.item_id, item.message_id) for item in outbox.items]
    stored = dict(storage.bodies)  # the same bytes again for the peer (the flush deletes them)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        await outbox.async_flush()
        ours = tracemalloc.get_traced_memory()[1] - base
        count = tally.delivered
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        whole = [unpack_message(mid, stored[iid]) for iid, mid in batch[:count]]
        async with aiosmtplib.SMTP(
            hostname=settings.host, port=settings.port, tls_context=settings.tls_context
        ) as client:
            await client.login(settings.username or "", settings.password or "")
            for raw in whole:
                await client.sendmail(raw.sender, list(raw.recipients), raw.data)
        del whole
        theirs = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    outbox.close()
    return ours, theirs, count


async def one_connection_each(
    settings: SmtpSettings, server: LoopbackSmtp, raws: list[RawMessage]
) -> Run:
    """The baseline: ``send_message`` per alert, as without an outbox."""
    counted = Counted(server)
    for raw in raws:
        await send_message(settings, raw)
    return counted.run()


async def connection_setup(settings: SmtpSettings) -> list[float]:
    """What each extra connection costs, alone: connect, STARTTLS, AUTH, QUIT, no message."""
    times = []
    for _ in range(MESSAGES):
        started = time.perf_counter()
        await verify_login(settings)
        times.append(time.perf_counter() - started)
    return times


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Report ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    build_seconds: float
    message_bytes: int
    enqueue_seconds: list[float]
    held: tuple[int, int, int]  # peak traced bytes of one batch: ours, the whole batch, count
    setup_seconds: list[float]
    flush: list[Run]
    each: list[Run]
    rss: dict[str, float]


def machine() -> str:
    processor = platform.processor()
    if not processor:  # empty on many Linux systems: take the model name instead
        cpuinfo = Path("/proc/cpuinfo")
        model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        processor = model.group(1) if model else platform.machine()
    # process_cpu_count honours CPU affinity, as nproc does.
    return (
        f"{os.process_cpu_count()} CPUs (nproc), {processor}, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )


def table(results: Results) -> str:
    total_mb = MESSAGES * results.message_bytes / 2**20  # MB here are MiB, as elsewhere
    lines = [
        "| Scenario | Connections | Delivered | Median (s) | Min (s) "
        "| Per message, median (ms) | MB/s, median |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, runs in (
        (f"Outbox flush, {BATCH_MB} MB batches", results.flush),
        ("`send_message`, one connection each", results.each),
    ):
        median = statistics.median(run.seconds for run in runs)
        lines.append(
            f"| {label} | {runs[0].connections} | {runs[0].received} | {median:.3f} | "
            f"{min(run.seconds for run in runs):.3f} | {median / MESSAGES * 1000:.1f} | "
            f"{total_mb / median:.1f} |"
        )
    return "\n".join(lines)


def section(results: Results, date: str) -> str:
    # Best of the runs: on a shared machine noise only ever adds time.
    flush = min(run.seconds for run in results.flush)
    each = min(run.seconds for run in results.each)
    setup_ms = statistics.median(results.setup_seconds) * 1000
    spread = max(
        statistics.median(run.seconds for run in runs) / min(run.seconds for run in runs) - 1
        for runs in (results.flush, results.each)
    )
    rss = results.rss
    kb = results.message_bytes / 1024
    ours, whole, count = results.held[0] / 2**20, results.held[1] / 2**20, results.held[2]
    return f"""{SECTION}

{MESSAGES} queued alerts, each with {ATTACHMENTS} attachments of {ATTACHMENT_BYTES // 1024} KB \
(random bytes, `image/jpeg`), delivered to a loopback aiosmtpd server that requires STARTTLS \
and AUTH (verified TLS, on the same event loop as the client). The outbox flushes the whole \
queue (enqueued first, with flushing held back, as during an outage) in batches of at most \
{BATCH_MB} MB per connection, against `send_message` with one connection per alert. {RUNS} runs \
each; storage is in memory.

- Command: `{COMMAND}`
- Machine: {machine()}
- Date: {date}
- One message: {kb:.0f} KB ({MESSAGES} messages: {MESSAGES * kb / 1024:.1f} MB)
- Building the {MESSAGES} messages (MIME + base64, not in the times below): \
{results.build_seconds:.2f} s ({results.build_seconds / MESSAGES * 1000:.1f} ms each)
- Enqueueing the {MESSAGES} (in-memory storage, median): \
{statistics.median(results.enqueue_seconds) * 1000:.0f} ms
- Peak RSS: {rss["imports"]:.0f} MB after imports (the package imports Home Assistant), \
{rss["built"]:.0f} MB with the messages built, {rss["end"]:.0f} MB at the end (this \
includes the in-memory storage's copy of the queue, which Home Assistant keeps on disk)
- One connection's set-up alone (`verify_login`: connect, EHLO, STARTTLS, EHLO, AUTH, QUIT), \
median of {MESSAGES}: {setup_ms:.1f} ms
- Memory while one batch ({count} messages, {count * kb / 1024:.1f} MB) is sent, peak \
traced by `tracemalloc` in an untimed run: the outbox {ours:.1f} MB; the same batch read into \
memory first and each message sent with aiosmtplib's `sendmail` (what the outbox did before \
`037360c`) {whole:.1f} MB ({whole / ours:.1f}× as much). The floor is one message \
({kb:.0f} KB) plus what TLS and the server on the same event loop hold while it passes (both \
figures include the server's copy of the message it receives)

{table(results)}

At best of {RUNS}, the outbox delivered all {MESSAGES} alerts over \
{results.flush[0].connections} connection(s) in {flush:.2f} s, and one connection per alert \
took {each:.2f} s for the same bytes \
({each / flush:.2f}× the time); medians are up to {spread:.0%} above the best runs on this \
shared machine. On loopback a connection's set-up costs only {setup_ms:.1f} ms, and both \
figures are mostly moving {MESSAGES * kb / 1024:.0f} MB through TLS and through the test \
server, which reads DATA line by line in this same process and event loop; against a real \
server every extra connection also costs several network round trips (greeting, EHLO, \
STARTTLS, TLS handshake, EHLO, AUTH, QUIT), so the batch saves more there. A batch of \
{BATCH_MB} MB is read from storage one message at a time as it is sent, and each message goes \
out in pieces of 64 KB (line endings and dot-stuffing done a piece at a time).
"""


def write_docs(text: str, section: str = SECTION) -> None:
    """Replace one section of docs/benchmarks.md (add it, or the file, if missing)."""
    DOCS.parent.mkdir(exist_ok=True)
    current = (
        DOCS.read_text()
        if DOCS.exists()
        else "# Benchmarks\n\nRun all benchmarks with `bench/run` (from the repository root).\n"
    )
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1).rstrip() + "\n"
    else:
        updated = current.rstrip() + "\n\n" + text
    DOCS.write_text(updated)


# Main --------------------------------------------------------------------------------------


async def main() -> None:
    rss = {"imports": peak_rss_mb()}
    started = time.perf_counter()
    raws = build_messages()
    build_seconds = time.perf_counter() - started
    rss["built"] = peak_rss_mb()

    server_tls, client_tls = tls_contexts()
    server = LoopbackSmtp(server_tls)
    await server.start()
    settings = SmtpSettings(
        HOST, server.port, Encryption.STARTTLS, USERNAME, PASSWORD, 30.0, client_tls
    )
    try:
        # Untimed: the first TLS handshake and first DATA pay for lazy set-up in both libraries.
        await send_message(settings, raws[0])
        # Interleaved, so that drift in a shared machine's speed hits both scenarios alike.
        flush_runs: list[FlushRun] = []
        each: list[Run] = []
        for _ in range(RUNS):
            flush_runs.append(await outbox_flush(settings, server, raws))
            each.append(await one_connection_each(settings, server, raws))
        setup = await connection_setup(settings)
        rss["end"] = peak_rss_mb()
        held = await flush_memory(settings, raws)
    finally:
        await server.stop()

    flush = [flush_run.run for flush_run in flush_runs]
    total = sum(len(raw.data) for raw in raws)
    for run in flush + each:
        # Every byte arrived (aiosmtpd's content is the message as sent, without the final dot).
        assert (run.received, run.received_bytes) == (MESSAGES, total), run

    results = Results(
        build_seconds,
        len(raws[0].data),
        [flush_run.enqueue_seconds for flush_run in flush_runs],
        held,
        setup,
        flush,
        each,
        rss,
    )
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = section(results, date)
    print(text)
    write_docs(text)
    print(f"Wrote {DOCS.relative_to(REPO)}")


if __name__ == "__main__":
    asyncio.run(main())
