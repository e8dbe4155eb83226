"""What the kernel knows about a TCP connection (Linux ``TCP_INFO``): bytes sent, bytes stuck.

Counting at this level gives the bytes on the wire (TLS records, SMTP commands and all), which
is what a metered SIM pays for; elsewhere the counters are simply absent.
"""

from __future__ import annotations

from dataclasses import dataclass
import socket
import struct
from typing import Any

# struct tcp_info (linux/tcp.h); offsets are part of the kernel ABI.
_SIZE = 232
_U32 = struct.Struct("=I")
_U64 = struct.Struct("=Q")
_UNACKED = 24  # tcpi_unacked: segments sent, not acknowledged
_BYTES_ACKED = 120  # tcpi_bytes_acked (Linux 4.1)
_NOTSENT = 144  # tcpi_notsent_bytes: written, not yet sent
_BYTES_SENT = 200  # tcpi_bytes_sent, retransmissions included (Linux 4.19)


@dataclass(frozen=True, slots=True)
class TcpCounters:
    """A snapshot of one connection's counters."""

    bytes_sent: int
    bytes_acked: int  # what the other end has: the progress of a send, however slow
    unacked: int
    notsent: int

    @property
    def waiting(self) -> bool:
        """Bytes written that have not reached the other end yet."""
        return bool(self.unacked or self.notsent)


def tcp_counters(sock: Any) -> TcpCounters | None:
    """The counters of ``sock`` (a socket or asyncio's wrapper of one), None where unknown."""
    if sock is None or not hasattr(socket, "TCP_INFO"):
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _SIZE)
    except OSError:
        return None
    if len(info) < _BYTES_ACKED + 8 or len(info) < _NOTSENT + 4:
        return None
    offset = _BYTES_SENT if len(info) >= _BYTES_SENT + 8 else _BYTES_ACKED
    return TcpCounters(
        bytes_sent=int(_U64.unpack_from(info, offset)[0]),
        bytes_acked=int(_U64.unpack_from(info, _BYTES_ACKED)[0]),
        unacked=int(_U32.unpack_from(info, _UNACKED)[0]),
        notsent=int(_U32.unpack_from(info, _NOTSENT)[0]),
    )
