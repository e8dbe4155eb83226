"""Screenshots for the README, taken from a running ``scripts/demo`` with Debian's Chromium.

Logs in as the demo user, opens the setup dialog, the account and camera devices, and renders
the newest alert email from the mail catcher. Writes docs/images/*.png. Local only.
"""

from __future__ import annotations

import base64
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
import sys

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
from ha_api import BASE, call, login

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def email_as_html(path: Path) -> str:
    """The HTML part of an .eml with its cid: pictures inlined as data URIs."""
    message = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    html = str(body.get_content())
    for part in message.walk():
        if cid := part.get("Content-ID"):
            data = base64.b64encode(part.get_payload(decode=True)).decode()
            html = html.replace(f"cid:{cid.strip('<>')}", f"data:image/jpeg;base64,{data}")
    header = (
        "<div style='font-family:sans-serif;border-bottom:1px solid #ccc;padding:8px;"
        "margin-bottom:8px'>"
        f"<b>From:</b> {message['From']}<br><b>To:</b> {message['To']}<br>"
        f"<b>Subject:</b> {message['Subject']}</div>"
    )
    return header + html


def ha_login(page: Page, username: str, password: str) -> None:
    page.goto(BASE)
    page.get_by_label("Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{BASE}/lovelace/**", timeout=60000)


def device_url(token: str, entity_id: str) -> str:
    template = {"template": f"{{{{ device_id('{entity_id}') }}}}"}
    device = call("/api/template", template, token, text=True)
    return f"{BASE}/config/devices/device/{device}"


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    token = login("demo", "demo-password")
    states = call("/api/states", token=token)
    account_entity = next(
        s["entity_id"] for s in states if s["entity_id"].endswith("_delivery_problem")
    )
    camera_entity = next(
        s["entity_id"]
        for s in states
        if s["entity_id"].startswith("camera.") and s["entity_id"].endswith("_live")
    )
    newest_mail = max((ROOT / "demo" / "mail").glob("*.eml"))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 900, "height": 1500})
        page.set_content(email_as_html(newest_mail))
        page.screenshot(path=IMAGES / "alert-email.jpg", type="jpeg", quality=80)
        page.set_viewport_size({"width": 1280, "height": 900})

        ha_login(page, "demo", "demo-password")
        page.goto(f"{BASE}/config/integrations/dashboard/add?domain=ptz_email_alert")
        page.get_by_role("button", name="OK").click()  # "Do you want to set up …?"
        page.get_by_text("Local relay on my network").wait_for(timeout=30000)
        page.screenshot(path=IMAGES / "setup-provider.png")
        page.get_by_text("Local relay on my network").click()
        page.get_by_role("button", name="Submit").click()
        page.get_by_text("Mail server and login").wait_for(timeout=60000)
        page.screenshot(path=IMAGES / "setup-server.png")

        page.goto(device_url(token, account_entity))
        page.get_by_text("Delivery problem").first.wait_for(timeout=60000)
        page.screenshot(path=IMAGES / "account-device.png", full_page=True)
        page.goto(device_url(token, camera_entity))
        page.get_by_text("Email alerts").first.wait_for(timeout=60000)
        page.wait_for_timeout(2000)  # let the camera picture load
        page.screenshot(path=IMAGES / "camera-device.png", full_page=True)
        browser.close()
    print("Screenshots in", IMAGES)


if __name__ == "__main__":
    main()
