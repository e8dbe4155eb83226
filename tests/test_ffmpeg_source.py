"""FfmpegSource against real ffmpeg and real streams: time, damage, stderr, stopping, secrets.

Every source here is a real process on real bytes: MJPEG and HLS from an aiohttp camera on
loopback, the pedestrian footage as a file, and small shell wrappers around the real ffmpeg
where a test needs its output damaged or a process that outlives its parent's signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
import signal
import tracemalloc

import pytest

from custom_components.ptz_email_alert.snapshot import redact_url as snapshot_redact_url
from custom_components.ptz_email_alert.vision.ffmpeg_source import (
    SourceConfig,
    ffmpeg_arguments,
)
from custom_components.ptz_email_alert.vision.frames import GreyFrame
from custom_components.ptz_email_alert.vision.pipes import PgmStream
from custom_components.ptz_email_alert.vision.redact import redact_text, redact_url

from .camera_http import CameraHttp
from .scenes import (
    LOGGER_NAME,
    PEDESTRIANS,
    Recorder,
    decode,
    ffmpeg_binary,
    gone,
    hls_folder,
    jpeg_sequence,
    running,
    waiting_for_log,
    wrapper,
)

# 1. Time ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "realtime", "flags", "wall_clock"),
    [
        ("rtsp://admin:pw@10.0.0.2:554/stream1", False, ["-rtsp_transport", "tcp"], False),
        ("http://10.0.0.2/mjpg/video.mjpg", False, [], True),
        ("https://10.0.0.2/cgi-bin/mjpeg?stream=0", False, [], True),
        ("http://10.0.0.2/hls/live.m3u8?token=x", False, [], False),
        ("/media/recording.mp4", True, ["-re"], False),
        ("/media/recording.mp4", False, [], False),
    ],
    ids=["rtsp", "http_mjpeg", "https_mjpeg", "hls", "file_realtime", "file_fast"],
)
def test_arguments_per_source_kind(
    url: str, realtime: bool, flags: list[str], wall_clock: bool
) -> None:
    arguments = ffmpeg_arguments(SourceConfig(ffmpeg="ffmpeg", url=url, realtime=realtime), 5)
    before_input = arguments[: arguments.index("-i")]
    for flag in flags:
        assert flag in before_input
    assert ("-re" in before_input) == realtime
    filters = [arguments[i + 1] for i, value in enumerate(arguments) if value == "-vf"]
    assert len(filters) == 2
    # Wall-clock time stamps, set before the fps filter of each output, or none at all.
    assert all(("RTCTIME" in chain.split("fps=")[0]) == wall_clock for chain in filters)


async def test_mjpeg_over_http_keeps_real_time(camera_http: CameraHttp) -> None:
    """MJPEG carries no time: ffmpeg would count its 10 fps as 25 fps, 2.5x slow."""
    camera_http.mjpeg_frames = await jpeg_sequence(PEDESTRIANS)
    recorder = Recorder()
    source = recorder.source(camera_http.url("/mjpeg", None), snapshot_fps=2.0)
    async with running(source):
        await recorder.until(
            lambda: len(recorder.greys) > 1 and recorder.greys[-1][0] - recorder.greys[0][0] >= 3
        )
    for frames in (recorder.greys, recorder.jpegs):
        (first_wall, first), (last_wall, last) = frames[0], frames[-1]
        assert last.time - first.time == pytest.approx(last_wall - first_wall, rel=0.25)


async def test_camera_that_hangs_with_the_connection_open_is_reconnected(
    camera_http: CameraHttp, caplog: pytest.LogCaptureFixture
) -> None:
    """A camera that stops sending but keeps the socket open: not "connected" for ever."""
    camera_http.mjpeg_frames = await jpeg_sequence(PEDESTRIANS)
    camera_http.mjpeg_hang_after = 10  # one second of pictures, then silence
    caplog.set_level(logging.DEBUG)
    recorder = Recorder()
    source = recorder.source(camera_http.url("/mjpeg", None), stall_timeout=1.0)
    async with running(source):
        await recorder.until(lambda: recorder.connections[:3] == [True, False, True], within=15)
    assert camera_http.mjpeg_connections == 2  # it reconnected, and the new stream flows
    assert "ended: no picture for 1 s" in caplog.text


async def test_hls_keeps_its_own_time(tmp_path: Path, socket_enabled: None) -> None:
    """HLS comes a segment at a time, in bursts: frame times must be the stream's own."""
    await hls_folder(PEDESTRIANS, tmp_path / "hls")
    server = CameraHttp(static_dir=tmp_path / "hls")
    await server.start()
    try:
        greys, jpegs = await decode(server.url("/files/index.m3u8", None))
    finally:
        await server.stop()
    # 4 s of footage at 5 grey frames a second, however fast the segments came.
    assert len(greys) == pytest.approx(20, abs=2)
    assert greys[-1].time == pytest.approx(3.8, abs=0.4)
    assert jpegs[-1].time == pytest.approx(3.5, abs=0.6)


# 2. Damaged output ------------------------------------------------------------------------


async def pgm_stream(path: Path) -> bytes:
    """Real ffmpeg output: the footage as grey PGM frames, 320 wide, as FfmpegSource reads."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
        "-vf", "scale=320:-2,format=gray", "-c:v", "pgm", "-f", "image2pipe", "pipe:1",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode == 0
    return output


def read_all(stream: PgmStream, data: bytes, chunk: int = 4096) -> list[GreyFrame]:
    frames: list[GreyFrame] = []
    for start in range(0, len(data), chunk):
        frames += [GreyFrame(0.0, pixels) for pixels in stream.feed(data[start : start + chunk])]
    return frames


async def test_damaged_pgm_frames_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    clean = await pgm_stream(PEDESTRIANS)
    expected = read_all(PgmStream(), clean)
    assert len(expected) == 20
    size = len(clean) // 20
    garbage = b"\x00\xffP5 not a header\n" + bytes(range(256)) * 4
    # Inside frame 5's pixels (it comes out shifted), then between frames 12 and 13.
    damaged = (
        clean[: 5 * size + 999] + garbage + clean[5 * size + 999 : 13 * size]
        + garbage + clean[13 * size :]
    )  # fmt: skip
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    frames = read_all(PgmStream(), damaged)
    assert len(frames) == 20
    assert all(frame.pixels.shape == (240, 320) for frame in frames)
    for got, want in zip(frames[6:], expected[6:], strict=True):
        assert (got.pixels == want.pixels).all()
    damage_lines = [r for r in caplog.records if "grey frames were damaged" in r.getMessage()]
    assert len(damage_lines) == 2


async def test_ffmpeg_output_damaged_midway_keeps_decoding(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A real ffmpeg whose stdout gets garbage after 300 000 bytes (inside the 4th frame).
    ffmpeg = wrapper(
        tmp_path,
        "ffmpeg-damaged",
        'exec "$REAL" "$@" > >(head -c 300000; printf "P5 damaged pipe"; exec cat)',
    )
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    recorder = Recorder()
    async with running(recorder.source(PEDESTRIANS, ffmpeg=ffmpeg)):
        await recorder.until(lambda: recorder.connections[-2:] == [True, False])
    assert len(recorder.greys) == 20
    damage = [r.levelno for r in caplog.records if "grey frames were damaged" in r.getMessage()]
    assert damage == [logging.WARNING]


async def test_run_loop_survives_an_unexpected_error(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    failed = False

    def on_grey(frame: GreyFrame) -> None:
        nonlocal failed
        if not failed:
            failed = True
            raise RuntimeError("detector bug")
        recorder.on_grey(frame)

    async with running(recorder.source(PEDESTRIANS, on_grey=on_grey)):
        await recorder.until(lambda: len(recorder.greys) >= 20)
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.levelno == logging.ERROR
    assert "detector bug" in caplog.text  # the traceback


# 3. stderr --------------------------------------------------------------------------------


async def test_stderr_is_kept_bounded(tmp_path: Path) -> None:
    # 16 MB of warnings before the real ffmpeg starts; the last line is what counts.
    ffmpeg = wrapper(
        tmp_path,
        "ffmpeg-chatty",
        'yes "[h264 @ 0x0] concealing errors in P frame" | head -c 16000000 >&2\n'
        'printf "\\nlast words\\n" >&2\nexec "$REAL" "$@"',
    )
    recorder = Recorder(keep_frames=False)
    source = recorder.source(PEDESTRIANS, ffmpeg=ffmpeg)
    tracemalloc.start()
    try:
        async with running(source):
            await recorder.until(lambda: recorder.connections[-2:] == [True, False])
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert recorder.grey_count == 20
    assert peak < 4_000_000  # today's reader held all 16 MB (twice, joined)
    assert source.last_error == "last words"


# 4. Stopping ------------------------------------------------------------------------------


async def test_killed_ffmpeg_reconnects_and_stop_leaves_nothing() -> None:
    recorder = Recorder(keep_frames=False)
    source = recorder.source(PEDESTRIANS, realtime=True, loop_file=True)
    before = asyncio.all_tasks()
    pids: list[int] = []
    async with running(source):
        for kill in range(4):
            await recorder.until(lambda: recorder.connections.count(True) == len(pids) + 1)
            assert source.pid is not None
            pids.append(source.pid)
            if kill < 3:
                os.kill(source.pid, signal.SIGKILL)
    assert recorder.connections == [True, False] * 3 + [True]
    assert len(set(pids)) == 4
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert source.pid is None
    left = {task for task in asyncio.all_tasks() - before if task is not asyncio.current_task()}
    assert all(task.done() for task in left)


async def test_cancel_ends_ffmpeg_blocked_on_a_full_pipe() -> None:
    """Cancelled (as at shutdown) while ffmpeg decodes faster than anyone reads: ffmpeg sits
    in a write, where it does not see SIGTERM; the pipes are read out so that it does."""
    recorder = Recorder(keep_frames=False)
    source = recorder.source(PEDESTRIANS, loop_file=True)
    task = asyncio.create_task(source.run())
    await recorder.until(lambda: recorder.connections == [True])
    pid = source.pid
    assert pid is not None
    task.cancel()
    async with asyncio.timeout(3):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    await source.stop()


async def test_sigkill_after_grace_when_sigterm_is_not_enough(tmp_path: Path) -> None:
    """A wrapper that ignores SIGTERM and restarts ffmpeg whenever it ends."""
    pids = tmp_path / "pids"
    ffmpeg = wrapper(
        tmp_path,
        "ffmpeg-supervised",
        f'trap "" TERM\nwhile true; do "$REAL" "$@" & echo $! >> {pids}; wait $!; done',
    )
    recorder = Recorder(keep_frames=False)
    source = recorder.source(PEDESTRIANS, ffmpeg=ffmpeg, realtime=True, loop_file=True)
    task = asyncio.create_task(source.run())
    await recorder.until(lambda: recorder.connections == [True])
    wrapper_pid = source.pid
    assert wrapper_pid is not None
    loop = asyncio.get_running_loop()
    cancelled_at = loop.time()
    task.cancel()
    async with asyncio.timeout(6):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert 1.9 < loop.time() - cancelled_at < 4  # SIGTERM, 2 s, SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(wrapper_pid, 0)
    assert all(gone(int(pid)) for pid in pids.read_text().split())
    await source.stop()


async def test_stop_ends_a_wrapper_and_its_ffmpeg(tmp_path: Path) -> None:
    """A wrapper script that ignores SIGTERM and runs ffmpeg as its child: both end."""
    child_pid = tmp_path / "child.pid"
    ffmpeg = wrapper(
        tmp_path, "ffmpeg-wrapped", f'trap "" TERM\n"$REAL" "$@" &\necho $! > {child_pid}\nwait'
    )
    recorder = Recorder(keep_frames=False)
    source = recorder.source(PEDESTRIANS, ffmpeg=ffmpeg, realtime=True, loop_file=True)
    async with running(source):
        await recorder.until(lambda: recorder.connections == [True])
        wrapper_pid = source.pid
    assert wrapper_pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(wrapper_pid, 0)
    assert gone(int(child_pid.read_text()))


# 5. Secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "rtsp://admin:Secret-1@192.168.1.20:554/h264Preview_01_main",
            "rtsp://192.168.1.20:554/h264Preview_01_main",
        ),
        (  # Reolink snapshot
            "http://192.168.1.20/cgi-bin/api.cgi?cmd=Snap&channel=0&rs=abc&user=admin&password=Secret-1",
            "http://192.168.1.20/cgi-bin/api.cgi?cmd=Snap&channel=0&rs=abc&user=***&password=***",
        ),
        (  # Reolink FLV
            "http://192.168.1.20/flv?port=1935&app=bcs&stream=channel0_main.bcs&token=Secret-1",
            "http://192.168.1.20/flv?port=1935&app=bcs&stream=channel0_main.bcs&token=***",
        ),
        (  # Foscam
            "http://192.168.1.21:88/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&usr=admin&pwd=Secret-1",
            "http://192.168.1.21:88/cgi-bin/CGIProxy.fcgi?cmd=snapPicture2&usr=***&pwd=***",
        ),
        (
            "https://cam.example/api?PassWd=a&pass=b&auth=c&key=d&secret=e&api_key=f&access_token=g",
            "https://cam.example/api?PassWd=***&pass=***&auth=***&key=***&secret=***&api_key=***"
            "&access_token=***",
        ),
        (  # a password with an unescaped "/" and "@" in it
            "rtsp://admin:pa/ss@word@10.0.0.2/stream",
            "rtsp://10.0.0.2/stream",
        ),
        ("http://10.0.0.2:8080/snap.jpg?channel=1", "http://10.0.0.2:8080/snap.jpg?channel=1"),
        ("/media/recording.mp4", "/media/recording.mp4"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert snapshot_redact_url(url) == expected  # the name the Home Assistant layer imports


def test_redact_text_finds_urls_in_ffmpeg_lines() -> None:
    line = (
        "Error opening input file rtsp://admin:Secret-1@127.0.0.1:9/h264?token=Secret-2. "
        "[http @ 0x1] user=admin password=Secret-3"
    )
    redacted = redact_text(line)
    assert "Secret" not in redacted
    assert redacted.startswith("Error opening input file rtsp://127.0.0.1:9/h264?token=***")


async def test_ffmpeg_error_with_a_password_stays_out_of_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    # Port 9 (discard) is closed on loopback here: ffmpeg fails at once.
    url = "http://admin:Secret-1@127.0.0.1:9/cgi-bin/api.cgi?cmd=Snap&user=admin&password=Secret-2"
    recorder = Recorder()
    source = recorder.source(url, backoff=60)
    with waiting_for_log("ended") as waiter:
        async with running(source):
            async with asyncio.timeout(10):
                await waiter.seen.wait()
    assert "Connection refused" in source.last_error
    assert "Secret" not in source.last_error
    assert "Secret" not in caplog.text
    assert "127.0.0.1:9" in caplog.text
