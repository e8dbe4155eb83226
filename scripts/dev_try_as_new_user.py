"""Walk through what a new user does, against a running ``scripts/develop``.

Onboards Home Assistant (user ``dev`` / ``dev-password``), adds a "Local relay" account pointing
at the mail catcher through the same config-flow API the UI dialog uses, then calls
``notify.send_message`` as Developer Tools would, and checks that the catcher saved the mail.
Only talks to 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
import sys
import time

sys.path.insert(0, str(Path(__file__).parent))
from ha_api import add_account, call, login


def main() -> int:
    """Run the walk-through."""
    token = login("dev", "dev-password")
    result = add_account(token, {
        "host": "127.0.0.1", "port": 2525, "encryption": "none", "sender": "ha@example.com",
        "recipients": ["me@example.com"], "verify_ssl": True, "timeout": 10,
    })  # fmt: skip
    print("flow result:", result["type"], result.get("title") or result.get("errors"))
    before = set(Path("config/mail").glob("*.eml"))
    time.sleep(1)
    states = call("/api/states", token=token)
    entity = next(
        s["entity_id"] for s in states if s["entity_id"].startswith("notify.ha_example_com")
    )
    message = {"entity_id": entity, "title": "Hello from Developer Tools", "message": "It works."}
    call("/api/services/notify/send_message", message, token)
    new = set(Path("config/mail").glob("*.eml")) - before
    print("sent with", entity, "-> new mail files:", [p.name for p in new])
    return 0 if new else 1


if __name__ == "__main__":
    sys.exit(main())
