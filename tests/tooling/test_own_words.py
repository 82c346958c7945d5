"""Answers carry the sources' facts, not their sentences."""

from __future__ import annotations

import dataclasses

import pytest

from bot.knowledge import KnowledgeBase
from bot.settings import load_settings
from tooling.own_words import MAX_SHARED_WORDS, copied_passages, read_sources


@pytest.fixture
def source_texts() -> list[str]:
    sources_dir = load_settings().sources_dir
    texts = read_sources(sources_dir)
    if len(texts) != 5:
        pytest.skip(f"the five source documents are not at {sources_dir} (set SOURCES_DIR)")
    return texts


def test_no_topic_copies_a_source_sentence(knowledge: KnowledgeBase, source_texts: list[str]) -> None:
    assert copied_passages(knowledge, source_texts) == []


def test_a_copied_sentence_is_caught(knowledge: KnowledgeBase, source_texts: list[str]) -> None:
    sentence = " ".join(source_texts[3].split()[40 : 40 + MAX_SHARED_WORDS + 4])
    topic = knowledge.topic("cost")
    copied = dataclasses.replace(topic, answer=f"{topic.answer} {sentence}")
    tampered = dataclasses.replace(knowledge, topics={**knowledge.topics, "cost": copied})
    found = copied_passages(tampered, source_texts)
    assert [(p.topic, p.field) for p in found] == [("cost", "answer")]
