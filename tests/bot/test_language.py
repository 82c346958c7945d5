"""Which language a message is in (bot/language.py), in the light of the conversation."""

from __future__ import annotations

from typing import Any

import pytest

from bot import language
from bot.language import detect, served_hint


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("¿cuánto cuesta una sesión de mesoterapia?", "es"),
        ("me cuesta respirar y se me hinchan los labios", "es"),
        ("¿duele?", "es"),  # Spanish punctuation says so, however short
        ("hola", "es"),
        ("how much does a session of mesotherapy cost?", "en"),
        ("can I wash my hair the day after the injections?", "en"),
    ],
)
def test_a_message_that_says_its_language_is_read_in_it(text: str, language: str) -> None:
    found = detect(text, conversation="en" if language == "es" else "es")
    assert found.language == language and found.sure


@pytest.mark.parametrize("text", ["ok", "meso", "PRP vs meso", "and?"])
def test_a_message_too_short_to_tell_keeps_the_conversations_language(text: str) -> None:
    assert detect(text, conversation="es").language == "es"
    assert detect(text, conversation="en").language == "en"
    assert not detect(text, conversation="es").sure


def test_without_a_conversation_the_clients_hint_decides_an_unclear_message() -> None:
    assert detect("ok", hint="es-MX").language == "es"
    assert detect("ok", hint="fr-FR").language == "en"  # no served language: the first
    assert served_hint("es_ES") == "es" and served_hint("de") is None and served_hint(None) is None


@pytest.mark.parametrize(
    "text",
    [
        "Combien coûte une séance de mésothérapie ?",
        "Wie viel kostet eine Sitzung Mesotherapie?",
        "Quanto custa uma sessão de mesoterapia?",
    ],
)
def test_a_message_clearly_in_another_language_is_in_no_served_one(text: str) -> None:
    found = detect(text, conversation="en")
    assert found.language is None and found.sure and found.code not in ("en", "es")


def test_a_short_message_in_another_language_is_not_refused() -> None:
    assert detect("merci", conversation="en").language == "en"  # too short to be sure


def test_lingua_reads_a_message_once_when_both_components_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    real = language.detector()
    read: list[str] = []

    class Counting:
        def compute_language_confidence_values(self, text: str) -> Any:
            read.append(text)
            return real.compute_language_confidence_values(text)

    monkeypatch.setattr(language, "detector", Counting)
    language.confidence_values.cache_clear()
    try:
        # The topic reader, then the language reader, with the conversation's language.
        assert detect("¿cuánto cuesta?").language == detect("¿cuánto cuesta?", "es").language == "es"
        assert detect("how much is it for the whole scalp").language == "en"
        assert read == ["¿cuánto cuesta?", "how much is it for the whole scalp"]
    finally:
        language.confidence_values.cache_clear()
