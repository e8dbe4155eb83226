"""Mail core: build, send and classify email. Pure Python: no Home Assistant import here."""

from .errors import AUTH_CAUSES, MESSAGE_CAUSES, ErrorKind, FailureCause, SmtpError, classify
from .message import (
    Attachment,
    EmailContent,
    InvalidAddressError,
    build_message,
    normalize_address,
    normalize_addresses,
    one_line,
)
from .outbox import Outbox, OutboxConfig
from .outbox_records import (
    DeliveryAttempt,
    DropReason,
    ItemState,
    OutboxItem,
    OutboxObserver,
    OutboxStorage,
)
from .sender import (
    Encryption,
    RawMessage,
    SendResult,
    SmtpSession,
    SmtpSettings,
    send_message,
    send_messages,
    verify_login,
)

__all__ = [
    "AUTH_CAUSES",
    "MESSAGE_CAUSES",
    "Attachment",
    "DeliveryAttempt",
    "DropReason",
    "EmailContent",
    "Encryption",
    "ErrorKind",
    "FailureCause",
    "InvalidAddressError",
    "ItemState",
    "Outbox",
    "OutboxConfig",
    "OutboxItem",
    "OutboxObserver",
    "OutboxStorage",
    "RawMessage",
    "SendResult",
    "SmtpError",
    "SmtpSession",
    "SmtpSettings",
    "build_message",
    "classify",
    "normalize_address",
    "normalize_addresses",
    "one_line",
    "send_message",
    "send_messages",
    "verify_login",
]
