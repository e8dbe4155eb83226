"""Turn whatever an SMTP exchange raised into one named cause.

Two levels: :class:`FailureCause` is fine-grained (it tells the config flow which form error to
show), :class:`ErrorKind` is the public vocabulary of DESIGN.md used by the delivery log, sensors
and events. Every cause maps to exactly one kind.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
import re
import socket
import ssl

import aiosmtplib


class ErrorKind(StrEnum):
    """Public error kinds (sensor ``last_error``, delivery log, events)."""

    NONE = "none"
    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    TLS = "tls"
    AUTH = "auth"
    APP_PASSWORD_REQUIRED = "app_password_required"
    BASIC_AUTH_DISABLED = "basic_auth_disabled"
    SENDER_REFUSED = "sender_refused"
    RECIPIENTS_REFUSED = "recipients_refused"
    MESSAGE_TOO_LARGE = "message_too_large"
    TEMPORARY = "temporary"
    REJECTED = "rejected"
    DISCONNECTED = "disconnected"


class FailureCause(StrEnum):
    """What went wrong, precisely enough to tell the user what to do."""

    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    TLS_MODE_MISMATCH = "tls_mode_mismatch"
    INVALID_CERT = "invalid_cert"
    TLS = "tls"
    AUTH = "auth"
    AUTH_NOT_SUPPORTED = "auth_not_supported"
    APP_PASSWORD_REQUIRED = "app_password_required"
    BASIC_AUTH_DISABLED = "basic_auth_disabled"
    SENDER_REFUSED = "sender_refused"
    RECIPIENTS_REFUSED = "recipients_refused"
    MESSAGE_TOO_LARGE = "message_too_large"
    TEMPORARY = "temporary"
    REJECTED = "rejected"
    DISCONNECTED = "disconnected"
    # OAuth2 (XOAUTH2) accounts, all reported as kind ``auth``:
    OAUTH_REJECTED = "oauth_rejected"  # the server refused a freshly refreshed access token
    OAUTH_EXPIRED = "oauth_expired"  # the provider refused the refresh token: sign in again
    SMTP_AUTH_DISABLED = "smtp_auth_disabled"  # Microsoft 5.7.139: SMTP AUTH off for the mailbox

    @property
    def kind(self) -> ErrorKind:
        """The public error kind this cause is reported as."""
        return _KIND_OF_CAUSE.get(self) or ErrorKind(self.value)

    @property
    def is_permanent(self) -> bool:
        """True when trying again with the same settings cannot succeed."""
        return self in _PERMANENT


_KIND_OF_CAUSE = {
    FailureCause.TLS_MODE_MISMATCH: ErrorKind.TLS,
    FailureCause.INVALID_CERT: ErrorKind.TLS,
    FailureCause.AUTH_NOT_SUPPORTED: ErrorKind.AUTH,
    FailureCause.OAUTH_REJECTED: ErrorKind.AUTH,
    FailureCause.OAUTH_EXPIRED: ErrorKind.AUTH,
    FailureCause.SMTP_AUTH_DISABLED: ErrorKind.AUTH,
}

_OAUTH_CAUSES = {
    FailureCause.OAUTH_REJECTED,
    FailureCause.OAUTH_EXPIRED,
    FailureCause.SMTP_AUTH_DISABLED,
}

_PERMANENT = frozenset(
    {
        FailureCause.AUTH,
        FailureCause.AUTH_NOT_SUPPORTED,
        FailureCause.APP_PASSWORD_REQUIRED,
        FailureCause.BASIC_AUTH_DISABLED,
        FailureCause.SENDER_REFUSED,
        FailureCause.RECIPIENTS_REFUSED,
        FailureCause.MESSAGE_TOO_LARGE,
        FailureCause.REJECTED,
        *_OAUTH_CAUSES,
    }
)

AUTH_CAUSES = frozenset(
    {
        FailureCause.AUTH,
        FailureCause.AUTH_NOT_SUPPORTED,
        FailureCause.APP_PASSWORD_REQUIRED,
        FailureCause.BASIC_AUTH_DISABLED,
        *_OAUTH_CAUSES,
    }
)


class SmtpError(Exception):
    """A classified SMTP failure. ``str()`` is safe to log: it never holds a password."""

    def __init__(
        self,
        cause: FailureCause,
        detail: str,
        *,
        code: int | None = None,
        server: str = "",
    ) -> None:
        """Store the cause, the server's reply (if any) and a short detail."""
        super().__init__(detail)
        self.cause = cause
        self.detail = detail
        self.code = code
        self.server = server

    @property
    def kind(self) -> ErrorKind:
        """The public error kind."""
        return self.cause.kind

    def __str__(self) -> str:
        """Cause, server and the server's words, e.g. for a log line."""
        code = f"{self.code} " if self.code is not None else ""
        where = f" from {self.server}" if self.server else ""
        return f"{self.cause.value}{where}: {code}{self.detail}".strip()


# Gmail: "534 5.7.9 Application-specific password required."
_APP_PASSWORD = re.compile(r"\b5\.7\.9\b|application-specific password", re.IGNORECASE)
# Microsoft 365 / Outlook.com: basic authentication (a password over SMTP) is switched off.
_BASIC_AUTH_DISABLED = re.compile(
    r"\b5\.7\.(?:139|3|30)\b|basic auth\w* is disabled|SmtpClientAuthentication is disabled",
    re.IGNORECASE,
)
# Size limits: 552 at MAIL/DATA, or the enhanced codes 5.3.4 / 5.2.3 with another code.
_TOO_LARGE = re.compile(r"\b5\.(?:3\.4|2\.3)\b|too (?:big|large)|size limit", re.IGNORECASE)
# OpenSSL's words for "the bytes from the other end are not TLS" (a plain SMTP banner read as a
# TLS record): implicit TLS spoken to a STARTTLS or plain port.
_NOT_TLS_REASONS = (
    "WRONG_VERSION_NUMBER",
    "UNKNOWN_PROTOCOL",
    "HTTP_REQUEST",
    "PACKET_LENGTH_TOO_LONG",
    "RECORD_LAYER_FAILURE",
    "UNEXPECTED_RECORD",
)
_NO_STARTTLS = re.compile(r"STARTTLS extension not supported", re.IGNORECASE)
_NO_AUTH = re.compile(
    r"AUTH (?:extension )?(?:is )?not supported|No suitable authentication method"
    r"|does not support XOAUTH2",
    re.IGNORECASE,
)
# Microsoft, to a valid token: "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication
# is disabled for the Tenant" (or for the mailbox). A new token cannot help; an admin must.
_SMTP_AUTH_DISABLED = re.compile(
    r"\b5\.7\.139\b|SmtpClientAuthentication is disabled|basic auth\w* is disabled",
    re.IGNORECASE,
)


def classify(exc: BaseException, server: str = "", *, oauth: bool = False) -> SmtpError:
    """Map an exception from an SMTP exchange to an :class:`SmtpError`.

    ``oauth``: the login was XOAUTH2 with an access token, where the same replies mean other
    things (Microsoft's ``5.7.3`` and Google's ``5.7.8`` refuse the token, not a password).
    """
    if isinstance(exc, SmtpError):
        return exc
    cause, code, detail = _classify(exc)
    if oauth and isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        cause = _oauth_cause(exc.code, exc.message)
    return SmtpError(cause, detail, code=code, server=server)


def _oauth_cause(code: int, message: str) -> FailureCause:
    """Cause of a refused XOAUTH2 login.

    Microsoft answers ``535 5.7.3 Authentication unsuccessful`` to an expired or wrong token;
    Google first sends ``334`` with base64 JSON (``{"status":"401","schemes":"bearer",...}``),
    then ``535-5.7.8 Username and Password not accepted`` once the client answers.
    """
    if _SMTP_AUTH_DISABLED.search(message):
        return FailureCause.SMTP_AUTH_DISABLED
    if 400 <= code < 500:
        return FailureCause.TEMPORARY
    return FailureCause.OAUTH_REJECTED


def _classify(exc: BaseException) -> tuple[FailureCause, int | None, str]:
    """Return cause, SMTP code and a one-line detail for ``exc``."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        first = exc.recipients[0] if exc.recipients else None
        if first is None:
            return FailureCause.RECIPIENTS_REFUSED, None, "all recipients refused"
        return _response_cause(first.code, first.message, FailureCause.RECIPIENTS_REFUSED)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return _auth_cause(exc.code, exc.message), exc.code, _one_line(exc.message)
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return _response_cause(exc.code, exc.message, FailureCause.SENDER_REFUSED)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | asyncio.TimeoutError | TimeoutError):
        return FailureCause.TIMEOUT, None, _one_line(str(exc)) or "timed out"
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return FailureCause.DISCONNECTED, None, _one_line(str(exc)) or "connection lost"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _response_cause(exc.code, exc.message, FailureCause.REJECTED)
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        inner = exc.__cause__ or exc.__context__
        if inner is not None and not isinstance(inner, aiosmtplib.SMTPException):
            cause, code, detail = _classify(inner)
            return cause, code, detail
        return FailureCause.REFUSED, None, _one_line(str(exc))
    if isinstance(exc, aiosmtplib.SMTPException):
        message = str(exc)
        if _NO_STARTTLS.search(message):
            return FailureCause.TLS_MODE_MISMATCH, None, "server does not offer STARTTLS"
        if _NO_AUTH.search(message):
            return FailureCause.AUTH_NOT_SUPPORTED, None, "server does not offer AUTH"
        return FailureCause.REJECTED, None, _one_line(message)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return FailureCause.INVALID_CERT, None, _one_line(exc.verify_message or str(exc))
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or ""
        if reason in _NOT_TLS_REASONS:
            return FailureCause.TLS_MODE_MISMATCH, None, f"the server did not speak TLS ({reason})"
        return FailureCause.TLS, None, _one_line(reason or str(exc))
    if isinstance(exc, socket.gaierror):
        return FailureCause.DNS, None, _one_line(exc.strerror or str(exc))
    if isinstance(exc, ConnectionRefusedError):
        return FailureCause.REFUSED, None, "connection refused"
    if isinstance(exc, ConnectionError | EOFError):
        return FailureCause.DISCONNECTED, None, _one_line(str(exc)) or "connection lost"
    if isinstance(exc, OSError):
        return FailureCause.REFUSED, None, _one_line(exc.strerror or str(exc))
    return FailureCause.DISCONNECTED, None, _one_line(f"{type(exc).__name__}: {exc}")


def _auth_cause(code: int, message: str) -> FailureCause:
    if _APP_PASSWORD.search(message):
        return FailureCause.APP_PASSWORD_REQUIRED
    if _BASIC_AUTH_DISABLED.search(message):
        return FailureCause.BASIC_AUTH_DISABLED
    if 400 <= code < 500:
        return FailureCause.TEMPORARY
    return FailureCause.AUTH


def _response_cause(
    code: int, message: str, permanent: FailureCause
) -> tuple[FailureCause, int, str]:
    """Cause of a server reply; ``permanent`` is used for a 5xx without a more precise cause."""
    detail = _one_line(message)
    if code == 552 or (code >= 500 and _TOO_LARGE.search(message)):
        return FailureCause.MESSAGE_TOO_LARGE, code, detail
    if code == 530 or (code == 535 and permanent is not FailureCause.RECIPIENTS_REFUSED):
        return _auth_cause(code, message), code, detail
    if code == 550 and _BASIC_AUTH_DISABLED.search(message):
        return FailureCause.BASIC_AUTH_DISABLED, code, detail
    if 400 <= code < 500:
        return FailureCause.TEMPORARY, code, detail
    return permanent, code, detail


def _one_line(text: str) -> str:
    """Server text as one short line (replies can be multi-line)."""
    return " ".join(text.split())[:300]


# Failures that belong to one message: sending the same bytes again cannot succeed.
MESSAGE_CAUSES = frozenset(
    {FailureCause.MESSAGE_TOO_LARGE, FailureCause.REJECTED, FailureCause.RECIPIENTS_REFUSED}
)


def detached[E: BaseException](err: E) -> E:
    """``err`` without the tracebacks down its chain, to be kept after its ``except`` block.

    A traceback holds the frames the error went through, with their locals: a whole batch of
    messages or an upload's files, and often a list that holds the error again, a cycle only
    a full garbage collection frees. An error kept as an outcome or a last error keeps its
    cause, reply and text, not those frames.
    """
    seen: set[int] = set()
    link: BaseException | None = err
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        link.__traceback__ = None
        link = link.__cause__ or link.__context__
    return err
