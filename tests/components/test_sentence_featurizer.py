"""The dense sentence-embedding featurizer adds features DIET can use, for every token."""

from __future__ import annotations

import numpy as np
import pytest
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

import bot.embedding as embedding
from components.sentence_featurizer import SentenceEmbeddingFeaturizer


def _tokenized(*texts: str) -> list[Message]:
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    messages = [Message(data={TEXT: text}) for text in texts]
    tokenizer.process(messages)
    return messages


def test_sequence_and_sentence_features_match_the_tokens() -> None:
    featurizer = SentenceEmbeddingFeaturizer(SentenceEmbeddingFeaturizer.get_default_config(), "dense")
    [message] = featurizer.process(_tokenized("can I wash my hair tonight"))
    sequence, sentence = message.get_dense_features(TEXT)
    assert sequence is not None and sentence is not None
    assert sequence.features.shape == (6, 384) and sentence.features.shape == (1, 384)
    assert np.isclose(np.linalg.norm(sentence.features), 1.0, atol=1e-5)


def test_paraphrases_get_closer_features_than_unrelated_questions() -> None:
    featurizer = SentenceEmbeddingFeaturizer(SentenceEmbeddingFeaturizer.get_default_config(), "dense")
    data = TrainingData(
        training_examples=_tokenized("how much does it cost", "what is the price", "can I go running after")
    )
    featurizer.process_training_data(data)
    cost, price, running = (m.get_dense_features(TEXT)[1].features[0] for m in data.training_examples)
    assert float(cost @ price) > float(cost @ running)


def test_the_training_cache_key_changes_with_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    config = SentenceEmbeddingFeaturizer.get_default_config()
    key = SentenceEmbeddingFeaturizer.fingerprint_addon(config)
    assert key == SentenceEmbeddingFeaturizer.fingerprint_addon(dict(config))
    assert key != SentenceEmbeddingFeaturizer.fingerprint_addon({**config, "quantized": False})
    monkeypatch.setattr(embedding, "QUANTIZATION", "another quantization")
    assert key != SentenceEmbeddingFeaturizer.fingerprint_addon(config)
