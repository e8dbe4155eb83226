"""Walk through what a new user does, against a running ``scripts/develop``.

Onboards Home Assistant (user ``dev`` / ``dev-password``), adds a "Local relay" account pointing
at the mail catcher through the same config-flow API the UI dialog uses, then calls
``notify.send_message`` as Developer Tools would, and checks that the catcher saved the mail.
Only talks to 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path
import sys
import time
from typing import Any
from urllib import request

BASE = "http://127.0.0.1:8123"
CLIENT_ID = f"{BASE}/"


def call(
    path: str, body: dict[str, Any] | None = None, token: str | None = None, form: bool = False
) -> Any:
    """POST (or GET without a body) and decode JSON."""
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
    with request.urlopen(req, timeout=30) as response:
        text = response.read().decode()
    return json.loads(text) if text else None


def login() -> str:
    """Onboard on first start; return an access token."""
    status = call("/api/onboarding")
    done = {step["step"] for step in status if step["done"]}
    if "user" not in done:
        result = call(
            "/api/onboarding/users",
            {
                "client_id": CLIENT_ID,
                "name": "Dev",
                "username": "dev",
                "password": "dev-password",
                "language": "en",
            },
        )
        code = result["auth_code"]
    else:
        flow = call(
            "/auth/login_flow",
            {"client_id": CLIENT_ID, "handler": ["homeassistant", None], "redirect_uri": CLIENT_ID},
        )
        result = call(
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": CLIENT_ID, "username": "dev", "password": "dev-password"},
        )
        code = result["result"]
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


def main() -> int:
    """Run the walk-through."""
    token = login()
    flow = call("/api/config/config_entries/flow", {"handler": "ptz_email_alert"}, token)
    flow = call(
        f"/api/config/config_entries/flow/{flow['flow_id']}", {"provider": "local_relay"}, token
    )
    print("form:", flow["step_id"], [f["name"] for f in flow["data_schema"]])
    result = call(
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        {
            "host": "127.0.0.1",
            "port": 2525,
            "encryption": "none",
            "sender": "ha@example.com",
            "recipients": ["me@example.com"],
            "verify_ssl": True,
            "timeout": 10,
        },
        token,
    )
    print("flow result:", result["type"], result.get("title") or result.get("errors"))
    before = set(Path("config/mail").glob("*.eml"))
    time.sleep(1)
    states = call("/api/states", token=token)
    entity = next(
        s["entity_id"] for s in states if s["entity_id"].startswith("notify.ha_example_com")
    )
    call(
        "/api/services/notify/send_message",
        {"entity_id": entity, "title": "Hello from Developer Tools", "message": "It works."},
        token,
    )
    new = set(Path("config/mail").glob("*.eml")) - before
    print("sent with", entity, "-> new mail files:", [p.name for p in new])
    return 0 if new else 1


if __name__ == "__main__":
    sys.exit(main())
