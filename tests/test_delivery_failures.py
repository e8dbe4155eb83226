"""When an email cannot be sent: the fallback notification, and no secret in logs or diagnostics.

Real SMTP servers on loopback (a second account's, on a good one, for the fallback); time moves
with the harness's frozen clock.
"""

from __future__ import annotations

import base64
import json
import logging

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ptz_email_alert.const import CONF_RECIPIENTS, DOMAIN
from custom_components.ptz_email_alert.diagnostics import async_get_config_entry_diagnostics
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .conftest import RECIPIENTS, SENDER, entry_data
from .delivery_helpers import PREFIX, advance, notify, setup_account
from .smtp_server import PASSWORD, USERNAME, ServerFactory


async def test_no_password_in_logs_or_diagnostics(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    smtp_server: ServerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await smtp_server(
        "starttls", auth_reply="535 5.7.8 Username and Password not accepted."
    )
    entry = await setup_account(hass, server)
    with pytest.raises(HomeAssistantError):
        await notify(hass, "Secret test")
    server.behaviour.auth_reply = None
    # Servers repeat addresses in their replies: diagnostics must not pass them on.
    server.behaviour.data_reply = f"451 4.7.1 <{RECIPIENTS[0]}>: try later"
    await hass.services.async_call(
        "button", "press", {"entity_id": f"button.{PREFIX}_send_test_email"}, blocking=True
    )
    await advance(hass, freezer, 60)
    diagnostics = json.dumps(await async_get_config_entry_diagnostics(hass, entry))
    assert "try later" in diagnostics
    assert RECIPIENTS[0] not in diagnostics
    secrets = {
        PASSWORD,
        base64.b64encode(f"\0{USERNAME}\0{PASSWORD}".encode()).decode(),
        base64.b64encode(PASSWORD.encode()).decode(),
    }
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert [s for s in secrets if s in logged or s in diagnostics] == []
    assert "535" in logged  # the failure itself is logged
    attributes = hass.states.get(f"sensor.{PREFIX}_last_error").attributes
    assert len(attributes["delivery_log"]) >= 2
    assert PASSWORD not in json.dumps(attributes)
    assert dt_util.utcnow()  # the clock is frozen, the test is not timed


async def test_fallback_to_a_notify_entity(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, smtp_server: ServerFactory
) -> None:
    """The fallback can be another notify entity (here: a second account's, on a good server)."""
    good = await smtp_server("none")
    other = MockConfigEntry(
        domain=DOMAIN,
        title="relay@example.com",
        unique_id="relay",
        data=entry_data(good, username=None, password=None, sender="relay@example.com"),
        options={CONF_RECIPIENTS: ["phone@example.com"]},
    )
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    broken = await smtp_server("starttls", data_reply="554 5.7.1 Rejected")
    await setup_account(hass, broken, fallback_notify="notify.relay_example_com_email")
    with pytest.raises(HomeAssistantError):
        await notify(hass, "Gate")
    await hass.async_block_till_done(wait_background_tasks=True)
    (push,) = good.received
    assert push.message["Subject"] == f"Email not delivered: {SENDER}"
    assert "'Gate' could not be sent" in push.message.get_content()


async def test_fallback_failure_is_logged(
    hass: HomeAssistant,
    smtp_server: ServerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = await smtp_server("starttls", data_reply="554 5.7.1 Rejected")
    await setup_account(hass, broken, fallback_notify="notify.gone")
    with pytest.raises(HomeAssistantError):
        await notify(hass, "Gate")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert "Fallback notification via notify.gone failed" in caplog.text
