"""`make tune-reader` (tooling/reader_tuning.py): the reader trained as config.yml says, the
grid's C and vector weight given to the classifier that reads the language being tuned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

import tooling.reader_tuning as tuning
from bot.classifier import ClassifierConfig
from bot.knowledge import default_knowledge_base
from bot.retrieval import Thresholds
from bot.safety import default_safety_rules
from components.topic_reader import project_config, reading_thresholds
from tooling.reader_tuning import DEV_SETS, Scores, tune

GRID: dict[str, Sequence[float]] = {
    "c": [5.0, 7.0],
    "vector_weight": [1.5],
    "answer": [0.45],
    "part": [0.4],
    "context_weight": [4.0],
}


@pytest.fixture
def trained(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What each trial trained and on which language's sets it was scored, without training."""
    calls: list[dict[str, Any]] = []

    class Reader:
        thresholds = None

    def train_reader(
        knowledge: Any, encoder: Any, examples: Any, config: Any, thresholds: Any, by: Any, first: Any
    ) -> Any:
        calls.append(
            {
                "encoder": encoder,
                "main": config,
                "by_language": by,
                "first_look": first,
                "examples": len(examples),
                "trained": thresholds,
            }
        )
        return Reader()

    def score(
        reader: Any,
        rules: Any,
        retrieval: Any,
        questions: Any,
        conversations: Any,
        several: Any,
        language: Any,
    ) -> Scores:
        calls[-1].update(language=language, questions=len(list(questions)), scored=reader.thresholds)
        return Scores(0.9, 0.0, 1.0, 1.0, 1.0)

    monkeypatch.setattr(tuning, "load_encoder", lambda model: f"encoder of {model}")
    monkeypatch.setattr(tuning, "train_reader", train_reader)
    monkeypatch.setattr(tuning, "score", score)
    return calls


def test_tuning_spanish_varies_the_spanish_classifier_only(trained: list[dict[str, Any]]) -> None:
    config = project_config()
    trials = tune(
        default_knowledge_base(), default_safety_rules(), Thresholds(0.7, 0.65, 0.04), config, GRID, "es"
    )
    assert [t.c for t in trials] == [5.0, 7.0]
    model = config["language_classifiers"]["es"]["model"]
    for call, c in zip(trained, GRID["c"], strict=True):
        assert call["encoder"] == f"encoder of {config['model']}"
        assert call["main"] == ClassifierConfig(
            c=float(config["c"]), vector_weight=float(config["vector_weight"])
        )
        assert call["by_language"] == {"es": (model, ClassifierConfig(c=c, vector_weight=1.5))}
        assert call["language"] == "es" and call["questions"] > 0
        # What the grid does not vary is config.yml's: the Spanish classifier's clear reading.
        clear = reading_thresholds(config).own_reading_by_language
        assert clear and call["trained"].own_reading_by_language == clear
        assert call["scored"].own_reading_by_language == clear and call["scored"].answer == 0.45


def test_tuning_english_varies_the_readers_classifier_and_keeps_spanish_as_configured(
    trained: list[dict[str, Any]],
) -> None:
    config = project_config()
    tune(default_knowledge_base(), default_safety_rules(), Thresholds(0.7, 0.65, 0.04), config, GRID, "en")
    spanish = config["language_classifiers"]["es"]
    for call, c in zip(trained, GRID["c"], strict=True):
        assert call["main"] == ClassifierConfig(c=c, vector_weight=1.5)
        assert call["by_language"]["es"] == (
            spanish["model"],
            ClassifierConfig(c=float(spanish["c"]), vector_weight=float(spanish["vector_weight"])),
        )
        assert call["language"] == "en"
        # The first look is trained as configured: it reads only what it is sure of.
        first = config["first_look"]
        assert call["first_look"] == (
            first["model"],
            ClassifierConfig(
                c=float(config["c"]), vector_weight=float(config["vector_weight"]), max_iter=first["max_iter"]
            ),
        )
    assert set(DEV_SETS) == {"en", "es"} and all(
        path.is_file() for sets in DEV_SETS.values() for path in sets.values()
    )
