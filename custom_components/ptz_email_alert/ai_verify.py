"""One camera's AI Task calls: one per alert, while its burst is captured, within a time limit.

The burst's pictures go to Home Assistant's AI Task (``ai_task.async_generate_data``) as local
media: they are written to a hidden folder beside the camera's evidence (``.ai``, not shown in
the media browser) and removed after the call. The call starts at the trigger with the picture
from just before it (the moment the detection saw), or with the first picture after it when
there is none; once the AI's answer time is known, it waits for as many of the burst's
pictures as it can without answering later than the burst ends.

Nothing here can lose an alert: a slow, missing or failing AI gives an outcome without an
answer (logged once per outage, a repair after repeated failures), and the budget (one call
per cooldown, a daily cap kept across restarts) skips calls, never alerts.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
import importlib
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir, selector
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .ai_answer import (
    FAILURES_FOR_REPAIR,
    INSTRUCTIONS,
    AiOutcome,
    AiStatus,
    AiVerdict,
    parse_answer,
    pictures_to_wait_for,
    verdict,
)
from .camera_settings import CameraSettings
from .const import DOMAIN, LOGGER
from .vision.frames import JpegFrame, JpegRing

AI_TASK = "ai_task"
AI_FOLDER = ".ai"  # hidden: the media browser does not list it
LATENCY_MARGIN = 0.2  # seconds added to the slowest recent answer
LATENCY_HISTORY = 5


def burst_so_far(
    ring: JpegRing, *, start: float, interval: float, before: JpegFrame | None, count: int
) -> tuple[list[JpegFrame], int]:
    """The burst's pictures that exist now, and how many of them were taken after the trigger.

    The burst capture's own rule (vision/burst.py): the picture ``before`` (taken from the ring
    when the burst started, as the capture does), then one per interval from ``start`` on.
    """
    frames: list[JpegFrame] = [before] if before is not None else []
    wanted, after = start, 0
    while len(frames) < count and (frame := ring.after(wanted)) is not None:
        frames.append(frame)
        after += 1
        wanted = frame.time + interval
    return frames, after


def _structure() -> Any:
    """The answer's shape, in the schema library this Home Assistant's AI Task takes."""
    try:
        schema_lib: Any = importlib.import_module("probatio")  # 2026.x
    except ModuleNotFoundError:
        schema_lib = importlib.import_module("voluptuous")
    number = selector.NumberSelector(
        selector.NumberSelectorConfig(min=0, max=100, step=1, mode=selector.NumberSelectorMode.BOX)
    )
    return schema_lib.Schema(
        {
            schema_lib.Required("person", description="A person is visible"):
                selector.BooleanSelector(),
            schema_lib.Required("vehicle", description="A vehicle is visible"):
                selector.BooleanSelector(),
            schema_lib.Required("count", description="People and vehicles in all"): number,
            schema_lib.Required("description", description="One short sentence"):
                selector.TextSelector(),
        }
    )  # fmt: skip


class AiCallBudget:
    """Calls made today, kept across restarts (cloud models cost money)."""

    def __init__(self, hass: HomeAssistant, key: str) -> None:
        """``key`` names this camera's store."""
        self._store: Store[dict[str, Any]] = Store(hass, 1, f"{DOMAIN}.ai_calls.{key}")
        self._day = ""
        self._count = 0
        self._loaded: asyncio.Task[None] | None = None
        self._hass = hass

    async def async_load(self) -> None:
        """Read the stored count once (concurrent callers share the read)."""
        if self._loaded is None:
            self._loaded = self._hass.async_create_task(self._async_read(), eager_start=True)
        await self._loaded

    async def _async_read(self) -> None:
        data = await self._store.async_load() or {}
        self._day, self._count = str(data.get("day", "")), int(data.get("count", 0))

    @property
    def used_today(self) -> int:
        """Calls made today (local time)."""
        return self._count if self._day == dt_util.now().date().isoformat() else 0

    def take(self, limit: int) -> bool:
        """Count one call, unless the day's calls are used up."""
        today = dt_util.now().date().isoformat()
        if self._day != today:
            self._day, self._count = today, 0
        if self._count >= limit:
            return False
        self._count += 1
        self._store.async_delay_save(lambda: {"day": self._day, "count": self._count}, 1)
        return True


class AiRun:
    """One alert's AI call, started while its burst is captured."""

    def __init__(self) -> None:
        """Filled in by :meth:`AiVerifier.begin`."""
        self.task: asyncio.Task[AiOutcome] | None = None
        self.done: AiOutcome | None = None  # decided at once (cooldown)
        self.burst_done = asyncio.Event()
        self.final: list[JpegFrame] = []
        self.before: JpegFrame | None = None  # the pre-trigger picture, as the capture took it


class AiVerifier:
    """A camera's calls to its AI Task entity."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        settings: CameraSettings,
        *,
        issue_key: str,
        folder: Path,
        changed: Callable[[], None],
    ) -> None:
        """``folder``: the camera's evidence folder (its ``.ai`` subfolder holds the pictures)."""
        self.hass = hass
        self._entry = entry
        self.settings = settings
        self.budget = AiCallBudget(hass, issue_key)
        self._folder = folder / AI_FOLDER
        self._issue_id = f"ai_failing_{issue_key}"
        self._changed = changed
        self._next_call_at: datetime | None = None
        self._latencies: deque[float] = deque(maxlen=LATENCY_HISTORY)
        self._failures = 0
        self._failing = False
        self.last: AiOutcome | None = None

    @property
    def latency(self) -> float | None:
        """The slowest recent answer plus a margin; None before the first answer."""
        return max(self._latencies) + LATENCY_MARGIN if self._latencies else None

    def begin(self, ring: JpegRing, arrived: asyncio.Event, start: float, count: int) -> AiRun:
        """Start the call for an alert whose burst starts at stream time ``start``."""
        run = AiRun()
        now = dt_util.utcnow()
        if self._next_call_at is not None and now < self._next_call_at:
            run.done = AiOutcome(AiStatus.COOLDOWN)
            return run
        self._next_call_at = now + timedelta(seconds=self.settings.cooldown)
        if self.settings.pre_trigger:
            run.before = ring.before(start)  # now: the burst capture takes it at its start too
        run.task = self._entry.async_create_background_task(
            self.hass,
            self._async_run(run, ring, arrived, start, count),
            f"{DOMAIN} AI {self.settings.name}",
            eager_start=True,
        )
        return run

    def start(
        self, ring: JpegRing, arrived: asyncio.Event, start: float, count: int,
        held_back: str | None,
    ) -> AiRun | None:  # fmt: skip
        """The call for an alert that will be emailed (None: the AI is off or not needed)."""
        if not self.settings.ai_enabled or count <= 0 or held_back is not None:
            return None
        return self.begin(ring, arrived, start, count)

    async def async_verdict(
        self, run: AiRun | None, frames: list[JpegFrame], event_type: str
    ) -> tuple[AiOutcome | None, AiVerdict]:
        """Once the burst is complete: the outcome, and what the alert does with it."""
        outcome = None if run is None else await self.async_outcome(run, frames)
        return outcome, verdict(
            self.settings.ai_mode, event_type, self.settings.detections, outcome,
            fail_closed=self.settings.ai_fail_closed,
        )  # fmt: skip

    async def async_outcome(self, run: AiRun, frames: list[JpegFrame]) -> AiOutcome:
        """The burst is complete (``frames``): the outcome, once the call is done or timed out."""
        run.final = frames
        run.burst_done.set()
        outcome = run.done if run.task is None else await run.task
        assert outcome is not None
        self.last = outcome
        return outcome

    async def _async_run(
        self, run: AiRun, ring: JpegRing, arrived: asyncio.Event, start: float, count: int
    ) -> AiOutcome:
        await self.budget.async_load()
        if self.budget.used_today >= self.settings.ai_daily_limit:
            return AiOutcome(AiStatus.DAILY_LIMIT)
        frames = await self._async_pictures(run, ring, arrived, start, count)
        if not frames:
            return AiOutcome(AiStatus.NO_PICTURE)
        if not self.budget.take(self.settings.ai_daily_limit):
            return AiOutcome(AiStatus.DAILY_LIMIT)
        self._changed()  # the calls-today sensor
        loop = asyncio.get_running_loop()
        started = loop.time()
        files: list[Path] = []
        try:
            async with asyncio.timeout(self.settings.ai_timeout):
                files = await self.hass.async_add_executor_job(self._write, frames, started)
                data = await self._async_call(files)
            answer = parse_answer(data)
        except TimeoutError:
            outcome = AiOutcome(
                AiStatus.TIMEOUT, seconds=loop.time() - started, pictures=len(frames),
                error=f"no answer within {self.settings.ai_timeout:g} s",
            )  # fmt: skip
        except Exception as err:  # any AI integration's failure: the alert goes on
            outcome = AiOutcome(
                AiStatus.FAILED, seconds=loop.time() - started, pictures=len(frames),
                error=f"{type(err).__name__}: {err}"[:300],
            )  # fmt: skip
        else:
            outcome = AiOutcome(
                AiStatus.ANSWERED, answer, loop.time() - started, pictures=len(frames)
            )
        finally:
            if files:
                await self.hass.async_add_executor_job(self._remove, files)
        self._report(outcome)
        return outcome

    async def _async_pictures(
        self, run: AiRun, ring: JpegRing, arrived: asyncio.Event, start: float, count: int
    ) -> list[JpegFrame]:
        """Wait for the pictures worth waiting for (see ``pictures_to_wait_for``)."""
        # The burst's pictures after the trigger: all but the one before it, when there is one.
        after_total = count - 1 if run.before is not None else count
        wanted = pictures_to_wait_for(
            after_total, self.settings.burst_interval, self.latency,
            have_before=run.before is not None,
        )  # fmt: skip
        while not run.burst_done.is_set():
            frames, after = burst_so_far(
                ring, start=start, interval=self.settings.burst_interval,
                before=run.before, count=count,
            )  # fmt: skip
            if after >= wanted or len(frames) >= count:
                return frames
            arrived.clear()  # the burst capture checks the ring before it waits, as here
            waits = [
                asyncio.ensure_future(arrived.wait()),
                asyncio.ensure_future(run.burst_done.wait()),
            ]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
        return run.final

    async def _async_call(self, files: list[Path]) -> Any:
        """The AI Task call; its errors are the caller's to handle."""
        if AI_TASK not in self.hass.config.components:
            raise RuntimeError("the AI Task integration is not loaded")
        local = self.hass.config.media_dirs.get("local")
        if local is None:
            raise RuntimeError("no local media folder for the pictures")
        ai_task: Any = importlib.import_module(f"homeassistant.components.{AI_TASK}")
        result = await ai_task.async_generate_data(
            self.hass,
            task_name=f"{DOMAIN} {self.settings.name}",
            entity_id=self.settings.ai_task_entity,
            instructions=INSTRUCTIONS,
            structure=_structure(),
            attachments=[
                {
                    "media_content_id": "media-source://media_source/local/"
                    + path.relative_to(local).as_posix(),
                    "media_content_type": "image/jpeg",
                }
                for path in files
            ],
        )
        return result.data

    def _write(self, frames: list[JpegFrame], token: float) -> list[Path]:
        """The pictures as files the AI Task can read (executor)."""
        self._folder.mkdir(parents=True, exist_ok=True)
        stamp = f"{dt_util.now():%H%M%S}-{int(token * 1000) % 1000:03d}"
        paths = [self._folder / f"{stamp}_{index}.jpg" for index in range(1, len(frames) + 1)]
        for path, frame in zip(paths, frames, strict=True):
            path.write_bytes(frame.data)
        return paths

    @staticmethod
    def _remove(files: list[Path]) -> None:
        for path in files:
            path.unlink(missing_ok=True)

    def _report(self, outcome: AiOutcome) -> None:
        """One log line per outage, a repair after repeated failures, cleared by an answer."""
        if outcome.status is AiStatus.ANSWERED:
            assert outcome.seconds is not None
            self._latencies.append(outcome.seconds)
            if self._failing:
                LOGGER.info("Camera %s: the AI answers again", self.settings.name)
                ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)
            self._failing, self._failures = False, 0
            return
        self._failures += 1
        if not self._failing:
            self._failing = True
            LOGGER.warning(
                "Camera %s: the AI (%s) gave no answer (%s). Alerts go out without its "
                "description%s",
                self.settings.name, self.settings.ai_task_entity, outcome.error,
                ", marked not verified" if self.settings.ai_mode == "verify" else "",
            )  # fmt: skip
        if self._failures == FAILURES_FOR_REPAIR:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="ai_failing",
                translation_placeholders={
                    "camera": self.settings.name,
                    "entity": str(self.settings.ai_task_entity),
                    "error": str(outcome.error),
                },
            )
