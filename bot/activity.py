"""What a clinic learns from its patients' conversations: every patient message as a turn
(when, which channel, what the bot understood and how it answered), patients' feedback on
answers, and the turns a person should review.

Framework-free: it reads conversations as Rasa's events in their plain form (``event.as_dict()``,
the form the action server gets too), so the Rasa server that records turns and the action
that answers feedback judge a feedback payload alike:

- **feedback** is a button's payload, ``/feedback_helpful{"answer": "<id>"}`` or
  ``/feedback_not_helpful{...}``, where ``<id>`` names an answer this conversation was given
  (``answer_id``); typed ("that didn't help") it is about the answer given last. A payload
  naming no such answer (stale: from a conversation that has ended; forged) or one already
  given feedback is answered calmly and not counted;
- **the review queue** holds the turns that got the no-match reply or a did-you-mean, that
  were judged out of scope, or whose answer was marked not helpful, with the bot's best
  guesses. Emergencies never enter it. Patients' words are kept only with their contact
  details redacted, as in the logs (``bot/log_redaction.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.answers import (
    ROUTE_FALLBACK,
    ROUTE_FAULT,
    ROUTE_INTENT,
    ROUTE_RETRIEVAL,
    ROUTE_SAFETY,
    TOPIC_EMERGENCY,
    TOPIC_OUT_OF_SCOPE,
)
from bot.log_redaction import redact_contact_details

HELPFUL_INTENT = "feedback_helpful"
NOT_HELPFUL_INTENT = "feedback_not_helpful"
FEEDBACK_INTENTS = {HELPFUL_INTENT: True, NOT_HELPFUL_INTENT: False}
ANSWER_ENTITY = "answer"
# Where a reply's facts travel in its Rasa event (the bot event's metadata, which no
# channel sends): topic, route, topics, candidates, answer id.
REPLY_KEY = "reply"
ANSWER_ID_LENGTH = 16  # short enough for Telegram's 64-byte button data

# Why a turn is in the review queue.
REVIEW_NO_MATCH = "no_match"
REVIEW_DID_YOU_MEAN = "did_you_mean"
REVIEW_OUT_OF_SCOPE = "out_of_scope"
REVIEW_NOT_HELPFUL = "not_helpful"
REVIEW_REASONS = (REVIEW_NO_MATCH, REVIEW_DID_YOU_MEAN, REVIEW_OUT_OF_SCOPE, REVIEW_NOT_HELPFUL)

# How a turn was answered, for the report: a topic's answer found by the intent classifier
# or by retrieval, a did-you-mean, the no-match reply, out of scope, the safety screen's
# urgent reply, a fault, or something else (a greeting, the clinic's contact details).
OUTCOMES = ("intent", "retrieval", "did_you_mean", "no_match", "out_of_scope", "safety", "fault", "other")

# What a turn was: a typed question, a button pressed (a topic's payload) or feedback.
KIND_QUESTION = "question"
KIND_BUTTON = "button"
KIND_FEEDBACK = "feedback"


def answer_id(message_id: str) -> str:
    """The id feedback names an answer by: that of the message it answered."""
    return str(message_id)[:ANSWER_ID_LENGTH]


def feedback_payload(intent: str, answer: str) -> str:
    """The payload a feedback button sends (Rasa reads ``/intent{entities}``)."""
    return f'/{intent}{{"{ANSWER_ENTITY}":"{answer}"}}'


def feedback_payloads(answer: str) -> dict[str, str]:
    """The metadata's ``feedback``: the payload of each button."""
    return {
        "helpful": feedback_payload(HELPFUL_INTENT, answer),
        "not_helpful": feedback_payload(NOT_HELPFUL_INTENT, answer),
    }


def conversation_key(sender_id: str) -> str:
    """A conversation's key in the clinic's records: not the sender id, which on the
    messaging apps is the patient's phone number or account."""
    return hashlib.sha256(sender_id.encode("utf-8")).hexdigest()[:20]


def _intent(event: Mapping[str, Any]) -> str | None:
    parse = event.get("parse_data") or {}
    intent = parse.get("intent") or {}
    name = intent.get("name") if isinstance(intent, dict) else None
    return str(name) if name else None


def _entity(event: Mapping[str, Any], name: str) -> str | None:
    for entity in (event.get("parse_data") or {}).get("entities") or []:
        if isinstance(entity, dict) and entity.get("entity") == name and entity.get("value") is not None:
            return str(entity["value"])
    return None


def reply_facts(event: Mapping[str, Any]) -> dict[str, Any]:
    """The facts a bot event's reply carries (``REPLY_KEY`` in its metadata), else {}."""
    facts = (event.get("metadata") or {}).get(REPLY_KEY)
    return facts if isinstance(facts, dict) else {}


@dataclass(frozen=True)
class Feedback:
    message_id: str  # the feedback message's
    answer: str
    helpful: bool
    at: float
    # How the feedback stands: "counted" (the first on an answer this conversation was
    # given), "repeated" (that answer already has feedback) or "unknown" (no such answer).
    status: str
    # The answer's facts, when it is one this conversation was given.
    topic: str | None = None
    route: str | None = None


def judge_feedback(events: Sequence[Mapping[str, Any]]) -> list[Feedback]:
    """Every feedback payload in ``events`` (a conversation, oldest first), judged."""
    answers: dict[str, dict[str, Any]] = {}
    given: set[str] = set()
    judged: list[Feedback] = []
    latest = ""  # the answer given last: what typed feedback ("that didn't help") is about
    for event in events:
        kind = event.get("event")
        if kind == "bot":
            facts = reply_facts(event)
            if facts.get("answer_id"):
                latest = str(facts["answer_id"])
                answers[latest] = facts
        elif kind == "user" and _intent(event) in FEEDBACK_INTENTS:
            answer = _entity(event, ANSWER_ENTITY) or latest
            helpful = FEEDBACK_INTENTS[str(_intent(event))]
            at = float(event.get("timestamp") or 0.0)
            message = str(event.get("message_id") or "")
            if answer not in answers:
                judged.append(Feedback(message, answer, helpful, at, "unknown"))
                continue
            facts = answers[answer]
            status = "repeated" if answer in given else "counted"
            given.add(answer)
            judged.append(
                Feedback(message, answer, helpful, at, status, facts.get("topic"), facts.get("route"))
            )
    return judged


@dataclass(frozen=True)
class Turn:
    """One patient message and the bot's reply to it."""

    message_id: str
    at: float
    channel: str
    kind: str
    text: str  # the patient's words, contact details redacted
    intent: str | None
    confidence: float
    route: str | None
    outcome: str
    topic: str | None
    topics: tuple[str, ...] = ()
    guesses: tuple[str, ...] = ()  # the bot's best guesses at the topic, best first
    review: str | None = None
    answer_id: str | None = None
    feedback: Feedback | None = field(default=None, compare=False)


def _guesses(user: Mapping[str, Any], facts: Mapping[str, Any]) -> tuple[str, ...]:
    """The topics the bot thought likeliest: those it offered, then the reader's ranking."""
    found: list[str] = [str(t) for t in facts.get("candidates") or []]
    reading = (user.get("parse_data") or {}).get("reading") or {}
    found += [str(c.get("topic")) for c in reading.get("candidates") or [] if isinstance(c, dict)]
    for entry in (user.get("parse_data") or {}).get("intent_ranking") or []:
        name = str(entry.get("name") or "") if isinstance(entry, dict) else ""
        if name.startswith("faq_"):
            found.append(name[len("faq_") :])
    return tuple(dict.fromkeys(t for t in found if t and t != "None"))[:3]


def outcome(route: Any, topic: Any, topics: Sequence[str]) -> str:
    if route == ROUTE_SAFETY or topic == TOPIC_EMERGENCY:
        return "safety"
    if topic == TOPIC_OUT_OF_SCOPE:
        return "out_of_scope"
    if route == ROUTE_FAULT:
        return "fault"
    if route == ROUTE_FALLBACK and topic is None:
        return "no_match"
    if route == ROUTE_RETRIEVAL:
        return "retrieval" if topic and topics else "did_you_mean"
    if route == ROUTE_INTENT and topics:
        return "intent"
    return "other"


# The outcomes a person should review; emergencies (``safety``) never are.
_REVIEWED = {
    "out_of_scope": REVIEW_OUT_OF_SCOPE,
    "no_match": REVIEW_NO_MATCH,
    "did_you_mean": REVIEW_DID_YOU_MEAN,
}


def _kind(text: str, intent: str | None) -> str:
    if intent in FEEDBACK_INTENTS:
        return KIND_FEEDBACK
    return KIND_BUTTON if text.startswith("/") else KIND_QUESTION


def feedback_facts(feedback: Feedback) -> dict[str, Any]:
    """A feedback's judgement as its reply carries it (``REPLY_KEY``), for the records."""
    return {
        "answer": feedback.answer,
        "helpful": feedback.helpful,
        "status": feedback.status,
        "topic": feedback.topic,
        "route": feedback.route,
    }


def _judged(user: Mapping[str, Any], facts: Mapping[str, Any]) -> Feedback | None:
    """The feedback as the action judged it (the reply's facts), for a feedback message."""
    judged = facts.get("feedback")
    if _intent(user) not in FEEDBACK_INTENTS or not isinstance(judged, dict):
        return None
    return Feedback(
        str(user.get("message_id") or ""),
        str(judged.get("answer") or ""),
        bool(judged.get("helpful")),
        float(user.get("timestamp") or 0.0),
        str(judged.get("status") or "unknown"),
        judged.get("topic"),
        judged.get("route"),
    )


def turns(events: Sequence[Mapping[str, Any]]) -> list[Turn]:
    """The turns in ``events`` that have a reply, oldest first. A feedback message's
    feedback is as the action that answered it judged it (``judge_feedback``)."""
    found: list[Turn] = []
    user: Mapping[str, Any] | None = None
    facts: dict[str, Any] = {}
    replied = False

    def close() -> None:
        if user is None or not replied:
            return
        text = str(user.get("text") or "")
        intent = _intent(user)
        kind = _kind(text, intent)
        route, topic = facts.get("route"), facts.get("topic")
        topics = tuple(str(t) for t in facts.get("topics") or [])
        answered = outcome(route, topic, topics)
        confidence = float(((user.get("parse_data") or {}).get("intent") or {}).get("confidence") or 0.0)
        found.append(
            Turn(
                message_id=str(user.get("message_id") or ""),
                at=float(user.get("timestamp") or 0.0),
                channel=str(user.get("input_channel") or "unknown"),
                kind=kind,
                text=redact_contact_details(text),
                intent=intent,
                confidence=confidence,
                route=str(route) if route else None,
                outcome=answered,
                topic=str(topic) if topic else None,
                topics=topics,
                guesses=_guesses(user, facts),
                review=_REVIEWED.get(answered) if kind == KIND_QUESTION else None,
                answer_id=str(facts["answer_id"]) if facts.get("answer_id") else None,
                feedback=_judged(user, facts),
            )
        )

    for event in events:
        if event.get("event") == "user":
            close()
            user, facts, replied = event, {}, False
        elif event.get("event") == "bot" and user is not None:
            facts = facts or reply_facts(event)
            replied = True
    close()
    return found
