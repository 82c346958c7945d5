"""The topic reader inside Rasa (components/topic_reader.py): trained and saved in a Rasa
model storage, loaded back, and run on messages as the Rasa server runs it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

from bot.conversation import PREVIOUS_TOPIC_KEY
from bot.embedding import CombinedEncoder
from bot.settings import PROJECT_DIR
from components.topic_reader import READING_KEY, TopicReader, reading_thresholds

CONFIG = {
    "c": 10,
    "vector_weight": 2,
    "answer_threshold": 0.5,
    "part_threshold": 0.4,
    "context_weight": 4,
    "language_classifiers": {"es": {"model": "multilingual-e5-small", "c": 60, "vector_weight": 1}},
    "first_look": {"model": "all-MiniLM-L6-v2", "sure_reading": 0.8, "max_iter": 100},
}


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalModelStorage, Resource]]:
    storage = LocalModelStorage(tmp_path_factory.mktemp("model"))
    resource = Resource("topic_reader")
    context = ExecutionContext(GraphSchema({}), "topic_reader")
    trainer = TopicReader.create({**TopicReader.get_default_config(), **CONFIG}, storage, resource, context)
    trainer.train(load_data(str(PROJECT_DIR / "data" / "nlu")))
    yield storage, resource


@pytest.fixture(scope="module")
def loaded(storage: tuple[LocalModelStorage, Resource]) -> TopicReader:
    model_storage, resource = storage
    context = ExecutionContext(GraphSchema({}), "topic_reader")
    return TopicReader.load({**TopicReader.get_default_config(), **CONFIG}, model_storage, resource, context)


def _parsed(reader: TopicReader, text: str, **metadata: Any) -> Message:
    message = Message(data={TEXT: text, "metadata": metadata or None})
    [parsed] = reader.process([message])
    return parsed


def test_the_loaded_reader_sets_intent_ranking_and_reading(loaded: TopicReader) -> None:
    message = _parsed(loaded, "how much does mesotherapy cost?")
    assert message.get(INTENT)["name"] == "faq_cost" and message.get(INTENT)["confidence"] >= 0.5
    assert message.get(INTENT_RANKING_KEY)[0]["name"] == "faq_cost"
    reading = message.get(READING_KEY)
    assert reading["topics"] == ["cost"] and reading["in_context"] is False and reading["candidates"] == []
    unsure = _parsed(loaded, "and then what").get(READING_KEY)
    assert len(unsure["candidates"]) == 3 and isinstance(unsure["candidates"][0]["score"], float)
    assert set(message.as_dict(only_output_properties=True)) >= {INTENT, INTENT_RANKING_KEY, READING_KEY}


def test_each_network_runs_at_most_once_per_message(
    loaded: TopicReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[tuple[str, list[str]]] = []
    assert isinstance(loaded.encoder, CombinedEncoder)  # config.yml's pair
    for part in loaded.encoder.parts:
        encode = part.encode

        def counting(texts: Sequence[str], name: str = part.name, encode: Any = encode) -> np.ndarray:
            runs.append((name, list(texts)))
            return np.asarray(encode(texts))

        monkeypatch.setattr(part, "encode", counting)
    _parsed(loaded, "when can I wash my hair after the treatment?")
    # A clear question: the first look's network alone.
    assert runs == [("all-MiniLM-L6-v2", ["when can I wash my hair after the treatment?"])]
    runs.clear()
    _parsed(loaded, "and then what")  # unsure: the whole vector, for the nearest questions too
    assert sorted(runs) == [
        ("all-MiniLM-L6-v2", ["and then what"]),
        ("multilingual-e5-small", ["and then what"]),
    ]


def test_the_previous_topic_from_the_metadata_reads_a_follow_up(loaded: TopicReader) -> None:
    reading = _parsed(loaded, "what about after?", **{PREVIOUS_TOPIC_KEY: "coffee_alcohol"}).get(READING_KEY)
    assert reading["topics"] == ["coffee_alcohol"] and reading["in_context"] is True
    ignored = _parsed(loaded, "what about after?", **{PREVIOUS_TOPIC_KEY: 42}).get(READING_KEY)
    assert ignored["in_context"] is False  # only a topic id is read


def test_several_questions_are_all_in_the_reading(loaded: TopicReader) -> None:
    message = _parsed(loaded, "does it hurt and how much does it cost?")
    assert message.get(INTENT)["name"] == "faq_pain"
    assert message.get(READING_KEY)["topics"] == ["pain", "cost"]


def test_a_message_without_text_is_left_alone(loaded: TopicReader) -> None:
    message = Message(data={TEXT: ""})
    loaded.process([message])
    assert message.get(INTENT) is None


def test_the_cache_key_follows_the_network_and_the_questions(monkeypatch: pytest.MonkeyPatch) -> None:
    import components.topic_reader as module

    config = TopicReader.get_default_config()
    key = TopicReader.fingerprint_addon(config)
    monkeypatch.setattr(module, "data_hash", lambda knowledge: "other questions")
    assert TopicReader.fingerprint_addon(config) != key


def test_a_model_saved_as_files_has_no_pickle(
    storage: tuple[LocalModelStorage, Resource], tmp_path: Path
) -> None:
    model_storage, resource = storage
    with model_storage.read_from(resource) as directory:
        files = sorted(p.name for p in Path(directory).rglob("*") if p.is_file())
    assert files == sorted(["classifier.json", "classifier.npz"] * 3 + ["index.json", "vectors.npy"])


def _saved(storage: tuple[LocalModelStorage, Resource], classifier: str) -> bool:
    """Whether the trained model holds the weights of the classifier saved as ``classifier``."""
    model_storage, resource = storage
    with model_storage.read_from(resource) as directory:
        return (Path(directory) / classifier / "classifier.npz").is_file()


def test_spanish_is_read_by_its_own_classifier_saved_and_loaded(
    storage: tuple[LocalModelStorage, Resource], loaded: TopicReader
) -> None:
    assert _saved(storage, "classifier_es")
    assert loaded.reader is not None
    spanish = loaded.reader.by_language["es"]
    assert spanish.model == "multilingual-e5-small" and spanish.classifier.config.c == 60
    assert _parsed(loaded, "¿cuánto cuesta una sesión?").get(READING_KEY)["topics"] == ["cost"]


def test_the_first_look_is_saved_and_loaded(
    storage: tuple[LocalModelStorage, Resource], loaded: TopicReader
) -> None:
    assert _saved(storage, "classifier_first_look")
    assert loaded.reader is not None and loaded.reader.first_look is not None
    assert loaded.reader.first_look.model == "all-MiniLM-L6-v2"
    first = loaded.reader.first_look.classifier.config
    assert first.c == CONFIG["c"] and first.max_iter == 100  # the reader's C, unless its own
    assert loaded.reader.thresholds.first_look_sure == 0.8


@pytest.mark.parametrize(
    "first_look",
    [
        {"model": "all-MiniLM-L12-v2"},  # not one of the embedding's models
        {"c": 10},
        {"model": "all-MiniLM-L6-v2", "c": 0},
        {"model": "all-MiniLM-L6-v2", "max_iter": 0},
        {"model": "all-MiniLM-L6-v2", "sure_reading": 1.5},
        {"model": "all-MiniLM-L6-v2", "sure_reading": "sure"},
        ["all-MiniLM-L6-v2"],
    ],
)
def test_the_first_look_must_name_one_of_the_embeddings_models(first_look: object) -> None:
    with pytest.raises(InvalidConfigException):
        TopicReader.validate_config({**CONFIG, "first_look": first_look})
    TopicReader.validate_config({**CONFIG, "first_look": {}})  # none


@pytest.mark.parametrize(
    "classifiers",
    [
        {"es": {"model": "all-MiniLM-L12-v2", "c": 100}},  # not one of the embedding's models
        {"es": {"c": 100}},
        {"es": {"model": "multilingual-e5-small", "c": 0}},
        {"es": {"model": "multilingual-e5-small", "c": "a lot"}},
        {"es": {"model": "multilingual-e5-small", "vector_weight": -1}},
        {"es": {"model": "multilingual-e5-small", "clear_reading": "high"}},
        ["es"],
    ],
)
def test_a_language_classifier_must_name_one_of_the_embeddings_models(classifiers: object) -> None:
    with pytest.raises(InvalidConfigException):
        TopicReader.validate_config({**CONFIG, "language_classifiers": classifiers})
    TopicReader.validate_config(CONFIG)


def test_a_language_classifiers_clear_reading_threshold_reaches_the_reader() -> None:
    classifiers = {"es": {"model": "multilingual-e5-small", "clear_reading": 0.7}}
    thresholds = reading_thresholds({**TopicReader.get_default_config(), "language_classifiers": classifiers})
    assert thresholds.own_reading_by_language == (("es", 0.7),) and thresholds.own_reading == 0.8
    assert reading_thresholds(TopicReader.get_default_config()).own_reading_by_language == ()


def test_the_doubtful_thresholds_reach_the_reader_and_must_be_probabilities() -> None:
    classifiers = {"es": {"model": "multilingual-e5-small", "doubtful_reading": 0.5}}
    config = {
        **TopicReader.get_default_config(),
        "doubtful_threshold": 0.65,
        "language_classifiers": classifiers,
    }
    thresholds = reading_thresholds(config)
    assert thresholds.doubtful == 0.65 and thresholds.doubtful_by_language == (("es", 0.5),)
    TopicReader.validate_config({**CONFIG, "doubtful_threshold": 0})  # 0: never doubt
    for bad in (1.5, -0.1, "high", True):
        with pytest.raises(InvalidConfigException):
            TopicReader.validate_config({**CONFIG, "doubtful_threshold": bad})
    with pytest.raises(InvalidConfigException):
        bad_language = {"es": {"model": "multilingual-e5-small", "doubtful_reading": 2}}
        TopicReader.validate_config({**CONFIG, "language_classifiers": bad_language})
