"""The intent classifier: a logistic regression on a message's sentence vector and its
character n-grams, trained in seconds.

Features: the sentence embedding (``bot/embedding.py``), which recognises paraphrases, and
TF-IDF weights of the character 2-4-grams inside words seen in at least two training
phrasings, which catch misspellings and the words the embedding blurs. One multinomial
logistic regression over both, its strength ``C`` chosen on the dev questions
(docs/quality-and-speed.md). It is saved as plain arrays and JSON (no pickle) and read back
without training.

The regression is fitted here rather than by scikit-learn's ``LogisticRegression``: the same
objective (cross-entropy plus ``|W|^2 / 2C``, the intercepts unpenalised) minimised by L-BFGS,
but with the dense sentence vectors and the sparse n-grams kept apart, each multiplied in its
own kind (BLAS for the dense block), in float32. On the 4,600 phrasings of both languages it
trained in about 20 s instead of about 63 s, to the same weights (largest difference 0.003 on
weights up to 4). The L-BFGS is this module's own, unbounded (``_lbfgs``): on the 5,630
phrasings of c198960, 17 s instead of SciPy's L-BFGS-B's 27 s, whose bookkeeping for bounds
took as long as the loss itself; the weights within 0.005 of SciPy's (up to 4.9), every
phrasing's top intent the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

WEIGHTS_FILE = "classifier.npz"
META_FILE = "classifier.json"
FORMAT = 2  # 2: no seed in the configuration (the fit starts from zero, deterministic)


class ClassifierError(RuntimeError):
    """A saved classifier is missing, broken or of another format."""


@dataclass(frozen=True)
class ClassifierConfig:
    c: float = 30.0  # inverse regularisation strength
    ngram_min: int = 2
    ngram_max: int = 4
    ngram_min_df: int = 2  # an n-gram is a feature when at least this many phrasings have it
    vector_weight: float = 1.0  # the sentence vector's scale beside the n-gram weights
    max_iter: int = 3000


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
            min_df=self.config.ngram_min_df,
        )
        self._intents: tuple[str, ...] = ()
        self._coef = np.zeros((0, 0), dtype=np.float32)  # one row per intent: vector, then n-grams
        self._intercept = np.zeros(0, dtype=np.float32)
        # For reading a few messages at a time (``probabilities``), from the fitted weights:
        # the n-gram vocabulary and weights, and the weights of each feature as a row.
        self._analyze: Callable[[str], list[str]] = self._ngrams.build_analyzer()  # scikit-learn's n-grams
        self._vocabulary: dict[str, int] = {}
        self._idf = np.zeros(0, dtype=np.float64)
        self._vector_rows = np.zeros((0, 0), dtype=np.float32)  # vector features x intents
        self._gram_rows = np.zeros((0, 0), dtype=np.float32)  # n-grams x intents

    @property
    def intents(self) -> tuple[str, ...]:
        return self._intents

    def _features(self, texts: Sequence[str], vectors: np.ndarray) -> tuple[np.ndarray, sparse.csr_matrix]:
        grams = sparse.csr_matrix(self._ngrams.transform([text.lower() for text in texts]), dtype=np.float32)
        dense = np.asarray(vectors, dtype=np.float32) * np.float32(self.config.vector_weight)
        return dense, grams

    def fit(self, texts: Sequence[str], vectors: np.ndarray, intents: Sequence[str]) -> IntentClassifier:
        if not (len(texts) == len(vectors) == len(intents)) or not texts:
            raise ClassifierError("fit needs one vector and one intent per text, and at least one text")
        names, labels = np.unique(np.asarray(intents, dtype=str), return_inverse=True)
        if len(names) < 2:
            raise ClassifierError("fit needs at least two intents")
        self._ngrams.fit([text.lower() for text in texts])
        dense, grams = self._features(texts, vectors)
        self._intents = tuple(str(name) for name in names)
        # Its matrices are too small for the math library's threads to pay: on 2 cores they
        # made the fit 15% slower.
        with threadpool_limits(limits=1):
            self._coef, self._intercept = _fit_multinomial(dense, grams, labels, len(names), self.config)
        self._prepare(dense.shape[1])
        return self

    def _prepare(self, width: int) -> None:
        """What ``probabilities`` reads, from the fitted vectorizer and weights."""
        self._vocabulary = dict(self._ngrams.vocabulary_)
        self._idf = np.asarray(self._ngrams.idf_, dtype=np.float64)
        self._vector_rows = np.ascontiguousarray(self._coef[:, :width].T)
        self._gram_rows = np.ascontiguousarray(self._coef[:, width:].T)

    def _gram_weights(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The TF-IDF weights of ``text``'s known n-grams (their columns and weights), as the
        fitted vectorizer's ``transform`` gives them: 1 + log(count), times the n-gram's idf,
        the row scaled to length 1. Without the vectorizer's checks and sparse matrices,
        which cost a message more than the arithmetic (tested against ``transform``)."""
        counts: dict[int, int] = {}
        for gram in self._analyze(text.lower()):
            column = self._vocabulary.get(gram)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        columns = np.fromiter(counts, dtype=np.int64, count=len(counts))
        tf = np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts))) + 1
        weights = tf * self._idf[columns]
        return columns, np.asarray(weights / np.linalg.norm(weights), dtype=np.float32)

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """One row per text: the probability of each of ``intents``."""
        if not texts:
            return np.zeros((0, len(self.intents)), dtype=np.float32)
        dense = np.asarray(vectors, dtype=np.float32) * np.float32(self.config.vector_weight)
        scores = dense @ self._vector_rows + self._intercept
        for row, text in enumerate(texts):
            columns, weights = self._gram_weights(text)
            scores[row] += weights @ self._gram_rows[columns]
        return _softmax(scores)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        vocabulary = self._ngrams.vocabulary_
        grams = sorted(vocabulary, key=vocabulary.__getitem__)
        np.savez(
            directory / WEIGHTS_FILE,
            coef=self._coef.astype(np.float32),
            intercept=self._intercept.astype(np.float32),
            idf=self._ngrams.idf_.astype(np.float32),
        )
        meta: dict[str, Any] = {
            "format": FORMAT,
            "dimension": int(self._coef.shape[1] - len(grams)),
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
        classifier._intents = tuple(str(name) for name in meta["intents"])
        classifier._coef = coef.astype(np.float32)
        classifier._intercept = intercept.astype(np.float32)
        if coef.shape != (len(meta["intents"]), int(meta["dimension"]) + len(meta["ngrams"])):
            raise ClassifierError(f"{directory}: the classifier's arrays do not fit together: retrain")
        classifier._prepare(int(meta["dimension"]))
        return classifier


def fit_together(
    jobs: Sequence[tuple[ClassifierConfig, Sequence[str], np.ndarray, Sequence[str]]],
) -> list[IntentClassifier]:
    """Several classifiers fitted at once, one thread each: (config, texts, vectors, intents)
    per classifier, the fitted classifiers in the same order.

    Their arithmetic (BLAS, sparse products) runs without Python's lock, so on 2 cores the
    reader's two fits (both languages' phrasings, 5,657 of them) took 13.8 s together against
    21.9 s one after the other. The math library stays on one thread throughout: the same
    weights as fitting each alone (tested).
    """
    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        futures = [
            pool.submit(IntentClassifier(config).fit, texts, vectors, intents)
            for config, texts, vectors, intents in jobs
        ]
        return [future.result() for future in futures]


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.asarray(scores, dtype=np.float32) - scores.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return np.asarray(exponentials / exponentials.sum(axis=1, keepdims=True), dtype=np.float32)


def _fit_multinomial(
    dense: np.ndarray, grams: sparse.csr_matrix, labels: np.ndarray, classes: int, config: ClassifierConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (intents x features) and intercepts minimising the cross-entropy plus
    ``|W|^2 / 2C``, by L-BFGS from zero (deterministic: no random start)."""
    rows, width = dense.shape
    features = width + grams.shape[1]
    truth = np.zeros((rows, classes), dtype=np.float32)
    truth[np.arange(rows), labels] = 1.0
    grams_t = grams.T.tocsr()
    penalty = np.float32(1.0 / config.c)

    def loss_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        weights = flat[: features * classes].astype(np.float32).reshape(features, classes)
        intercept = flat[features * classes :].astype(np.float32)
        scores = dense @ weights[:width] + np.asarray(grams @ weights[width:]) + intercept
        scores -= scores.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(scores).sum(axis=1, keepdims=True))
        log_probabilities = scores - log_norm
        loss = -float(log_probabilities[np.arange(rows), labels].sum()) + 0.5 * float(
            penalty * (weights * weights).sum()
        )
        error = np.exp(log_probabilities) - truth
        gradient = np.vstack([dense.T @ error, np.asarray(grams_t @ error)]) + penalty * weights
        return loss, np.concatenate([gradient.ravel(), error.sum(axis=0)]).astype(np.float64)

    flat = _lbfgs(
        loss_and_gradient, np.zeros(features * classes + classes), config.max_iter, GRADIENT_TOLERANCE
    )
    weights = flat[: features * classes].reshape(features, classes).T
    return np.ascontiguousarray(weights, dtype=np.float32), flat[features * classes :].astype(np.float32)


# The fit stops when no weight's gradient is above this, or when a step no longer lowers the
# loss by more than LOSS_TOLERANCE of it (the loss is summed in float32: smaller changes are
# rounding), as SciPy's L-BFGS-B stopped with its defaults.
GRADIENT_TOLERANCE = 1e-4
LOSS_TOLERANCE = 2.2e-9
HISTORY = 10  # the corrections L-BFGS keeps (SciPy's default)
SUFFICIENT_DECREASE = 1e-4  # Armijo's constant
SMALLEST_STEP = 1e-10


def _lbfgs(
    loss_and_gradient: Callable[[np.ndarray], tuple[float, np.ndarray]],
    start: np.ndarray,
    max_iter: int,
    gradient_tolerance: float,
) -> np.ndarray:
    """The minimum of a smooth convex function by L-BFGS (Nocedal and Wright, algorithm 7.4)
    with a backtracking line search, from ``start``: deterministic.

    SciPy's L-BFGS-B solves a bounded problem and spent as long in its own bookkeeping as in
    the loss and gradient on this problem's 350,000 weights; this unbounded one does two
    passes over the last ``HISTORY`` corrections per step.
    """
    x = np.asarray(start, dtype=np.float64).copy()  # the weights; their steps in float32
    loss, gradient = loss_and_gradient(x)
    corrections: list[tuple[np.ndarray, np.ndarray, float]] = []  # (s, y, 1 / y.s), oldest first
    for _ in range(max_iter):
        if float(np.abs(gradient).max()) <= gradient_tolerance:
            break
        direction = _two_loop(gradient, corrections)
        slope = float(gradient @ direction)
        if slope >= 0:  # not a descent direction (rounding): start the history again
            corrections.clear()
            direction = _two_loop(gradient, corrections)
            slope = float(gradient @ direction)
        step = 1.0
        while True:
            candidate = x + step * direction
            new_loss, new_gradient = loss_and_gradient(candidate)
            if new_loss <= loss + SUFFICIENT_DECREASE * step * slope:
                break
            step /= 2
            if step < SMALLEST_STEP:
                return x  # no step lowers the loss any more
        change = candidate - x
        difference = new_gradient - gradient
        curvature = float(change @ difference)
        if curvature > 1e-10 * float(difference @ difference):
            # Kept in float32: the two passes over them are half the fit's time, and bound by
            # memory, not arithmetic.
            corrections.append((change.astype(np.float32), difference.astype(np.float32), 1.0 / curvature))
            del corrections[:-HISTORY]
        decrease = (loss - new_loss) / max(abs(loss), abs(new_loss), 1.0)
        x, loss, gradient = candidate, new_loss, new_gradient
        if decrease <= LOSS_TOLERANCE:
            break
    return x


def _two_loop(gradient: np.ndarray, corrections: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """L-BFGS's search direction: minus the inverse Hessian estimate times the gradient."""
    q = gradient.astype(np.float32)
    alphas = []
    for change, difference, rho in reversed(corrections):
        alpha = rho * float(change @ q)
        q -= alpha * difference
        alphas.append(alpha)
    if corrections:
        change, difference, _ = corrections[-1]
        q *= float(change @ difference) / float(difference @ difference)
    else:
        q /= max(float(np.linalg.norm(gradient)), 1.0)  # a first step of length at most 1
    for (change, difference, rho), alpha in zip(corrections, reversed(alphas), strict=True):
        beta = rho * float(difference @ q)
        q += (alpha - beta) * change
    return -q
