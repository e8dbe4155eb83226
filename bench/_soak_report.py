"""The soak's figures, verdicts and findings, and the Markdown section that bench/soak.py
prints and writes to docs/benchmarks.md."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
import os
import statistics

from _soak_run import Alert, Soak
from _soak_servers import Received, unique
from _soak_settings import (
    ALLOCATORS,
    CAMERAS,
    COMMAND,
    COOLDOWN,
    CORRUPTIONS,
    DOMAIN,
    DRAIN_LIMIT,
    FAULT_INTERVAL,
    FAULT_KINDS,
    FOOTAGE,
    FPS,
    HD_SWITCH,
    RECONNECT_LIMIT,
    RSS_GROWTH_LIMIT,
    SAMPLE_EVERY,
    SECTIONS,
    SMTP_DOWN,
    STOP_LIMIT,
)
from _soak_watch import Status, ram
from outbox_flush import machine

# Report ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Figures:
    emailed: list[Alert]  # alerts that should have an email
    held_back: int
    copies: int  # messages received, every copy
    distinct: int  # distinct Message-IDs
    duplicates: list[tuple[Received, int]]  # a message received more than once, and how often
    lost: list[Alert]
    strangers: list[Received]  # messages that match no alert
    mark: Status  # at RSS_MARK
    end: Status
    slope: float  # MiB a minute of VmRSS after the mark (least squares)
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def growth(self) -> float:
        return self.end.hwm - self.mark.hwm


def figures(soak: Soak) -> Figures:
    received = soak.mail.received
    distinct = unique(received)
    copies = Counter(message.message_id for message in received)
    duplicates = [(message, copies[message.message_id]) for message in distinct
                  if copies[message.message_id] > 1]  # fmt: skip
    expected = Counter(alert.subject for alert in soak.alerts if alert.emailed)
    strangers = []
    for message in distinct:
        if expected[message.subject] > 0:
            expected[message.subject] -= 1
        else:
            strangers.append(message)
    samples = soak.samples
    mark = samples.mark or samples.end or Status(0.0, 0.0, 0, 0)
    end = samples.end or mark
    after = [(at, rss) for at, rss in samples.rss if at >= soak.mark_at]
    slope = 0.0
    if len(after) > 2:
        slope = statistics.linear_regression(*zip(*after, strict=True)).slope * 60
    result = Figures(
        [alert for alert in soak.alerts if alert.emailed],
        sum(1 for alert in soak.alerts if not alert.emailed),
        len(received), len(distinct), duplicates, soak.missing(), strangers, mark, end, slope,
    )  # fmt: skip
    result.checks = {
        "lost": not result.lost,
        "duplicates": not duplicates,
        "memory": result.growth < RSS_GROWTH_LIMIT,
        "leftover": not soak.left_after_stop and soak.stop_seconds is not None,
        "streams": not any(fault.problem for fault in soak.faults),
    }
    return result


def verdict(ok: bool) -> str:
    return "pass" if ok else "**fail**"


def near(soak: Soak, at: float, before: float = 60.0, after: float = 10.0) -> str:
    """The faults from ``before`` seconds before ``at`` to ``after`` seconds after it."""
    found = [
        f"{fault.kind} ({fault.target}{', ' + fault.variant if fault.variant else ''}) at "
        f"{fault.at:.0f} s"
        for fault in soak.faults
        if at - before <= fault.at <= at + after
    ]
    return "; ".join(found) or "no fault within a minute before"


def rss_at(soak: Soak, at: float) -> float:
    """VmRSS (MiB) of the sample nearest to ``at`` seconds into the soak."""
    samples = soak.samples.rss
    return min(samples, key=lambda sample: abs(sample[0] - at))[1] if samples else 0.0


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):.1f} s, max {max(values):.1f} s"


def fault_rows(soak: Soak) -> list[str]:
    rows = []
    for kind in FAULT_KINDS:
        faults = [fault for fault in soak.faults if fault.kind == kind]
        if not faults:
            continue
        back = [fault.seconds for fault in faults if fault.seconds is not None]
        if kind == "ffmpeg killed":
            what = f"the camera's stream opened again after {spread(back)}"
        elif kind == "SMTP down 30 s":
            what = f"the first message arrived {spread(back)} after the server was back"
        elif kind == "reload":
            took = [fault.took for fault in faults if fault.took is not None]
            what = (
                f"the reload request took {spread(took)}; all 4 streams open again after "
                f"{spread(back)}"
            )
        else:
            parts = []
            for variant in CORRUPTIONS:
                some = [fault for fault in faults if fault.variant == variant]
                again = [fault.seconds for fault in some if fault.seconds is not None]
                if some:
                    parts.append(
                        f"{variant}: {len(some)}×, ffmpeg reconnected {len(again)}× "
                        + (f"({spread(again)})" if again else "(the stream went on)")
                    )
            what = "; ".join(parts)
        growth = [rss_at(soak, f.at + FAULT_INTERVAL) - rss_at(soak, f.at) for f in faults]
        what += (
            f". VmRSS over the {FAULT_INTERVAL:.0f} s from each: "
            f"{', '.join(f'{value:+.0f}' for value in growth)} MiB"
        )
        problems = [f"{fault.at:.0f} s: {fault.outcome}" for fault in faults if fault.problem]
        if problems:
            what += "; **problems**: " + "; ".join(problems)
        rows.append(f"| {kind} | {len(faults)} | {what} |")
    return rows


def findings(soak: Soak, result: Figures) -> list[str]:
    lines = [
        f"- Lost: {alert.subject!r} (alert at {alert.at:.0f} s); faults around it: "
        f"{near(soak, alert.at)}"
        for alert in result.lost
    ]
    for message, count in result.duplicates:
        times = [
            m.at - soak.began for m in soak.mail.received if m.message_id == message.message_id
        ]
        lines.append(
            f"- Received {count}×: {message.subject!r} ({message.message_id}) at "
            f"{', '.join(f'{at:.0f}' for at in times)} s; faults around the first: "
            f"{near(soak, times[0])}"
        )
    lines.extend(
        f"- A message that matches no alert: {message.subject!r} at {message.at - soak.began:.0f} s"
        for message in result.strangers
    )
    lines.extend(
        f"- {fault.kind} ({fault.target}) at {fault.at:.0f} s: {fault.outcome}"
        for fault in soak.faults
        if fault.problem
    )
    if not result.checks["memory"]:
        lines.append(
            f"- Home Assistant's peak RSS grew by {result.growth:.1f} MiB from minute "
            f"{soak.mark_at / 60:g} to the end (VmRSS by minute: {rss_by_minute(soak)} MiB)"
        )
    if soak.left_details:
        lines.append(
            f"- ffmpeg processes of Home Assistant still in /proc 2 s after it stopped: "
            f"{'; '.join(soak.left_details)} (state R/S: running, Z: exited but not reaped)"
        )
    if soak.stop_seconds is None:
        lines.append(f"- Home Assistant did not stop within {STOP_LIMIT:.0f} s of SIGTERM")
    lines.extend(
        f"- {count} moment(s) (samples {SAMPLE_EVERY:g} s apart) with {n} {kind} ffmpeg "
        f"processes for camera {camera + 1}"
        for (camera, kind, n), count in Counter(
            (camera, kind, n) for _, camera, kind, n in soak.samples.extra_ffmpeg
        ).items()
    )
    return lines


def rss_by_minute(soak: Soak) -> str:
    """VmRSS at each whole minute of the soak (the sample nearest to it), and at the end."""
    samples = soak.samples.rss
    if not samples:
        return "-"
    values = [
        min(samples, key=lambda sample: abs(sample[0] - minute * 60))[1]
        for minute in range(int(samples[-1][0] // 60) + 1)
    ]
    return ", ".join(f"{value:.0f}" for value in [*values, samples[-1][1]])


def section(soak: Soak, result: Figures, date: str, seconds: float, version: str) -> str:
    per_camera = Counter(alert.camera for alert in result.emailed)
    cameras = ", ".join(f"{name} {count}" for name, count in sorted(per_camera.items()))
    active = max(soak.ended, 1.0)
    ha_cpu = (soak.cpu[1] - soak.cpu[0]) / active
    ffmpeg_cpu = sum(soak.samples.ffmpeg_cpu.values()) / active
    kinds = Counter(alert.event_type for alert in soak.alerts)
    delivered = sum(1 for item in soak.delivered if item.get("kind") == "alert")
    failed = sum(1 for item in soak.failed if item.get("kind") == "alert")
    retried = sum(1 for item in soak.delivered if int(item.get("attempts") or 1) > 1)
    exactly_once = len(result.emailed) - len(result.lost)
    growth = result.growth
    found = findings(soak, result)
    stopped = (
        f"in {soak.stop_seconds:.1f} s after SIGTERM"
        if soak.stop_seconds is not None
        else f"**not within {STOP_LIMIT:.0f} s** of SIGTERM (killed)"
    )
    if soak.zombies_at_once:
        later = f"{len(soak.zombies)} still there 2 s later" if soak.zombies else "gone 2 s later"
        stopped += (
            f"; as it exited, {soak.zombies_at_once} of its ffmpeg processes had ended but were "
            f"not reaped yet (zombies, {later})"
        )
    log = soak.log.lines()
    table = "\n".join(
        [
            "| Measure | Measured | Target | Result |",
            "|---|---|---|---|",
            f"| Alerts created (`{DOMAIN}_alert` events) | **{len(result.emailed)}** "
            f"({cameras}) | - | - |",
            f"| Alert emails received (distinct Message-IDs) | {result.distinct} "
            f"({result.copies} messages in all) | one per alert | "
            f"{verdict(exactly_once == len(result.emailed) and not result.strangers)} |",
            f"| Alerts lost | **{len(result.lost)}** | 0 | {verdict(result.checks['lost'])} |",
            f"| Alerts duplicated (same Message-ID again) | **{len(result.duplicates)}** | 0 | "
            f"{verdict(result.checks['duplicates'])} |",
            f"| Peak RSS of Home Assistant (VmHWM), minute {soak.mark_at / 60:g} → end | "
            f"{result.mark.hwm:.1f} → {result.end.hwm:.1f} MiB (**{growth:+.1f} MiB**) | "
            f"growth < {RSS_GROWTH_LIMIT:.0f} MB | {verdict(result.checks['memory'])} |",
            f"| ffmpeg processes left after Home Assistant stopped | "
            f"**{len(soak.left_after_stop)}** running 2 s after it exited"
            f"{f' ({len(soak.zombies)} more exited but not reaped)' if soak.zombies else ''} | "
            f"0 | {verdict(result.checks['leftover'])} |",
            f"| Streams open again after each kill and reload | "
            f"{sum(1 for f in soak.faults if not f.problem)} of {len(soak.faults)} faults "
            f"without a problem | within {RECONNECT_LIMIT:.0f} s | "
            f"{verdict(result.checks['streams'])} |",
        ]
    )
    faults = "\n".join(["| Fault | Times | What happened |", "|---|---:|---|", *fault_rows(soak)])
    return f"""{SECTIONS[soak.allocator]}

A real Home Assistant (`hass`, its own process, fresh configuration folder, onboarded through \
its API) with the integration, one account (STARTTLS + AUTH to a loopback aiosmtpd server in \
the bench process, `verify_ssl` off for its self-signed certificate) and {CAMERAS} cameras \
added through the config flow and the camera subentry flow over HTTP, as the UI adds them. \
Each camera reads `{FOOTAGE.name}` (768x576) as MJPEG over HTTP from the bench at {FPS} frames \
a second (decoded to JPEGs once by ffmpeg; each camera at its own place in the clip), with \
motion detection (5 fps analysis), bursts of 3 D1 pictures 1 s apart, cooldown {COOLDOWN} s. \
For {soak.minutes:g} minutes a fault comes every {FAULT_INTERVAL:.0f} s, in rotation: a \
camera's ffmpeg processes (its decoder and its clip ring) killed with SIGKILL; the SMTP \
server stops listening for {SMTP_DOWN:.0f} s (new connections refused; an open session \
finishes); a camera's stream damaged (a JPEG whose \
second half is random bytes, 30 KB of random bytes between two parts, or a switch to 1280x720 \
for {HD_SWITCH:.0f} s and back); the config entry reloaded through the REST API. Then the \
cameras' email alerts are switched off, the bench waits until every alert is delivered (at most \
{DRAIN_LIMIT:.0f} s), and stops Home Assistant with SIGTERM. Alerts are the \
`{DOMAIN}_alert` events (websocket subscription), matched to the received messages by \
subject (camera, event, date and time to the second; unique with the cooldown); duplicates \
by Message-ID. Memory is `VmHWM` (peak RSS) of the `hass` process from /proc; leftover ffmpeg \
processes are found in /proc by their stream URLs, and by pid and start time among every \
ffmpeg Home Assistant was seen to start (clip cuts too). Why a `hass` process rather than a \
`HomeAssistant` object in the bench: the memory figures are Home Assistant's alone, the \
ffmpeg processes are its children and "left after stop" follows its real shutdown, the \
bench's servers do not share its event loop, and only the public interfaces are used.

- Command: `{" ".join([COMMAND, soak.options]).strip()}` (the \
whole run took {seconds:.0f} s: set-up, {soak.soak_seconds:.0f} s of soak, \
{soak.ended - soak.soak_seconds:.0f} s until every email was in, the stop)
- Machine: {machine()}, {ram()}; load average {soak.load[0]} at the start, {soak.load[1]} \
at the end (a shared machine: other work ran meanwhile)
- Home Assistant {soak.api.version}; integration: {version}
- Allocator: {ALLOCATORS[soak.allocator]}. What it held, minute {soak.mark_at / 60:g} → end: \
{soak.held}
- Date: {date}
- Alerts by event type: {", ".join(f"{k} {v}" for k, v in kinds.most_common())}; \
{result.held_back} held back (not to be emailed). Outbox events: {delivered} alert emails \
delivered ({retried} after more than one attempt), {failed} `delivery_failed` (retries used \
up; kept for redelivery), {len(soak.dropped)} dropped. The drain \
{"ended with every alert delivered" if soak.drained else "**ran out of time**"}.
- Home Assistant stopped {stopped}. CPU over the soak: \
Home Assistant {ha_cpu:.0%} of a core, its ffmpeg processes about {ffmpeg_cpu:.0%} in all; \
most ffmpeg processes at once for one camera: \
{", ".join(f"{n} {kind}" for kind, n in sorted(soak.samples.ffmpeg_max.items())) or "none"}.
- Memory: VmRSS {result.mark.rss:.1f} MiB at minute {soak.mark_at / 60:g}, \
{result.end.rss:.1f} MiB at the end (threads {result.mark.threads} → {result.end.threads}, \
open file descriptors {result.mark.fds} → {result.end.fds}); trend of VmRSS after minute \
{soak.mark_at / 60:g}: {result.slope:+.2f} MiB a minute (least squares over samples \
every {SAMPLE_EVERY:.0f} s); VmRSS at the start of each minute of the soak and at the end: \
{rss_by_minute(soak)} MiB.

{table}

{faults}

The VmRSS figures of a fault are the change of Home Assistant's resident memory over the \
{FAULT_INTERVAL:.0f} s after it, alerts and any other fault under way included; to isolate \
one kind run it alone (`--faults reload --minutes 5`), and `--objects` counts the \
integration's runtime objects alive at the end, before and after a full garbage collection.

{"Findings:" if found else "Findings: none."}
{chr(10).join(found)}

Warnings and errors in Home Assistant's log ({soak.log.tracebacks} tracebacks):
{chr(10).join(f"- {line}" for line in log) if log else "- none"}
"""


def load_average() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg())


def objects_report(soak: Soak) -> str:
    lines = ["Objects alive in Home Assistant at the end of the soak (objgraph.by_type):"]
    lines.extend(
        f"- {label}: VmRSS {rss:.1f} MiB; "
        + ", ".join(f"{name} {count}" for name, count in counts.items())
        for label, rss, counts in soak.objects or []
    )
    return "\n".join(lines)
