"""Index build, staleness detection and search, with the real packaged model."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bot.embedding import EmbeddingError, SentenceEncoder, resolve_model_path
from bot.knowledge import KnowledgeBase, default_knowledge_base
from bot.retrieval import (
    META_FILE,
    VECTORS_FILE,
    Candidate,
    RetrievalError,
    RetrievalIndex,
    Thresholds,
    build_index,
    decide,
    load_index,
    save_index,
)

MODEL = "all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.from_setting(MODEL)


@pytest.fixture(scope="module")
def index(encoder: SentenceEncoder) -> RetrievalIndex:
    """Every question of the knowledge base embedded, once for the module's tests."""
    return build_index(default_knowledge_base(), encoder)


def test_the_packaged_model_loads_offline(encoder: SentenceEncoder) -> None:
    vectors = encoder.encode(["can I wash my hair tonight?", "how much does it cost?"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_index_round_trip_without_pickle(
    tmp_path: Path, knowledge: KnowledgeBase, index: RetrievalIndex
) -> None:
    save_index(index, tmp_path)
    meta = json.loads((tmp_path / META_FILE).read_text(encoding="utf-8"))
    assert meta["model"] == MODEL and meta["dimension"] == 384 and len(meta["rows"]) == len(index.topics)
    assert set(index.topics) == set(knowledge.topics)
    loaded = load_index(tmp_path, knowledge, MODEL)
    assert np.array_equal(loaded.vectors, index.vectors) and loaded.questions == index.questions
    np.load(tmp_path / VECTORS_FILE, allow_pickle=False)  # plain array: loads without pickle


def test_an_edited_knowledge_base_makes_the_index_stale(
    tmp_path: Path, knowledge: KnowledgeBase, index: RetrievalIndex
) -> None:
    save_index(index, tmp_path)
    assert load_index(tmp_path, knowledge, MODEL).questions  # current: it loads
    cost = knowledge.topic("cost")
    edited = dataclasses.replace(
        knowledge,
        topics={**knowledge.topics, "cost": dataclasses.replace(cost, question="What is the price?")},
    )
    with pytest.raises(RetrievalError, match="stale"):
        load_index(tmp_path, edited, MODEL)
    with pytest.raises(RetrievalError, match="built with model"):
        load_index(tmp_path, knowledge, "another-model")


def test_a_missing_index_is_refused_clearly(tmp_path: Path, knowledge: KnowledgeBase) -> None:
    with pytest.raises(RetrievalError, match="make train"):
        load_index(tmp_path / "nowhere", knowledge, MODEL)


def test_an_unknown_model_name_is_refused() -> None:
    with pytest.raises(EmbeddingError, match="neither a packaged model"):
        resolve_model_path("no-such-model")


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("is it alright to shampoo the morning after my scalp injections", "washing_hair"),
        ("how much money will each appointment cost me", "cost"),
        ("when was mesotherapy first developed", "history"),
    ],
)
def test_search_finds_the_topic_of_a_new_phrasing(
    index: RetrievalIndex, encoder: SentenceEncoder, question: str, topic: str
) -> None:
    [best, *_] = index.search(encoder.encode([question])[0])
    assert best.topic == topic


def test_search_returns_distinct_topics_best_first(index: RetrievalIndex, encoder: SentenceEncoder) -> None:
    found = index.search(encoder.encode(["does mesotherapy hurt"])[0], limit=3)
    assert len({c.topic for c in found}) == 3
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)


THRESHOLDS = Thresholds(answer=0.6, suggest=0.45, margin=0.05)


def test_decide_answers_a_clear_winner() -> None:
    match = decide([Candidate("cost", 0.8, "q"), Candidate("pain", 0.5, "q")], THRESHOLDS)
    assert (match.kind, match.topics) == ("answer", ("cost",))


def test_decide_asks_between_close_candidates() -> None:
    match = decide(
        [Candidate("cost", 0.7, "q"), Candidate("sessions", 0.68, "q"), Candidate("x", 0.3, "q")], THRESHOLDS
    )
    assert (match.kind, match.topics) == ("clarify", ("cost", "sessions"))


def test_decide_admits_when_nothing_is_close() -> None:
    assert decide([Candidate("cost", 0.44, "q")], THRESHOLDS).kind == "none"
    assert decide([], THRESHOLDS).kind == "none"
