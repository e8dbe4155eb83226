"""The machine line and the writer of one section of docs/benchmarks.md: every bench uses
them, through outbox_flush."""

from __future__ import annotations

import os
from pathlib import Path
import platform
import re

from _outbox_settings import DOCS, SECTION


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
