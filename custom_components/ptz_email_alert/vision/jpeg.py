"""Keep an alert email under its size budget: re-encode JPEGs only when they do not fit."""

from __future__ import annotations

from collections.abc import Sequence
import io

import numpy as np
from PIL import Image, ImageDraw

from .frames import GreyPixels

# base64 makes attachments 4/3 larger; headers, text and HTML take a few KB more.
_BASE64 = 4 / 3
_OVERHEAD = 8 * 1024


def email_size(images: Sequence[bytes]) -> int:
    """About how large an email with these JPEGs is."""
    return email_size_of([len(image) for image in images])


def email_size_of(sizes: Sequence[int]) -> int:
    """About how large an email with attachments of these sizes (bytes) is."""
    return int(sum(sizes) * _BASE64) + _OVERHEAD


def fit_to_budget(images: Sequence[bytes], max_email_bytes: int) -> list[bytes]:
    """The JPEGs as produced if they fit; else smaller versions (quality, then size) that do.

    CPU work: run in an executor.
    """
    if email_size(images) <= max_email_bytes:
        return list(images)
    pictures = [Image.open(io.BytesIO(image)) for image in images]
    scale = 1.0
    for quality in (70, 55, 40, 30, 30, 30, 30):
        resized = [
            picture
            if scale == 1.0
            else picture.resize(
                (max(16, int(picture.width * scale)), max(16, int(picture.height * scale)))
            )
            for picture in pictures
        ]
        encoded = [_encode(picture, quality) for picture in resized]
        if email_size(encoded) <= max_email_bytes:
            return encoded
        if quality == 30:
            scale *= 0.75
    return encoded


def _encode(picture: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def grey_from_jpeg(jpeg: bytes, width: int = 320) -> GreyPixels | None:
    """A detection frame from a still picture (CPU: executor)."""
    try:
        picture = Image.open(io.BytesIO(jpeg))
        picture.draft("L", (width, width))  # let the JPEG decoder skip detail it can
        grey = picture.convert("L")
    except OSError:
        return None
    height = max(2, round(grey.height * width / grey.width / 2) * 2)
    pixels: GreyPixels = np.asarray(grey.resize((width, height)), dtype=np.uint8)
    return pixels


def draw_layout(
    jpeg: bytes,
    zones: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    lines: Sequence[tuple[str, tuple[float, float], tuple[float, float]]],
    ignored: Sequence[tuple[str, Sequence[tuple[float, float]]]] = (),
) -> bytes:
    """The picture with zones (yellow), lines (red, a dot at the start), ignored areas (grey).

    CPU work: run in an executor.
    """
    picture = Image.open(io.BytesIO(jpeg)).convert("RGB")
    draw = ImageDraw.Draw(picture)
    width, height = picture.size
    thickness = max(2, width // 320)
    for name, polygon in ignored:
        points = [(x * width, y * height) for x, y in polygon]
        draw.polygon(points, outline=(160, 160, 160), width=thickness)
        draw.text((points[0][0] + 4, points[0][1] + 4), name, fill=(160, 160, 160))
    for name, polygon in zones:
        points = [(x * width, y * height) for x, y in polygon]
        draw.polygon(points, outline=(255, 214, 0), width=thickness)
        draw.text((points[0][0] + 4, points[0][1] + 4), name, fill=(255, 214, 0))
    for name, start, end in lines:
        a = (start[0] * width, start[1] * height)
        b = (end[0] * width, end[1] * height)
        draw.line([a, b], fill=(230, 30, 30), width=thickness)
        r = thickness * 2
        draw.ellipse([a[0] - r, a[1] - r, a[0] + r, a[1] + r], fill=(230, 30, 30))
        draw.text((a[0] + 6, a[1] + 6), name, fill=(230, 30, 30))
    return _encode(picture, 85)
