"""Sends a reply, with its metadata only on channels whose clients read it; reads what the
NLU's topic reader found (components/topic_reader.py); remembers the topic just answered."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.activity import REPLY_KEY, answer_id, feedback_payloads
from bot.answers import metadata_for
from bot.clinic import default_clinic, time_zone
from bot.conversation import LAST_TOPIC_SLOT, conversation_language, language_read
from bot.knowledge import KnowledgeBase, default_knowledge_base
from bot.retrieval import Candidate
from bot.safety import default_safety_rules
from bot.settings import load_settings

READING_KEY = "reading"  # components/topic_reader.py
# The patient's IANA time zone in a message's metadata: the widget sends the browser's, a
# REST client may send one; the messaging apps send none (the clinic's is used).
TIME_ZONE_KEYS = ("tz", "time_zone", "timezone")


def language_of(tracker: Tracker) -> str:
    """The language to answer in: the message's, else the conversation's (a button's payload
    says none), else the first the bot serves."""
    served = load_settings().languages
    read = language_read(tracker.latest_message)
    if read is not None and read[0] in served:
        return read[0]
    parsed = [e.get("parse_data") for e in reversed(tracker.events) if e.get("event") == "user"]
    found = conversation_language(parsed)
    return found if found in served else served[0]


def knowledge_for(tracker: Tracker) -> KnowledgeBase:
    """The knowledge base in the patient's language."""
    return default_knowledge_base().in_language(language_of(tracker))


def clinic_details(tracker: Tracker) -> dict[str, str]:
    """The clinic's details as the patient reads them, in their language."""
    return default_clinic().details_in(language_of(tracker))


def latest_text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def asks_personal_advice(tracker: Tracker) -> bool:
    """The patient described their own situation (data/safety/personal_advice.yml)."""
    return bool(default_safety_rules().personal_advice(latest_text(tracker)).situations)


def send_reply(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    custom: dict[str, Any],
    *,
    text: str,
    buttons: list[dict[str, str]] | None = None,
    feedback: bool = False,
) -> None:
    """One message whose ``text`` comes from the knowledge base (data/faq/), with its
    ``custom`` metadata where the channel's clients read it (``metadata_for``).

    The reply's facts (the metadata, whatever the channel) go into its Rasa event, which no
    channel sends, for the clinic's records (bot/activity.py). An answer (``feedback``)
    offers "helpful / not helpful": as payloads in the metadata, and as quick replies on
    the messaging apps that show them (``FEEDBACK_BUTTON_CHANNELS``).
    """
    channel = tracker.get_latest_input_channel()
    quick_replies = None
    message_id = tracker.latest_message.get("message_id")
    if feedback and message_id:
        answer = answer_id(str(message_id))
        payloads = feedback_payloads(answer)
        custom["data"].update(answer_id=answer, feedback=payloads)
        if channel in load_settings().feedback_button_channels and not buttons:
            replies = knowledge_for(tracker).replies
            quick_replies = [
                {"title": replies.feedback_helpful, "payload": payloads["helpful"]},
                {"title": replies.feedback_not_helpful, "payload": payloads["not_helpful"]},
            ]
    metadata = metadata_for(channel, custom)
    extra: dict[str, Any] = {REPLY_KEY: {**custom["data"], "language": language_of(tracker)}}
    if quick_replies:
        extra["quick_replies"] = quick_replies
    dispatcher.utter_message(text=text, buttons=buttons, json_message=metadata, **extra)


def remember_topic(topic: str | None) -> list[dict[str, Any]]:
    """The event that sets (or, with None, clears) the topic a follow-up is read against: the
    NLU reads the next message in its light (rasa_server/patches.py passes it on)."""
    return [SlotSet(LAST_TOPIC_SLOT, topic)]


def reading(tracker: Tracker) -> dict[str, Any]:
    """What the topic reader found for the latest message (empty for a button's payload)."""
    found = tracker.latest_message.get(READING_KEY)
    return found if isinstance(found, dict) else {}


def read_topics(tracker: Tracker) -> list[str]:
    return [str(topic) for topic in reading(tracker).get("topics") or []]


def offers_choice(tracker: Tracker) -> bool:
    """Whether the reader doubted its reading of the latest message: its candidates are to
    be offered as a choice ("did you mean"), not answered."""
    return reading(tracker).get("choice") is True


def read_candidates(tracker: Tracker) -> list[Candidate]:
    """The nearest knowledge-base topics the Rasa server found for the latest message."""
    return [
        Candidate(str(c["topic"]), float(c["score"]), str(c.get("question", "")))
        for c in reading(tracker).get("candidates") or []
        if isinstance(c, dict) and "topic" in c and "score" in c
    ]


def reply_limit(tracker: Tracker) -> int | None:
    """The longest message the patient's channel delivers whole (None: no limit)."""
    return load_settings().reply_limits.get(tracker.get_latest_input_channel() or "")


def patient_zone(tracker: Tracker) -> ZoneInfo:
    """The time zone the patient's message came with, else the clinic's (data/clinic.yml)."""
    metadata = tracker.latest_message.get("metadata") or {}
    for key in TIME_ZONE_KEYS:
        name = metadata.get(key) if isinstance(metadata, dict) else None
        if isinstance(name, str) and 0 < len(name) <= 64:
            zone = time_zone(name)
            if zone is not None:
                return zone
            break  # not a time zone: the clinic's
    return default_clinic().zone


def now_in(zone: ZoneInfo) -> datetime:
    """The current time in ``zone`` (tests freeze it here)."""
    return datetime.now(zone)
