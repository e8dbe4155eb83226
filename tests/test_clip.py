"""Event clips: a real ffmpeg records an MJPEG camera into a segment ring; clips are cut from it.

The camera's pictures carry their frame number as ten black or white blocks, so a decoded clip
tells which moments it holds; the server notes the wall-clock time each frame went out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
import os
from pathlib import Path
import re
import time

import numpy as np
from numpy.typing import NDArray
import pytest

from custom_components.ptz_email_alert.clip import clip_name
from custom_components.ptz_email_alert.const import CONF_RETRY_DELAYS, DOMAIN
from custom_components.ptz_email_alert.diagnostics import async_get_config_entry_diagnostics
from custom_components.ptz_email_alert.vision.clip_ring import (
    ClipConfig,
    ClipRing,
    Segment,
    concat_script,
    covering,
)
from custom_components.ptz_email_alert.vision.retention import prune
from homeassistant.components import media_source
from homeassistant.components.media_player import MediaClass
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from .camera_helpers import next_mail, setup_camera
from .camera_http import CameraHttp
from .scenes import FPS, HEIGHT, WIDTH, encode, ffmpeg_binary, gone, jpeg_sequence
from .smtp_server import ServerFactory
from .test_upload_entry import _until, _upload
from .upload_servers import FtpServer

BITS = 10
BLOCK = WIDTH // BITS
ROWS = slice(HEIGHT // 2 - 40, HEIGHT // 2 + 40)


def counter_frame(number: int) -> NDArray[np.uint8]:
    """A grey picture whose blocks spell ``number`` in binary."""
    frame = np.full((HEIGHT, WIDTH), 30, dtype=np.uint8)
    for bit in range(BITS):
        if number >> bit & 1:
            frame[ROWS, bit * BLOCK : (bit + 1) * BLOCK] = 225
    return frame


def read_counter(frame: NDArray[np.uint8]) -> int:
    """The number a decoded picture spells (block centres, so compression does not matter)."""
    middle = (ROWS.start + ROWS.stop) // 2
    return sum(
        1 << bit
        for bit in range(BITS)
        if frame[middle - 10 : middle + 10, bit * BLOCK + 10 : (bit + 1) * BLOCK - 10].mean() > 128
    )


class SentAt(list[bytes]):
    """The MJPEG server's pictures; notes when each is taken to be sent (wall clock)."""

    def __init__(self, pictures: list[bytes]) -> None:
        super().__init__(pictures)
        self.sent: list[tuple[float, int]] = []

    def __getitem__(self, index):  # type: ignore[no-untyped-def, override]
        self.sent.append((time.time(), index))
        return super().__getitem__(index)

    def number_at(self, moment: float) -> int:
        """The frame number that was on the wire at ``moment``."""
        return max(index for sent, index in self.sent if sent <= moment)


async def decode_clip(clip: bytes, tmp_path: Path) -> tuple[list[int], float]:
    """Every frame's number and the container's duration, decoded by real ffmpeg (no error)."""
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip)
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-i", str(path),
        "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    raw, errors = await process.communicate()
    assert process.returncode == 0, errors
    log = errors.decode()
    assert " error" not in log.lower(), log
    found = re.search(r"Duration: (\d+):(\d+):([\d.]+)", log)
    assert found is not None, log
    hours, minutes, seconds = found.groups()
    duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(-1, HEIGHT, WIDTH)
    return [read_counter(frame) for frame in frames], duration


@pytest.fixture(name="counter_pictures", scope="module")
def counter_pictures_fixture(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """30 s of numbered pictures, encoded by real ffmpeg (H.264, then JPEG as a camera sends)."""
    folder = tmp_path_factory.mktemp("counter")

    def frames() -> Iterator[NDArray[np.uint8]]:
        return (counter_frame(number) for number in range(30 * FPS))

    async def make() -> list[bytes]:
        video = await encode(frames(), folder / "counter.mp4")
        return await jpeg_sequence(video, width=WIDTH)

    return asyncio.run(make())


async def test_clip_covers_before_and_after_the_trigger(
    camera_http: CameraHttp, counter_pictures: list[bytes], tmp_path: Path
) -> None:
    """2 s before and 2 s after a trigger (±1 s), playable MP4; ffmpeg gone after the stop."""
    pictures = SentAt(counter_pictures)
    camera_http.mjpeg_frames = pictures
    camera_http.mjpeg_fps = FPS
    ring = ClipRing(
        ClipConfig(
            ffmpeg_binary(), camera_http.url("/mjpeg", None),
            segment_seconds=1, keep_seconds=6, folder=tmp_path,
        )
    )  # fmt: skip
    task = asyncio.create_task(ring.run())
    try:
        # Three seconds recorded: the trigger has its 2 s before it on disk.
        assert await ring.async_wait_recorded(time.time() + 3, wait=20)
        recorder = ring.pid
        assert recorder is not None
        trigger = time.time()
        clip = await ring.async_cut(trigger - 2, trigger + 2, wait=10)
        assert clip is not None
        numbers, duration = await decode_clip(clip, tmp_path)
        at_trigger = pictures.number_at(trigger)
        # The clip starts 2 s (20 frames) before the trigger and ends 2 s after it, ±1 s.
        assert abs(numbers[0] - (at_trigger - 2 * FPS)) <= 1.5 * FPS, (numbers, at_trigger)
        assert abs(numbers[-1] - (at_trigger + 2 * FPS)) <= FPS, (numbers, at_trigger)
        assert numbers == sorted(numbers)  # in order, no repeats from two segments
        assert len(set(numbers)) == len(numbers)
        assert abs(duration - 4) <= 1  # real time, not MJPEG's assumed 25 fps
        assert abs(len(numbers) - 4 * FPS) <= FPS
        # The ring stays bounded: old segments are deleted as new ones close.
        assert sum(1 for _ in tmp_path.glob("ptz-clips-*/*.mkv")) <= 6 / 1 + 3
    finally:
        await ring.stop()
        async with asyncio.timeout(5):
            await task
    assert gone(recorder)
    assert not list(tmp_path.glob("ptz-clips-*"))  # the ring's folder is deleted


async def test_h264_clip_starts_at_a_keyframe(
    counter_pictures: list[bytes], tmp_path: Path
) -> None:
    """H.264 as RTSP cameras send it (a keyframe a second), read in real time: segments close
    at keyframes, and the clip still covers its seconds and plays."""
    video = tmp_path / "counter-h264.mp4"
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS),
        "-i", "pipe:0", "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS),
        "-pix_fmt", "yuv420p", str(video),
        stdin=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await process.communicate(b"".join(counter_frame(n).tobytes() for n in range(30 * FPS)))
    assert process.returncode == 0
    ring = ClipRing(
        ClipConfig(ffmpeg_binary(), str(video), segment_seconds=1, realtime=True, folder=tmp_path)
    )
    task = asyncio.create_task(ring.run())
    try:
        assert await ring.async_wait_recorded(time.time() + 3, wait=20)
        first_close = ring.segments[0].start
        trigger = time.time()
        clip = await ring.async_cut(trigger - 2, trigger + 2, wait=10)
        assert clip is not None
        numbers, duration = await decode_clip(clip, tmp_path)
    finally:
        await ring.stop()
        async with asyncio.timeout(5):
            await task
    # The file plays from its start at the first segment's start: frame n at n / FPS after it.
    at_trigger = round((trigger - first_close) * FPS)
    assert abs(numbers[0] - (at_trigger - 2 * FPS)) <= FPS, (numbers, at_trigger)
    assert abs(numbers[-1] - (at_trigger + 2 * FPS)) <= FPS, (numbers, at_trigger)
    # 4 s asked; a cut starts at the keyframe before its first second (up to 1 s early here).
    assert 3 <= duration <= 5.5


async def test_clip_after_the_stop_is_none(camera_http: CameraHttp, tmp_path: Path) -> None:
    """A cut waiting for its seconds after ends at once, empty, when the ring stops."""
    ring = ClipRing(ClipConfig(ffmpeg_binary(), camera_http.url("/mjpeg", None), folder=tmp_path))
    task = asyncio.create_task(ring.run())
    cut = asyncio.create_task(ring.async_cut(time.time(), time.time() + 60, wait=60))
    assert await ring.async_wait_recorded(time.time() + 1, wait=20)
    await ring.stop()
    async with asyncio.timeout(5):
        assert await cut is None
        await task


async def test_hung_camera_is_reconnected(
    camera_http: CameraHttp, counter_pictures: list[bytes], tmp_path: Path
) -> None:
    """A camera that stops sending with its connection open: the recorder is ended (its
    process gone) and a new one records again."""
    camera_http.mjpeg_frames = counter_pictures
    camera_http.mjpeg_fps = FPS
    camera_http.mjpeg_hang_after = 3 * FPS  # the first connection goes silent after 3 s
    ring = ClipRing(
        ClipConfig(
            ffmpeg_binary(), camera_http.url("/mjpeg", None),
            segment_seconds=1, stall_timeout=2, folder=tmp_path,
        ),
        backoff=(0.5,),
    )  # fmt: skip
    task = asyncio.create_task(ring.run())
    try:
        assert await ring.async_wait_recorded(time.time() + 1, wait=20)
        first = ring.pid
        assert first is not None
        # Silent from about 3 s; ended 2 s later; then recording again.
        assert await ring.async_wait_recorded(time.time() + 6, wait=30)
        assert camera_http.mjpeg_connections == 2
        assert ring.pid not in (None, first)
        assert gone(first)
        assert ring.last_error == "no segment for 2 s"
    finally:
        await ring.stop()
        async with asyncio.timeout(5):
            await task


async def test_stopped_before_it_ran(tmp_path: Path) -> None:
    """A ring stopped before its task ran starts nothing and leaves no folder."""
    ring = ClipRing(ClipConfig(ffmpeg_binary(), "rtsp://127.0.0.1:9/none", folder=tmp_path))
    await ring.stop()
    async with asyncio.timeout(5):
        await ring.run()
    assert ring.pid is None
    assert not list(tmp_path.iterdir())


def test_concat_script_trims_the_first_and_last_segment() -> None:
    """In and out points are offsets in the first and last segment; the middle is whole."""
    segments = [Segment(Path(f"/ring/s{i}.mkv"), 100.0 + 2 * i, 102.0 + 2 * i) for i in range(5)]
    chosen = covering(segments, 103.5, 107.25)
    assert [s.path.name for s in chosen] == ["s1.mkv", "s2.mkv", "s3.mkv"]
    assert concat_script(chosen, 103.5, 107.25) == (
        "ffconcat version 1.0\n"
        "file '/ring/s1.mkv'\ninpoint 1.500\n"
        "file '/ring/s2.mkv'\n"
        "file '/ring/s3.mkv'\noutpoint 1.250\n"
    )
    quoted = concat_script([Segment(Path("/r/it's.mkv"), 0, 1)], 0, 1)
    assert "file '/r/it'\\''s.mkv'" in quoted


async def test_alert_clip_saved_linked_and_attached(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    camera_http: CameraHttp,
    counter_pictures: list[bytes],
    tmp_path: Path,
) -> None:
    """An alert's clip: named in the email, attached (clip_attach), saved beside the pictures
    as the MP4 that covers 2 s before and after the trigger, uploaded with the same name; the
    ring's ffmpeg ends on unload."""
    media = tmp_path / "media"
    hass.config.media_dirs = {"local": str(media)}
    pictures = SentAt(counter_pictures)
    camera_http.mjpeg_frames = pictures
    camera_http.mjpeg_fps = FPS
    server = await smtp_server("starttls")
    entry = await setup_camera(
        hass, server, camera_http.url("/mjpeg", None), burst_count=1, max_email_kb=5000,
        # The counter's blocks change every frame: not motion to alert on.
        ignore_areas="counter: 0,0.3 1,0.3 1,0.7 0,0.7",
        clip_before=2, clip_after=2, clip_attach=True,
    )  # fmt: skip
    ftp = FtpServer(tmp_path / "ftp")
    upload_options = _upload("ftp", await ftp.start()) | {CONF_RETRY_DELAYS: [0]}
    hass.config_entries.async_update_entry(entry, options={**entry.options, **upload_options})
    await hass.async_block_till_done()  # reloaded with the upload target
    monitor = next(iter(entry.runtime_data.cameras.values()))
    ring = monitor.alerts.clips.ring
    assert ring is not None
    assert await ring.async_wait_recorded(time.time() + 3, wait=20)
    recorder = ring.pid
    assert recorder is not None

    record = await monitor.async_trigger("motion")
    assert record is not None
    at_trigger = pictures.number_at(record.time.timestamp())
    (mail,) = await next_mail(server, 1)
    name = clip_name(record.time, "motion")
    day = dt_util.as_local(record.time).strftime("%Y-%m-%d")
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None
    assert f"media-source://{DOMAIN}/front_gate/{day}/{name}" in body.get_content()
    (attached,) = [
        part.get_content() for part in mail.message.walk() if part.get_content_type() == "video/mp4"
    ]
    async with asyncio.timeout(30):
        await asyncio.gather(*monitor.alerts.clips._saving)
    saved = media / DOMAIN / "front_gate" / day / name
    assert saved.read_bytes() == attached  # one cut, mailed and kept
    assert ring._folder is not None
    assert not list(ring._folder.glob("cut*"))  # moved into the media folder, nothing left
    numbers, _duration = await decode_clip(attached, tmp_path)
    assert abs(numbers[0] - (at_trigger - 2 * FPS)) <= FPS, (numbers, at_trigger)
    assert abs(numbers[-1] - (at_trigger + 2 * FPS)) <= FPS, (numbers, at_trigger)
    upload = entry.runtime_data.upload
    await _until(upload, lambda: not upload.queue.items)
    assert (tmp_path / "ftp" / "Front Gate" / day / name).read_bytes() == attached

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert gone(recorder)
    await ftp.stop()


async def test_email_goes_before_its_clip(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    camera_http: CameraHttp,
    counter_pictures: list[bytes],
    tmp_path: Path,
) -> None:
    """Without clip_attach the email does not wait: it names the clip, which is saved later
    and is a video in the media browser."""
    media = tmp_path / "media"
    hass.config.media_dirs = {"local": str(media)}
    assert await async_setup_component(hass, "media_source", {})
    camera_http.mjpeg_frames = counter_pictures
    camera_http.mjpeg_fps = FPS
    server = await smtp_server("starttls")
    entry = await setup_camera(
        hass, server, camera_http.url("/mjpeg", None), burst_count=1,
        ignore_areas="counter: 0,0.3 1,0.3 1,0.7 0,0.7", clip_before=1, clip_after=3,
    )  # fmt: skip
    monitor = next(iter(entry.runtime_data.cameras.values()))
    ring = monitor.alerts.clips.ring
    assert ring is not None
    assert await ring.async_wait_recorded(time.time() + 1, wait=20)

    record = await monitor.async_trigger("motion")
    assert record is not None
    (mail,) = await next_mail(server, 1)
    day = dt_util.as_local(record.time).strftime("%Y-%m-%d")
    name = clip_name(record.time, "motion")
    saved = media / DOMAIN / "front_gate" / day / name
    assert not saved.exists()  # the email went first
    assert not [p for p in mail.message.walk() if p.get_content_type() == "video/mp4"]
    async with asyncio.timeout(30):
        await asyncio.gather(*monitor.alerts.clips._saving)
    assert saved.stat().st_size > 0

    folder = await media_source.async_browse_media(
        hass, f"media-source://{DOMAIN}/front_gate/{day}"
    )
    (video,) = [c for c in folder.children if c.media_content_id.endswith(f"/{name}")]
    assert video.media_class == MediaClass.VIDEO
    assert video.title.endswith("Motion Detected – clip")  # readable, the event kept
    resolved = await media_source.async_resolve_media(hass, video.media_content_id, None)
    assert resolved.mime_type == "video/mp4"
    (camera,) = (await async_get_config_entry_diagnostics(hass, entry))["cameras"]
    assert camera["clip"]["recording"]
    assert camera["clip"]["segments"] > 0
    assert await hass.config_entries.async_unload(entry.entry_id)


def test_retention_removes_old_clips(tmp_path: Path) -> None:
    """Clips expire with the pictures of their alert."""
    day = tmp_path / "front_gate" / "2025-05-01"
    day.mkdir(parents=True)
    old = [day / "120000-000_motion_1.jpg", day / "120000-000_motion.mp4"]
    for path in old:
        path.write_bytes(b"x")
        os.utime(path, (1_700_000_000, 1_700_000_000))
    now = dt_util.utcnow()
    removed = prune(tmp_path, max_age=timedelta(days=1), max_bytes=2**30, now=now)
    assert sorted(removed) == sorted(old)
