"""Full-resolution still pictures from a camera's snapshot URL.

Cameras put the login in the URL (``http://user:password@camera/...``) and most answer with
HTTP digest authentication (Hikvision, Dahua), some with basic. The first request carries no
credentials: the camera's challenge says which scheme it wants, so a basic password is never
sent to a camera that asked for digest.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re

import aiohttp
from yarl import URL

# One redaction for every log line (login and secret query parameters); the Home Assistant
# layer imports it from here.
from .vision.redact import redact_url as redact_url  # noqa: PLC0414 (re-exported)

JPEG_START = b"\xff\xd8"
_CHALLENGE_PARAMETER = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')
_DIGESTS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class SnapshotError(Exception):
    """The snapshot URL gave no JPEG; the message says why (never with the password)."""


def digest_authorization(
    challenge: str, username: str, password: str, method: str, uri: str
) -> str:
    """``Authorization`` header answering a ``WWW-Authenticate: Digest ...`` challenge.

    RFC 7616 with ``qop=auth`` (or RFC 2069 without qop); MD5 or SHA-256.
    """
    parameters = {
        match[1].lower(): match[2] or match[3]
        for match in _CHALLENGE_PARAMETER.finditer(challenge.partition(" ")[2])
    }
    algorithm = parameters.get("algorithm", "MD5").upper()
    if algorithm not in _DIGESTS:
        raise SnapshotError(f"the camera asks for digest algorithm {algorithm}, not supported")

    def digest(text: str) -> str:
        # Not for security here: the camera's challenge decides the algorithm (usually MD5).
        return _DIGESTS[algorithm](text.encode(), usedforsecurity=False).hexdigest()

    realm, nonce = parameters.get("realm", ""), parameters.get("nonce", "")
    secret = digest(f"{username}:{realm}:{password}")
    request = digest(f"{method}:{uri}")
    fields = {
        "username": f'"{username}"',
        "realm": f'"{realm}"',
        "nonce": f'"{nonce}"',
        "uri": f'"{uri}"',
        "algorithm": algorithm,
    }
    if "auth" in [qop.strip() for qop in parameters.get("qop", "").split(",")]:
        client_nonce, count = os.urandom(8).hex(), "00000001"
        answer = digest(f"{secret}:{nonce}:{count}:{client_nonce}:auth:{request}")
        fields |= {"qop": "auth", "nc": count, "cnonce": f'"{client_nonce}"'}
    else:
        answer = digest(f"{secret}:{nonce}:{request}")
    fields["response"] = f'"{answer}"'
    if "opaque" in parameters:
        fields["opaque"] = f'"{parameters["opaque"]}"'
    return "Digest " + ", ".join(f"{key}={value}" for key, value in fields.items())


async def async_fetch_snapshot(
    session: aiohttp.ClientSession, url: str, *, within: float = 5.0
) -> bytes:
    """One JPEG from ``url`` within ``within`` seconds; raises :class:`SnapshotError`."""
    try:
        parsed = URL(url)
    except ValueError as err:
        raise SnapshotError("the snapshot URL is not a URL") from err
    if parsed.scheme not in {"http", "https"}:
        raise SnapshotError("the snapshot URL must start with http:// or https://")
    username, password = parsed.user or "", parsed.password or ""
    target = parsed.with_user(None)
    try:
        async with asyncio.timeout(within):
            async with session.get(target, auth=None) as response:
                body = await response.read()
                status = response.status
                challenge = response.headers.get("WWW-Authenticate", "")
            if status == 401 and username:
                headers = _answer(challenge, username, password, target)
                async with session.get(target, headers=headers) as response:
                    body = await response.read()
                    status = response.status
    except TimeoutError as err:
        raise SnapshotError(f"no answer within {within:g} s") from err
    except aiohttp.ClientError as err:
        raise SnapshotError(f"cannot connect ({type(err).__name__})") from err
    if status == 401:
        raise SnapshotError("the camera refused the user name or password in the URL (401)")
    if status != 200:
        raise SnapshotError(f"the camera answered HTTP {status}")
    if not body.startswith(JPEG_START):
        raise SnapshotError("the answer is not a JPEG picture")
    return body


def _answer(challenge: str, username: str, password: str, target: URL) -> dict[str, str]:
    scheme = challenge.partition(" ")[0].lower()
    if scheme == "digest":
        return {
            "Authorization": digest_authorization(
                challenge, username, password, "GET", target.raw_path_qs
            )
        }
    if scheme == "basic":
        # Built by hand: aiohttp.BasicAuth is deprecated in the newest aiohttp, not yet replaced
        # in the oldest supported one.
        login = base64.b64encode(f"{username}:{password}".encode()).decode()
        return {"Authorization": f"Basic {login}"}
    raise SnapshotError("the camera asks for a login this integration cannot give")
