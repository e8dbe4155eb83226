"""Alert emails: the subject from the camera's template, a readable body, pictures inline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
import html

from .message import Attachment, EmailContent, one_line

DEFAULT_SUBJECT_TEMPLATE = "%Camera_Name% – %Event_Type%"

# Event types as people write them in a subject line.
EVENT_TITLES = {
    "motion": "Motion Detected",
    "person": "Human Detected",
    "vehicle": "Vehicle Detected",
    "line_crossing": "Line Crossing",
    "region_intrusion": "Region Intrusion",
    "tamper": "Camera Tampering",
    "external": "Alarm Input",
    "offline": "Camera Offline",
    "online": "Camera Back Online",
}


# How a detection that joined another one's alert is named in the body.
EVENT_LABELS = {
    "motion": "Motion",
    "person": "Person",
    "vehicle": "Vehicle",
    "line_crossing": "Line crossing",
    "region_intrusion": "Region intrusion",
}


def event_title(event_type: str) -> str:
    """``person`` -> ``Human Detected``; unknown types are title-cased."""
    return EVENT_TITLES.get(event_type, event_type.replace("_", " ").title())


def event_label(event_type: str, zone: str | None = None) -> str:
    """``line_crossing``, ``gate`` -> ``Line crossing 'gate'``."""
    label = EVENT_LABELS.get(event_type, event_type.replace("_", " ").capitalize())
    return f"{label} '{zone}'" if zone else label


def event_summary(event_type: str, also: Sequence[str] = ()) -> str:
    """``Human Detected, also: Motion, Line crossing 'gate'``."""
    title = event_title(event_type)
    return f"{title}, also: {', '.join(also)}" if also else title


def render_subject(
    template: str,
    *,
    camera: str,
    event_type: str,
    when: datetime,
    zone: str | None = None,
    count: int = 0,
    description: str | None = None,
) -> str:
    """Fill the subject variables of ``template``.

    ``%Camera_Name%``, ``%Event_Type%``, ``%Time%``, ``%Date%``, ``%Zone%``, ``%Count%`` and
    ``%Description%`` (what the AI saw; empty without it).

    Values are made one line first, so no value can add a header line.
    """
    values = {
        "%Camera_Name%": camera,
        "%Event_Type%": event_title(event_type),
        "%Time%": when.strftime("%H:%M:%S"),
        "%Date%": when.strftime("%Y-%m-%d"),
        "%Zone%": zone or "",
        "%Count%": str(count),
        "%Description%": description or "",
    }
    subject = template or DEFAULT_SUBJECT_TEMPLATE
    for key, value in values.items():
        subject = subject.replace(key, one_line(value))
    return one_line(subject)


def alert_content(
    *,
    subject: str,
    camera: str,
    event_type: str,
    when: datetime,
    zone: str | None,
    images: Sequence[bytes],
    extra_lines: Sequence[str] = (),
    also: Sequence[str] = (),
    preview: bytes | None = None,
    description: str | None = None,
) -> EmailContent:
    """Text and HTML bodies with the pictures attached and shown inline (phones show both).

    ``also``: the other detections that joined this alert, as :func:`event_label` names them.
    ``preview``: an animated GIF of the burst, shown first.
    ``description``: what the AI saw, the body's first line (made one line: it adds no header).
    """
    description = one_line(description) if description else None
    stamp = when.strftime("%Y%m%d-%H%M%S")
    safe_camera = "".join(c if c.isalnum() else "_" for c in camera)[:40] or "camera"
    attachments = [
        Attachment(
            f"{safe_camera}_{stamp}_{index}.jpg",
            image,
            "image/jpeg",
            content_id=f"snapshot{index}@ptz-email-alert",
        )
        for index, image in enumerate(images, start=1)
    ]
    facts = [
        ("Camera", camera),
        ("Event", event_summary(event_type, also)),
        ("Time", when.strftime("%Y-%m-%d %H:%M:%S %Z").strip()),
    ]
    if zone:
        facts.append(("Zone / line", zone))
    facts.append(("Snapshots", str(len(images))))
    first = [description] if description else []
    text = "\n".join([*first, *(f"{name}: {value}" for name, value in facts), *extra_lines, ""])
    rows = "".join(
        f"<tr><th align='left' style='padding-right:12px'>{html.escape(name)}</th>"
        f"<td>{html.escape(value)}</td></tr>"
        for name, value in facts
    )
    pictures = "".join(
        f"<p><img src='cid:{a.content_id}' alt='{html.escape(a.filename)}' "
        "style='max-width:100%;height:auto'></p>"
        for a in attachments
    )
    if preview is not None:
        gif = Attachment(
            f"{safe_camera}_{stamp}_preview.gif",
            preview,
            "image/gif",
            content_id="preview@ptz-email-alert",
        )
        attachments.insert(0, gif)
        pictures = (
            "<p><img src='cid:preview@ptz-email-alert' alt='preview' "
            "style='max-width:100%;height:auto'></p>" + pictures
        )
    extra = "".join(f"<p>{html.escape(line)}</p>" for line in extra_lines)
    body = (
        "<html><body style='font-family:sans-serif'>"
        + (f"<p><b>{html.escape(description)}</b></p>" if description else "")
        + f"<h2 style='margin:0 0 8px'>{html.escape(subject)}</h2>"
        f"<table>{rows}</table>{extra}{pictures}</body></html>"
    )
    return EmailContent(subject=subject, text=text, html=body, attachments=attachments)
