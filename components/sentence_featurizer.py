"""Dense sentence-embedding features for DIET from the packaged sentence-transformers model.

The sparse word and character n-gram features know only the words of the training data;
the sentence embedding lets the intent classifier recognise a paraphrase that uses other
words. The model is the retrieval model (``bot.retrieval``), loaded from its local path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.embedding import network_identity
from bot.retrieval import SentenceEncoder, resolve_model_path


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # quantized: the 8-bit export (bot.embedding), as the servers' retrieval uses.
        return {**DenseFeaturizer.get_default_config(), "model": "all-MiniLM-L6-v2", "quantized": True}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        resolve_model_path(config["model"])

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str:
        """The network's identity, so Rasa's training cache never restores features (and the
        classifier trained on them) that another network or quantization computed."""
        return network_identity(resolve_model_path(config["model"]), bool(config["quantized"]))

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        return cls(config, execution_context.node_name)

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self.encoder = SentenceEncoder.from_setting(config["model"], quantized=bool(config["quantized"]))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurize(messages)
        return messages

    def _featurize(self, messages: list[Message]) -> None:
        with_text = [m for m in messages if m.get(TEXT) and m.get(TOKENS_NAMES[TEXT])]
        if not with_text:
            return
        vectors = self.encoder.encode([m.get(TEXT) for m in with_text])
        for message, vector in zip(with_text, vectors, strict=True):
            tokens = message.get(TOKENS_NAMES[TEXT])
            # One row per token (DIET aligns sequence features with tokens), the same
            # sentence vector on each; the sentence feature is the vector itself.
            sequence = np.tile(vector, (len(tokens), 1))
            self.add_features_to_message(sequence, vector.reshape(1, -1), TEXT, message)
