"""What a weak link looks like to the sender: DNS that fails, and bytes that do not get through.

A too-large MTU on a 4G router is the classic: small packets pass, full-size ones are lost, so
a test mail goes out while an alert with pictures stalls in DATA. :class:`MtuWatch` tells that
from a server that is merely slow or silent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import FailureCause, SmtpError


@dataclass(slots=True)
class KnownAddresses:
    """The addresses the server's name last resolved to, kept for when DNS fails.

    ``changed`` is called with the new addresses whenever a resolution gives others (the owner
    stores them); ``used`` counts the connections made to them because resolution failed.
    """

    addresses: tuple[str, ...] = ()
    changed: Callable[[tuple[str, ...]], None] | None = field(default=None, repr=False)
    used: int = 0
    warned: bool = False  # logged once per outage, not at every connection


class StallError(SmtpError):
    """A timeout while bytes should have been flowing.

    In the TLS handshake after the server spoke, or while the message body went out. An MTU
    too large for the path looks like this (small packets pass, full-size ones are lost); a
    silent server does not.
    """

    def __init__(self, phase: str, detail: str, *, server: str = "") -> None:
        """``phase``: ``"tls"`` or ``"data"``."""
        super().__init__(FailureCause.TIMEOUT, detail, server=server)
        self.phase = phase


class MtuWatch:
    """Suspects the MTU from what went out and what stalled on one account.

    A stall (:class:`StallError`) means the bytes did not get through on a live connection.
    In DATA, it points at the MTU when a smaller message went out on the same path; in the TLS
    handshake after the server answered in plain text (STARTTLS), it does on its own. Plain
    timeouts (a silent server, a slow answer to data it has) never do.
    """

    def __init__(self) -> None:
        """Nothing seen yet."""
        self.smallest_delivered: int | None = None
        self.suspected = False

    def delivered(self, size: int) -> bool:
        """A message of ``size`` bytes went out; True when that clears a suspicion."""
        if self.smallest_delivered is None or size < self.smallest_delivered:
            self.smallest_delivered = size
        if self.suspected and size > STALL_PROOF_SIZE:
            self.suspected = False
            return True
        return False

    def failed(self, error: SmtpError, size: int) -> bool:
        """An attempt at a message of ``size`` bytes failed; True when the MTU is suspected."""
        if not isinstance(error, StallError):
            return False
        if error.phase == "tls" or (
            self.smallest_delivered is not None and self.smallest_delivered < size
        ):
            self.suspected = True
        return self.suspected


# A message this large fills full-size packets: its delivery shows the path carries them.
STALL_PROOF_SIZE = 16 * 1024
