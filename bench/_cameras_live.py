"""Cameras bench, items 2 and 4: live cameras wired as CameraRuntime wires them, one
camera's CPU, and the event loop's lag with several."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
import statistics
import time
from types import ModuleType

from _cameras_settings import (
    FFMPEG,
    FOOTAGE,
    LAG_CAMERAS,
    LAG_PROBE,
    SNAPSHOT_FPS,
    Plan,
    analyser_config,
    children_cpu,
    percentile,
    schedstat,
    self_cpu,
)

from custom_components.ptz_email_alert.vision.analyser import Analyser
from custom_components.ptz_email_alert.vision.ffmpeg_source import FfmpegSource, SourceConfig
from custom_components.ptz_email_alert.vision.frames import GreyFrame, JpegFrame, JpegRing

# Live cameras (items 2-4) -------------------------------------------------------------------


class LiveCamera:
    """What CameraRuntime does with frames: realtime FfmpegSource, JpegRing, Analyser in an
    executor with one frame in flight (a frame that arrives meanwhile is skipped)."""

    def __init__(
        self,
        url: str,
        detections: Sequence[str],
        opencv: ModuleType | None,
        executor: Executor,
    ) -> None:
        self.analyser = Analyser(analyser_config(detections), opencv)
        self.ring = JpegRing(seconds=15)
        self.jpeg_arrived = asyncio.Event()
        self.executor = executor
        self.source = FfmpegSource(
            SourceConfig(FFMPEG, url, snapshot_fps=SNAPSHOT_FPS, realtime=True, loop_file=True),
            on_grey=self._on_grey,
            on_jpeg=self._on_jpeg,
            on_connected=lambda _connected: None,
        )
        self.analysed = 0
        self.skipped = 0
        self.findings: Counter[str] = Counter()
        self._busy = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._grey_waiters: list[asyncio.Future[GreyFrame]] = []
        self._run: asyncio.Task[None] | None = None
        # Wall-clock arrival of each frame by stream time, to see what the snapshots lag.
        self.grey_arrivals: dict[float, float] = {}
        self.jpeg_arrivals: dict[float, float] = {}

    def snapshot_delay(self) -> float:
        """Median of how much later a snapshot arrives than the grey frame of its stream time."""
        common = self.grey_arrivals.keys() & self.jpeg_arrivals.keys()
        return statistics.median(self.jpeg_arrivals[t] - self.grey_arrivals[t] for t in common)

    def start(self) -> None:
        self._run = asyncio.create_task(self.source.run())

    async def stop(self) -> None:
        """Stop ffmpeg (waited for, so its CPU is in RUSAGE_CHILDREN) and the analysis."""
        await self.source.stop()
        if self._run is not None:
            await self._run
        await asyncio.gather(*self._tasks)

    def next_grey(self) -> asyncio.Future[GreyFrame]:
        future: asyncio.Future[GreyFrame] = asyncio.get_running_loop().create_future()
        self._grey_waiters.append(future)
        return future

    def _on_jpeg(self, frame: JpegFrame) -> None:
        self.jpeg_arrivals[round(frame.time, 3)] = time.perf_counter()
        self.ring.add(frame)
        self.jpeg_arrived.set()

    def _on_grey(self, frame: GreyFrame) -> None:
        self.grey_arrivals[round(frame.time, 3)] = time.perf_counter()
        waiters, self._grey_waiters = self._grey_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(frame)
        if self._busy:
            self.skipped += 1
            return
        self._busy = True
        task = asyncio.create_task(self._analyse(frame))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _analyse(self, frame: GreyFrame) -> None:
        loop = asyncio.get_running_loop()
        try:
            findings = await loop.run_in_executor(
                self.executor, self.analyser.analyse, frame, self.ring.latest
            )
        finally:
            self._busy = False
        self.analysed += 1
        self.findings.update(finding.event_type for finding in findings)


# 2. CPU of one camera -----------------------------------------------------------------------


@dataclass(slots=True)
class CpuRun:
    label: str
    wall: float
    self_cpu: float  # this process: event loop, parsing, analysis threads, OpenCV threads
    ffmpeg_cpu: float
    analysed: int
    skipped: int

    @property
    def share(self) -> float:
        """Process + children CPU over wall time: share of one core."""
        return (self.self_cpu + self.ffmpeg_cpu) / self.wall


async def one_camera_cpu(
    label: str, detections: Sequence[str], opencv: ModuleType | None, plan: Plan
) -> CpuRun:
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="SyncWorker") as executor:
        mine, children = self_cpu(), children_cpu()
        started = time.perf_counter()
        camera = LiveCamera(str(FOOTAGE), detections, opencv, executor)
        camera.start()
        await asyncio.sleep(plan.cpu_seconds)
        await camera.stop()
        wall = time.perf_counter() - started
        return CpuRun(
            label,
            wall,
            self_cpu() - mine,
            children_cpu() - children,
            camera.analysed,
            camera.skipped,
        )


# 4. Event-loop lag with 4 cameras ----------------------------------------------------------


@dataclass(slots=True)
class LagRun:
    label: str
    lags: list[float]
    queue_waits: list[float]  # of each lag probe: the loop thread waiting for a CPU
    on_cpu: list[float]  # of each lag probe: the loop thread running
    analysed: list[int]
    skipped: list[int]
    cores: float  # process + ffmpeg CPU over wall time

    @property
    def max_ms(self) -> float:
        return max(self.lags) * 1000

    @property
    def worst(self) -> int:
        return max(range(len(self.lags)), key=self.lags.__getitem__)

    def blocked(self, probe: int) -> float:
        """Lateness of a probe neither running nor waiting for a CPU."""
        return max(0.0, self.lags[probe] - self.queue_waits[probe] - self.on_cpu[probe])

    @property
    def p99_ms(self) -> float:
        return percentile(self.lags, 0.99) * 1000


async def loop_lag(
    label: str, detections: Sequence[str], opencv: ModuleType | None, plan: Plan
) -> LagRun:
    lags: list[float] = []
    queue_waits: list[float] = []
    on_cpu: list[float] = []
    running = True

    async def probe() -> None:
        while running:
            before, (ran, waited) = time.perf_counter(), schedstat()
            await asyncio.sleep(LAG_PROBE)
            lags.append(time.perf_counter() - before - LAG_PROBE)
            now_ran, now_waited = schedstat()
            on_cpu.append(now_ran - ran)
            queue_waits.append(now_waited - waited)

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="SyncWorker") as executor:
        mine, children = self_cpu(), children_cpu()
        started = time.perf_counter()
        probing = asyncio.create_task(probe())
        cameras = [
            LiveCamera(str(FOOTAGE), detections, opencv, executor) for _ in range(LAG_CAMERAS)
        ]
        for camera in cameras:
            camera.start()
        await asyncio.sleep(plan.lag_seconds)
        running = False
        await probing
        await asyncio.gather(*(camera.stop() for camera in cameras))
        cores = (self_cpu() - mine + children_cpu() - children) / (time.perf_counter() - started)
    return LagRun(
        label,
        lags,
        queue_waits,
        on_cpu,
        [camera.analysed for camera in cameras],
        [camera.skipped for camera in cameras],
        cores,
    )
