"""Constants for PTZ Email Alert."""

from __future__ import annotations

from dataclasses import dataclass
import logging
from typing import Final

from .mail import Encryption

DOMAIN: Final = "ptz_email_alert"
LOGGER = logging.getLogger(__package__)

CONF_PROVIDER: Final = "provider"
CONF_ENCRYPTION: Final = "encryption"
CONF_SENDER: Final = "sender"
CONF_RECIPIENTS: Final = "recipients"

PROVIDER_GMAIL: Final = "gmail"
PROVIDER_OUTLOOK: Final = "outlook"
PROVIDER_CUSTOM: Final = "custom"
PROVIDER_LOCAL_RELAY: Final = "local_relay"
PROVIDERS: Final = [PROVIDER_GMAIL, PROVIDER_OUTLOOK, PROVIDER_CUSTOM, PROVIDER_LOCAL_RELAY]

DEFAULT_TIMEOUT: Final = 30
DEFAULT_SUBJECT: Final = "Message from Home Assistant"

GMAIL_APP_PASSWORD_URL: Final = "https://myaccount.google.com/apppasswords"
MICROSOFT_SMTP_AUTH_URL: Final = (
    "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/"
    "authenticated-client-smtp-submission"
)


@dataclass(frozen=True, slots=True)
class ProviderPreset:
    """Server settings prefilled in the form for a provider."""

    host: str
    port: int
    encryption: Encryption
    needs_login: bool


PROVIDER_PRESETS: Final = {
    PROVIDER_GMAIL: ProviderPreset("smtp.gmail.com", 465, Encryption.SSL, needs_login=True),
    PROVIDER_OUTLOOK: ProviderPreset(
        "smtp.office365.com", 587, Encryption.STARTTLS, needs_login=True
    ),
    PROVIDER_CUSTOM: ProviderPreset("", 587, Encryption.STARTTLS, needs_login=True),
    PROVIDER_LOCAL_RELAY: ProviderPreset("", 25, Encryption.NONE, needs_login=False),
}

# Options (everything not needed to connect).
CONF_RETRY_DELAYS: Final = "retry_delays"
CONF_OUTBOX_MAX_AGE: Final = "outbox_max_age"
CONF_HEARTBEAT_INTERVAL: Final = "heartbeat_interval"
CONF_HEARTBEAT_TIME: Final = "heartbeat_time"
CONF_HEARTBEAT_GRACE: Final = "heartbeat_grace"
CONF_FALLBACK_NOTIFY: Final = "fallback_notify"

DEFAULT_RETRY_DELAYS: Final = [0, 10, 30]
DEFAULT_OUTBOX_MAX_AGE_HOURS: Final = 24
DEFAULT_HEARTBEAT_GRACE_MINUTES: Final = 15
HEARTBEAT_OFF: Final = "off"
HEARTBEAT_DAILY: Final = "daily"
HEARTBEAT_INTERVALS: Final = {"1h": 1, "6h": 6, "24h": 24}
HEARTBEAT_CHOICES: Final = [HEARTBEAT_OFF, *HEARTBEAT_INTERVALS, HEARTBEAT_DAILY]

# Bus events.
EVENT_ALERT: Final = f"{DOMAIN}_alert"
EVENT_DELIVERED: Final = f"{DOMAIN}_delivered"
EVENT_DELIVERY_FAILED: Final = f"{DOMAIN}_delivery_failed"
EVENT_DROPPED: Final = f"{DOMAIN}_dropped"
EVENT_HEARTBEAT_MISSED: Final = f"{DOMAIN}_heartbeat_missed"

# Outbox item kinds.
KIND_ALERT: Final = "alert"
KIND_MESSAGE: Final = "message"
KIND_TEST: Final = "test"
KIND_HEARTBEAT: Final = "heartbeat"

# Camera subentries.
SUBENTRY_CAMERA: Final = "camera"
CONF_CAMERA_ENTITY: Final = "camera_entity"
CONF_STREAM_URL: Final = "stream_url"
CONF_SNAPSHOT_URL: Final = "snapshot_url"
CONF_DETECTIONS: Final = "detections"
CONF_SENSITIVITY: Final = "sensitivity"
CONF_BURST_COUNT: Final = "burst_count"
CONF_BURST_INTERVAL: Final = "burst_interval"
CONF_PRE_TRIGGER: Final = "pre_trigger"
CONF_SNAPSHOT_SIZE: Final = "snapshot_size"
CONF_MAX_EMAIL_KB: Final = "max_email_kb"
CONF_SUBJECT_TEMPLATE: Final = "subject_template"
CONF_COOLDOWN: Final = "cooldown"
CONF_ZONES: Final = "zones"
CONF_LINES: Final = "lines"
CONF_IGNORE_AREAS: Final = "ignore_areas"
CONF_EXTERNAL_TRIGGERS: Final = "external_triggers"
CONF_OFFLINE_AFTER: Final = "offline_after"
CONF_RETENTION_DAYS: Final = "retention_days"
CONF_MODEL_PATH: Final = "model_path"
CONF_DRAW_LAYOUT: Final = "draw_layout"
CONF_RETENTION_MB: Final = "retention_mb"
CONF_CAMERA_RECIPIENTS: Final = "recipients"  # same key as the account's option
CONF_ARMED_BY: Final = "armed_by"
CONF_ARMED_STATES: Final = "armed_states"
CONF_MARK_OBJECTS: Final = "mark_objects"
CONF_ANIMATED_PREVIEW: Final = "animated_preview"

DETECTION_TYPES: Final = [
    "motion",
    "person",
    "vehicle",
    "line_crossing",
    "region_intrusion",
    "tamper",
]
SNAPSHOT_SIZES: Final = ["d1", "720p", "1080p", "original"]
# Snapshots per alert by event type when the camera does not set burst_count.
DEFAULT_BURST: Final = {
    "motion": 3,
    "person": 3,
    "vehicle": 3,
    "line_crossing": 2,
    "region_intrusion": 3,
    "tamper": 2,
    "external": 3,
}
DEFAULT_BURST_INTERVAL: Final = 1.0
DEFAULT_MAX_EMAIL_KB: Final = 450
DEFAULT_COOLDOWN: Final = 30
DEFAULT_SENSITIVITY: Final = 6
DEFAULT_OFFLINE_AFTER: Final = 120
DEFAULT_RETENTION_DAYS: Final = 30
DEFAULT_RETENTION_MB: Final = 1000
DETECTION_HOLD_SECONDS: Final = 10
OPENCV_REQUIREMENT: Final = "opencv-python-headless>=4.10,<5"

# Local relay (account options): cameras that can only mail a LAN server mail Home Assistant.
CONF_RELAY_ENABLED: Final = "relay_enabled"
CONF_RELAY_PORT: Final = "relay_port"
CONF_RELAY_HOST: Final = "relay_host"
CONF_RELAY_NETWORKS: Final = "relay_networks"
CONF_RELAY_SENDERS: Final = "relay_senders"
CONF_RELAY_USERNAME: Final = "relay_username"
CONF_RELAY_PASSWORD: Final = "relay_password"
CONF_RELAY_ALLOW_PLAIN_AUTH: Final = "relay_allow_plain_auth"
CONF_RELAY_FORWARD_TO: Final = "relay_forward_to"
CONF_RELAY_MAX_MB: Final = "relay_max_mb"
CONF_RELAY_HEARTBEAT_HOURS: Final = "relay_heartbeat_hours"
RELAY_FORWARD_ORIGINAL: Final = "original"
RELAY_FORWARD_ACCOUNT: Final = "account"
RELAY_FORWARD_CHOICES: Final = [RELAY_FORWARD_ORIGINAL, RELAY_FORWARD_ACCOUNT]
EVENT_RELAY_RECEIVED: Final = f"{DOMAIN}_relay_received"
KIND_RELAY: Final = "relay"

# Evidence upload (account options) and event clips (camera options).
CONF_UPLOAD_PROTOCOL: Final = "upload_protocol"
CONF_UPLOAD_HOST: Final = "upload_host"
CONF_UPLOAD_PORT: Final = "upload_port"
CONF_UPLOAD_USERNAME: Final = "upload_username"
CONF_UPLOAD_PASSWORD: Final = "upload_password"
CONF_UPLOAD_PRIVATE_KEY: Final = "upload_private_key"
CONF_UPLOAD_FOLDER: Final = "upload_folder"
CONF_UPLOAD_PASSIVE: Final = "upload_passive"
CONF_UPLOAD_VERIFY_SSL: Final = "upload_verify_ssl"
CONF_UPLOAD_HOST_KEY: Final = "upload_host_key"  # pinned by the options flow's test
UPLOAD_PROTOCOLS: Final = ["off", "ftp", "ftps", "sftp"]
DEFAULT_UPLOAD_FOLDER: Final = "%Camera_Name%/%Date%"
CONF_CLIP: Final = "clip"
CONF_CLIP_BEFORE: Final = "clip_before"
CONF_CLIP_AFTER: Final = "clip_after"
CONF_CLIP_ATTACH: Final = "clip_attach"
DEFAULT_CLIP_BEFORE: Final = 5
DEFAULT_CLIP_AFTER: Final = 10
CONF_PTZ: Final = "ptz"
CONF_PTZ_ENTITY: Final = "ptz_entity"
PTZ_SETTLE_SECONDS: Final = 5  # after a commanded move, the picture is left to settle this long
# AI Task (camera options): describe or verify each alert's burst (ai_answer.py has the rest).
CONF_AI_TASK_ENTITY: Final = "ai_task_entity"
CONF_AI_MODE: Final = "ai_mode"
CONF_AI_TIMEOUT: Final = "ai_timeout"
CONF_AI_FAIL_CLOSED: Final = "ai_fail_closed"
CONF_AI_DAILY_LIMIT: Final = "ai_daily_limit"
