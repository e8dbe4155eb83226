"""Camera URLs and ffmpeg's messages without their secrets, for logs and diagnostics.

Cameras put logins in two places: ``scheme://user:password@host/`` and the query string
(Reolink ``user=...&password=...``, Foscam ``usr=...&pwd=...``, ``token=``, ``api_key=``...).
Both go. String work only (no URL library): a URL that does not parse must still lose its
secrets, and ffmpeg repeats URLs inside its own error lines.
"""

from __future__ import annotations

import re

MASK = "***"

# Query parameter names that hold a login or a key: exact names, and parts of longer ones
# (``client_secret``, ``session_token``). Hiding a harmless parameter in a log costs nothing.
_SECRET_NAMES = frozenset({"user", "username", "usr", "u", "p", "pw", "psw", "login", "sig"})
_SECRET_PARTS = ("pass", "pwd", "token", "secret", "auth", "key", "signature", "credential")

_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)(.*)", re.DOTALL)
# A host (name, IPv4 or [IPv6]) with an optional port, then the end of the authority.
_HOST_AFTER_LOGIN = re.compile(r"@(?=(?:[\w.-]+|\[[0-9a-fA-F:.]+\])(?::\d*)?(?:[/?#]|$))")
# name=value in free text or a query; the value ends at a separator or a space.
_PARAMETER = re.compile(r"(?<![\w.-])([\w.-]+)=([^&;\s]*)")


def _is_secret(name: str) -> bool:
    name = name.lower()
    return name in _SECRET_NAMES or any(part in name for part in _SECRET_PARTS)


def _hide_parameters(text: str) -> str:
    return _PARAMETER.sub(
        lambda match: f"{match[1]}={MASK}" if _is_secret(match[1]) else match[0], text
    )


def _without_login(rest: str) -> str:
    """``rest`` (the URL after ``scheme://``) without ``user:password@``."""
    end = len(rest)
    for separator in "/?#":
        if (index := rest.find(separator)) >= 0:
            end = min(end, index)
    authority = rest[:end]
    if "@" in authority:
        return rest[authority.rfind("@") + 1 :]
    # No "@" before the first "/", "?" or "#", but a password may hold an unescaped one of
    # them ("admin:pa/ss@host"). Unless the authority is a plain host:port, cut at the last
    # "@" that is followed by a host.
    _, colon, port = authority.partition(":")
    if colon and not port.isdigit():
        ats = list(_HOST_AFTER_LOGIN.finditer(rest))
        if ats:
            return rest[ats[-1].end() :]
    return rest


def redact_url(url: str) -> str:
    """``url`` without its login and without the values of secret query parameters."""
    match = _SCHEME.fullmatch(url)
    if match is None:
        return _hide_parameters(url)
    return match[1] + _hide_parameters(_without_login(match[2]))


def redact_text(text: str) -> str:
    """``text`` (an ffmpeg message) with its URLs redacted and secret ``name=value`` hidden."""
    return _hide_parameters(_URL.sub(lambda match: redact_url(match[0]), text))
