"""The burst as one small animated GIF, shown first in the email (phones play it inline).

CPU work: run in an executor.
"""

from __future__ import annotations

from collections.abc import Sequence
import io

from PIL import Image

PREVIEW_WIDTH = 320


def animated_preview(
    jpegs: Sequence[bytes], interval: float, width: int = PREVIEW_WIDTH
) -> bytes | None:
    """An endlessly looping GIF of ``jpegs`` at ``interval`` seconds a frame (None if < 2)."""
    if len(jpegs) < 2:
        return None
    frames = []
    for jpeg in jpegs:
        source = Image.open(io.BytesIO(jpeg))
        source.draft("RGB", (width, width))  # the decoder skips detail it can
        picture = source.convert("RGB")
        height = max(1, round(picture.height * width / picture.width))
        # An adaptive palette per frame: small, and faithful enough for a glance.
        frames.append(
            picture.resize((width, height)).quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        )
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=max(100, int(interval * 1000)),
        loop=0,
        optimize=True,
    )
    return buffer.getvalue()
