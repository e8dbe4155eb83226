"""What the outbox remembers and tells about deliveries: totals, last outcome, log, drops.

Pure Python, like the rest of ``mail``.
"""

from __future__ import annotations

from collections import deque
import logging
from typing import Any

from .errors import ErrorKind, SmtpError
from .outbox_records import DeliveryAttempt, DropReason, OutboxItem
from .sender import SendResult

_LOGGER = logging.getLogger(__name__)

DELIVERY_LOG_SIZE = 100
# Message-IDs remembered after delivery, so that nothing is sent twice.
DELIVERED_MEMORY = 500


class DeliveryLedger:
    """Outcomes of attempts; the part of it that must survive a restart goes into the index."""

    def __init__(self, server: str) -> None:
        """Empty, for the account on ``server``."""
        self.server = server
        self.failed_total = 0  # items that ever failed for good
        self.lost_total = 0  # items that left undelivered (expired, outbox full, damaged)
        self.last_success: float | None = None
        self.last_attempt_failed = False
        self.last_error: SmtpError | None = None
        self.delivered_ids: deque[str] = deque(maxlen=DELIVERED_MEMORY)
        self.log: deque[DeliveryAttempt] = deque(maxlen=DELIVERY_LOG_SIZE)

    def success(self, item: OutboxItem, result: SendResult, now: float) -> None:
        """The server accepted ``item``."""
        self.delivered_ids.append(item.message_id)
        self.last_success = now
        self.last_attempt_failed = False
        self.last_error = None
        response = result.response
        if result.via_known_address:  # counted in the log: DNS failed, the last address served
            response = f"{response} (name did not resolve: sent to its last known address)"
        self.log.append(
            DeliveryAttempt(
                now, self.server, item.item_id, item.message_id, item.subject,
                item.attempts, ErrorKind.NONE, None, response, result.duration,
            )
        )  # fmt: skip

    def failure(self, item: OutboxItem, error: SmtpError, now: float) -> None:
        """An attempt at ``item`` failed."""
        self.last_attempt_failed = True
        self.last_error = error
        self.log.append(
            DeliveryAttempt(
                now, error.server or self.server, item.item_id, item.message_id, item.subject,
                item.attempts, error.kind, error.code, error.detail, 0.0,
            )
        )  # fmt: skip

    def as_index(self) -> dict[str, Any]:
        """The fields of the saved index that belong to the ledger."""
        return {
            "failed_total": self.failed_total,
            "lost_total": self.lost_total,
            "last_success": self.last_success,
            "delivered_ids": list(self.delivered_ids),
        }


# Losing mail to damage is an error; to age or bounds it is the policy working.
_BY_POLICY = frozenset({DropReason.EXPIRED, DropReason.OUTBOX_FULL})


def log_drop(item: OutboxItem, reason: DropReason, why: str, *, server: str, age: float) -> None:
    """One log line for an item that leaves the outbox undelivered, with all that names it."""
    _LOGGER.log(
        logging.WARNING if reason in _BY_POLICY else logging.ERROR,
        "Dropping %s %r (%s, item %s, queued %s ago, %d attempt(s)) from the outbox of %s: %s",
        item.kind,
        item.subject,
        item.message_id,
        item.item_id,
        f"{age / 3600:.1f} h" if age >= 3600 else f"{max(age, 0.0):.0f} s",
        item.attempts,
        server,
        why,
    )
