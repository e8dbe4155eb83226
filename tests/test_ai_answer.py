"""The AI's answer and what it means for an alert (pure parts), and the burst the AI is given."""

from __future__ import annotations

from datetime import datetime

import pytest

from custom_components.ptz_email_alert.ai_answer import (
    AiAnswer,
    AiOutcome,
    AiStatus,
    parse_answer,
    pictures_to_wait_for,
    verdict,
)
from custom_components.ptz_email_alert.ai_verify import burst_so_far
from custom_components.ptz_email_alert.mail.alert import alert_content, render_subject
from custom_components.ptz_email_alert.vision.frames import JpegFrame, JpegRing

PERSON = AiOutcome(AiStatus.ANSWERED, AiAnswer(True, False, 1, "A man at the gate."), 1.0, 2)
VEHICLE = AiOutcome(AiStatus.ANSWERED, AiAnswer(False, True, 1, "A van parks."), 1.0, 2)
NOTHING = AiOutcome(AiStatus.ANSWERED, AiAnswer(False, False, 0, "Leaves move."), 1.0, 2)


def test_parse_answer_reads_what_models_give() -> None:
    answer = parse_answer(
        {"person": "true", "vehicle": 0, "count": "2.0", "description": "Two\npeople\r\nwalk."}
    )
    assert answer == AiAnswer(True, False, 2, "Two people walk.")
    assert parse_answer({}) == AiAnswer(False, False, 0, "")
    assert parse_answer({"count": float("nan")}).count == 0
    assert parse_answer({"count": -3}).count == 0
    long = parse_answer({"description": "word " * 100}).description
    assert len(long) == 200
    assert long.endswith("…")
    with pytest.raises(TypeError):
        parse_answer("a person")
    with pytest.raises(ValueError, match="count"):
        parse_answer({"count": "many"})


def test_outcome_for_the_event() -> None:
    assert PERSON.as_dict() == {
        "status": "answered", "person": True, "vehicle": False, "count": 1,
        "description": "A man at the gate.", "seconds": 1.0, "pictures": 2,
    }  # fmt: skip
    assert AiOutcome(AiStatus.TIMEOUT).as_dict()["description"] is None


@pytest.mark.parametrize(
    ("mode", "event_type", "detections", "outcome", "fail_closed", "expected"),
    [
        ("off", "motion", ["motion"], PERSON, False, (True, "motion", None, None)),
        ("describe", "motion", ["motion"], NOTHING, False, (True, "motion", "Leaves move.", None)),
        ("describe", "motion", ["motion"], None, False, (True, "motion", None, None)),
        ("verify", "motion", ["motion", "person"], PERSON, False,
         (True, "person", "A man at the gate.", None)),
        ("verify", "line_crossing", ["line_crossing"], VEHICLE, False,
         (True, "line_crossing", "A van parks.", None)),
        ("verify", "motion", ["motion", "vehicle"], VEHICLE, False,
         (True, "vehicle", "A van parks.", None)),
        ("verify", "region_intrusion", ["region_intrusion"], NOTHING, False,
         (False, "region_intrusion", "Leaves move.", "nothing_seen")),
        # A person where only vehicles matter, and motion itself not asked for: nothing.
        ("verify", "motion", ["vehicle"], PERSON, False,
         (False, "motion", "A man at the gate.", "nothing_seen")),
        ("verify", "external", ["motion"], NOTHING, False, (True, "external", "Leaves move.", None)),
        ("verify", "motion", ["motion"], AiOutcome(AiStatus.TIMEOUT), False,
         (True, "motion", None, None)),
        ("verify", "motion", ["motion"], AiOutcome(AiStatus.FAILED), True,
         (False, "motion", None, "not_verified")),
        # The budget, not the AI, skipped the call: never costs an alert.
        ("verify", "motion", ["motion"], AiOutcome(AiStatus.DAILY_LIMIT), True,
         (True, "motion", None, None)),
    ],
)  # fmt: skip
def test_verdict(
    mode: str,
    event_type: str,
    detections: list[str],
    outcome: AiOutcome | None,
    fail_closed: bool,
    expected: tuple[bool, str, str | None, str | None],
) -> None:
    result = verdict(mode, event_type, detections, outcome, fail_closed=fail_closed)
    assert (result.send, result.event_type, result.description, result.held_back) == expected
    if mode == "verify" and outcome is not None and outcome.answer is None and result.send:
        assert result.note is not None
        assert result.note.startswith("Not verified")


def test_pictures_to_wait_for_overlaps_the_burst() -> None:
    assert pictures_to_wait_for(3, 1.0, None) == 1  # first call: the first picture at once
    assert pictures_to_wait_for(3, 1.0, 0.5) == 2  # answers before the third picture
    assert pictures_to_wait_for(3, 1.0, 2.0) == 1
    assert pictures_to_wait_for(3, 1.0, 10.0) == 1
    assert pictures_to_wait_for(5, 0.5, 0.2) == 4
    assert pictures_to_wait_for(3, 0, 0.2) == 1
    # A slow AI with the picture from before the trigger: that one goes at once, alone.
    assert pictures_to_wait_for(2, 0.5, 2.0, have_before=True) == 0
    assert pictures_to_wait_for(2, 0.5, 2.0) == 1
    assert pictures_to_wait_for(3, 1.0, 0.5, have_before=True) == 2
    assert pictures_to_wait_for(3, 1.0, None, have_before=True) == 0  # first call: at once


def test_burst_so_far_follows_the_capture_rule() -> None:
    ring = JpegRing()
    for tenth in range(0, 30):
        ring.add(JpegFrame(tenth / 10, bytes([tenth])))
    before = ring.before(1.0)
    frames, after = burst_so_far(ring, start=1.0, interval=0.5, before=before, count=4)
    assert [f.time for f in frames] == [0.9, 1.0, 1.5, 2.0]
    assert after == 3
    frames, after = burst_so_far(ring, start=2.5, interval=0.5, before=None, count=3)
    assert [f.time for f in frames] == [2.5]  # the rest is not taken yet
    assert after == 1


def test_description_in_subject_and_first_line_adds_no_header() -> None:
    when = datetime(2026, 11, 22, 14, 23, 5)
    hostile = "Person\r\nBcc: x@example.com"
    subject = render_subject(
        "%Camera_Name%: %Description%", camera="Gate", event_type="person", when=when,
        description=hostile,
    )  # fmt: skip
    assert subject == "Gate: Person Bcc: x@example.com"
    assert render_subject("%Event_Type% %Description%", camera="G", event_type="motion",
                          when=when) == "Motion Detected"  # fmt: skip
    content = alert_content(
        subject=subject, camera="Gate", event_type="person", when=when, zone=None, images=[],
        description=hostile,
    )  # fmt: skip
    assert content.text.splitlines()[0] == "Person Bcc: x@example.com"
    assert "<p><b>Person Bcc: x@example.com</b></p>" in (content.html or "")
    plain = alert_content(
        subject="s", camera="Gate", event_type="person", when=when, zone=None, images=[]
    )
    assert plain.text.splitlines()[0] == "Camera: Gate"
