"""Replies in the patient's language (actions/reply.py, actions/small_talk.py): the message's
language, else the conversation's, else English; a language the bot does not speak."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerFaq
from actions.reply import language_of
from actions.safety import ActionEscalateEmergency
from actions.small_talk import ActionOtherLanguage, ActionSmallTalk
from bot.clinic import default_clinic
from bot.knowledge import KnowledgeBase


def _user(text: str, intent: str, language: str | None, sure: bool = True) -> dict[str, Any]:
    parse: dict[str, Any] = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": []}
    if language is not None or sure:
        parse["language"] = {"language": language, "detected": language or "fr", "sure": sure}
    return {"event": "user", "text": text, "parse_data": parse, "input_channel": "rest"}


def _tracker(*users: dict[str, Any]) -> Tracker:
    return Tracker("patient-test", {}, users[-1]["parse_data"], list(users), False, None, {}, "action_listen")


def _run(action: Any, tracker: Tracker) -> dict[str, Any]:
    dispatcher = CollectingDispatcher()
    asyncio.run(action.run(dispatcher, tracker, {}))
    [message] = dispatcher.messages
    sent: dict[str, Any] = message
    return sent


def test_a_spanish_question_is_answered_in_spanish(knowledge: KnowledgeBase) -> None:
    spanish = knowledge.in_language("es")
    message = _run(ActionAnswerFaq(), _tracker(_user("¿cuánto cuesta?", "faq_cost", "es")))
    assert message["text"].startswith(spanish.topic("cost").answer) and message["text"].endswith(
        spanish.caveat
    )
    assert f"S1 {spanish.sources['S1'].name}" in message["text"] and "Fuentes:" in message["text"]


def test_a_button_payload_is_answered_in_the_conversations_language(knowledge: KnowledgeBase) -> None:
    earlier = _user("hola, tengo una pregunta", "greet", "es")
    payload: dict[str, Any] = {"event": "user", "text": "/faq_pain", "input_channel": "rest"}
    payload["parse_data"] = {
        "text": "/faq_pain",
        "intent": {"name": "faq_pain", "confidence": 1.0},
        "entities": [],
    }
    tracker = _tracker(earlier, payload)
    assert language_of(tracker) == "es"
    assert _run(ActionAnswerFaq(), tracker)["text"].endswith(knowledge.in_language("es").caveat)
    assert language_of(_tracker(payload)) == "en"  # nothing says: the first served


def test_small_talk_and_the_urgent_reply_follow_the_language(knowledge: KnowledgeBase) -> None:
    spanish = knowledge.in_language("es")
    assert (
        _run(ActionSmallTalk(), _tracker(_user("gracias", "thank", "es")))["text"]
        == spanish.replies.you_are_welcome
    )
    assert _run(ActionSmallTalk(), _tracker(_user("hi", "greet", "en")))["text"] == knowledge.replies.greet
    # "ok" after an answer: the question whether there is anything else, in each language.
    assert (
        _run(ActionSmallTalk(), _tracker(_user("ok", "acknowledge", "en")))["text"]
        == knowledge.replies.anything_else
    )
    assert (
        _run(ActionSmallTalk(), _tracker(_user("vale", "acknowledge", "es")))["text"]
        == spanish.replies.anything_else
    )
    urgent = _run(ActionEscalateEmergency(), _tracker(_user("me cuesta respirar", "emergency", "es")))
    assert urgent["text"] == spanish.replies.emergency.format(**default_clinic().details_in("es"))
    assert default_clinic().details["emergency_number"] in urgent["text"]


def test_another_language_is_told_in_every_served_language(knowledge: KnowledgeBase) -> None:
    message = _run(
        ActionOtherLanguage(), _tracker(_user("Bonjour, combien ça coûte ?", "other_language", None))
    )
    lines = message["text"].split("\n")
    assert lines == [knowledge.replies.other_language, knowledge.in_language("es").replies.other_language]
