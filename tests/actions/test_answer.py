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
    assert events == []
    [message] = dispatcher.messages
    assert message["text"].endswith(knowledge.caveat)
    assert message["custom"] == {
        "data": {"topic": "cost", "route": "intent", "sources": list(knowledge.topic("cost").sources)}
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
