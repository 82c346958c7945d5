"""Small talk (a greeting, a goodbye, thanks, "ok", "are you a bot?") in the patient's language, and
the reply to a message in a language the bot does not answer in (bot/language.py)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.reply import knowledge_for, send_reply
from bot.answers import ROUTE_INTENT, reply_custom
from bot.knowledge import default_knowledge_base

TOPIC_SMALL_TALK = "small_talk"
TOPIC_OTHER_LANGUAGE = "other_language"
# Each small-talk intent's reply (data/faq/replies.yml).
SMALL_TALK = {
    "greet": "greet",
    "goodbye": "goodbye",
    "thank": "you_are_welcome",
    "acknowledge": "anything_else",
    "bot_challenge": "iamabot",
}


class ActionSmallTalk(Action):
    def name(self) -> str:
        return "action_small_talk"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = str((tracker.latest_message.get("intent") or {}).get("name") or "greet")
        reply = getattr(knowledge_for(tracker).replies, SMALL_TALK.get(intent, "greet"))
        send_reply(dispatcher, tracker, reply_custom(TOPIC_SMALL_TALK, ROUTE_INTENT), text=reply)
        return []  # small talk keeps the topic just discussed


class ActionOtherLanguage(Action):
    """One message: in every language served, which languages the bot answers in."""

    def name(self) -> str:
        return "action_other_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        knowledge = default_knowledge_base()
        text = "\n".join(knowledge.in_language(code).replies.other_language for code in knowledge.languages)
        send_reply(dispatcher, tracker, reply_custom(TOPIC_OTHER_LANGUAGE, ROUTE_INTENT), text=text)
        return []
