"""AUTH XOAUTH2 for the test SMTP server, answering as Microsoft's and Google's servers do.

A real check of the bearer token: the client's ``user=...^Aauth=Bearer ...^A^A`` is decoded and
both the mailbox and the token must match what the test allows. Refusals use the providers'
own words, recorded from their servers:
- Microsoft (smtp.office365.com): ``535 5.7.3 Authentication unsuccessful [...]``;
- Google (smtp.gmail.com): ``334`` + base64 ``{"status":"401","schemes":"bearer",...}``, and
  after the client's empty answer ``535-5.7.8 Username and Password not accepted...``.
"""

from __future__ import annotations

from base64 import b64decode
import binascii
import json
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import MISSING, AuthResult, LoginPassword

if TYPE_CHECKING:
    from .smtp_server import TestSmtpServer

MICROSOFT_REFUSAL = (
    "535 5.7.3 Authentication unsuccessful [LO4P265CA0001.GBRP265.PROD.OUTLOOK.COM "
    "2025-01-01T00:00:00.000Z 08DD2A5B1C0E4F11]"
)
GOOGLE_CHALLENGE = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
GOOGLE_REFUSAL = (
    "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1b2c3d4e5f6 - gsmtp"
)


class XOAuth2Mechanism:
    """Mixin for aiosmtpd's SMTP: its ``auth_<NAME>`` methods are the AUTH mechanisms."""

    _owner: TestSmtpServer

    async def auth_XOAUTH2(self, _: Any, args: list[str]) -> AuthResult:
        """Check ``user=<mailbox>\\x01auth=Bearer <token>\\x01\\x01``."""
        smtp: Any = self
        if len(args) == 2:
            try:
                blob: Any = b64decode(args[1], validate=True)
            except binascii.Error:
                await smtp.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        else:
            blob = await smtp.challenge_auth("", encode_to_b64=False)
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        fields = dict(part.split("=", 1) for part in blob.decode().split("\x01") if "=" in part)
        user, auth = fields.get("user", ""), fields.get("auth", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        behaviour = self._owner.behaviour
        self._owner.bearer_seen.append(token)
        if behaviour.auth_reply:
            return AuthResult(success=False, handled=False, message=behaviour.auth_reply)
        if user == behaviour.bearer_user and token in (behaviour.bearer_tokens or ()):
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        if behaviour.xoauth2_style == "google":
            await smtp.challenge_auth(json.dumps(GOOGLE_CHALLENGE).encode())
            return AuthResult(success=False, handled=False, message=GOOGLE_REFUSAL)
        return AuthResult(success=False, handled=False, message=MICROSOFT_REFUSAL)
