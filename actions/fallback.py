"""When the NLU model is unsure: the nearest knowledge-base question, "did you mean", or an
honest no-match; and "did you mean" when the reader doubts its reading because the nearest
questions point to another topic. The nearest questions were found in the Rasa server from the message's one
embedding (components/topic_reader.py); the action server embeds nothing."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.reply import (
    asks_personal_advice,
    knowledge_for,
    offers_choice,
    read_candidates,
    remember_topic,
    send_reply,
)
from bot.answers import (
    ROUTE_FALLBACK,
    ROUTE_INTENT,
    ROUTE_RETRIEVAL,
    TOPIC_OUT_OF_SCOPE,
    compose_answer,
    reply_custom,
    topic_buttons,
)
from bot.knowledge import KnowledgeBase, default_knowledge_base
from bot.retrieval import Match, configured_thresholds, decide
from bot.settings import load_settings

NONE_OF_THESE_PAYLOAD = "/none_of_these"


def send_with_suggested_topics(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    knowledge: KnowledgeBase,
    text: str,
    custom: dict[str, Any],
) -> None:
    """A reply that offers the suggested topics (replies.yml) as buttons."""
    buttons = topic_buttons(knowledge, knowledge.replies.suggested_topics)
    send_reply(dispatcher, tracker, custom, text=text, buttons=buttons)


def send_no_match(dispatcher: CollectingDispatcher, tracker: Tracker, knowledge: KnowledgeBase) -> None:
    """Say honestly that there is no answer, point to the doctor or clinic, offer topics."""
    send_with_suggested_topics(
        dispatcher, tracker, knowledge, knowledge.replies.no_match, reply_custom(None, ROUTE_FALLBACK)
    )


class ActionRetrieveAnswer(Action):
    """Answers from the nearest knowledge-base question when the NLU model is unsure."""

    def __init__(self) -> None:
        self.knowledge = default_knowledge_base()
        self.settings = load_settings()

    def name(self) -> str:
        return "action_retrieve_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        knowledge = knowledge_for(tracker)
        candidates = [c for c in read_candidates(tracker) if c.topic in knowledge.topics]
        if offers_choice(tracker) and candidates:
            # The reader's topic and the nearest questions' disagreed: the patient chooses.
            match = Match("clarify", tuple(candidates))
        else:
            match = decide(candidates, configured_thresholds(self.settings, knowledge.language))
        if match.kind == "none":
            send_no_match(dispatcher, tracker, knowledge)
            return remember_topic(None)
        if match.kind == "answer":
            topic = knowledge.topic(match.topics[0])
            answer = compose_answer(knowledge, topic, ROUTE_RETRIEVAL, personal=asks_personal_advice(tracker))
            send_reply(dispatcher, tracker, answer.custom, text=answer.text, feedback=True)
            return remember_topic(topic.id)
        buttons = topic_buttons(knowledge, match.topics)
        buttons.append({"title": knowledge.replies.none_of_these, "payload": NONE_OF_THESE_PAYLOAD})
        custom = reply_custom(None, ROUTE_RETRIEVAL, candidates=list(match.topics))
        send_reply(dispatcher, tracker, custom, text=knowledge.replies.did_you_mean, buttons=buttons)
        return remember_topic(None)


class ActionNoMatch(Action):
    """The patient said none of the suggestions fits."""

    def name(self) -> str:
        return "action_no_match"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        send_no_match(dispatcher, tracker, knowledge_for(tracker))
        return remember_topic(None)


class ActionOutOfScope(Action):
    """A question outside mesotherapy: say what the bot can help with and offer topics."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        knowledge = knowledge_for(tracker)
        custom = reply_custom(TOPIC_OUT_OF_SCOPE, ROUTE_INTENT)
        send_with_suggested_topics(dispatcher, tracker, knowledge, knowledge.replies.out_of_scope, custom)
        return remember_topic(None)
