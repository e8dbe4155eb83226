"""The link emulator (tests/link.py) itself: counts, order, delay and stall."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from .link import Link, LinkProfile

FAST = LinkProfile("test", rtt=0.020, up_bps=8e6, down_bps=8e6, jitter=0.005)


class _Echo(asyncio.Protocol):
    """Says hello first, then echoes every line it gets."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"hello\n")

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


@pytest.fixture
async def echo_port(socket_enabled: None) -> AsyncGenerator[int]:
    server = await asyncio.get_running_loop().create_server(_Echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def _link(port: int, **options: int) -> Link:
    link = Link(("127.0.0.1", port), FAST, **options)  # type: ignore[arg-type]
    await link.start()
    return link


async def test_counts_turns_and_bytes(echo_port: int) -> None:
    link = await _link(echo_port)
    reader, writer = await asyncio.open_connection(link.host, link.port)
    assert await reader.readline() == b"hello\n"  # the greeting: a turn of its own
    started = asyncio.get_running_loop().time()
    payload = b"x" * 5000 + b"\n"  # several pieces, one turn
    writer.write(payload)
    assert await reader.readexactly(len(payload)) == payload
    assert asyncio.get_running_loop().time() - started >= FAST.rtt - 2 * FAST.jitter
    writer.write(b"a\n")
    assert await reader.readline() == b"a\n"
    writer.close()
    await link.idle()
    await link.stop()

    (connection,) = link.stats.connections
    assert connection.bytes_up == len(payload) + 2
    assert connection.bytes_down == 6 + len(payload) + 2
    assert link.stats.round_trips == 1 + 1 + 2  # TCP, greeting, two exchanges


async def test_stall_after_n_bytes_keeps_the_connection_open(echo_port: int) -> None:
    link = await _link(echo_port, stall_up_after=3000)
    reader, writer = await asyncio.open_connection(link.host, link.port)
    await reader.readline()
    writer.write(b"small\n")
    assert await reader.readline() == b"small\n"
    writer.write(b"y" * 4000 + b"\n")
    echoed = await reader.readexactly(3000 - 6)  # only what got through before the stall
    assert echoed == b"y" * len(echoed)
    late = asyncio.ensure_future(reader.read(1))
    done, _ = await asyncio.wait({late}, timeout=FAST.rtt * 5)
    assert not done  # nothing more arrives, and nothing closed the connection either
    late.cancel()
    writer.close()
    await link.stop()
    # The proxy stopped reading at the stall: the rest waits in the client's kernel.
    assert 3000 <= link.stats.bytes_up <= 6 + 4001
