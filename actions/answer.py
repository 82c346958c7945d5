"""Answers a patient's FAQ question (or several in one message) with each topic's answer,
its sources, and the caveat once at the end; an aftercare question with when the treatment
was first gets when the sources' waiting time ends (bot/aftercare.py)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import send_no_match
from actions.reply import (
    asks_personal_advice,
    knowledge_for,
    language_of,
    latest_text,
    now_in,
    patient_zone,
    read_topics,
    remember_topic,
    reply_limit,
    send_reply,
)
from bot.aftercare import (
    answer_aftercare,
    default_aftercare,
    lasting_notice,
    lasts_longer_than_described,
)
from bot.answers import compose_answers
from bot.clinic import default_clinic
from bot.conversation import ASKED_TIME_SLOT, TREATMENT_TIME_SLOT
from bot.knowledge import Topic
from bot.treatment_time import TreatmentTime, warm_up


def _known_time(tracker: Tracker) -> TreatmentTime | None:
    value = tracker.get_slot(TREATMENT_TIME_SLOT)
    try:
        return TreatmentTime.from_dict(value) if isinstance(value, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


def _aftercare(
    tracker: Tracker, topics: list[Topic]
) -> tuple[str, str, dict[str, Any], list[dict[str, Any]]]:
    """What to say before the general answer and after it, the metadata, the slots it sets.

    In the conversation's language: when the treatment was is read from that language's
    words (bot/treatment_time.py), and the lines are written in it, with times in the
    patient's time zone (data/faq/aftercare.yml, docs/languages.md)."""
    rules, text = default_aftercare().in_language(language_of(tracker)), latest_text(tracker)
    zone = patient_zone(tracker)
    now = now_in(zone)
    lines: list[str] = []
    if lasts_longer_than_described(rules, text, now):
        lines.append(lasting_notice(rules, default_clinic()))
    ids = [t.id for t in topics]
    answer = None
    if rules.topics.intersection(ids):
        may_ask = not tracker.get_slot(ASKED_TIME_SLOT)
        answer = answer_aftercare(rules, ids, text, now, _known_time(tracker), may_ask)
    if answer is None:
        return "\n".join(lines), "", {}, []
    events: list[dict[str, Any]] = []
    if answer.read is not None:
        events.append(SlotSet(TREATMENT_TIME_SLOT, answer.read.to_dict()))
    if answer.asks_time:
        events.append(SlotSet(ASKED_TIME_SLOT, True))
    follow = rules.says["ask_time"] if answer.asks_time else ""
    return "\n".join([*lines, *answer.lines]), follow, {"aftercare": answer.metadata(zone)}, events


class ActionAnswerFaq(Action):
    def __init__(self) -> None:
        warm_up()  # the action server registers its actions when it starts

    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        knowledge = knowledge_for(tracker)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        topic = knowledge.topic_for_intent(intent)
        if topic is None:
            send_no_match(dispatcher, tracker, knowledge)
            return remember_topic(None)
        # The topics the reader found, when the intent is the first of them (the safety
        # screen may have chosen another topic for a personal question, or a button was pressed).
        found = [t for t in read_topics(tracker) if t in knowledge.topics]
        topics = [knowledge.topic(t) for t in found] if found[:1] == [topic.id] else [topic]
        lead, follow, extra, events = _aftercare(tracker, topics)
        answer = compose_answers(
            knowledge,
            topics,
            personal=asks_personal_advice(tracker),
            max_chars=reply_limit(tracker),
            lead=lead,
            follow=follow,
        )
        custom = answer.custom
        custom["data"].update(extra)
        send_reply(dispatcher, tracker, custom, text=answer.text, feedback=True)
        return [*remember_topic(dict(answer.extra)["topics"][-1]), *events]
