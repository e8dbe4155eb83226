"""A slow link in user space: a TCP proxy on loopback that behaves like a 4G uplink.

This kernel has no netem, so the delay, the bandwidth and the jitter are made here. Each
direction is a pipe that serialises what it is given in MTU-sized pieces at its bit rate (IP and
TCP headers included: 40 bytes a piece), then delivers every piece one-way-delay (± jitter)
later, in order. A pipe can stall after N bytes of a connection (an MTU black hole: the rest
never arrives, the connection stays open). With a queue limit, a pipe holds at most that many
bytes and stops reading the sender until it has delivered half of them, as the buffer before a
real bottleneck does: the sender's kernel, then the sender itself, hold the rest.

What it counts, per link and per connection: payload bytes each way, and round trips. A round
trip is a turn of the conversation: the TCP handshake is one, and every time the server speaks
after the client did is one more (the client's last act on a new connection is the handshake's
ACK, so a server that greets first costs a turn too, as on a real link).

What it cannot do: the kernel completes the client's TCP handshake on loopback before the proxy
sees the connection, so a connect costs no time here. Whoever measures time adds one RTT per
connection (:attr:`LinkStats.connections`). TCP's slow start is not modelled.

It lives in tests/ because the tests use it (they must not import bench/); bench/ puts the repo
root on ``sys.path`` and imports it from here, as bench/motion.py does with tests.camera_scenes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
import random
import socket

HEADER_BYTES = 40  # IPv4 + TCP without options, per piece


@dataclass(frozen=True, slots=True)
class LinkProfile:
    """A link: round-trip time, bit rates each way, jitter of the one-way delay, MTU."""

    name: str
    rtt: float  # seconds
    up_bps: float  # client -> server, bits per second
    down_bps: float  # server -> client
    jitter: float = 0.0  # each piece's one-way delay varies by up to ± this (seconds)
    mtu: int = 1500

    @property
    def one_way(self) -> float:
        """Half the round trip."""
        return self.rtt / 2

    @property
    def mss(self) -> int:
        """Payload bytes per piece."""
        return self.mtu - HEADER_BYTES

    def wire_bytes(self, payload: int) -> int:
        """Bytes on the wire (headers included) for ``payload`` bytes sent in full pieces."""
        pieces = -(-payload // self.mss)
        return payload + pieces * HEADER_BYTES


# For tests: 400 kbit/s up (50 KB/s), a weak 4G uplink at the edge of a cell, with a short RTT
# so that the tests stay quick.
SLOW = LinkProfile("slow", rtt=0.020, up_bps=400e3, down_bps=2e6)

# Down rates are not in the issue: a 4G downlink is a few times its uplink.
PROFILES: dict[str, LinkProfile] = {
    "good-4g": LinkProfile("good-4g", rtt=0.060, up_bps=10e6, down_bps=30e6),
    "weak-4g": LinkProfile("weak-4g", rtt=0.150, up_bps=1e6, down_bps=4e6, jitter=0.020),
    "edge": LinkProfile("edge", rtt=0.400, up_bps=200e3, down_bps=400e3),
}


@dataclass(slots=True)
class ConnectionStats:
    """What crossed one connection."""

    bytes_up: int = 0
    bytes_down: int = 0
    round_trips: int = 1  # the TCP handshake
    client_spoke_last: bool = True  # the handshake's ACK


@dataclass(slots=True)
class LinkStats:
    """Totals over every connection of a link."""

    connections: list[ConnectionStats] = field(default_factory=list)

    @property
    def bytes_up(self) -> int:
        """Payload bytes client -> server."""
        return sum(c.bytes_up for c in self.connections)

    @property
    def bytes_down(self) -> int:
        """Payload bytes server -> client."""
        return sum(c.bytes_down for c in self.connections)

    @property
    def round_trips(self) -> int:
        """Turns of every connection, TCP handshakes included."""
        return sum(c.round_trips for c in self.connections)


class _Pipe:
    """One direction of one connection."""

    def __init__(
        self,
        link: Link,
        rate: float,
        stall_after: int | None,
        queue_limit: int | None = None,
    ) -> None:
        self._link = link
        self._limit = queue_limit
        self._queued = 0  # bytes taken from the sender, not yet delivered
        self.held: asyncio.Transport | None = None  # the sender, while not read
        self._loop = asyncio.get_running_loop()
        self._rate = rate
        self._stall_after = stall_after
        self._fed = 0
        self._free_at = 0.0  # when the link has serialised everything it was given
        self._last_arrival = 0.0
        self._queue: deque[tuple[float, bytes | None]] = deque()
        self._wakeup = asyncio.Event()
        self.target: asyncio.Transport | None = None
        self.ready = asyncio.Event()  # the far side is connected
        self.task = asyncio.ensure_future(self._deliver())

    @property
    def stalled(self) -> bool:
        """Past the stall point: the sender's further bytes go nowhere."""
        return self._stall_after is not None and self._fed >= self._stall_after

    @property
    def full(self) -> bool:
        """At the queue limit: the sender is not read until half of it has gone."""
        return self._limit is not None and self._queued >= self._limit

    def feed(self, data: bytes) -> None:
        """Take bytes from the sender; what falls past the stall point is lost."""
        if self._stall_after is not None:
            data = data[: max(0, self._stall_after - self._fed)]
        self._fed += len(data)
        self._queued += len(data)
        profile = self._link.profile
        for start in range(0, len(data), profile.mss):
            piece = data[start : start + profile.mss]
            now = self._loop.time()
            self._free_at = max(now, self._free_at) + (len(piece) + HEADER_BYTES) * 8 / self._rate
            self._push(self._free_at, piece)

    def finish(self) -> None:
        """The sender closed: close the other side once everything before has arrived."""
        self._push(max(self._loop.time(), self._free_at), None)

    def _push(self, sent: float, piece: bytes | None) -> None:
        profile = self._link.profile
        delay = profile.one_way + self._link.rng.uniform(-profile.jitter, profile.jitter)
        arrival = max(sent + max(0.0, delay), self._last_arrival)  # a link keeps order
        self._last_arrival = arrival
        self._queue.append((arrival, piece))
        self._wakeup.set()

    async def _deliver(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self.ready.wait()
            while self._queue:
                arrival, piece = self._queue[0]
                if (wait := arrival - self._loop.time()) > 0:
                    await asyncio.sleep(wait)  # the link's own delay, not a test waiting
                self._queue.popleft()
                if piece is not None:
                    self._queued -= len(piece)
                if self.held is not None and self._limit and self._queued <= self._limit // 2:
                    self.held.resume_reading()
                    self.held = None
                if self.target is None or self.target.is_closing():
                    continue
                if piece is None:
                    self.target.close()
                else:
                    self.target.write(piece)


class _Side(asyncio.Protocol):
    """One socket of the proxy: what it reads goes into a pipe towards the other side."""

    def __init__(self, pipe: _Pipe, count: ConnectionStats, *, client: bool) -> None:
        self.pipe = pipe
        self.count = count
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.client:
            self.count.bytes_up += len(data)
            self.count.client_spoke_last = True
        else:
            self.count.bytes_down += len(data)
            if self.count.client_spoke_last:
                self.count.round_trips += 1
                self.count.client_spoke_last = False
        self.pipe.feed(data)
        if self.pipe.full and self.transport is not None and self.pipe.held is None:
            self.transport.pause_reading()
            self.pipe.held = self.transport
        if self.pipe.stalled and self.transport is not None:
            # Stop reading, so that the sender's kernel is left holding unacknowledged bytes,
            # as on a path that loses every full-size packet.
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.pipe.finish()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.pipe.finish()
        self.closed.set()


class Link:
    """A proxy from ``127.0.0.1:<port>`` to ``target`` through an emulated link.

    ``stall_up_after`` / ``stall_down_after``: bytes of each connection after which that
    direction delivers nothing more. ``queue_limit``: the bytes each direction holds before it
    stops reading its sender (None: it reads everything at once).
    """

    def __init__(
        self,
        target: tuple[str, int],
        profile: LinkProfile,
        *,
        stall_up_after: int | None = None,
        stall_down_after: int | None = None,
        queue_limit: int | None = None,
        seed: int = 0,
    ) -> None:
        """Prepare; nothing listens until :meth:`start`."""
        self.target = target
        self.profile = profile
        self.stall_up_after = stall_up_after
        self.stall_down_after = stall_down_after
        self.queue_limit = queue_limit
        self.rng = random.Random(seed)
        self.stats = LinkStats()
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._sides: list[_Side] = []
        self._tasks: list[asyncio.Future[None]] = []

    async def start(self) -> None:
        """Listen on a free loopback port."""
        sock = socket.socket()
        if self.stall_up_after is not None or self.queue_limit is not None:
            # A small receive window: a stalled upload backs up into the client's kernel.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.bind((self.host, 0))
        self._server = await asyncio.get_running_loop().create_server(self._accept, sock=sock)
        self.port = self._server.sockets[0].getsockname()[1]

    def _accept(self) -> _Side:
        count = ConnectionStats()
        self.stats.connections.append(count)
        up = _Pipe(self, self.profile.up_bps, self.stall_up_after, self.queue_limit)
        down = _Pipe(self, self.profile.down_bps, self.stall_down_after, self.queue_limit)
        client = _Side(up, count, client=True)
        server = _Side(down, count, client=False)
        self._sides += [client, server]
        self._tasks += [up.task, down.task, asyncio.ensure_future(self._open(client, server))]
        return client

    async def _open(self, client: _Side, server: _Side) -> None:
        # The server accepts half a round trip after the client's first byte could reach it.
        await asyncio.sleep(self.profile.one_way)
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: server, *self.target)
        except OSError:
            if client.transport is not None:
                client.transport.close()
            return
        client.pipe.target = server.transport
        server.pipe.target = client.transport
        client.pipe.ready.set()
        server.pipe.ready.set()

    def reset(self) -> None:
        """Forget the counts (between runs of a benchmark)."""
        self.stats = LinkStats()

    async def idle(self) -> None:
        """Wait until every connection made so far is closed on both sides."""
        for side in list(self._sides):
            await side.closed.wait()

    async def stop(self) -> None:
        """Close everything."""
        if self._server is not None:
            self._server.close()
        for side in self._sides:
            if side.transport is not None:
                side.transport.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
