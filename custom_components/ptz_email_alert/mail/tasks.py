"""Task clean-up shared by the mail and upload clients."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` if it still runs and wait until it has cleaned up.

    Its own outcome no longer matters (the caller already has one), so it is retrieved here;
    a cancellation of the caller while it waits still propagates.
    """
    if not task.done():
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled():
        task.exception()
