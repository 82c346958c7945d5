"""The clinic's records of a conversation (bot/activity.py): turns, feedback judged once,
and which turns wait for a person's review."""

from __future__ import annotations

from typing import Any

from bot.activity import (
    REPLY_KEY,
    answer_id,
    conversation_key,
    feedback_payload,
    feedback_payloads,
    judge_feedback,
    turns,
)


def user(
    message_id: str, text: str, intent: str, at: float = 100.0, channel: str = "rest", **parse: Any
) -> dict[str, Any]:
    return {
        "event": "user",
        "timestamp": at,
        "text": text,
        "message_id": message_id,
        "input_channel": channel,
        "parse_data": {
            "intent": {"name": intent, "confidence": 0.9},
            "entities": parse.pop("entities", []),
            **parse,
        },
    }


def bot(at: float = 101.0, **facts: Any) -> dict[str, Any]:
    return {"event": "bot", "timestamp": at, "text": "reply", "metadata": {REPLY_KEY: facts} if facts else {}}


def feedback(message_id: str, answer: str, helpful: bool, at: float = 200.0) -> dict[str, Any]:
    intent = "feedback_helpful" if helpful else "feedback_not_helpful"
    return user(
        message_id,
        feedback_payload(intent, answer),
        intent,
        at,
        entities=[{"entity": "answer", "value": answer}],
    )


ANSWERED = [
    user("m1" * 10, "how much is it? call me on 07700 900123", "faq_cost"),
    bot(topic="cost", route="intent", topics=["cost"], answer_id=answer_id("m1" * 10)),
]


def test_an_answer_is_a_turn_with_its_facts_and_the_patients_words_redacted() -> None:
    [turn] = turns(ANSWERED)
    assert (turn.topic, turn.route, turn.outcome, turn.kind, turn.review) == (
        "cost",
        "intent",
        "intent",
        "question",
        None,
    )
    assert "07700" not in turn.text and "[phone]" in turn.text and turn.answer_id == "m1" * 8


def test_feedback_is_counted_once_and_only_for_an_answer_of_the_conversation() -> None:
    answer = answer_id("m1" * 10)
    events = [
        *ANSWERED,
        feedback("f1", answer, False),
        feedback("f2", answer, True),
        feedback("f3", "forged", True),
    ]
    judged = judge_feedback(events)
    assert [(f.status, f.helpful) for f in judged] == [
        ("counted", False),
        ("repeated", True),
        ("unknown", True),
    ]
    assert judged[0].topic == "cost" and judged[0].route == "intent"


def test_a_feedback_turn_carries_the_actions_judgement() -> None:
    facts = {"answer": "a", "helpful": False, "status": "counted", "topic": "cost", "route": "intent"}
    [turn] = turns([feedback("f1", "a", False), bot(topic="feedback", route="intent", feedback=facts)])
    assert turn.kind == "feedback" and turn.feedback is not None
    assert (turn.feedback.status, turn.feedback.helpful, turn.feedback.topic) == ("counted", False, "cost")
    assert turn.review is None  # feedback itself is no question to review


def test_what_waits_for_review_and_what_never_does() -> None:
    events = [
        user("a", "what colour is the sky", "out_of_scope"),
        bot(topic="out_of_scope", route="intent"),
        user("b", "blorp", "nlu_fallback"),
        bot(topic=None, route="fallback"),
        user(
            "c",
            "is it the one with blood",
            "nlu_fallback",
            reading={"candidates": [{"topic": "prp_comparison"}]},
        ),
        bot(topic=None, route="retrieval", candidates=["prp_comparison", "types"]),
        user("d", "my lips are swelling and I can't breathe", "emergency"),
        bot(topic="emergency", route="safety"),
        user("e", "/faq_cost", "faq_cost"),
        bot(topic="cost", route="intent", topics=["cost"]),
    ]
    found = turns(events)
    assert [t.review for t in found] == ["out_of_scope", "no_match", "did_you_mean", None, None]
    assert [t.outcome for t in found] == ["out_of_scope", "no_match", "did_you_mean", "safety", "intent"]
    assert found[2].guesses[:2] == ("prp_comparison", "types") and found[4].kind == "button"


def test_a_message_without_a_reply_yet_is_no_turn() -> None:
    assert turns([user("a", "hello", "greet")]) == []
    [greeting] = turns([user("a", "hello", "greet"), bot()])
    assert greeting.outcome == "other" and greeting.route is None


def test_feedback_payloads_fit_telegrams_button_data_and_keys_hide_the_sender() -> None:
    payloads = feedback_payloads(answer_id("0123456789abcdef0123456789abcdef"))
    assert all(len(p.encode()) <= 64 for p in payloads.values())
    assert payloads["helpful"].startswith("/feedback_helpful{")
    key = conversation_key("whatsapp:+447700900123")
    assert "447700900123" not in key and key == conversation_key("whatsapp:+447700900123")
