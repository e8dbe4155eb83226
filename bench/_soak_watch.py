"""Home Assistant and its ffmpeg processes as /proc shows them, and its log: the soak reads
them from outside, so that the figures are Home Assistant's own."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass, field
import os
from pathlib import Path
import re
from typing import NamedTuple

# Processes ------------------------------------------------------------------------------------


def processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, arguments) of every process we may read."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
                yield int(entry.name), [a.decode(errors="replace") for a in arguments if a]


def is_ffmpeg(args: list[str]) -> bool:
    return bool(args) and "ffmpeg" in Path(args[0]).name


def ffmpeg_pids(url: str) -> list[int]:
    """ffmpeg processes reading ``url`` (the stream URLs are unique to this run)."""
    return [pid for pid, args in processes() if url in args and is_ffmpeg(args)]


def role(pid: int) -> str:
    """What an ffmpeg of a camera does: decode (grey frames on a pipe) or record (clip ring)."""
    with contextlib.suppress(OSError):
        if b"pgm" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
            return "decoder"
    return "clip ring"


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, ... (see proc(5))."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def ffmpeg_children(parent: int) -> set[tuple[int, str]]:
    """(pid, start time) of the ffmpeg processes ``parent`` started (clip cuts included)."""
    found = set()
    for pid, args in processes():
        with contextlib.suppress(OSError, IndexError):
            fields = stat_fields(pid)
            if int(fields[1]) == parent and is_ffmpeg(args):
                found.add((pid, fields[19]))
    return found


def alive(process: tuple[int, str]) -> bool:
    """The same process (pid and start time) still runs."""
    try:
        return stat_fields(process[0])[19] == process[1]
    except (OSError, IndexError):
        return False


class Status(NamedTuple):
    rss: float  # VmRSS, MiB
    hwm: float  # VmHWM (peak RSS), MiB
    threads: int
    fds: int


def status(pid: int) -> Status:
    """Memory, threads and open file descriptors of ``pid``."""
    text = Path(f"/proc/{pid}/status").read_text()
    values = dict(re.findall(r"^(VmRSS|VmHWM|Threads):\s+(\d+)", text, re.M))
    return Status(
        int(values["VmRSS"]) / 1024,
        int(values["VmHWM"]) / 1024,
        int(values["Threads"]),
        len(os.listdir(f"/proc/{pid}/fd")),
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ram() -> str:
    total = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    return f"{int(total.group(1)) / 2**20:.1f} GiB RAM" if total else "RAM unknown"


# Home Assistant's log -------------------------------------------------------------------------


@dataclass(slots=True)
class LogSummary:
    """Warnings and errors in home-assistant.log, grouped by logger and message shape."""

    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    tracebacks: int = 0

    def lines(self, limit: int = 12) -> list[str]:
        return [
            f"{count} × {level} [{logger}] {message}"
            for (level, logger, message), count in self.counts.most_common(limit)
        ]


LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) \([^)]*\) \[([^\]]+)\] (.*)$")


def log_summary(path: Path) -> LogSummary:
    summary = LogSummary()
    if not path.is_file():
        return summary
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("Traceback"):
            summary.tracebacks += 1
        if (match := LOG_LINE.match(line)) and "object in memory" not in line:
            level, logger, message = match.groups()
            # Numbers, ids and times vary: group by the message's shape.
            shape = re.sub(r"<[^>]*@[^>]*>|\d+(\.\d+)?", "#", message)[:150]
            summary.counts[level, logger, shape] += 1
    return summary
