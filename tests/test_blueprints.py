"""The shipped automation blueprints load in Home Assistant and do what they say."""

from __future__ import annotations

from pathlib import Path
import shutil

import pytest

from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component

BLUEPRINTS = Path(__file__).parent.parent / "blueprints" / "automation" / "ptz_email_alert"


@pytest.mark.parametrize(
    ("blueprint", "event", "data", "title", "words"),
    [
        (
            "delivery_failed.yaml",
            "ptz_email_alert_delivery_failed",
            {
                "entry_id": "abc",
                "subject": "Gate – Human Detected",
                "server": "smtp.gmail.com:465",
                "attempts": 3,
                "error": "timeout",
                "detail": "timed out",
            },
            "Email not delivered",
            ["Gate – Human Detected", "smtp.gmail.com:465", "3 attempt(s)", "timeout"],
        ),
        (
            "heartbeat_missed.yaml",
            "ptz_email_alert_heartbeat_missed",
            {"entry_id": "abc", "due": "2026-11-21T08:00:00+00:00", "server": "relay:25"},
            "Heartbeat missed",
            ["08:00", "relay:25"],
        ),
    ],
)
async def test_blueprint_notifies(
    hass: HomeAssistant,
    tmp_path: Path,
    blueprint: str,
    event: str,
    data: dict[str, object],
    title: str,
    words: list[str],
) -> None:
    await hass.config.async_set_time_zone("UTC")
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints" / "automation" / "ptz_email_alert"
    target.mkdir(parents=True)
    shutil.copy(BLUEPRINTS / blueprint, target / blueprint)
    calls: list[ServiceCall] = []

    async def phone(call: ServiceCall) -> None:
        calls.append(call)

    hass.services.async_register("notify", "my_phone", phone)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "use_blueprint": {
                        "path": f"ptz_email_alert/{blueprint}",
                        "input": {"notify_target": "notify.my_phone"},
                    }
                },
                {
                    "use_blueprint": {
                        "path": f"ptz_email_alert/{blueprint}",
                        "input": {"notify_target": "notify.my_phone", "account": "other"},
                    }
                },
            ]
        },
    )
    hass.bus.async_fire(event, data)
    await hass.async_block_till_done()
    assert len(calls) == 1  # the second automation watches another account
    assert calls[0].data["title"] == title
    for word in words:
        assert word in calls[0].data["message"]
