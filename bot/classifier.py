"""The intent classifier: a logistic regression on a message's sentence vector and its
character n-grams, trained in seconds.

Features: the sentence embedding (``bot/embedding.py``), which recognises paraphrases, and
TF-IDF weights of the character 2-4-grams inside words, which catch misspellings and the
words the embedding blurs. One multinomial logistic regression over both, its strength
``C`` chosen on the dev questions (docs/quality-and-speed.md). It is saved as plain arrays
and JSON (no pickle) and read back without training.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

WEIGHTS_FILE = "classifier.npz"
META_FILE = "classifier.json"
FORMAT = 1


class ClassifierError(RuntimeError):
    """A saved classifier is missing, broken or of another format."""


@dataclass(frozen=True)
class ClassifierConfig:
    c: float = 30.0  # inverse regularisation strength
    ngram_min: int = 2
    ngram_max: int = 4
    vector_weight: float = 1.0  # the sentence vector's scale beside the n-gram weights
    max_iter: int = 3000
    seed: int = 42


class IntentClassifier:
    """``fit`` on (text, vector, intent) triples; ``probabilities`` for new messages."""

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        self.config = config or ClassifierConfig()
        self._ngrams = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(self.config.ngram_min, self.config.ngram_max),
            sublinear_tf=True,
            lowercase=True,
            dtype=np.float32,
        )
        self._model = LogisticRegression(
            C=self.config.c, max_iter=self.config.max_iter, random_state=self.config.seed
        )

    @property
    def intents(self) -> tuple[str, ...]:
        return tuple(str(name) for name in self._model.classes_)

    def _features(self, texts: Sequence[str], vectors: np.ndarray) -> sparse.csr_matrix:
        grams = self._ngrams.transform([text.lower() for text in texts])
        dense = sparse.csr_matrix(np.asarray(vectors, dtype=np.float32) * self.config.vector_weight)
        return sparse.hstack([dense, grams], format="csr")

    def fit(self, texts: Sequence[str], vectors: np.ndarray, intents: Sequence[str]) -> IntentClassifier:
        if not (len(texts) == len(vectors) == len(intents)) or not texts:
            raise ClassifierError("fit needs one vector and one intent per text, and at least one text")
        self._ngrams.fit([text.lower() for text in texts])
        self._model.fit(self._features(texts, vectors), list(intents))
        return self

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """One row per text: the probability of each of ``intents``."""
        if not texts:
            return np.zeros((0, len(self.intents)), dtype=np.float32)
        return np.asarray(self._model.predict_proba(self._features(texts, vectors)), dtype=np.float32)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        vocabulary = self._ngrams.vocabulary_
        grams = sorted(vocabulary, key=vocabulary.__getitem__)
        np.savez(
            directory / WEIGHTS_FILE,
            coef=self._model.coef_.astype(np.float32),
            intercept=self._model.intercept_.astype(np.float32),
            idf=self._ngrams.idf_.astype(np.float32),
        )
        meta: dict[str, Any] = {
            "format": FORMAT,
            "dimension": int(self._model.coef_.shape[1] - len(grams)),
            "config": self.config.__dict__,
            "intents": list(self.intents),
            "ngrams": grams,
        }
        (directory / META_FILE).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> IntentClassifier:
        try:
            meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
            with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as arrays:
                coef, intercept, idf = arrays["coef"], arrays["intercept"], arrays["idf"]
        except (OSError, ValueError, KeyError) as error:
            raise ClassifierError(f"cannot read the classifier in {directory}: {error}") from error
        if meta.get("format") != FORMAT:
            raise ClassifierError(
                f"{directory}: classifier format {meta.get('format')}, not {FORMAT}: retrain"
            )
        if coef.shape[0] != len(meta["intents"]) or idf.shape[0] != len(meta["ngrams"]):
            raise ClassifierError(f"{directory}: the classifier's arrays do not fit together: retrain")
        classifier = cls(ClassifierConfig(**meta["config"]))
        classifier._ngrams.vocabulary_ = {gram: index for index, gram in enumerate(meta["ngrams"])}
        classifier._ngrams.idf_ = idf.astype(np.float64)
        classifier._model.classes_ = np.array(meta["intents"])
        classifier._model.coef_ = coef.astype(np.float64)
        classifier._model.intercept_ = intercept.astype(np.float64)
        if coef.shape != (len(meta["intents"]), int(meta["dimension"]) + len(meta["ngrams"])):
            raise ClassifierError(f"{directory}: the classifier's arrays do not fit together: retrain")
        return classifier
