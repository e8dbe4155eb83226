"""Outbox flush: 100 queued alerts (three 100 KB JPEGs each) to a loopback STARTTLS server.

One ``Outbox.async_flush()`` (one connection for the whole batch) against ``send_message`` with
one connection per message. Prints a Markdown table and rewrites the "## Outbox flush" section
of docs/benchmarks.md.

    .venv/bin/python bench/outbox_flush.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from _outbox_docs import machine, write_docs
from _outbox_report import Results, section
from _outbox_scenarios import (
    FlushRun,
    Run,
    build_messages,
    connection_setup,
    flush_memory,
    one_connection_each,
    outbox_flush,
    peak_rss_mb,
)
from _outbox_settings import DOCS, HOST, MESSAGES, PASSWORD, REPO, RUNS, USERNAME
from _outbox_smtp import LoopbackSmtp, tls_contexts

from custom_components.ptz_email_alert.mail import Encryption, SmtpSettings, send_message

# What the other benches import from here: the loopback server, the machine line, write_docs.
__all__ = [
    "HOST",
    "PASSWORD",
    "USERNAME",
    "LoopbackSmtp",
    "machine",
    "tls_contexts",
    "write_docs",
]


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
