"""Detector faults of a camera, told once: a log line per detector, a repair when one is off."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, LOGGER
from .vision.analyser import Problem


class DetectorFaults:
    """Reports :class:`Problem` of one camera's analyser."""

    def __init__(self, hass: HomeAssistant, camera: str, issue_key: str) -> None:
        """``issue_key`` makes the repair ids of this camera unique."""
        self.hass = hass
        self.camera = camera
        self._issue_key = issue_key
        self._reported: set[str] = set()

    def report(self, problem: Problem) -> None:
        """Log the first fault of each detector; a repair when a detector is switched off."""
        if problem.detector not in self._reported:
            self._reported.add(problem.detector)
            LOGGER.warning(
                "Camera %s: the %s detector failed on a frame (%s); that frame is skipped and "
                "the detector starts again",
                self.camera, problem.detector, problem.error,
            )  # fmt: skip
        if problem.disabled:
            LOGGER.error(
                "Camera %s: the %s detector keeps failing (%s) and is off until the camera is "
                "reloaded; the other detections go on",
                self.camera, problem.detector, problem.error,
            )  # fmt: skip
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"detector_failed_{self._issue_key}_{problem.detector}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="detector_failed",
                translation_placeholders={
                    "camera": self.camera,
                    "detector": problem.detector,
                    "error": problem.error,
                },
            )
