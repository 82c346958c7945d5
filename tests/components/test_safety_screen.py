"""The safety screen as Rasa runs it: a pipeline component after the intent classifiers."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from bot.safety import EMERGENCY_INTENT, SafetyRules
from components.safety_screen import SafetyScreen


def _classified(text: str, intent: str, confidence: float = 0.99) -> Message:
    """A message as DIET and the FallbackClassifier leave it."""
    message = Message(data={"text": text})
    prediction = {"name": intent, "confidence": confidence}
    message.set("intent", prediction, add_to_output=True)
    message.set("intent_ranking", [prediction, {"name": "faq_pain", "confidence": 0.01}], add_to_output=True)
    return message


def test_a_red_flag_overrides_a_confident_faq_intent(safety_rules: SafetyRules) -> None:
    message = _classified(
        "my lips are swelling and my throat feels tight, how much is the next session?", "faq_cost"
    )
    [screened] = SafetyScreen(safety_rules).process([message])
    assert screened.get("intent") == {"name": EMERGENCY_INTENT, "confidence": 1.0}
    assert screened.get("intent_ranking")[0]["name"] == EMERGENCY_INTENT
    assert "faq_cost" in [r["name"] for r in screened.get("intent_ranking")]
    # The parse result the tracker stores carries the decision, and nothing else is added.
    parsed = screened.as_dict(only_output_properties=True)
    assert parsed["intent"]["name"] == EMERGENCY_INTENT
    assert not parsed.get("entities")


def test_a_general_question_keeps_its_intent(safety_rules: SafetyRules) -> None:
    message = _classified("what are the side effects?", "faq_side_effects")
    [screened] = SafetyScreen(safety_rules).process([message])
    assert screened.get("intent")["name"] == "faq_side_effects"
    assert not screened.get("entities")


@pytest.mark.parametrize(
    ("intent", "expected"),
    [
        ("nlu_fallback", "faq_contraindications"),
        ("faq_safety", "faq_contraindications"),
        ("faq_pain", "faq_pain"),
        ("out_of_scope", "out_of_scope"),
    ],
)
def test_a_personal_situation_is_routed_only_from_an_unsure_or_broad_intent(
    intent: str, expected: str, safety_rules: SafetyRules
) -> None:
    message = _classified("I'm 20 weeks pregnant, is mesotherapy ok for me?", intent)
    [screened] = SafetyScreen(safety_rules).process([message])
    assert screened.get("intent")["name"] == expected


def test_a_message_without_text_is_left_alone(safety_rules: SafetyRules) -> None:
    message = Message(data={"intent": {"name": "greet", "confidence": 1.0}})
    [screened] = SafetyScreen(safety_rules).process([message])
    assert screened.get("intent")["name"] == "greet"


def test_the_classifier_alone_escalates_only_when_it_is_sure(safety_rules: SafetyRules) -> None:
    """No red-flag pattern in these words: only the classifier's confidence decides."""
    text = "something is really wrong after the treatment"
    assert not safety_rules.screen(text).urgent
    sure = _classified(text, EMERGENCY_INTENT, confidence=safety_rules.classifier_confidence)
    unsure = _classified(text, EMERGENCY_INTENT, confidence=safety_rules.classifier_confidence - 0.01)
    [sure, unsure] = SafetyScreen(safety_rules).process([sure, unsure])
    assert sure.get("intent")["name"] == EMERGENCY_INTENT
    assert unsure.get("intent")["name"] == "nlu_fallback"
