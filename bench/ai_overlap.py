"""AI Task overlap: trigger → 250 OK with ``ai_mode: describe`` against ``off``, in the same run.

An alert's AI call runs while its burst is captured, so an AI that answers in D seconds should
add only max(0, D − burst) + under 100 ms to the alert's trigger → 250 OK. Measured with AI
answer times of 0.5 s and 2 s, 5 alerts each, against the AI off at the same moments.

Why a pytest module (bench/ai_overlap_case.py) run by this script: ``ai_task`` exists only on
the newest Home Assistant (Python 3.14; a Debian sid chroot on machines without 3.14), and its
call needs a running Home Assistant with the component set up and an AI Task entity. The test
harness gives exactly that, with the suite's real SMTP server, camera HTTP server and test AI
entity, and ``scripts/test --ha latest`` already knows how to reach that environment (coverage
off here: its tracing would slow what is measured). This script runs it, reads the figures it
prints, and writes the "## AI Task overlap" section of docs/benchmarks.md (this machine's
details; Home Assistant's and Python's from the run).

    .venv/bin/python bench/ai_overlap.py
    .venv/bin/python bench/ai_overlap.py --quick   # 2 alerts per case; docs untouched

The AI is a stand-in (tests/ai_task_helpers.py) that answers after the set delay: no vision
model can run here. Everything else is the integration's and Home Assistant's own code.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
import statistics
import subprocess
import sys
from typing import Any

from outbox_flush import machine, write_docs

REPO = Path(__file__).resolve().parents[1]
SECTION = "## AI Task overlap"
MARKER = "AI_OVERLAP_RESULT"
TARGET = 0.100  # seconds over max(0, AI time − burst time)


def run_case(quick: bool) -> dict[str, Any]:
    """Run the pytest half on the newest Home Assistant; its figures."""
    command = [
        str(REPO / "scripts" / "test"), "--ha", "latest", "--",
        "bench/ai_overlap_case.py", "-k", "quick" if quick else "full",
        "-p", "no:randomly", "-q", "-s", "--no-cov", "-o", "timeout=900",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return dict(json.loads(line.removeprefix(MARKER)))
    sys.stderr.write(done.stdout[-6000:] + done.stderr[-3000:])
    raise SystemExit(f"bench/ai_overlap_case.py gave no figures (exit {done.returncode})")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def cases(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Per AI delay: the runs paired by phase (off, then describe at the same moment)."""
    rows = []
    for delay in sorted({r["delay"] for r in summary["results"]}):
        off = [r for r in summary["results"] if r["delay"] == delay and r["mode"] == "off"]
        on = [r for r in summary["results"] if r["delay"] == delay and r["mode"] == "describe"]
        # After the burst: the two alerts' bursts differ by a few ms of the cameras' timing.
        added = [
            (d["total"] - d["burst"]) - (o["total"] - o["burst"])
            for o, d in zip(off, on, strict=True)
        ]
        formula = [max(0.0, delay - d["burst"]) for d in on]
        # When the call starts: at the trigger, or later when it waits for more pictures.
        from_start = [max(0.0, d["ai_start"] + delay - d["burst"]) for d in on]
        rows.append(
            {
                "delay": delay,
                "runs": len(on),
                "off": [o["total"] for o in off],
                "on": [d["total"] for d in on],
                "burst": [d["burst"] for d in on],
                "start": [d["ai_start"] for d in on],
                "added": added,
                "formula": formula,
                "over": [a - f for a, f in zip(added, formula, strict=True)],
                "from_start": from_start,
                "over_start": [a - f for a, f in zip(added, from_start, strict=True)],
                "answered": sum(d["ai"]["status"] == "answered" for d in on),
                "pictures": sorted({d["ai"]["pictures"] for d in on}),
            }
        )
    return rows


def med_max(values: list[float]) -> str:
    return f"{ms(statistics.median(values))} / {ms(max(values))}"


def section(summary: dict[str, Any], command: str) -> str:
    rows = cases(summary)
    now = dt.datetime.now(dt.UTC)
    lines = [
        SECTION,
        "",
        "Trigger → 250 OK of an alert with `ai_mode: describe` against the same alert with the "
        "AI off, in one Home Assistant: two cameras on the same MJPEG stream (a D1 picture of "
        f"the committed footage, {summary['picture_bytes'] // 1024} KB, 10 a second, over HTTP "
        "on loopback, decoded by ffmpeg), defaults otherwise (3 pictures: the one before the "
        "trigger, then 2 at 1 s; JPEGs 2 a second), one account with STARTTLS and AUTH to a "
        "loopback aiosmtpd server, the outbox included. Each alert is the `trigger` action's "
        "call (`CameraRuntime.async_trigger`), at a set point between two pictures (0, 0.1, "
        "... 0.4 s after one arrives: where a trigger falls moves the burst), first with the AI "
        "off, then described, one at a time. The AI is Home Assistant's `ai_task` with a test "
        "integration's AI Task entity (tests/ai_task_helpers.py) that reads the pictures and "
        "answers after the set delay: no vision model runs here, it stands in for one. Burst = "
        "trigger → the burst capture returns its pictures; added = (trigger → 250 OK − burst) "
        "described − the same for the AI off at the same point (the latency after the last "
        "picture; the two alerts' bursts differ by a few ms of the cameras' timing); 250 OK = "
        "the server's `handle_DATA` answers.",
        "",
        f"- Command: `{command}` (the measuring runs in bench/ai_overlap_case.py, through "
        "`scripts/test --ha latest`, coverage off)",
        f"- Machine: {machine()}",
        f"- Measured on: Home Assistant {summary['home_assistant']}, Python {summary['python']}, "
        f"{summary['platform']}",
        f"- Date: {now:%Y-%m-%d %H:%M} UTC",
        "",
        "| AI answers in | Runs | Burst, median (ms) | AI off: trigger → 250 OK, median / max "
        "(ms) | Describe: trigger → 250 OK, median / max (ms) | Added, median / max (ms) "
        "| max(0, AI − burst), median (ms) | Added − formula, median / max (ms) | Target "
        "(< 100 ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        result = "pass" if max(row["over"]) < TARGET else "**fail**"
        lines.append(
            f"| {row['delay']:g} s | {row['runs']} | {ms(statistics.median(row['burst']))} "
            f"| {med_max(row['off'])} | {med_max(row['on'])} | {med_max(row['added'])} "
            f"| {ms(statistics.median(row['formula']))} | {med_max(row['over'])} | {result} |"
        )
    lines += [
        "",
        "The call starts at the trigger with the picture from just before it, or later when "
        "the AI is fast enough to look at more of the burst. Counted from its start, the "
        "expected added latency is max(0, call start + AI − burst):",
        "",
        "| AI answers in | Call starts after the trigger, median / max (ms) | Expected from "
        "the call's start, median (ms) | Added − that, median / max (ms) | Answered "
        "| Pictures in the call |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['delay']:g} s | {med_max(row['start'])} "
            f"| {ms(statistics.median(row['from_start']))} | {med_max(row['over_start'])} "
            f"| {row['answered']} of {row['runs']} "
            f"| {', '.join(str(p) for p in row['pictures'])} |"
        )
    lines += ["", conclusion(rows), ""]
    return "\n".join(lines)


def conclusion(rows: list[dict[str, Any]]) -> str:
    parts = []
    for row in rows:
        verdict = "within" if max(row["over"]) < TARGET else "not within"
        parts.append(
            f"an AI answering in {row['delay']:g} s added {ms(statistics.median(row['added']))} "
            f"ms (median; max {ms(max(row['added']))}) to a {ms(statistics.median(row['burst']))}"
            f" ms burst, {verdict} max(0, AI − burst) + 100 ms (at most "
            f"{ms(max(row['over']))} ms over it), and at most {ms(max(row['over_start']))} ms "
            "from max(0, call start + AI − burst)"
        )
    return (
        "In this run " + "; ".join(parts) + ". A call that waits for pictures after the "
        "trigger does so only when the AI's answer still comes before the burst ends; an AI "
        "that answers within the burst adds nothing but the answer's handling. The cases run "
        "one after the other on the same cameras, and the AI's answer time is learned from its "
        "last 5 answers: the first call after the AI became slower (0.5 s, then 2 s) still "
        "waits for a picture after the trigger, which is the largest figure of the 2 s case "
        "(the one call with 2 pictures)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2 alerts per case; docs untouched")
    args = parser.parse_args()
    summary = run_case(args.quick)
    text = section(summary, ".venv/bin/python bench/ai_overlap.py")
    print(text)
    if not args.quick:
        write_docs(text, SECTION)  # reads the file just before writing: only this section


if __name__ == "__main__":
    main()
