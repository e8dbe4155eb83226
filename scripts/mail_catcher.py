"""A mail catcher for development: an SMTP server on localhost that keeps every message.

Each message is saved as ``<folder>/<time>-<n>.eml`` with its attachments beside it in
``<time>-<n>/``, and one line per message is printed. Plain SMTP, no login: set the account up
in Home Assistant as "Local relay", server 127.0.0.1, port 2525, encryption none.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class SavingHandler:
    """Save each message and its attachments."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = bytes(envelope.original_content or b"")
        self.count += 1
        stem = f"{datetime.now():%Y%m%d-%H%M%S}-{self.count}"
        (self.folder / f"{stem}.eml").write_bytes(raw)
        message = message_from_bytes(raw, policy=default_policy)
        assert isinstance(message, EmailMessage)
        names = []
        # Inline pictures (multipart/related) are files too: walk every part with a file name.
        for index, part in enumerate(message.walk()):
            content = part.get_payload(decode=True)
            if part.is_multipart() or not part.get_filename() or not isinstance(content, bytes):
                continue
            folder = self.folder / stem
            folder.mkdir(exist_ok=True)
            name = Path(part.get_filename() or f"part{index}").name
            (folder / name).write_bytes(content)
            names.append(name)
        print(
            f"{datetime.now():%H:%M:%S} mail from {envelope.mail_from} to "
            f"{', '.join(envelope.rcpt_tos)}: {message['Subject']!r}, "
            f"{len(names)} attachment(s), {len(raw) // 1024} KB -> {stem}.eml",
            flush=True,
        )
        return "250 2.0.0 OK saved"


async def serve(host: str, port: int, folder: Path) -> None:
    """Run until interrupted."""
    folder.mkdir(parents=True, exist_ok=True)
    handler = SavingHandler(folder)

    def factory() -> Any:
        return SMTP(handler, hostname="mail-catcher.local", data_size_limit=50 * 1024 * 1024)

    server = await asyncio.get_running_loop().create_server(factory, host, port)
    print(f"Mail catcher on {host}:{port}, saving to {folder}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--folder", type=Path, default=Path("config/mail"))
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port, args.folder))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
