"""The outbox flush bench's "## Outbox flush" section of docs/benchmarks.md: the table and
the text around it, from the measured runs."""

from __future__ import annotations

from dataclasses import dataclass
import statistics

from _outbox_docs import machine
from _outbox_scenarios import Run
from _outbox_settings import (
    ATTACHMENT_BYTES,
    ATTACHMENTS,
    BATCH_MB,
    COMMAND,
    MESSAGES,
    RUNS,
    SECTION,
)

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
