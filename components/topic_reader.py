"""The intent classifier of the NLU pipeline: ``bot/reading.py``'s reader inside Rasa.

Trained in seconds: every training example is embedded once (the 8-bit networks of
``bot/embedding.py``) and a logistic regression is fitted on the vectors and character
n-grams (``bot/classifier.py``); a language named in ``language_classifiers`` gets a second
one, fitted on one network's part of the same vectors, which reads that language's messages.
The same vectors, with each topic's canonical question, form the index of nearest questions
(``bot/retrieval.py``) that is saved in the model, so the Rasa server finds the fallback's
candidates from the vector it already computed (for a message it could not place, or read as
out of scope) and the action server never embeds anything.

For each message it sets Rasa's ``intent`` and ``intent_ranking``, and ``reading``: the
topics to answer (several for a message that asks several questions), the nearest
topics for the fallback, and whether the message was read as a follow-up. The previous
topic of the conversation arrives in the message's metadata (``rasa_server/patches.py``
puts it there from the conversation's ``last_topic`` slot).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.utils.io import read_yaml_file

import bot.classifier as classifier_module
from bot.classifier import ClassifierConfig, IntentClassifier
from bot.conversation import CONVERSATION_LANGUAGE_KEY, PREVIOUS_TOPIC_KEY, language_hint
from bot.embedding import model_names, resolve_model_path, setting_identity, shared_encoder
from bot.knowledge import KnowledgeBase, default_knowledge_base
from bot.reading import LanguageClassifier, Reader, Reading, ReadingThresholds, train_reader
from bot.retrieval import Encoder, data_hash, load_index, save_index
from bot.settings import PROJECT_DIR
from bot.treatment_time import warm_up

logger = logging.getLogger(__name__)

# The parse data's key for what the reader found besides the intent (read by the actions).
READING_KEY = "reading"
CLASSIFIER_DIR = "classifier"
INDEX_DIR = "index"
FIRST_LOOK_DIR = f"{CLASSIFIER_DIR}_first_look"


def reading_data(reading: Reading) -> dict[str, Any]:
    """What the actions read from the parse data: plain JSON."""
    return {
        "topics": list(reading.topics),
        "candidates": [
            {"topic": c.topic, "score": round(c.score, 4), "question": c.question} for c in reading.candidates
        ],
        "in_context": reading.in_context,
        "parts": reading.parts,
        "choice": reading.choice,
    }


def reading_thresholds(config: dict[str, Any]) -> ReadingThresholds:
    """The reader's thresholds in a component configuration (defaults filled in)."""
    return ReadingThresholds(
        answer=float(config["answer_threshold"]),
        part=float(config["part_threshold"]),
        context_weight=float(config["context_weight"]),
        own_reading_by_language=_by_language(config, "clear_reading"),
        doubtful=float(config["doubtful_threshold"]),
        doubtful_by_language=_by_language(config, "doubtful_reading"),
        first_look_sure=float(config["first_look"].get("sure_reading", ReadingThresholds().first_look_sure)),
    )


def _is_number(value: object) -> TypeGuard[float]:
    """An int or a float from the configuration (YAML's true and false are not numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _by_language(config: dict[str, Any], key: str) -> tuple[tuple[str, float], ...]:
    """(language, threshold) for each language classifier that sets ``key``."""
    return tuple(
        (language, float(settings[key]))
        for language, settings in config["language_classifiers"].items()
        if key in settings
    )


def classifier_config(config: dict[str, Any]) -> ClassifierConfig:
    """The classifier's settings in a component configuration (defaults filled in)."""
    return ClassifierConfig(c=float(config["c"]), vector_weight=float(config["vector_weight"]))


def _own_config(config: dict[str, Any], settings: dict[str, Any]) -> tuple[str, ClassifierConfig]:
    """The model a classifier of its own reads, and its settings (what they leave out, the
    reader's; ``max_iter``, the fit's steps, the classifier's default)."""
    defaults = ClassifierConfig()
    return (
        str(settings["model"]),
        ClassifierConfig(
            c=float(settings.get("c", config["c"])),
            vector_weight=float(settings.get("vector_weight", config["vector_weight"])),
            max_iter=int(settings.get("max_iter", defaults.max_iter)),
        ),
    )


def language_configs(config: dict[str, Any]) -> dict[str, tuple[str, ClassifierConfig]]:
    """Each language read by a classifier of its own: the model it reads, its settings."""
    return {
        language: _own_config(config, settings)
        for language, settings in config["language_classifiers"].items()
    }


def first_look_config(config: dict[str, Any]) -> tuple[str, ClassifierConfig] | None:
    """The first look's model and settings, or None when the configuration has none."""
    return _own_config(config, config["first_look"]) if config["first_look"] else None


def configured_reader(
    knowledge: KnowledgeBase, encoder: Encoder, examples: Sequence[tuple[str, str]], config: dict[str, Any]
) -> Reader:
    """A reader trained on ``examples`` as a topic reader's configuration (defaults filled
    in) says: its classifier, each language's, the first look and the thresholds."""
    return train_reader(
        knowledge,
        encoder,
        examples,
        classifier_config(config),
        reading_thresholds(config),
        language_configs(config),
        first_look_config(config),
    )


def project_config(path: Path = PROJECT_DIR / "config.yml") -> dict[str, Any]:
    """The topic reader's configuration in the project's ``config.yml``, defaults filled in
    (for the tooling and tests that train a reader as ``make train`` does)."""
    pipeline = read_yaml_file(path).get("pipeline") or []
    [entry] = [c for c in pipeline if str(c.get("name", "")).endswith(TopicReader.__name__)]
    return {**TopicReader.get_default_config(), **{k: v for k, v in entry.items() if k != "name"}}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TopicReader(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        defaults = ClassifierConfig()
        thresholds = ReadingThresholds()
        return {
            "model": "all-MiniLM-L6-v2+multilingual-e5-small",
            "c": defaults.c,
            "vector_weight": defaults.vector_weight,
            "answer_threshold": thresholds.answer,
            "part_threshold": thresholds.part,
            "context_weight": thresholds.context_weight,
            # Below this a reading whose topic the nearest questions do not confirm is offered
            # as a choice ("did you mean"), not answered; 0: never.
            "doubtful_threshold": thresholds.doubtful,
            # A language read by a classifier of its own: {language: {model: one of the
            # embedding's models, and optionally its own c, vector_weight, clear_reading
            # (the probability at which its reading counts as clear) and doubtful_reading
            # (its doubtful_threshold)}}; config.yml names Spanish's.
            "language_classifiers": {},
            # A classifier on one of the models alone that reads the other messages first
            # (bot/reading.py): {model, and optionally c, vector_weight, max_iter (its fit's
            # steps) and sure_reading (the probability from which its reading is taken)};
            # empty: none.
            "first_look": {},
        }

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        merged = {**cls.get_default_config(), **config}
        names = model_names(merged["model"])
        for name in names:
            resolve_model_path(name)
        own = merged["language_classifiers"]
        if not isinstance(own, dict):
            raise InvalidConfigException(
                f"{cls.__name__}: language_classifiers must map languages, not {own!r}"
            )
        for language, settings in own.items():
            cls._check_own(f"the classifier for {language!r}", settings, merged, names, "clear_reading")
            if "doubtful_reading" in settings:
                cls._check_probability(f"doubtful_reading of {language!r}", settings["doubtful_reading"])
        first_look = merged["first_look"]
        if first_look:
            cls._check_own("the first look", first_look, merged, names)
            sure = first_look.get("sure_reading", ReadingThresholds().first_look_sure)
            cls._check_probability("the first look's sure_reading", sure)
        cls._check_probability("doubtful_threshold", merged["doubtful_threshold"])

    @classmethod
    def _check_own(
        cls, what: str, settings: object, merged: dict[str, Any], names: list[str], *extra: str
    ) -> None:
        """A classifier of its own names one of the embedding's models and positive numbers."""
        if not isinstance(settings, dict) or settings.get("model") not in names:
            raise InvalidConfigException(
                f"{cls.__name__}: {what} must name one of the embedding's models "
                f"({', '.join(names)}) as its model, not {settings!r}"
            )
        for key in ("c", "vector_weight", "max_iter", *extra):
            value = settings.get(key, merged.get(key, ReadingThresholds().own_reading))
            if not _is_number(value) or value <= 0:
                raise InvalidConfigException(
                    f"{cls.__name__}: {what} needs a number {key} > 0, not {value!r}"
                )

    @classmethod
    def _check_probability(cls, key: str, value: object) -> None:
        if not _is_number(value) or not 0 <= value <= 1:
            raise InvalidConfigException(
                f"{cls.__name__}: {key} must be a probability (0 to 1), not {value!r}"
            )

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str:
        """The network's identity, the knowledge base's questions and the classifier's code: a
        trained reader is reused from Rasa's cache only when all are unchanged."""
        model = {**cls.get_default_config(), **config}["model"]
        network = setting_identity(model, quantized=True)
        code = hashlib.sha256(Path(classifier_module.__file__).read_bytes()).hexdigest()[:16]
        return f"{network}; questions {data_hash(default_knowledge_base())}; classifier {code}"

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TopicReader:
        return cls(config, model_storage, resource)

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        reader: Reader | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.encoder = reader.encoder if reader else shared_encoder(self.config["model"])
        self.reader = reader

    def _thresholds(self) -> ReadingThresholds:
        return reading_thresholds(self.config)

    def _language_configs(self) -> dict[str, tuple[str, ClassifierConfig]]:
        return language_configs(self.config)

    def train(self, training_data: TrainingData) -> Resource:
        knowledge = default_knowledge_base()
        examples = [
            (m.get(TEXT), m.get(INTENT))
            for m in training_data.intent_examples
            if m.get(TEXT) and m.get(INTENT)
        ]
        self.reader = configured_reader(knowledge, self.encoder, examples, self.config)
        with self._model_storage.write_to(self._resource) as directory:
            self.reader.classifier.save(directory / CLASSIFIER_DIR)
            for language, own in self.reader.by_language.items():
                own.classifier.save(directory / f"{CLASSIFIER_DIR}_{language}")
            if self.reader.first_look is not None:
                self.reader.first_look.classifier.save(directory / FIRST_LOOK_DIR)
            save_index(self.reader.index, directory / INDEX_DIR)
        logger.info(
            "Trained the topic reader on %d examples; %d questions in its index.",
            len(examples),
            len(self.reader.index.questions),
        )
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> TopicReader:
        component = cls(config, model_storage, resource)
        knowledge = default_knowledge_base()
        with model_storage.read_from(resource) as directory:
            classifier = IntentClassifier.load(directory / CLASSIFIER_DIR)
            by_language = {
                language: LanguageClassifier(
                    model, IntentClassifier.load(directory / f"{CLASSIFIER_DIR}_{language}")
                )
                for language, (model, _) in component._language_configs().items()
            }
            first = first_look_config(component.config)
            first_look = (
                LanguageClassifier(first[0], IntentClassifier.load(directory / FIRST_LOOK_DIR))
                if first
                else None
            )
            index = load_index(directory / INDEX_DIR, knowledge, component.config["model"])
        component.reader = Reader(
            component.encoder,
            classifier,
            index,
            knowledge,
            component._thresholds(),
            by_language=by_language,
            first_look=first_look,
        )
        warm_up()  # a time said after an aftercare answer is read with the date parser
        return component

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        if self.reader is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            metadata = message.get("metadata") or {}
            previous = metadata.get(PREVIOUS_TOPIC_KEY) if isinstance(metadata, dict) else None
            language = metadata.get(CONVERSATION_LANGUAGE_KEY) if isinstance(metadata, dict) else None
            reading = self.reader.read(
                text,
                previous if isinstance(previous, str) else None,
                language if isinstance(language, str) else None,
                language_hint(metadata),
            )
            intent = {INTENT_NAME_KEY: reading.intent, PREDICTED_CONFIDENCE_KEY: reading.confidence}
            ranking = [
                {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: conf} for name, conf in reading.ranking
            ]
            if reading.intent not in {name for name, _ in reading.ranking}:
                ranking = [intent, *ranking]
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            message.set(READING_KEY, reading_data(reading), add_to_output=True)
        return messages
