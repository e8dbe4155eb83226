"""One alert over an emulated 4G link: time to 250 OK, bytes and round trips, against the limit.

Through the link emulator (tests/link.py: delay, bandwidth, jitter, MTU-sized pieces) to a real
aiosmtpd server with verified TLS and AUTH, on each profile (good-4g, weak-4g, edge), implicit
TLS and STARTTLS, four ways of sending the same three D1 snapshots:

- our alert: one email with the three pictures (``send_messages``: one connection, pipelined);
- our outbox batch: three emails of one picture each over one connection;
- firmware without burst: three emails over three connections (``send_message`` each);
- Home Assistant core's smtp: one email, one connection, Python's smtplib (no pipelining,
  QUIT awaited), as the ``smtp`` notify platform sends.

The physical limit beside each: the bytes on the wire (IP and TCP headers included) ÷ the
uplink rate, plus the fewest round trips that way of sending needs (implicit TLS: TCP, TLS 1.3,
greeting, EHLO, AUTH, one pipelined MAIL/RCPT/DATA, end of data = 7; STARTTLS adds its command
and a second EHLO). The emulator's TCP handshake costs no time on loopback, so one RTT per
connection is added to every measured time. Prints a Markdown table and rewrites the "## 4G
link" section of docs/benchmarks.md.

    .venv/bin/python bench/link_send.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import datetime as dt
import logging
from pathlib import Path
import smtplib
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

import imageio_ffmpeg
from outbox_flush import machine, write_docs

REPO = Path(__file__).resolve().parents[1]
# Run as a plain script: the repo root, not bench/, must be importable.
sys.path.insert(0, str(REPO))

from custom_components.ptz_email_alert.mail import (  # noqa: E402
    Attachment,
    EmailContent,
    Encryption,
    RawMessage,
    SendResult,
    SmtpSettings,
    build_message,
    send_message,
    send_messages,
)
from tests.certificates import Certificates, make_certificates  # noqa: E402
from tests.link import PROFILES, Link, LinkProfile  # noqa: E402
from tests.smtp_server import PASSWORD, USERNAME, Behaviour, TestSmtpServer  # noqa: E402

SECTION = "## 4G link"
COMMAND = ".venv/bin/python bench/link_send.py"
FOOTAGE = REPO / "tests" / "fixtures" / "pedestrians-4s.mp4"
MODES = ("ssl", "starttls")
SETUP_TURNS = {"ssl": 5, "starttls": 7}  # before the first MAIL: see the module text
# Runs per cell; the target cell (weak-4g, implicit TLS, our alert) gets more for its p95.
RUNS = {"good-4g": 5, "weak-4g": 5, "edge": 3}
TARGET_RUNS = 20


@dataclass(slots=True)
class Cell:
    """Runs of one way of sending on one profile and mode."""

    seconds: list[float] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)
    bytes_up: list[int] = field(default_factory=list)
    limit: float = 0.0
    min_turns: int = 0


def snapshots() -> list[bytes]:
    """Three D1 (704x576) JPEGs from the committed footage, about 70 KB each."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    pictures = []
    with tempfile.TemporaryDirectory() as folder:
        for second in (1, 2, 3):
            out = Path(folder) / f"{second}.jpg"
            subprocess.run(
                [ffmpeg, "-loglevel", "error", "-ss", str(second), "-i", str(FOOTAGE),
                 "-frames:v", "1", "-vf", "scale=704:576", "-q:v", "3", str(out)],
                check=True,
            )  # fmt: skip
            pictures.append(out.read_bytes())
    return pictures


def email(pictures: list[bytes], subject: str) -> RawMessage:
    content = EmailContent(
        subject=subject,
        text="North Fence: a person was detected.",
        attachments=[Attachment(f"snapshot{i + 1}.jpg", p) for i, p in enumerate(pictures)],
    )
    message = build_message(content, sender="camera@example.com", recipients=["owner@example.com"])
    return RawMessage.from_message(message)


def smtplib_send(link: Link, mode: str, context: ssl.SSLContext, message: RawMessage) -> float:
    """Home Assistant core's way: smtplib, EHLO, (STARTTLS, EHLO,) login, sendmail, QUIT."""
    started = time.perf_counter()
    if mode == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(link.host, link.port, context=context, timeout=60)
    else:
        client = smtplib.SMTP(link.host, link.port, timeout=60)
    client.ehlo()
    if mode == "starttls":
        client.starttls(context=context)
        client.ehlo()
    client.login(USERNAME, PASSWORD)
    client.sendmail(message.sender, list(message.recipients), message.data)
    elapsed = time.perf_counter() - started
    client.quit()
    return elapsed


async def measure(
    link: Link, connections: int, send: Callable[[], Awaitable[float | None]]
) -> tuple[float, int, int]:
    """One run: seconds to the last 250 (plus one RTT a connection), turns waited, bytes up."""
    link.reset()
    started = time.perf_counter()
    measured = await send()
    elapsed = measured if measured is not None else time.perf_counter() - started
    await link.idle()
    return elapsed + connections * link.profile.rtt, link.stats.round_trips, link.stats.bytes_up


def limit(profile: LinkProfile, bytes_up: float, turns: int) -> float:
    return profile.wire_bytes(round(bytes_up)) * 8 / profile.up_bps + turns * profile.rtt


async def run_profile(
    profile: LinkProfile,
    mode: str,
    pictures: list[bytes],
    runs: int,
    certificates: Certificates,
) -> dict[str, Cell]:
    context = certificates.client_context()
    server = TestSmtpServer(mode, certificates, Behaviour())
    await server.start()
    link = Link((server.host, server.port), profile, seed=1)
    await link.start()
    settings = SmtpSettings(
        host=link.host, port=link.port, encryption=Encryption(mode), username=USERNAME,
        password=PASSWORD, timeout=60, tls_context=context, local_hostname="camera.test",
    )  # fmt: skip
    alert = email(pictures, "North Fence - Human Detected")
    singles = [
        email([p], f"North Fence - Human Detected ({i + 1}/3)") for i, p in enumerate(pictures)
    ]

    async def ours(messages: list[RawMessage]) -> None:
        outcomes = await send_messages(settings, messages)
        assert all(isinstance(o, SendResult) for o in outcomes), outcomes

    async def each() -> None:
        for message in singles:
            await send_message(settings, message)

    async def core() -> float:
        return await asyncio.to_thread(smtplib_send, link, mode, context, alert)

    setup = SETUP_TURNS[mode]
    # name: (send, connections, turns the client waits, QUIT exchanges not waited for)
    ways: dict[str, tuple[Callable[[], Awaitable[float | None]], int, int, int]] = {
        "our alert (1 email, 3 pictures)": (lambda: ours([alert]), 1, setup + 2, 1),
        "our outbox batch (3 emails, 1 connection)": (lambda: ours(singles), 1, setup + 6, 1),
        "firmware without burst (3 emails, 3 connections)": (each, 3, 3 * (setup + 2), 3),
        # smtplib: MAIL, RCPT, DATA and the body one turn each; its QUIT comes after the time.
        "Home Assistant core smtp (1 email, smtplib)": (core, 1, setup + 4, 1),
    }
    cells: dict[str, Cell] = {}
    for name, (send, connections, min_turns, unwaited) in ways.items():
        cell = cells[name] = Cell(min_turns=min_turns if name.startswith("our") else 0)
        count = TARGET_RUNS if (profile.name, mode, name) == TARGET else runs
        for _ in range(count):
            seconds, turns, sent = await measure(link, connections, send)
            cell.seconds.append(seconds)
            cell.turns.append(turns - unwaited)
            cell.bytes_up.append(sent)
        best_turns = (setup + 2) * connections + (4 if "batch" in name else 0)
        cell.min_turns = best_turns
        cell.limit = limit(profile, statistics.median(cell.bytes_up), best_turns)
    await link.stop()
    await server.stop()
    return cells


TARGET = ("weak-4g", "ssl", "our alert (1 email, 3 pictures)")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def table(results: dict[tuple[str, str], dict[str, Cell]]) -> str:
    lines = [
        "| Link | TLS | Way of sending | Runs | Median (s) | p95 (s) | Limit (s) | p95 / limit "
        "| Turns waited (fewest) | KB up |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (profile, mode), cells in results.items():
        for name, cell in cells.items():
            lines.append(
                f"| {profile} | {'implicit' if mode == 'ssl' else 'STARTTLS'} | {name} "
                f"| {len(cell.seconds)} | {statistics.median(cell.seconds):.2f} "
                f"| {p95(cell.seconds):.2f} | {cell.limit:.2f} "
                f"| {p95(cell.seconds) / cell.limit:.2f} "
                f"| {statistics.median(cell.turns):.0f} ({cell.min_turns}) "
                f"| {statistics.median(cell.bytes_up) / 1024:.0f} |"
            )
    return "\n".join(lines)


def report(results: dict[tuple[str, str], dict[str, Cell]], pictures: list[bytes]) -> str:
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    profiles = "; ".join(
        f"`{p.name}` RTT {p.rtt * 1000:.0f} ms, {p.up_bps / 1e6:g} Mbit/s up, "
        f"{p.down_bps / 1e6:g} Mbit/s down"
        + (f", ±{p.jitter * 1000:.0f} ms jitter" if p.jitter else "")
        for p in PROFILES.values()
    )
    profile = PROFILES[TARGET[0]]
    cell = results[TARGET[0], TARGET[1]][TARGET[2]]
    bound = limit(profile, statistics.median(cell.bytes_up), 7)
    sizes = ", ".join(f"{len(p) / 1024:.0f}" for p in pictures)
    return f"""{SECTION}

Three D1 snapshots (704x576 JPEGs from the committed footage: {sizes} KB) sent through the \
user-space link emulator (`tests/link.py`) to a loopback aiosmtpd server with verified TLS \
and AUTH, which offers PIPELINING. Profiles: {profiles}. The time runs from the call to the \
server's 250 after the last picture, plus one RTT a connection for the TCP handshake, which \
the kernel completes on loopback before the emulator sees it. The limit is the bytes on the \
wire (40 bytes of IP and TCP headers a piece) ÷ the uplink rate plus the fewest turns for \
that way of sending (implicit TLS: TCP, TLS 1.3, greeting, EHLO, AUTH, one pipelined \
MAIL/RCPT/DATA, end of data = 7; STARTTLS 9). Turns waited counts the turns on the wire \
before the last 250 (our QUIT is written, not awaited). TCP slow start is not emulated.

- Command: `{COMMAND}`
- Machine: {machine()}
- Date: {date}

{table(results)}

Target (weak-4g, implicit TLS, our alert): p95 {p95(cell.seconds):.2f} s against \
bytes ÷ bandwidth + 7 RTT = {bound:.2f} s ({p95(cell.seconds) / bound - 1:+.1%}).

TLS session resumption is not used: with TLS 1.3 a resumed handshake takes the same single \
round trip as a full one (Python offers no 0-RTT early data), so it would save only the \
server's certificate chain on the downlink (a few KB) and a signature check; and asyncio's \
`start_tls` cannot pass a session to the TLS object. One connection per batch already leaves \
at most one handshake per flush.
"""


async def main(runs_override: int | None) -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's deprecation chatter
    pictures = snapshots()
    # A throw-away CA and a certificate for 127.0.0.1: TLS is verified as in real use.
    certificates = make_certificates(Path(tempfile.mkdtemp()))
    results: dict[tuple[str, str], dict[str, Cell]] = {}
    for profile in PROFILES.values():
        for mode in MODES:
            runs = runs_override or RUNS[profile.name]
            print(f"{profile.name} {mode} ...", file=sys.stderr, flush=True)
            results[profile.name, mode] = await run_profile(
                profile, mode, pictures, runs, certificates
            )
    text = report(results, pictures)
    print(text)
    write_docs(text, SECTION)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="runs per cell (default: by profile)")
    asyncio.run(main(parser.parse_args().runs))
