"""The caveat action, run hermetically with a fresh tracker and dispatcher per test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerFaq
from bot.knowledge import KnowledgeBase
from bot.settings import load_settings

MakeTracker = Callable[..., Tracker]


def _run(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
    return asyncio.run(ActionAnswerFaq().run(dispatcher, tracker, domain))


def test_answers_with_the_topic_sources_and_caveat(
    knowledge: KnowledgeBase,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
    domain: dict[str, Any],
) -> None:
    events = _run(dispatcher, make_tracker("faq_cost", "how much is it?"), domain)
    assert events == [{"event": "slot", "timestamp": None, "name": "last_topic", "value": "cost"}]
    [message] = dispatcher.messages
    assert message["text"].endswith(knowledge.caveat)
    assert message["custom"] == {
        "data": {
            "topic": "cost",
            "route": "intent",
            "sources": list(knowledge.topic("cost").sources),
            "topics": ["cost"],
        }
    }


def test_every_topic_intent_gets_its_own_answer(
    knowledge: KnowledgeBase, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    for topic in knowledge.topics.values():
        dispatcher = CollectingDispatcher()
        _run(dispatcher, make_tracker(topic.intent), domain)
        [message] = dispatcher.messages
        assert message["custom"]["data"]["topic"] == topic.id
        assert message["text"].startswith(topic.answer)


@pytest.mark.parametrize("channel", ["twilio", "telegram", "facebook"])
def test_messaging_apps_get_no_json_message(
    channel: str,
    knowledge: KnowledgeBase,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
    domain: dict[str, Any],
) -> None:
    _run(dispatcher, make_tracker("faq_pain", channel=channel), domain)
    [message] = dispatcher.messages
    assert message["text"].startswith(knowledge.topic("pain").answer)
    assert message["text"].endswith(knowledge.caveat)
    assert not message["custom"]


@pytest.mark.parametrize("intent", ["greet", "faq_not_a_topic", None])
def test_no_topic_gets_the_honest_no_match(
    intent: str | None, dispatcher: CollectingDispatcher, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    _run(dispatcher, make_tracker(intent), domain)
    [message] = dispatcher.messages
    assert message["custom"] == {"data": {"topic": None, "route": "fallback", "sources": []}}
    assert [b["payload"] for b in message["buttons"]] == [
        "/faq_cost",
        "/faq_pain",
        "/faq_results_timing",
        "/faq_side_effects",
    ]


def test_every_question_the_reader_found_is_answered_in_one_message(
    knowledge: KnowledgeBase,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
    domain: dict[str, Any],
) -> None:
    tracker = make_tracker("faq_pain", "does it hurt and how much?", reading={"topics": ["pain", "cost"]})
    events = _run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["custom"]["data"]["topics"] == ["pain", "cost"]
    assert message["text"].count(knowledge.caveat) == 1
    assert events[0]["value"] == "cost"  # the last topic answered is the one to follow up


def test_a_reading_that_does_not_start_with_the_intent_answers_the_intent_alone(
    knowledge: KnowledgeBase,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
    domain: dict[str, Any],
) -> None:
    """The safety screen may choose another topic for a personal question: that one wins."""
    tracker = make_tracker("faq_contraindications", "pregnant, cost?", reading={"topics": ["cost", "pain"]})
    _run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["custom"]["data"]["topics"] == ["contraindications"]


@pytest.mark.parametrize("channel", ["twilio", "facebook"])
def test_on_a_messaging_app_several_answers_fit_one_message(
    channel: str, knowledge: KnowledgeBase, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    three = ["side_effects", "contraindications", "effectiveness_hair"]
    _run(
        dispatcher, make_tracker("faq_side_effects", "x", channel=channel, reading={"topics": three}), domain
    )
    [message] = dispatcher.messages
    limit = load_settings().reply_limits[channel]
    assert len(message["text"]) <= limit and message["text"].endswith(knowledge.caveat)
