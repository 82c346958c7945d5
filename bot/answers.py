"""Answer composition: a topic's answer, the sources it rests on, and the evidence caveat."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.knowledge import KnowledgeBase, Topic

ROUTE_INTENT = "intent"
ROUTE_RETRIEVAL = "retrieval"
ROUTE_FALLBACK = "fallback"
TOPIC_OUT_OF_SCOPE = "out_of_scope"


def reply_custom(topic: str | None, route: str, sources: Sequence[str] = (), **extra: Any) -> dict[str, Any]:
    """The message's ``custom`` object that tells a client what kind of reply it got.

    Rasa's socket.io channel passes ``custom`` to ``emit`` as keyword arguments, so the
    metadata sits under ``data``; REST clients read the same shape.
    """
    return {"data": {"topic": topic, "route": route, "sources": list(sources), **extra}}


def topic_buttons(knowledge: KnowledgeBase, topic_ids: Sequence[str]) -> list[dict[str, str]]:
    """Buttons labelled with the topics' titles; pressing one asks that topic's intent."""
    return [
        {"title": knowledge.topic(topic_id).title, "payload": f"/{knowledge.topic(topic_id).intent}"}
        for topic_id in topic_ids
    ]


@dataclass(frozen=True)
class Answer:
    """What the patient reads (``text``) and what a client reads (``metadata``)."""

    topic: str
    route: str
    sources: tuple[str, ...]
    text: str

    @property
    def custom(self) -> dict[str, Any]:
        return reply_custom(self.topic, self.route, self.sources)


def compose_answer(knowledge: KnowledgeBase, topic: Topic, route: str = ROUTE_INTENT) -> Answer:
    """The answer text in the knowledge base's layout, always ending with the caveat.

    The layout has no blank lines, so every channel delivers answer, sources and caveat
    as one message (Rasa's channels split text on blank lines).
    """
    source_names = "; ".join(
        f"{source_id} {knowledge.sources[source_id].name}" for source_id in topic.sources
    )
    text = knowledge.layout.format(answer=topic.full_answer, sources=source_names, caveat=knowledge.caveat)
    return Answer(topic=topic.id, route=route, sources=topic.sources, text=text)
