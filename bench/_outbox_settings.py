"""The outbox flush bench's settings, in one place for bench/outbox_flush.py and each of its
_outbox_* parts (so that no part imports outbox_flush.py). Importing it puts the repository
root on sys.path, for custom_components and tests."""

from __future__ import annotations

from pathlib import Path
import sys

REPO = Path(__file__).resolve().parents[1]
# Run as a plain script: the repo root, not bench/, must be importable.
sys.path.insert(0, str(REPO))

from custom_components.ptz_email_alert.mail.outbox_schedule import MAX_BATCH_BYTES  # noqa: E402

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
