"""Every answer as a patient reads it: answer, named sources, and the caveat, in one message."""

from __future__ import annotations

from bot.answers import ROUTE_INTENT, compose_answer
from bot.knowledge import KnowledgeBase


def test_every_answer_ends_with_the_caveat(knowledge: KnowledgeBase) -> None:
    for topic in knowledge.topics.values():
        text = compose_answer(knowledge, topic).text
        assert text.startswith(topic.answer), topic.id
        assert text.endswith(knowledge.caveat), topic.id


def test_every_answer_names_its_sources(knowledge: KnowledgeBase) -> None:
    for topic in knowledge.topics.values():
        text = compose_answer(knowledge, topic).text
        for source_id in topic.sources:
            assert f"{source_id} {knowledge.sources[source_id].name}" in text, topic.id
        for other in set(knowledge.sources) - set(topic.sources):
            assert f"{other} {knowledge.sources[other].name}" not in text, topic.id


def test_no_answer_can_be_split_into_separate_messages(knowledge: KnowledgeBase) -> None:
    for topic in knowledge.topics.values():
        assert "\n\n" not in compose_answer(knowledge, topic).text.strip(), topic.id


def test_differences_follow_the_answer(knowledge: KnowledgeBase) -> None:
    topic = knowledge.topic("sessions")
    text = compose_answer(knowledge, topic).text
    assert text.index(topic.answer) < text.index(topic.differences) < text.index(knowledge.caveat)


def test_metadata_names_topic_route_and_sources(knowledge: KnowledgeBase) -> None:
    answer = compose_answer(knowledge, knowledge.topic("washing_hair"))
    assert answer.custom == {
        "data": {
            "topic": "washing_hair",
            "route": ROUTE_INTENT,
            "sources": list(knowledge.topic("washing_hair").sources),
        }
    }
