"""Checks that the knowledge base tells the sources' facts in its own words.

A topic's text may share facts and figures with a source, but not its sentences: no run
of ``MAX_SHARED_WORDS + 1`` consecutive words may appear in both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.knowledge import KnowledgeBase

MAX_SHARED_WORDS = 6
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class CopiedPassage:
    topic: str
    field: str
    words: str


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'").replace("'", ""))


def _ngrams(words: list[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def source_ngrams(source_texts: Iterable[str], size: int = MAX_SHARED_WORDS + 1) -> set[tuple[str, ...]]:
    grams: set[tuple[str, ...]] = set()
    for text in source_texts:
        grams |= _ngrams(_words(text), size)
    return grams


def read_sources(sources_dir: Path) -> list[str]:
    return [path.read_text(encoding="utf-8") for path in sorted(sources_dir.glob("S*.txt"))]


def copied_passages(knowledge: KnowledgeBase, source_texts: Iterable[str]) -> list[CopiedPassage]:
    """Every run of words a topic shares with a source, one per topic field."""
    size = MAX_SHARED_WORDS + 1
    grams = source_ngrams(source_texts, size)
    found = []
    for topic in knowledge.topics.values():
        for field in ("title", "question", "answer", "differences"):
            shared = [g for g in sorted(_ngrams(_words(getattr(topic, field)), size)) if g in grams]
            if shared:
                found.append(CopiedPassage(topic.id, field, " ".join(shared[0])))
    return found
