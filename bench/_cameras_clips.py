"""Cameras bench, items 1 and 5: on the footage file, ffmpeg's decode cost against the
analyser's detection cost, and the size of the alert email its snapshots make."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
import contextlib
from dataclasses import dataclass, field
import datetime as dt
from pathlib import Path
import re
import subprocess
import time
from types import ModuleType

from _cameras_settings import (
    BUDGET,
    FFMPEG,
    FOOTAGE,
    LINES,
    RECIPIENT,
    SENDER,
    SNAPSHOT_FPS,
    WITH_PERSON,
    WITHOUT_PERSON,
    ZONES,
    Plan,
    analyser_config,
    children_cpu,
)

from custom_components.ptz_email_alert.const import DEFAULT_BURST_INTERVAL
from custom_components.ptz_email_alert.mail import EmailContent, RawMessage, build_message
from custom_components.ptz_email_alert.mail.alert import (
    DEFAULT_SUBJECT_TEMPLATE,
    alert_content,
    render_subject,
)
from custom_components.ptz_email_alert.vision.analyser import Analyser
from custom_components.ptz_email_alert.vision.analytics import (
    LineCrossingDetector,
    TamperDetector,
    Tracker,
    ZoneDetector,
)
from custom_components.ptz_email_alert.vision.ffmpeg_source import FfmpegSource, SourceConfig
from custom_components.ptz_email_alert.vision.frames import GreyFrame, JpegFrame
from custom_components.ptz_email_alert.vision.jpeg import fit_to_budget
from custom_components.ptz_email_alert.vision.layout import parse_lines, parse_zones
from custom_components.ptz_email_alert.vision.motion import MotionDetector, MotionResult
from custom_components.ptz_email_alert.vision.person import Detection, PersonDetector

# 1. Detection cost against decode cost --------------------------------------------------------


@dataclass(slots=True)
class Clip:
    name: str
    path: Path
    size: str
    source_frames: int = 0
    decode_only_cpu: float = 0.0  # ffmpeg decoding to nothing (-f null), seconds
    pipeline_cpu: list[float] = field(default_factory=list)  # ffmpeg of FfmpegSource, seconds
    greys: list[GreyFrame] = field(default_factory=list)
    jpegs: list[JpegFrame] = field(default_factory=list)

    @property
    def decode_ms(self) -> float:
        """ffmpeg CPU per source frame, decoding to the pipeline's outputs (best of runs)."""
        return min(self.pipeline_cpu) / self.source_frames * 1000


def make_720p(folder: Path) -> Path:
    """The footage scaled to 1280x720, H.264 (libx264 veryfast, same frame rate)."""
    target = folder / "footage-720p.mp4"
    subprocess.run(
        [
            FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(FOOTAGE),
            "-an", "-vf", "scale=1280:720", "-c:v", "libx264", "-preset", "veryfast",
            "-pix_fmt", "yuv420p", str(target),
        ],
        check=True,
    )  # fmt: skip
    return target


def decode_only(clip: Clip) -> None:
    """Frame count and CPU of ffmpeg decoding the file to nothing: the decoder alone."""
    before = children_cpu()
    done = subprocess.run(
        [
            FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-nostats",
            "-progress", "pipe:1", "-i", str(clip.path), "-an", "-map", "0:v:0", "-f", "null", "-",
        ],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    clip.decode_only_cpu = children_cpu() - before
    clip.source_frames = int(re.findall(r"^frame=(\d+)$", done.stdout, re.M)[-1])


async def decode_pipeline(clip: Clip) -> None:
    """Run FfmpegSource over the whole file as fast as it goes; keep its frames and CPU."""
    greys: list[GreyFrame] = []
    jpegs: list[JpegFrame] = []
    ended = asyncio.Event()

    def on_connected(connected: bool) -> None:
        if not connected:  # called once ffmpeg has exited and been waited for
            ended.set()

    source = FfmpegSource(
        SourceConfig(FFMPEG, str(clip.path), snapshot_fps=SNAPSHOT_FPS),
        on_grey=greys.append,
        on_jpeg=jpegs.append,
        on_connected=on_connected,
    )
    before = children_cpu()
    task = asyncio.create_task(source.run())
    try:
        async with asyncio.timeout(120):
            await ended.wait()
    finally:
        # run() would reopen the file after its back-off: cancel it in that sleep.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    clip.pipeline_cpu.append(children_cpu() - before)
    clip.greys, clip.jpegs = greys, jpegs


class CountingPersonDetector(PersonDetector):
    """PersonDetector that counts its calls and their CPU and wall time."""

    def __init__(self, cv2: ModuleType) -> None:
        super().__init__(cv2)
        self.calls = 0
        self.cpu = 0.0
        self.wall = 0.0

    def detect(
        self, jpeg: bytes, regions: Sequence[tuple[float, float, float, float]] | None = None
    ) -> list[Detection]:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            return super().detect(jpeg, regions)
        finally:
            self.calls += 1
            self.cpu += time.process_time() - cpu
            self.wall += time.perf_counter() - wall


@dataclass(slots=True)
class Detect:
    cpu_ms: float  # per analysed frame
    wall_ms: float
    person_calls: int = 0
    person_cpu_ms: float = 0.0  # per call
    person_wall_ms: float = 0.0
    findings: Counter[str] = field(default_factory=Counter)


def latest_jpegs(clip: Clip) -> list[JpegFrame | None]:
    """For each grey frame, the newest JPEG at or before it (what the ring holds live)."""
    result: list[JpegFrame | None] = []
    index = -1
    for frame in clip.greys:
        while index + 1 < len(clip.jpegs) and clip.jpegs[index + 1].time <= frame.time:
            index += 1
        result.append(clip.jpegs[index] if index >= 0 else None)
    return result


def detect(clip: Clip, detections: Sequence[str], opencv: ModuleType | None) -> Detect:
    """Analyser.analyse on every grey frame in order; CPU of the whole process (OpenCV's
    threads included), which does nothing else meanwhile."""
    # Without OpenCV handed over, the analyser builds no object detector of its own: it uses
    # the counting one given here.
    analyser = Analyser(analyser_config(detections))
    person: CountingPersonDetector | None = None
    if "person" in detections and opencv is not None:
        person = analyser.objects = CountingPersonDetector(opencv)
    latest = latest_jpegs(clip)
    findings: Counter[str] = Counter()
    cpu, wall = time.process_time(), time.perf_counter()
    for frame, jpeg in zip(clip.greys, latest, strict=True):
        findings.update(finding.event_type for finding in analyser.analyse(frame, jpeg))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    frames = len(clip.greys)
    result = Detect(cpu / frames * 1000, wall / frames * 1000, findings=findings)
    if person is not None and person.calls:
        result.person_calls = person.calls
        result.person_cpu_ms = person.cpu / person.calls * 1000
        result.person_wall_ms = person.wall / person.calls * 1000
    return result


def components(clip: Clip) -> dict[str, float]:
    """CPU ms per frame of each detector on its own (as Analyser configures them)."""
    costs: dict[str, float] = {}
    motion = MotionDetector(6)
    results: list[MotionResult] = []
    started = time.process_time()
    results.extend(motion.process(frame.pixels) for frame in clip.greys)
    costs["motion"] = time.process_time() - started
    tamper = TamperDetector()
    started = time.process_time()
    for frame in clip.greys:
        tamper.update(frame.pixels, frame.time)
    costs["tamper"] = time.process_time() - started
    tracker = Tracker()
    lines = LineCrossingDetector(parse_lines(LINES))
    zones = ZoneDetector(parse_zones(ZONES))
    started = time.process_time()
    for frame, result in zip(clip.greys, results, strict=True):
        if result.motion:
            height, width = frame.pixels.shape
            tracks = tracker.update(result.blobs[:5], (width, height), frame.time)
            lines.update(tracks)
            zones.update(tracks, frame.time)
    costs["tracker + line + zone"] = time.process_time() - started
    return {name: cost / len(clip.greys) * 1000 for name, cost in costs.items()}


@dataclass(slots=True)
class ClipResults:
    clip: Clip
    without: list[Detect]
    with_person: Detect
    parts: dict[str, float]
    email_bytes: int
    email_estimate: int  # before fit_to_budget

    @property
    def without_ms(self) -> float:
        return min(run.cpu_ms for run in self.without)


async def measure_clip(clip: Clip, opencv: ModuleType | None, plan: Plan) -> ClipResults:
    await asyncio.to_thread(decode_only, clip)
    for _ in range(plan.decode_runs):
        await decode_pipeline(clip)
    without = [detect(clip, WITHOUT_PERSON, opencv) for _ in range(plan.detect_runs)]
    with_person = detect(clip, WITH_PERSON, opencv)
    parts = components(clip)
    email_bytes, estimate = clip_email_size(clip)
    return ClipResults(clip, without, with_person, parts, email_bytes, estimate)


# 5. Email size ------------------------------------------------------------------------------


def build_raw(images: Sequence[bytes], when: dt.datetime, camera: str = "Front door") -> RawMessage:
    """The alert email as Alerts.async_alert and MailAccount.async_queue build it."""
    subject = render_subject(
        DEFAULT_SUBJECT_TEMPLATE, camera=camera, event_type="motion", when=when,
        count=len(images),
    )  # fmt: skip
    content: EmailContent = alert_content(
        subject=subject, camera=camera, event_type="motion", when=when, zone=None,
        images=images,
    )  # fmt: skip
    return RawMessage.from_message(build_message(content, sender=SENDER, recipients=[RECIPIENT]))


def clip_email_size(clip: Clip) -> tuple[int, int]:
    """Largest alert with 3 of the clip's snapshots as a burst takes them (pre-trigger, at the
    trigger, 1 s later), over the clip: (message bytes, sum of the JPEGs before fitting)."""
    step = round(SNAPSHOT_FPS * DEFAULT_BURST_INTERVAL)
    largest = (0, 0)
    when = dt.datetime.now().astimezone()
    for start in range(0, len(clip.jpegs) - 1 - step, 5):
        images = [clip.jpegs[start].data, clip.jpegs[start + 1].data]
        images.append(clip.jpegs[start + 1 + step].data)
        raw = build_raw(fit_to_budget(images, BUDGET), when)
        largest = max(largest, (len(raw.data), sum(len(image) for image in images)))
    return largest
