"""Ending a child process group within a bound, whatever it does with SIGTERM.

ffmpeg runs in its own process group (``start_new_session``), so that a wrapper script and the
ffmpeg it starts end together. ffmpeg handles SIGTERM only between writes: blocked on a full
pipe, it never sees it. And asyncio reports a child's exit only once its pipes are closed. So
ending means: signal the group, read out the pipes, wait a bounded time, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

_LOGGER = logging.getLogger(__name__)

GRACE = 2.0  # seconds a process gets after each signal


def signal_group(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """Send ``sig`` to ``process`` and its group (it leads its own session), if still there."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)


async def _discard(stream: asyncio.StreamReader | None) -> None:
    while stream is not None and await stream.read(65536):
        pass


async def _exited(process: asyncio.subprocess.Process) -> None:
    await asyncio.gather(_discard(process.stdout), _discard(process.stderr))
    await process.wait()


async def end_process(
    process: asyncio.subprocess.Process, first: signal.Signals = signal.SIGTERM
) -> None:
    """End ``process``'s group: ``first``, then SIGKILL after GRACE s; returns within 2 GRACE.

    The caller must no longer read stdout or stderr: they are read out (and dropped) here.
    """
    for sig in dict.fromkeys((first, signal.SIGKILL)):
        signal_group(process, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_exited(process), GRACE)
            return
    _LOGGER.warning("ffmpeg (process %s) still there %.0f s after SIGKILL", process.pid, GRACE)
