"""Cameras bench, item 3: trigger to "250 OK" on a live camera, the alert path as Alerts
runs it (burst, email, evidence, retention), against a loopback server that notes the 250."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import datetime as dt
import math
import os
from pathlib import Path
import random
import ssl
import statistics
import time
from types import ModuleType

from _cameras_clips import build_raw
from _cameras_live import LiveCamera
from _cameras_settings import (
    BUDGET,
    BURST,
    BURST_WITHIN,
    FOOTAGE,
    RETENTION,
    WITH_PERSON,
    Plan,
)
from aiosmtpd.smtp import SMTP, Envelope, Session
from outbox_flush import LoopbackSmtp

from custom_components.ptz_email_alert.const import DEFAULT_BURST_INTERVAL
from custom_components.ptz_email_alert.mail import SendResult, SmtpSettings, send_messages
from custom_components.ptz_email_alert.vision.burst import collect_burst
from custom_components.ptz_email_alert.vision.jpeg import fit_to_budget
from custom_components.ptz_email_alert.vision.retention import prune

# 3. Trigger to 250 OK -----------------------------------------------------------------------


class TimedSmtp(LoopbackSmtp):
    """The loopback server, noting when it accepts each message (the moment it says 250)."""

    def __init__(self, tls: ssl.SSLContext) -> None:
        super().__init__(tls)
        self.accepted: list[float] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd's hook name)
        self.accepted.append(time.perf_counter())
        return await super().handle_DATA(server, session, envelope)


@dataclass(slots=True)
class AlertRun:
    burst: float  # trigger -> last picture in hand
    ok: float  # trigger -> the server's 250 for DATA
    returned: float  # trigger -> send_messages returned (after QUIT)
    pictures: int
    message_bytes: int

    @property
    def after_burst(self) -> float:
        return self.ok - self.burst


async def burst(camera: LiveCamera, start: float) -> list[bytes]:
    """``collect_burst`` on the camera's ring, with the defaults Alerts passes it."""
    taken = await collect_burst(
        camera.ring, camera.jpeg_arrived, count=BURST, start=start,
        interval=DEFAULT_BURST_INTERVAL, pre_trigger=True, within=BURST_WITHIN,
    )  # fmt: skip
    assert taken.complete, "the stream gave fewer pictures than the burst asks"
    return taken.pictures


def save_evidence(folder: Path, images: Sequence[bytes]) -> None:
    """As Evidence.async_save: the pictures to disk (after the email is queued)."""
    now = dt.datetime.now().astimezone()
    day = folder / now.strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True)
    stamp = f"{now:%H%M%S}-{now.microsecond // 1000:03d}"
    for index, image in enumerate(images, start=1):
        (day / f"{stamp}_motion_{index}.jpg").write_bytes(image)


def apply_retention(folder: Path) -> None:
    """As Evidence.async_prune: ``prune``, after the pictures are saved."""
    prune(folder, max_age=RETENTION[0], max_bytes=RETENTION[1], now=dt.datetime.now(dt.UTC))


def prune_full_folder(folder: Path, picture_bytes: int) -> tuple[int, float]:
    """``prune`` on an evidence folder at its default cap (sparse files of the snapshots' size
    over 30 days): (pictures, median seconds of 3 passes)."""
    pictures = RETENTION[1] // picture_bytes - 1  # just under the cap: nothing to delete
    per_day = math.ceil(pictures / 30)
    now = dt.datetime.now(dt.UTC)
    for number in range(pictures):
        day = folder / (now - dt.timedelta(days=number // per_day)).strftime("%Y-%m-%d")
        day.mkdir(exist_ok=True)
        path = day / f"{number:06d}_motion_1.jpg"
        path.touch()
        os.truncate(path, picture_bytes)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        removed = prune(folder, max_age=RETENTION[0], max_bytes=RETENTION[1], now=now)
        times.append(time.perf_counter() - started)
        assert not removed
    return pictures, statistics.median(times)


async def trigger_to_ok(
    opencv: ModuleType | None,
    settings: SmtpSettings,
    server: TimedSmtp,
    folder: Path,
    plan: Plan,
) -> tuple[list[AlertRun], float]:
    """Triggers on a live camera (analysis running, person included); the whole alert path.

    Returns the alerts and how much later snapshots arrive than grey frames of the same time.
    """
    loop = asyncio.get_running_loop()
    rng = random.Random(7)
    runs: list[AlertRun] = []
    evidence = folder / "evidence"
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="SyncWorker") as executor:
        camera = LiveCamera(str(FOOTAGE), WITH_PERSON, opencv, executor)
        camera.start()
        try:
            # Enough stream in the ring for a pre-trigger picture.
            while (latest := camera.ring.latest) is None or latest.time < 2:
                camera.jpeg_arrived.clear()
                await camera.jpeg_arrived.wait()
            for _ in range(plan.alerts):
                await asyncio.sleep(rng.uniform(0.1, 0.5))
                # A detection's trigger: a grey frame, its stream time the burst's start.
                frame = await camera.next_grey()
                started = time.perf_counter()
                images = await burst(camera, frame.time)
                burst_seconds = time.perf_counter() - started
                when = dt.datetime.now().astimezone()
                images = await loop.run_in_executor(executor, fit_to_budget, images, BUDGET)
                raw = await loop.run_in_executor(executor, build_raw, images, when)
                (outcome,) = await send_messages(settings, [raw])
                returned = time.perf_counter() - started
                assert isinstance(outcome, SendResult), outcome
                # As Alerts: the email first, then the evidence and its retention pass.
                await loop.run_in_executor(executor, save_evidence, evidence, images)
                await loop.run_in_executor(executor, apply_retention, evidence)
                runs.append(
                    AlertRun(
                        burst_seconds,
                        server.accepted[-1] - started,
                        returned,
                        len(images),
                        len(raw.data),
                    )
                )
        finally:
            await camera.stop()
    return runs, camera.snapshot_delay()
