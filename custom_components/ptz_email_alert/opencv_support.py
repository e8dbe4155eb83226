"""OpenCV for person and vehicle detection: loaded (or installed) after the account has started."""

from __future__ import annotations

from types import ModuleType

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.requirements import RequirementsNotFound, async_process_requirements

from .const import DOMAIN, LOGGER, OPENCV_REQUIREMENT
from .vision.person import load_opencv


async def async_installed_opencv(hass: HomeAssistant) -> ModuleType | None:
    """OpenCV if it is installed already (an import, in the executor), else None."""
    return await hass.async_add_executor_job(load_opencv)


async def async_load_opencv(hass: HomeAssistant, cameras: list[str]) -> ModuleType | None:
    """OpenCV, installed now if missing; else a repair, and the rest runs."""
    opencv = await hass.async_add_executor_job(load_opencv)
    if opencv is None:
        try:
            await async_process_requirements(hass, DOMAIN, [OPENCV_REQUIREMENT])
        except RequirementsNotFound:
            LOGGER.warning("OpenCV could not be installed: person detection is off")
        opencv = await hass.async_add_executor_job(load_opencv)
    if opencv is None:
        opencv_missing_issue(hass, ", ".join(cameras))
    return opencv


def opencv_missing_issue(hass: HomeAssistant, camera: str) -> None:
    """Say that person detection cannot run, and what to do instead."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        "opencv_missing",
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="opencv_missing",
        translation_placeholders={"camera": camera},
    )
