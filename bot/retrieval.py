"""Embedding retrieval: finds the knowledge-base topic nearest to a patient's question.

Questions are matched with questions: every topic's canonical question and training
phrasings are embedded when the NLU model is trained (components/topic_reader.py) into an
index of normalised vectors (``vectors.npy``), saved in the model with a JSON file beside it
naming the embedding model, the dimension and a hash of the knowledge base and NLU data it
came from; a model whose index no longer fits the data is refused. A patient's message is
embedded once and compared with every row in one matrix product; a topic scores its best
row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bot.knowledge import KnowledgeBase
from bot.settings import Settings

# Bumped when the vectors change meaning (2: embedded by the 8-bit encoder, bot.embedding;
# 3: its weights in 7 bits, one text per run, the same vectors on every x86-64 CPU).
INDEX_FORMAT = 3
VECTORS_FILE = "vectors.npy"
META_FILE = "index.json"


class RetrievalError(RuntimeError):
    """The retrieval index is missing, stale or does not fit the model."""


class Encoder(Protocol):
    """Turns texts into vectors; ``name`` identifies the model in the index."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Candidate:
    topic: str
    score: float
    question: str


@dataclass(frozen=True)
class RetrievalIndex:
    model: str
    data_hash: str
    topics: tuple[str, ...]
    questions: tuple[str, ...]
    vectors: np.ndarray

    def search(self, query: np.ndarray, limit: int = 3) -> list[Candidate]:
        """The best ``limit`` topics for a normalised query vector, each with its best row."""
        scores = self.vectors @ query.reshape(-1)
        best: dict[str, Candidate] = {}
        for row in np.argsort(-scores):
            topic = self.topics[row]
            if topic not in best:
                best[topic] = Candidate(topic, float(scores[row]), self.questions[row])
                if len(best) == limit:
                    break
        return list(best.values())


def data_hash(knowledge: KnowledgeBase) -> str:
    """A hash of every question the index embeds, so any edit makes the index stale."""
    digest = hashlib.sha256()
    for topic_id in sorted(knowledge.topics):
        for question in knowledge.questions(topic_id):
            digest.update(f"{topic_id}\t{question}\n".encode())
    return digest.hexdigest()


def build_index(
    knowledge: KnowledgeBase, encoder: Encoder, known: Mapping[str, np.ndarray] | None = None
) -> RetrievalIndex:
    """Every topic's questions embedded (``known`` vectors reused, the rest computed)."""
    topics, questions = [], []
    for topic_id in sorted(knowledge.topics):
        for question in knowledge.questions(topic_id):
            topics.append(topic_id)
            questions.append(question)
    known = known or {}
    missing = sorted({q for q in questions if q not in known})
    computed = dict(zip(missing, encoder.encode(missing), strict=True)) if missing else {}
    vectors = np.array([known[q] if q in known else computed[q] for q in questions], dtype=np.float32)
    return RetrievalIndex(encoder.name, data_hash(knowledge), tuple(topics), tuple(questions), vectors)


def save_index(index: RetrievalIndex, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / VECTORS_FILE, index.vectors, allow_pickle=False)
    meta = {
        "format": INDEX_FORMAT,
        "model": index.model,
        "dimension": int(index.vectors.shape[1]),
        "data_hash": index.data_hash,
        "rows": [{"topic": t, "question": q} for t, q in zip(index.topics, index.questions, strict=True)],
    }
    (directory / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")


def _read_meta(directory: Path) -> dict[str, Any]:
    try:
        meta: dict[str, Any] = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise RetrievalError(f"no retrieval index at {directory}: run `make train`") from error
    except json.JSONDecodeError as error:
        raise RetrievalError(
            f"{directory / META_FILE} is not valid JSON: retrain with `make train`"
        ) from error
    return meta


def load_index(directory: Path, knowledge: KnowledgeBase, model: str) -> RetrievalIndex:
    """Load the index, refusing one built from other data or with another model."""
    meta = _read_meta(directory)
    if meta.get("format") != INDEX_FORMAT:
        raise RetrievalError(f"{directory} has index format {meta.get('format')}: retrain with `make train`")
    if meta.get("model") != model:
        raise RetrievalError(
            f"{directory} was built with model {meta.get('model')!r}, not {model!r}: "
            "retrain with `make train`"
        )
    if meta.get("data_hash") != data_hash(knowledge):
        raise RetrievalError(
            f"{directory} is stale: the knowledge base or NLU data changed since it was built; "
            "retrain with `make train`"
        )
    vectors = np.load(directory / VECTORS_FILE, allow_pickle=False)
    rows = meta["rows"]
    if vectors.ndim != 2 or vectors.shape != (len(rows), meta["dimension"]):
        raise RetrievalError(
            f"{directory / VECTORS_FILE} does not match {META_FILE}: retrain with `make train`"
        )
    return RetrievalIndex(
        model=model,
        data_hash=meta["data_hash"],
        topics=tuple(row["topic"] for row in rows),
        questions=tuple(row["question"] for row in rows),
        vectors=vectors.astype(np.float32, copy=False),
    )


@dataclass(frozen=True)
class Thresholds:
    answer: float
    suggest: float
    margin: float


@dataclass(frozen=True)
class Match:
    """What retrieval found: one topic to ``answer``, topics to ``clarify`` between, or ``none``."""

    kind: str
    candidates: tuple[Candidate, ...]

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(candidate.topic for candidate in self.candidates)


def decide(candidates: Sequence[Candidate], thresholds: Thresholds, max_suggestions: int = 3) -> Match:
    if not candidates or candidates[0].score < thresholds.suggest:
        return Match("none", ())
    best = candidates[0]
    runner_up = candidates[1].score if len(candidates) > 1 else -1.0
    if best.score >= thresholds.answer and best.score - runner_up >= thresholds.margin:
        return Match("answer", (best,))
    close = [c for c in candidates if c.score >= thresholds.suggest][:max_suggestions]
    if len(close) == 1 and best.score >= thresholds.answer:
        return Match("answer", (best,))
    return Match("clarify", tuple(close))


class Retriever:
    """Encoder, index and thresholds together: one call per patient message."""

    def __init__(self, encoder: Encoder, index: RetrievalIndex, thresholds: Thresholds) -> None:
        self.encoder = encoder
        self.index = index
        self.thresholds = thresholds

    def candidates(self, text: str, limit: int = 3) -> list[Candidate]:
        return self.index.search(self.encoder.encode([text])[0], limit)

    def match(self, text: str) -> Match:
        return decide(self.candidates(text), self.thresholds)


def configured_thresholds(settings: Settings, language: str | None = None) -> Thresholds:
    """The thresholds for a message in ``language``: its own answer and suggest thresholds
    when it has them (Spanish), else the configured ones; the margin is the same."""
    default = (settings.retrieval_answer, settings.retrieval_suggest)
    answer, suggest = settings.retrieval_by_language.get(language or "", default)
    return Thresholds(answer, suggest, settings.retrieval_margin)


def build_retriever(knowledge: KnowledgeBase, settings: Settings) -> Retriever:
    """The configured model with an index of the knowledge base built now, in memory (for
    the tooling: retrieval alone, as a baseline or a floor)."""
    from bot.embedding import load_encoder  # only the tooling builds a retriever

    encoder = load_encoder(settings.retrieval_model)
    return Retriever(encoder, build_index(knowledge, encoder), configured_thresholds(settings))
