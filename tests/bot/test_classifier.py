"""The intent classifier (bot/classifier.py): trained in seconds, saved as arrays and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.classifier import (
    META_FILE,
    WEIGHTS_FILE,
    ClassifierConfig,
    ClassifierError,
    IntentClassifier,
    _lbfgs,
    fit_together,
)

TEXTS = [
    "how much does it cost",
    "what is the price",
    "is it expensive",
    "does it hurt",
    "is it painful",
    "will the needles sting",
    "what is the weather today",
    "tell me a joke",
]
INTENTS = ["faq_cost"] * 3 + ["faq_pain"] * 3 + ["out_of_scope"] * 2


def _vectors(texts: list[str], dimension: int = 8) -> np.ndarray:
    """Stand-in sentence vectors: one direction per intent, so the test knows the answer."""
    directions = {"faq_cost": 0, "faq_pain": 1, "out_of_scope": 2}
    rows = np.zeros((len(texts), dimension), dtype=np.float32)
    for row, intent in enumerate(INTENTS[: len(texts)]):
        rows[row, directions[intent]] = 1.0
    return rows


@pytest.fixture
def trained() -> IntentClassifier:
    # Eight phrasings: every n-gram counts, even one seen once.
    return IntentClassifier(ClassifierConfig(c=10, ngram_min_df=1)).fit(TEXTS, _vectors(TEXTS), INTENTS)


def test_it_learns_the_intents_and_gives_probabilities(trained: IntentClassifier) -> None:
    assert set(trained.intents) == set(INTENTS)
    probabilities = trained.probabilities(TEXTS, _vectors(TEXTS))
    assert probabilities.shape == (len(TEXTS), 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    predicted = [trained.intents[i] for i in probabilities.argmax(axis=1)]
    assert predicted == INTENTS


def test_character_ngrams_carry_a_misspelling_to_its_intent(trained: IntentClassifier) -> None:
    no_vector = np.zeros((1, 8), dtype=np.float32)  # only the n-grams can tell
    [row] = trained.probabilities(["how mutch does it cots"], no_vector)
    assert trained.intents[int(row.argmax())] == "faq_cost"


def test_its_regression_finds_scikit_learns_weights() -> None:
    """The fit minimises scikit-learn's objective, so it lands on the same weights."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    random = np.random.default_rng(7)
    intents = [f"intent_{i % 4}" for i in range(60)]
    vectors = (
        random.normal(size=(60, 6)).astype(np.float32)
        + np.eye(6, dtype=np.float32)[[i % 4 for i in range(60)]]
    )
    texts = [f"{word} {i}" for i, word in enumerate(["cost", "pain", "hair", "sport"] * 15)]
    config = ClassifierConfig(c=3, ngram_min_df=1, vector_weight=1.5)
    ours = IntentClassifier(config).fit(texts, vectors, intents)
    grams = ours._ngrams.transform([text.lower() for text in texts])
    features = sparse.hstack([sparse.csr_matrix(vectors * 1.5), grams], format="csr")
    theirs = LogisticRegression(C=3, max_iter=5000, tol=1e-8).fit(features, intents)
    assert ours.intents == tuple(theirs.classes_)
    assert np.allclose(ours.probabilities(texts, vectors), theirs.predict_proba(features), atol=2e-3)


@pytest.mark.parametrize(
    "text",
    [
        "How much does it COST",
        "cost cost cost, the cost?",  # repeated n-grams: 1 + log(count)
        "  is\tit \n painful  ",  # any whitespace between words
        "¿Cuánto cuesta? ñ é 🙂",
        "zzzz qqqq",  # no known n-gram at all
        "",
        "a",
    ],
)
def test_a_messages_ngram_weights_are_the_vectorizers_own(
    text: str, trained: IntentClassifier, tmp_path: Path
) -> None:
    """``probabilities`` weighs a message's n-grams itself; scikit-learn's ``transform``
    must give the same weights, for a fitted classifier and for one read back."""
    trained.save(tmp_path)
    for classifier in (trained, IntentClassifier.load(tmp_path)):
        expected = classifier._ngrams.transform([text.lower()]).toarray()[0]
        columns, weights = classifier._gram_weights(text)
        found = np.zeros_like(expected)
        found[columns] = weights
        assert np.allclose(found, expected, atol=1e-6)
    assert (np.count_nonzero(expected) > 0) == (text not in ("zzzz qqqq", ""))


def test_a_saved_classifier_reads_back_the_same(trained: IntentClassifier, tmp_path: Path) -> None:
    trained.save(tmp_path)
    assert json.loads((tmp_path / META_FILE).read_text())["format"] == 2
    np.load(tmp_path / WEIGHTS_FILE, allow_pickle=False)  # plain arrays, no pickle
    loaded = IntentClassifier.load(tmp_path)
    assert loaded.intents == trained.intents
    new = ["is it costly", "ouch?", "who won the match"]
    assert np.allclose(
        loaded.probabilities(new, _vectors(new)), trained.probabilities(new, _vectors(new)), atol=1e-5
    )


def test_a_missing_or_broken_classifier_is_refused(trained: IntentClassifier, tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="cannot read"):
        IntentClassifier.load(tmp_path / "nowhere")
    trained.save(tmp_path)
    meta = json.loads((tmp_path / META_FILE).read_text())
    (tmp_path / META_FILE).write_text(json.dumps({**meta, "format": 0}))
    with pytest.raises(ClassifierError, match="retrain"):
        IntentClassifier.load(tmp_path)
    (tmp_path / META_FILE).write_text(json.dumps({**meta, "ngrams": meta["ngrams"][:-1]}))
    with pytest.raises(ClassifierError, match="do not fit together"):
        IntentClassifier.load(tmp_path)


def test_training_needs_a_vector_and_an_intent_per_text() -> None:
    with pytest.raises(ClassifierError):
        IntentClassifier().fit(TEXTS, _vectors(TEXTS)[:3], INTENTS)
    with pytest.raises(ClassifierError):
        IntentClassifier().fit([], np.zeros((0, 8)), [])


def test_its_lbfgs_finds_a_known_minimum() -> None:
    """A convex quadratic with a known minimiser, badly scaled: the minimiser, to the tolerance."""
    scales = np.array([1.0, 10.0, 100.0, 0.5, 3.0])
    target = np.array([1.0, -2.0, 0.5, 4.0, 0.0])

    def loss_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        difference = x - target
        return 0.5 * float(scales @ difference**2), scales * difference

    found = _lbfgs(loss_and_gradient, np.zeros(5), 500, 1e-8)
    assert np.allclose(found, target, atol=1e-6)


def test_classifiers_fitted_together_have_the_weights_of_each_fitted_alone() -> None:
    rng = np.random.default_rng(7)
    texts = [f"{text} {word}" for text in TEXTS for word in ("please", "today", "now", "again")]
    intents = [intent for intent in INTENTS for _ in range(4)]
    vectors = rng.normal(size=(len(texts), 16)).astype(np.float32)
    configs = [
        ClassifierConfig(c=30, vector_weight=2),
        ClassifierConfig(c=60, vector_weight=1, ngram_min_df=1),
    ]
    jobs = [(configs[0], texts, vectors, intents), (configs[1], texts, vectors[:, :8], intents)]
    together = fit_together(jobs)
    alone = [IntentClassifier(config).fit(t, v, i) for config, t, v, i in jobs]
    for fitted, single, (_, t, v, _) in zip(together, alone, jobs, strict=True):
        assert fitted.config == single.config and fitted.intents == single.intents
        assert np.array_equal(fitted._coef, single._coef)
        assert np.array_equal(fitted._intercept, single._intercept)
        assert np.array_equal(fitted.probabilities(t, v), single.probabilities(t, v))
