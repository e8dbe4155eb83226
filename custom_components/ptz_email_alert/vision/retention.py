"""Evidence retention: delete the oldest pictures and clips by age, then by size (blocking I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

EVIDENCE_PATTERNS = ("*.jpg", "*.mp4")  # pictures and event clips


def prune(folder: Path, *, max_age: timedelta, max_bytes: int, now: datetime) -> list[Path]:
    """Delete pictures older than ``max_age``, then the oldest until under ``max_bytes``."""
    if not folder.is_dir():
        return []
    # One stat per file, oldest first.
    files = sorted(
        (
            (stat.st_mtime, stat.st_size, path)
            for pattern in EVIDENCE_PATTERNS
            for path in folder.rglob(pattern)
            if (stat := path.stat())
        ),
        key=lambda item: item[0],
    )
    oldest_kept = (now - max_age).timestamp()
    expired = sum(1 for mtime, _, _ in files if mtime < oldest_kept)
    total = sum(size for _, size, _ in files[expired:])
    cut = expired
    while cut < len(files) and total > max_bytes:
        total -= files[cut][1]
        cut += 1
    removed = [path for _, _, path in files[:cut]]
    for path in removed:
        path.unlink(missing_ok=True)
    for day in folder.iterdir():
        if day.is_dir() and not any(day.iterdir()):
            day.rmdir()
    return removed
