"""Feedback on an answer (actions/feedback.py, actions/reply.py): the buttons each channel
gets, and the reply to a press that counts, repeats, or names no answer of the conversation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerFaq
from actions.feedback import ActionFeedback
from bot.activity import REPLY_KEY, answer_id, feedback_payload
from bot.knowledge import KnowledgeBase

MESSAGE_ID = "5f0c2d9e8b7a41f3a2c1d0e9f8a7b6c5"


def _tracker(events: list[dict[str, Any]], channel: str = "rest") -> Tracker:
    latest = next(e for e in reversed(events) if e["event"] == "user")
    return Tracker(
        sender_id="patient-test",
        slots={},
        latest_message={**latest["parse_data"], "message_id": latest["message_id"]},
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def _user(
    text: str, intent: str, message_id: str, channel: str = "rest", answer: str | None = None
) -> dict[str, Any]:
    entities = [{"entity": "answer", "value": answer}] if answer else []
    parse = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": entities}
    return {
        "event": "user",
        "text": text,
        "parse_data": parse,
        "input_channel": channel,
        "message_id": message_id,
    }


def _answered(channel: str = "rest") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A question answered by the answer action: the events so far and the answer's message."""
    events = [_user("how much is it?", "faq_cost", MESSAGE_ID, channel)]
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAnswerFaq().run(dispatcher, _tracker(events, channel), {}))
    [message] = dispatcher.messages
    bot = {"event": "bot", "text": message["text"], "metadata": {REPLY_KEY: message[REPLY_KEY]}}
    return [*events, bot], message


def _press(events: list[dict[str, Any]], intent: str, answer: str | None, number: int) -> dict[str, Any]:
    text = feedback_payload(intent, answer) if answer else "that didn't help"
    events.append(_user(text, intent, f"press-{number}", answer=answer))
    dispatcher = CollectingDispatcher()
    assert asyncio.run(ActionFeedback().run(dispatcher, _tracker(events), {})) == []  # the topic stays
    [message] = dispatcher.messages
    events.append({"event": "bot", "text": message["text"], "metadata": {REPLY_KEY: message[REPLY_KEY]}})
    sent: dict[str, Any] = message
    return sent


def test_an_answer_carries_its_feedback_payloads_and_its_facts(knowledge: KnowledgeBase) -> None:
    _, message = _answered()
    answer = answer_id(MESSAGE_ID)
    data = message["custom"]["data"]
    assert data["answer_id"] == answer and data["feedback"]["not_helpful"] == feedback_payload(
        "feedback_not_helpful", answer
    )
    assert message[REPLY_KEY] == {**data, "language": "en"} and "quick_replies" not in message


@pytest.mark.parametrize(("channel", "buttons"), [("telegram", True), ("facebook", True), ("twilio", False)])
def test_messaging_apps_get_buttons_where_they_show_them(
    channel: str, buttons: bool, knowledge: KnowledgeBase
) -> None:
    _, message = _answered(channel)
    titles = [q["title"] for q in message.get("quick_replies") or []]
    expected = [knowledge.replies.feedback_helpful, knowledge.replies.feedback_not_helpful]
    assert titles == (expected if buttons else [])
    assert not message["custom"] and message[REPLY_KEY]["answer_id"]  # facts kept, no JSON sent


def test_a_press_is_thanked_once_and_a_stale_one_is_answered_calmly(knowledge: KnowledgeBase) -> None:
    events, _ = _answered()
    answer = answer_id(MESSAGE_ID)
    replies = knowledge.replies
    sorry = _press(events, "feedback_not_helpful", answer, 1)
    assert sorry["text"].startswith(replies.feedback_sorry.split("{")[0].strip())
    assert [b["payload"] for b in sorry["buttons"]] == [
        knowledge.topic(t).intent and f"/{knowledge.topic(t).intent}" for t in replies.suggested_topics
    ]
    assert sorry[REPLY_KEY]["feedback"] == {
        "answer": answer,
        "helpful": False,
        "status": "counted",
        "topic": "cost",
        "route": "intent",
    }
    repeated = _press(events, "feedback_helpful", answer, 2)
    assert (
        repeated["text"] == replies.feedback_repeated
        and repeated[REPLY_KEY]["feedback"]["status"] == "repeated"
    )
    stale = _press(events, "feedback_helpful", "ffffffffffffffff", 3)
    assert stale["text"] == replies.feedback_unknown and stale[REPLY_KEY]["feedback"]["status"] == "unknown"


def test_typed_feedback_is_about_the_answer_given_last(knowledge: KnowledgeBase) -> None:
    events, _ = _answered()
    thanks = _press(events, "feedback_helpful", None, 1)
    assert thanks["text"] == knowledge.replies.feedback_thanks
    assert thanks[REPLY_KEY]["feedback"]["answer"] == answer_id(MESSAGE_ID)
    before_any_answer = [_user("that didn't help", "feedback_not_helpful", "x")]
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionFeedback().run(dispatcher, _tracker(before_any_answer), {}))
    assert [m["text"] for m in dispatcher.messages] == [knowledge.replies.feedback_unknown]
