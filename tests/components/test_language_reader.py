"""The language reader as Rasa runs it: after the topic reader, before the red-flag screen."""

from __future__ import annotations

from typing import Any

from rasa.shared.nlu.training_data.message import Message

from bot.language import OTHER_LANGUAGE_INTENT
from bot.safety import EMERGENCY_INTENT, SafetyRules
from components.language_reader import LanguageReader
from components.safety_screen import SafetyScreen


def _classified(text: str, intent: str = "faq_cost", metadata: dict[str, Any] | None = None) -> Message:
    message = Message(data={"text": text, "metadata": metadata or {}})
    prediction = {"name": intent, "confidence": 0.9}
    message.set("intent", prediction, add_to_output=True)
    message.set("intent_ranking", [prediction], add_to_output=True)
    return message


def test_the_language_goes_into_the_parse_result() -> None:
    [read] = LanguageReader(("en", "es")).process([_classified("¿cuánto cuesta una sesión?")])
    parsed = read.as_dict(only_output_properties=True)
    assert parsed["language"] == {"language": "es", "detected": "es", "sure": True}
    assert parsed["intent"]["name"] == "faq_cost"


def test_a_short_message_keeps_the_conversations_language() -> None:
    message = _classified("ok", "thank", {"conversation_language": "es"})
    [read] = LanguageReader(("en", "es")).process([message])
    assert read.get("language")["language"] == "es" and not read.get("language")["sure"]


def test_another_language_becomes_its_intent_and_a_red_flag_still_wins(safety_rules: SafetyRules) -> None:
    [other] = LanguageReader(("en", "es")).process(
        [_classified("Combien coûte une séance de mésothérapie ?")]
    )
    assert other.get("intent")["name"] == OTHER_LANGUAGE_INTENT and other.get("language")["language"] is None
    urgent = "my lips are swelling and I can't breathe, je ne peux pas respirer du tout"
    [screened] = SafetyScreen(safety_rules).process(
        LanguageReader(("en", "es")).process([_classified(urgent)])
    )
    assert screened.get("intent")["name"] == EMERGENCY_INTENT


def test_a_buttons_payload_is_not_read_for_its_language() -> None:
    [read] = LanguageReader(("en", "es")).process([_classified("/faq_cost")])
    assert read.get("language") is None
