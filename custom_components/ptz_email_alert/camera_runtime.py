"""One camera at runtime: frames in, detections out, alerts through :mod:`.alerts`.

The detectors run in Home Assistant's executor, one frame at a time per camera (a frame that
arrives while the previous one is still analysed is skipped), so the event loop only moves
bytes and decisions.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from types import ModuleType

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.helpers.event import async_call_later, async_track_state_change_event
from homeassistant.util import dt as dt_util

from .account import MailAccount
from .alert_policy import Detection
from .alerts import AlertRecord, Alerts
from .arming import Arming
from .camera_entity_source import async_entity_stream_url, async_poll_entity
from .camera_settings import CameraSettings
from .camera_triggers import trigger_event_type
from .const import DETECTION_HOLD_SECONDS, DOMAIN, LOGGER
from .detector_faults import DetectorFaults
from .evidence import Evidence
from .home_position import HomeKeeper, HomePositions
from .ptz_watch import PtzWatch
from .vision.analyser import Analyser, Finding
from .vision.ffmpeg_source import FfmpegSource, SourceConfig
from .vision.frames import GreyFrame, JpegFrame, JpegRing
from .vision.marking import Box, Marks, marks_near

# Seconds between pictures when a camera entity has no stream.
BOX_HISTORY = 50  # analysed frames (10 s at 5 a second)
BOX_MATCH_SECONDS = 0.5  # a box marks a picture taken this close to its frame


class CameraRuntime:
    """Runs one camera subentry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        subentry: ConfigSubentry,
        account: MailAccount,
        ffmpeg_binary: str,
        homes: HomePositions,
    ) -> None:
        """Prepare; :meth:`async_start` starts the stream."""
        self.hass = hass
        self.entry = entry
        self.subentry = subentry
        self.data = subentry.data  # raw, for diagnostics (redacted there)
        self.settings = CameraSettings.from_data(str(subentry.title), subentry.data)
        self.name = self.settings.name
        self.account = account
        self.ring = JpegRing(seconds=15)
        self.jpeg_arrived = asyncio.Event()
        self.last_picture_at: datetime | None = None
        self.analyser = Analyser(self.settings.analyser_config())
        self.home = (
            HomeKeeper(homes, subentry.subentry_id, self.settings, self.analyser)
            if self.settings.ptz
            else None
        )
        self.detections: list[str] = list(self.settings.detections)
        self._connected = False
        self.alerts = Alerts(
            hass, entry=entry, subentry_id=subentry.subentry_id,
            settings=self.settings, account=account, feed=self,
            evidence=Evidence(hass, self.settings, subentry.subentry_id), changed=self._changed,
        )  # fmt: skip
        self.active_until: dict[str, datetime] = {}
        self._listeners: list[CALLBACK_TYPE] = []
        self._detection_listeners: list[Callable[[Finding], None]] = []
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._busy = False
        self._offline_timer: CALLBACK_TYPE | None = None
        self._offline_reported = False
        self._source: FfmpegSource | None = None
        self._poller: asyncio.Task[None] | None = None
        self._analysis: asyncio.Task[None] | None = None  # the frame in the executor, if any
        self._ffmpeg = ffmpeg_binary
        self._hold_timers: dict[str, CALLBACK_TYPE] = {}
        self._faults = DetectorFaults(hass, self.name, subentry.subentry_id)
        self._ptz = PtzWatch(
            hass, self.settings.ptz_entity, on_move=self._learn_again, changed=self._changed
        )
        self._stopped = False
        self._ever_connected = False
        # Boxes of moving things of the last analysed frames, to mark the burst's pictures.
        self._boxes: deque[tuple[float, tuple[Box, ...]]] = deque(maxlen=BOX_HISTORY)

    # Read by entities ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """The stream (or the polled camera) gives pictures."""
        return self._connected

    @property
    def moving(self) -> bool:
        """Commanded (PTZ entity) or seen in the picture: moving or settling."""
        return self._ptz.moving or self.analyser.moving

    @property
    def stream_lost(self) -> bool:
        """It gave pictures, and does not any more."""
        return self._ever_connected and not self._connected

    @property
    def offline(self) -> bool:
        """No pictures for longer than the camera's offline time (the Camera Offline email)."""
        return self._offline_reported

    @property
    def armed(self) -> bool:
        """Email alerts on (the switch)."""
        return self.alerts.armed

    @armed.setter
    def armed(self, value: bool) -> None:
        self.alerts.armed = value
        self._changed()

    @property
    def arming(self) -> Arming:
        """Switch, arming entity and snooze."""
        return self.alerts.arming

    def marks_for(self, frame: JpegFrame, joined: list[Detection]) -> Marks:
        """Boxes of what moved at the analysed frame nearest ``frame``; the line or zone hit."""
        return marks_near(
            self._boxes, frame.time, BOX_MATCH_SECONDS,
            lines={d.zone for d in joined if d.event_type == "line_crossing"},
            zones={d.zone for d in joined if d.event_type == "region_intrusion"},
            analyser=self.analyser,
        )  # fmt: skip

    @property
    def last_alert(self) -> AlertRecord | None:
        """The last alert, for the image and sensor."""
        return self.alerts.last_alert

    def set_opencv(self, opencv: ModuleType | None) -> None:
        """Object detection becomes possible once OpenCV is loaded (after start)."""
        self.analyser.set_opencv(opencv)

    # Life cycle ----------------------------------------------------------------------------

    async def async_start(self) -> None:
        """Open the stream and follow the external triggers."""
        self.alerts.arming.async_start()
        self._ptz.async_start()
        if self.home is not None:
            self.home.restore()
        if self.settings.external_triggers:
            self._unsubscribe.append(
                async_track_state_change_event(
                    self.hass, list(self.settings.external_triggers), self._on_external
                )
            )
        # A camera that never delivers a frame is offline too.
        self._arm_offline_timer()
        url = await self._async_stream_url()
        if url is None and (entity_id := self.settings.camera_entity):
            # A camera entity without a stream: analyse its still pictures instead.
            self._poller = self.entry.async_create_background_task(
                self.hass, self._async_poll(entity_id), f"{DOMAIN} poll {self.name}"
            )
        if url is None:
            return
        self._source = FfmpegSource(
            SourceConfig(
                ffmpeg=self._ffmpeg,
                url=url,
                snapshot_size=self.settings.snapshot_size,
                snapshot_fps=self.settings.snapshot_fps,
            ),
            on_grey=self._on_grey,
            on_jpeg=self._on_jpeg,
            on_connected=self._on_connected,
        )
        self.entry.async_create_background_task(
            self.hass, self._source.run(), f"{DOMAIN} stream {self.name}"
        )
        self.alerts.clips.async_start(self._ffmpeg, url)  # if the camera's clip option is on

    async def async_finish_alerts(self) -> None:
        """Before a reload or unload: alerts in progress complete and queue their emails."""
        await self.alerts.async_finish()

    async def async_stop(self) -> None:
        """Stop ffmpeg, the poller and timers (once: the unload stops it, and a failed set-up)."""
        if self._stopped:
            return
        # A frame still in the executor must not start timers after this.
        self._stopped = True
        self.alerts.arming.async_stop()
        self._ptz.async_stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        for cancel in self._hold_timers.values():
            cancel()
        self._hold_timers.clear()
        if self._offline_timer:
            self._offline_timer()
            self._offline_timer = None
        if self._poller is not None:
            self._poller.cancel()
        if self._source is not None:
            await self._source.stop()
        # Callback cycles keep a stopped runtime until a rare full GC: drop its pictures and
        # what its analyser learned now (after the frame in the executor, which uses them).
        if self._analysis is None or (await asyncio.wait({self._analysis}, timeout=10))[0]:
            self.analyser.release()
        self.alerts.last_alert = None  # its entities go with it
        self.ring.clear()
        self._boxes.clear()
        await self.alerts.clips.async_stop()

    async def _async_stream_url(self) -> str | None:
        if self.settings.stream_url or not self.settings.camera_entity:
            return self.settings.stream_url
        return await async_entity_stream_url(self.hass, self.settings.camera_entity)

    async def _async_poll(self, entity_id: str) -> None:
        await async_poll_entity(
            self.hass, entity_id, connected=lambda: self._connected,
            on_connected=self._on_connected, on_jpeg=self._on_jpeg, on_grey=self._on_grey,
        )  # fmt: skip

    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` when anything visible changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def async_add_detection_listener(self, listener: Callable[[Finding], None]) -> CALLBACK_TYPE:
        """Call ``listener`` for each detection (the event entity)."""
        self._detection_listeners.append(listener)
        return lambda: self._detection_listeners.remove(listener)

    @callback
    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # Frames --------------------------------------------------------------------------------

    @callback
    def _on_jpeg(self, frame: JpegFrame) -> None:
        self.ring.add(frame)
        self.last_picture_at = dt_util.utcnow()
        self.jpeg_arrived.set()

    @callback
    def _on_grey(self, frame: GreyFrame) -> None:
        if self._busy or self._stopped:
            return  # still analysing the previous frame: skip, never queue up
        self._busy = True
        self._analysis = self.entry.async_create_background_task(
            self.hass, self._async_analyse(frame), f"{DOMAIN} analyse {self.name}"
        )

    async def _async_analyse(self, frame: GreyFrame) -> None:
        was = (self.moving, self.analyser.at_home_position)
        try:
            findings = await self.hass.async_add_executor_job(
                self.analyser.analyse, frame, self.ring.latest
            )
        finally:
            self._busy = False
        self._boxes.append((frame.time, tuple(self.analyser.last_boxes)))
        for problem in self.analyser.take_problems():
            self._faults.report(problem)
        if self.home is not None:
            self.home.after_frame()
        if (self.moving, self.analyser.at_home_position) != was:
            self._changed()  # the moving sensor: a move seen in the picture, home or not
        if self.moving:
            return  # a commanded move: what changed is the view, not the scene
        for finding in findings:
            if self.settings.ptz and finding.event_type == "tamper" and finding.zone == "moved":
                continue  # a PTZ camera that points elsewhere was moved on purpose
            self._handle(finding, frame.time)

    @callback
    def _learn_again(self) -> None:
        self.analyser.note_move()  # applied in the analysing thread at the next frame

    @callback
    def _on_connected(self, connected: bool) -> None:
        self._connected = connected
        self._ever_connected |= connected
        if connected:
            LOGGER.info("Camera %s: stream connected", self.name)
            if self._offline_timer:
                self._offline_timer()
                self._offline_timer = None
            if self._offline_reported:
                self._offline_reported = False
                self.alerts.start("online", burst=0, force=True)
        else:
            LOGGER.warning("Camera %s: stream lost, reconnecting", self.name)
            self.analyser.reset_requested = True  # a new stream: learn the scene again
            self._arm_offline_timer()
        self._changed()

    def _arm_offline_timer(self) -> None:
        if self._offline_timer or self._offline_reported or self._stopped:
            return

        @callback
        def offline(_now: datetime) -> None:
            self._offline_timer = None
            if not self._connected:
                self._offline_reported = True
                self.alerts.start("offline", burst=0, force=True)
                self._changed()

        self._offline_timer = async_call_later(self.hass, self.settings.offline_after, offline)

    # Decisions -----------------------------------------------------------------------------

    @callback
    def _handle(self, finding: Finding, stream_time: float) -> None:
        if self._stopped:
            return
        self._set_active(finding.event_type, dt_util.utcnow())
        for listener in list(self._detection_listeners):
            listener(finding)
        self.alerts.start(finding.event_type, zone=finding.zone, trigger_time=stream_time)

    def _set_active(self, event_type: str, now: datetime) -> None:
        self.active_until[event_type] = now + timedelta(seconds=DETECTION_HOLD_SECONDS)
        if cancel := self._hold_timers.pop(event_type, None):
            cancel()

        @callback
        def release(_now: datetime) -> None:
            self._hold_timers.pop(event_type, None)
            self._changed()

        self._hold_timers[event_type] = async_call_later(self.hass, DETECTION_HOLD_SECONDS, release)
        self._changed()

    def is_active(self, event_type: str) -> bool:
        """True while a detection of this type is held on."""
        until = self.active_until.get(event_type)
        return until is not None and until > dt_util.utcnow()

    async def async_trigger(
        self, event_type: str, recipients: list[str] | None = None
    ) -> AlertRecord | None:
        """The ``trigger`` action: a burst now, whatever the switch and cooldown say."""
        return await self.alerts.async_alert(event_type, force=True, recipients=recipients)

    @callback
    def _on_external(self, event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        event_type = trigger_event_type(new, event.data["old_state"])
        if new is None or event_type is None:
            return
        LOGGER.debug("Camera %s: external trigger %s -> %s", self.name, new.entity_id, event_type)
        self._handle(Finding(event_type, new.name), self.stream_now())

    def stream_now(self) -> float:
        """Stream time of "now" for a trigger from outside the stream (a sensor, the action).

        Just after the newest picture: that picture is the one from before the trigger, and the
        burst continues with the pictures that arrive after it.
        """
        latest = self.ring.latest
        return latest.time + 1e-3 if latest else 0.0
