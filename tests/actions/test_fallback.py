"""The retrieval fallback action's three paths, with a small deterministic index."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import ActionNoMatch, ActionOutOfScope, ActionRetrieveAnswer
from bot.knowledge import KnowledgeBase
from bot.retrieval import RetrievalIndex, Retriever, Thresholds

MakeTracker = Callable[..., Tracker]
AXES = {"cost": 0, "sessions": 1, "washing_hair": 2}


class AxisEncoder:
    """Maps a message to a unit vector by the topics named in it: one name, one axis."""

    name = "axis-test-encoder"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), len(AXES)), dtype=np.float32)
        for row, text in enumerate(texts):
            for topic, axis in AXES.items():
                if topic in text:
                    vectors[row, axis] = 1.0
            norm = np.linalg.norm(vectors[row])
            if norm:
                vectors[row] /= norm
        return vectors


@pytest.fixture
def action(knowledge: KnowledgeBase) -> ActionRetrieveAnswer:
    topics = tuple(AXES)
    index = RetrievalIndex("axis-test-encoder", "hash", topics, topics, np.eye(len(AXES), dtype=np.float32))
    return ActionRetrieveAnswer(
        Retriever(AxisEncoder(), index, Thresholds(answer=0.9, suggest=0.5, margin=0.1))
    )


def _run(action: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
    return asyncio.run(action.run(dispatcher, tracker, {}))


def test_confident_match_is_answered_with_caveat_and_retrieval_route(
    action: ActionRetrieveAnswer,
    knowledge: KnowledgeBase,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
) -> None:
    _run(action, dispatcher, make_tracker("nlu_fallback", "what about washing_hair please"))
    [message] = dispatcher.messages
    assert message["custom"]["data"] == {
        "topic": "washing_hair",
        "route": "retrieval",
        "sources": list(knowledge.topic("washing_hair").sources),
    }
    assert message["text"].endswith(knowledge.caveat)


def test_two_close_topics_get_did_you_mean_buttons(
    action: ActionRetrieveAnswer,
    knowledge: KnowledgeBase,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
) -> None:
    _run(action, dispatcher, make_tracker("nlu_fallback", "cost or sessions?"))
    [message] = dispatcher.messages
    assert message["text"] == knowledge.replies.did_you_mean
    assert [(b["title"], b["payload"]) for b in message["buttons"]] == [
        (knowledge.topic("cost").title, "/faq_cost"),
        (knowledge.topic("sessions").title, "/faq_sessions"),
        (knowledge.replies.none_of_these, "/none_of_these"),
    ]
    assert message["custom"]["data"]["route"] == "retrieval"
    assert message["custom"]["data"]["candidates"] == ["cost", "sessions"]


@pytest.mark.parametrize("text", ["tell me a joke", "", "   "])
def test_no_match_is_honest_and_offers_topics(
    text: str,
    action: ActionRetrieveAnswer,
    knowledge: KnowledgeBase,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
) -> None:
    _run(action, dispatcher, make_tracker("nlu_fallback", text))
    [message] = dispatcher.messages
    assert message["text"] == knowledge.replies.no_match
    assert message["custom"]["data"] == {"topic": None, "route": "fallback", "sources": []}
    assert [b["payload"] for b in message["buttons"]] == [
        f"/faq_{topic}" for topic in knowledge.replies.suggested_topics
    ]
    assert knowledge.caveat not in message["text"]


def test_none_of_these_gets_the_no_match_reply(
    knowledge: KnowledgeBase, dispatcher: CollectingDispatcher, make_tracker: MakeTracker
) -> None:
    _run(ActionNoMatch(), dispatcher, make_tracker("none_of_these", "/none_of_these"))
    [message] = dispatcher.messages
    assert message["text"] == knowledge.replies.no_match
    assert message["custom"]["data"]["route"] == "fallback"


def test_out_of_scope_says_what_the_bot_can_help_with(
    knowledge: KnowledgeBase, dispatcher: CollectingDispatcher, make_tracker: MakeTracker
) -> None:
    _run(ActionOutOfScope(), dispatcher, make_tracker("out_of_scope", "what's the weather"))
    [message] = dispatcher.messages
    assert message["text"] == knowledge.replies.out_of_scope
    assert message["custom"]["data"] == {"topic": "out_of_scope", "route": "intent", "sources": []}
    assert len(message["buttons"]) == len(knowledge.replies.suggested_topics)


def test_the_action_server_loads_the_real_index_once(knowledge: KnowledgeBase) -> None:
    """Built as the SDK builds it (no arguments): model and index load in the constructor."""
    action = ActionRetrieveAnswer()
    assert action.retriever.index.model == "all-MiniLM-L6-v2"
    assert set(action.retriever.index.topics) == set(knowledge.topics)
