"""Every language has exactly en.json's keys, and each string the same placeholders."""

from __future__ import annotations

from collections import Counter
import json
from pathlib import Path
import re
from typing import Any

import pytest

TRANSLATIONS = Path(__file__).parent.parent / "custom_components/ptz_email_alert/translations"
LANGUAGES = ["de", "fr", "es", "nl", "it", "pl"]
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _strings(language: str) -> dict[str, str]:
    """``{"config.step.user.title": "...", ...}`` for one language file."""
    loaded = json.loads((TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8"))
    flat: dict[str, str] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key)
        else:
            assert isinstance(node, str), f"{language}: {path} is not a string"
            flat[path] = node

    walk(loaded, "")
    return flat


def test_the_languages_are_all_there() -> None:
    present = {path.stem for path in TRANSLATIONS.glob("*.json")}
    assert present == {"en", *LANGUAGES}


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_keys_and_placeholders_as_english(language: str) -> None:
    english = _strings("en")
    translated = _strings(language)
    assert sorted(set(english) - set(translated)) == [], "missing"
    assert sorted(set(translated) - set(english)) == [], "not in en.json"
    wrong = {
        key: (PLACEHOLDER.findall(text), PLACEHOLDER.findall(english[key]))
        for key, text in translated.items()
        if Counter(PLACEHOLDER.findall(text)) != Counter(PLACEHOLDER.findall(english[key]))
    }
    assert wrong == {}
    assert all(text.strip() == text and text for text in translated.values())


@pytest.mark.parametrize("language", LANGUAGES)
def test_translated_not_copied(language: str) -> None:
    """A language file is a translation: most sentences differ from the English ones."""
    english = _strings("en")
    translated = _strings(language)
    sentences = [key for key, text in english.items() if len(text.split()) >= 6]
    same = [key for key in sentences if translated[key] == english[key]]
    assert len(same) <= len(sentences) // 20, same


def test_the_check_sees_a_lost_placeholder() -> None:
    english = "The email was not sent via {server} ({detail})."
    assert Counter(PLACEHOLDER.findall("Nicht gesendet über {server}.")) != Counter(
        PLACEHOLDER.findall(english)
    )
