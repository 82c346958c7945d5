"""Answers a patient's FAQ question with the topic's answer, its sources and the caveat."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import send_no_match
from actions.reply import asks_personal_advice, send_reply
from bot.answers import compose_answer
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
            return []
        answer = compose_answer(knowledge, topic, personal=asks_personal_advice(tracker))
        send_reply(dispatcher, tracker, answer.custom, text=answer.text)
        return []
