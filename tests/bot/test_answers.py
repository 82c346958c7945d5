"""Every answer as a patient reads it: answer, named sources, and the caveat, in one message."""

from __future__ import annotations

import itertools

import pytest

from bot.answers import ROUTE_INTENT, compose_answer, compose_answers
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
            "topics": ["washing_hair"],
        }
    }


def test_several_answers_come_in_order_with_their_sources_and_one_caveat(knowledge: KnowledgeBase) -> None:
    pain, cost = knowledge.topic("pain"), knowledge.topic("cost")
    answer = compose_answers(knowledge, [pain, cost])
    text = answer.text
    assert text.index(pain.answer) < text.index(cost.answer) < text.index(knowledge.caveat)
    assert text.count(knowledge.caveat) == 1 and text.endswith(knowledge.caveat)
    assert f"{pain.title}: " in text and f"{cost.title}: " in text
    assert "\n\n" not in text  # one message on every channel
    data = answer.custom["data"]
    assert data["topic"] == "pain" and data["topics"] == ["pain", "cost"]
    assert data["sources"] == list(dict.fromkeys([*pain.sources, *cost.sources]))


def test_one_topic_among_several_is_the_plain_answer(knowledge: KnowledgeBase) -> None:
    cost = knowledge.topic("cost")
    assert compose_answers(knowledge, [cost]) == compose_answer(knowledge, cost)


@pytest.mark.parametrize("limit", [1600, 2000, 4096])
def test_on_a_channel_with_a_limit_the_answers_that_fit_come_with_the_caveat(
    knowledge: KnowledgeBase, limit: int
) -> None:
    topics = list(knowledge.topics.values())
    for three in itertools.islice(itertools.combinations(topics, 3), 0, None, 97):
        answer = compose_answers(knowledge, list(three), max_chars=limit)
        assert len(answer.text) <= limit and answer.text.endswith(knowledge.caveat)
        answered = answer.custom["data"]["topics"]
        left = answer.custom["data"].get("also_asked", [])
        assert answered + left == [t.id for t in three] and answered
        for topic_id in left:
            assert knowledge.topic(topic_id).title in answer.text  # named, for the patient to ask again


def test_a_personal_question_with_several_topics_gets_the_notice_once(knowledge: KnowledgeBase) -> None:
    answer = compose_answers(knowledge, [knowledge.topic("pain"), knowledge.topic("cost")], personal=True)
    assert answer.text.startswith(knowledge.replies.personal_advice)
    assert answer.text.count(knowledge.replies.personal_advice) == 1
    assert answer.custom["data"]["personal_advice"] is True
