"""Answers a patient's FAQ question (or several in one message) with each topic's answer,
its sources, and the caveat once at the end."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import send_no_match
from actions.reply import asks_personal_advice, read_topics, remember_topic, reply_limit, send_reply
from bot.answers import compose_answers
from bot.knowledge import default_knowledge_base


class ActionAnswerFaq(Action):
    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        knowledge = default_knowledge_base()
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        topic = knowledge.topic_for_intent(intent)
        if topic is None:
            send_no_match(dispatcher, tracker, knowledge)
            return remember_topic(None)
        # The topics the reader found, when the intent is the first of them (the safety
        # screen may have chosen another topic for a personal question, or a button was pressed).
        found = [t for t in read_topics(tracker) if t in knowledge.topics]
        topics = [knowledge.topic(t) for t in found] if found[:1] == [topic.id] else [topic]
        answer = compose_answers(
            knowledge, topics, personal=asks_personal_advice(tracker), max_chars=reply_limit(tracker)
        )
        send_reply(dispatcher, tracker, answer.custom, text=answer.text)
        return remember_topic(dict(answer.extra)["topics"][-1])
