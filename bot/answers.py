"""What the patient reads: a topic's answer with its sources and the evidence caveat, the
urgent reply to a red flag, and the clinic's contact details."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.clinic import Clinic
from bot.knowledge import KnowledgeBase, Topic
from bot.settings import load_settings

# How a reply was chosen (the metadata's ``route``).
ROUTE_INTENT = "intent"
ROUTE_RETRIEVAL = "retrieval"
ROUTE_FALLBACK = "fallback"
ROUTE_SAFETY = "safety"
# A part of the bot failed and the reply says so (rasa_server/faults.py, channels/answering.py).
ROUTE_FAULT = "fault"
# The metadata's ``topic`` for replies that are not knowledge-base topics.
TOPIC_OUT_OF_SCOPE = "out_of_scope"
TOPIC_EMERGENCY = "emergency"
TOPIC_HANDOFF = "handoff"
TOPIC_UNAVAILABLE = "unavailable"


def reply_custom(topic: str | None, route: str, sources: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    """The message's ``custom`` object that tells a client what kind of reply it got.

    Rasa's socket.io channel passes ``custom`` to ``emit`` as keyword arguments, so the
    metadata sits under ``data``; REST clients read the same shape.
    """
    return {"data": {"topic": topic, "route": route, "sources": list(sources), **extra}}


def metadata_for(channel: str | None, custom: dict[str, Any]) -> dict[str, Any] | None:
    """``custom`` on a channel whose clients read it (``METADATA_CHANNELS``), else None:
    messaging apps (Twilio, Telegram, Messenger) would deliver the JSON as an extra, empty
    or confusing message."""
    return custom if channel in load_settings().metadata_channels else None


def topic_buttons(knowledge: KnowledgeBase, topic_ids: Sequence[str]) -> list[dict[str, str]]:
    """Buttons labelled with the topics' titles; pressing one asks that topic's intent."""
    return [
        {"title": knowledge.topic(topic_id).title, "payload": f"/{knowledge.topic(topic_id).intent}"}
        for topic_id in topic_ids
    ]


@dataclass(frozen=True)
class Answer:
    """What the patient reads (``text``) and what a client reads (``custom``)."""

    topic: str
    route: str
    sources: tuple[str, ...]
    text: str
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def custom(self) -> dict[str, Any]:
        return reply_custom(self.topic, self.route, self.sources, **dict(self.extra))


def _source_names(knowledge: KnowledgeBase, topic: Topic) -> str:
    return "; ".join(f"{source_id} {knowledge.sources[source_id].name}" for source_id in topic.sources)


def compose_answer(
    knowledge: KnowledgeBase,
    topic: Topic,
    route: str = ROUTE_INTENT,
    personal: bool = False,
    lead: str = "",
    follow: str = "",
) -> Answer:
    """The answer text in the knowledge base's layout, always ending with the caveat.

    The layout has no blank lines, so every channel delivers answer, sources and caveat
    as one message (Rasa's channels split text on blank lines). A patient asking about
    their own situation (``personal``) first reads that the decision is their doctor's.
    ``lead`` (one line or more, no blank line) answers the question asked before the general
    answer: when an aftercare window ends (bot/aftercare.py); ``follow`` comes right after the
    answer: a question back ("When was your treatment?").
    """
    answer = f"{topic.full_answer}\n{follow}" if follow else topic.full_answer
    text = knowledge.layout.format(
        answer=answer, sources=_source_names(knowledge, topic), caveat=knowledge.caveat
    )
    if lead:
        text = f"{lead}\n{text}"
    if personal:
        text = f"{knowledge.replies.personal_advice}\n{text}"
    extra: tuple[tuple[str, Any], ...] = (("topics", [topic.id]),)
    if personal:
        extra += (("personal_advice", True),)
    return Answer(topic=topic.id, route=route, sources=topic.sources, text=text, extra=extra)


def compose_answers(
    knowledge: KnowledgeBase,
    topics: Sequence[Topic],
    route: str = ROUTE_INTENT,
    personal: bool = False,
    max_chars: int | None = None,
    lead: str = "",
    follow: str = "",
) -> Answer:
    """One message answering several questions: each topic's answer with its title and
    sources, in the patient's order, then the caveat once, at the end.

    On a channel whose messages hold at most ``max_chars`` characters, the answers that fit
    come first and the rest are named (``also_asked``) for the patient to send again: one
    message, so the caveat always travels with the answers. The metadata's ``topics`` lists
    the topics answered; ``topic`` is the first of them.
    """
    if len(topics) == 1:
        return compose_answer(knowledge, topics[0], route, personal, lead, follow)
    parts = [
        knowledge.part_layout.format(title=t.title, answer=t.full_answer, sources=_source_names(knowledge, t))
        for t in topics
    ]
    prefix = f"{knowledge.replies.personal_advice}\n" if personal else ""
    prefix += f"{lead}\n" if lead else ""
    count = len(topics)
    while True:
        left = topics[count:]
        answers = "\n".join([*parts[:count], *([follow] if follow else [])])
        if left:
            titles = ", ".join(t.title for t in left)
            answers += "\n" + knowledge.replies.also_asked.format(titles=titles)
        text = prefix + knowledge.several_layout.format(answers=answers, caveat=knowledge.caveat)
        if max_chars is None or len(text) <= max_chars or count == 1:
            break
        count -= 1
    if count == 1 and max_chars is not None and len(text) > max_chars:
        return compose_answer(knowledge, topics[0], route, personal, lead, follow)  # one answer always fits
    answered = topics[:count]
    sources = tuple(dict.fromkeys(source for t in answered for source in t.sources))
    extra: list[tuple[str, Any]] = [("topics", [t.id for t in answered])]
    if topics[count:]:
        extra.append(("also_asked", [t.id for t in topics[count:]]))
    if personal:
        extra.append(("personal_advice", True))
    return Answer(answered[0].id, route, sources, text, tuple(extra))


def emergency_reply(knowledge: KnowledgeBase, clinic: Clinic, red_flags: Sequence[str]) -> Answer:
    """The urgent reply: emergency services or the clinic now, instead of any answer."""
    text = knowledge.replies.emergency.format(**clinic.details_in(knowledge.language))
    return Answer(TOPIC_EMERGENCY, ROUTE_SAFETY, (), text, extra=(("red_flags", list(red_flags)),))


def handoff_reply(knowledge: KnowledgeBase, clinic: Clinic) -> Answer:
    """How to reach a person at the clinic and book a consultation."""
    details = clinic.details_in(knowledge.language)
    return Answer(TOPIC_HANDOFF, ROUTE_INTENT, (), knowledge.replies.handoff.format(**details))


def unavailable_reply(knowledge: KnowledgeBase, clinic: Clinic) -> Answer:
    """The bot cannot answer right now: try again, or contact the clinic."""
    text = knowledge.replies.unavailable.format(**clinic.details_in(knowledge.language))
    return Answer(TOPIC_UNAVAILABLE, ROUTE_FAULT, (), text)
