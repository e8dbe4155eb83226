"""A tiny client for a local Home Assistant's REST API: onboarding, login, flows, actions."""

from __future__ import annotations

import json
from typing import Any
from urllib import request
from urllib.error import URLError

BASE = "http://127.0.0.1:8123"
CLIENT_ID = f"{BASE}/"


def call(
    path: str,
    body: dict[str, Any] | None = None,
    token: str | None = None,
    *,
    form: bool = False,
    text: bool = False,
) -> Any:
    """POST (or GET without a body) and decode JSON (or return the text)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        if form:
            data = "&".join(f"{k}={v}" for k, v in body.items()).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    req = request.Request(BASE + path, data=data, headers=headers, method="POST" if data else "GET")
    with request.urlopen(req, timeout=60) as response:
        answer = response.read().decode()
    if text:
        return answer
    return json.loads(answer) if answer else None


def is_up() -> bool:
    """True once Home Assistant answers HTTP."""
    try:
        call("/api/onboarding")
    except (URLError, ConnectionError, OSError):
        return False
    return True


def login(username: str, password: str) -> str:
    """Onboard on first start (creating the user), else log in; return an access token."""
    done = {step["step"] for step in call("/api/onboarding") if step["done"]}
    if "user" not in done:
        code = call(
            "/api/onboarding/users",
            {
                "client_id": CLIENT_ID,
                "name": "Demo",
                "username": username,
                "password": password,
                "language": "en",
            },
        )["auth_code"]
    else:
        flow = call(
            "/auth/login_flow",
            {"client_id": CLIENT_ID, "handler": ["homeassistant", None], "redirect_uri": CLIENT_ID},
        )
        code = call(
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": CLIENT_ID, "username": username, "password": password},
        )["result"]
    token = call(
        "/auth/token",
        {"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
        form=True,
    )["access_token"]
    for step in ("core_config", "analytics", "integration"):
        if step not in done:
            extra = (
                {"client_id": CLIENT_ID, "redirect_uri": CLIENT_ID} if step == "integration" else {}
            )
            call(f"/api/onboarding/{step}", extra, token)
    return str(token)


def add_account(token: str, form: dict[str, Any], provider: str = "local_relay") -> dict[str, Any]:
    """Add an account through the config flow, as the UI dialog does."""
    flow = call("/api/config/config_entries/flow", {"handler": "ptz_email_alert"}, token)
    flow = call(f"/api/config/config_entries/flow/{flow['flow_id']}", {"provider": provider}, token)
    result: dict[str, Any] = call(f"/api/config/config_entries/flow/{flow['flow_id']}", form, token)
    return result


def add_camera(token: str, entry_id: str, form: dict[str, Any]) -> dict[str, Any]:
    """Add a camera subentry through its flow, as the UI does."""
    flow = call(
        "/api/config/config_entries/subentries/flow", {"handler": [entry_id, "camera"]}, token
    )
    result: dict[str, Any] = call(
        f"/api/config/config_entries/subentries/flow/{flow['flow_id']}", form, token
    )
    return result
