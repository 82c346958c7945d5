"""The ONNX exports of the embedding model: float (sentence-transformers' vectors) and 8-bit, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bot.embedding as embedding
from bot.retrieval import SentenceEncoder, resolve_model_path
from bot.settings import PROJECT_DIR

MODEL = "all-MiniLM-L6-v2"
TEXTS = [
    "how much does mesotherapy cost?",
    "meso pls",
    "does it hurt?",
    "my lips are swelling up and I can't breathe",
    "can I wash my hair after the treatment, or should I wait a day or two before using shampoo again?",
    "¿cuánto cuesta? 💉",
    "",
]


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.from_setting(MODEL)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """sentence-transformers' own vectors for TEXTS (torch, the model's reference runtime)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model_path(MODEL)), device="cpu", local_files_only=True)
    vectors: np.ndarray = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    return vectors


def test_the_float_export_gives_sentence_transformers_own_vectors(reference: np.ndarray) -> None:
    encoder = SentenceEncoder(resolve_model_path(MODEL), MODEL, quantized=False)
    batch = encoder.encode(TEXTS)  # padded to the longest text
    one_by_one = np.concatenate([encoder.encode([text]) for text in TEXTS])
    assert batch.shape == one_by_one.shape == (len(TEXTS), 384) and batch.dtype == np.float32
    assert np.abs(batch - reference).max() < 1e-5
    assert np.abs(one_by_one - reference).max() < 1e-5


def test_the_8_bit_export_is_close_and_ranks_alike(encoder: SentenceEncoder, reference: np.ndarray) -> None:
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.min() >= 0.97, cosines
    assert np.abs(vectors - reference).max() > 1e-4  # really the 8-bit network, not the float one
    ours, theirs = vectors @ vectors.T, reference @ reference.T
    np.fill_diagonal(ours, -1)
    np.fill_diagonal(theirs, -1)
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).all()  # the same nearest other text


def test_a_process_that_embeds_never_imports_torch(encoder: SentenceEncoder) -> None:
    code = (
        "import sys; from bot.retrieval import SentenceEncoder; "
        f"SentenceEncoder.from_setting({MODEL!r}).encode(['does it hurt?']); "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(  # noqa: S603 (fixed command)
        [sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False"


def _fake_model(directory: Path, pooling: dict[str, bool]) -> Path:
    (directory / "1_Pooling").mkdir(parents=True)
    (directory / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    modules = [
        {"type": "sentence_transformers.models.Pooling"},
        {"type": "sentence_transformers.models.Normalize"},
    ]
    (directory / "modules.json").write_text(json.dumps(modules))
    (directory / "model.safetensors").write_bytes(b"weights v1")
    return directory


def test_the_export_is_made_once_and_again_when_the_model_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _fake_model(tmp_path / "model", {"pooling_mode_mean_tokens": True})
    exports: list[Path] = []
    quantized: list[Path] = []

    def fake_export(model_dir: Path, target: Path) -> None:
        exports.append(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"onnx")

    def fake_quantize(source: Path, target: Path) -> None:
        assert source.read_bytes() == b"onnx"
        quantized.append(target)
        target.write_bytes(b"int8 onnx")

    monkeypatch.setattr(embedding, "EXPORT_DIR", tmp_path / "exports")
    monkeypatch.setattr(embedding, "export_onnx", fake_export)
    monkeypatch.setattr(embedding, "quantize", fake_quantize)
    small = embedding.ensure_export(model, str(model))
    float_file = embedding.ensure_export(model, str(model), quantized=False)
    assert small != float_file and small.read_bytes() == b"int8 onnx"
    assert embedding.ensure_export(model, str(model)) == small
    assert (len(exports), len(quantized)) == (1, 1)
    (model / "model.safetensors").write_bytes(b"weights v2")  # same size, other bytes
    embedding.ensure_export(model, str(model))
    assert (len(exports), len(quantized)) == (2, 2)
    float_file.with_suffix(".json").write_text("not json")
    embedding.ensure_export(model, str(model))
    assert (len(exports), len(quantized)) == (3, 3)
    small.with_suffix(".json").unlink()  # only the 8-bit file is made again
    embedding.ensure_export(model, str(model))
    assert (len(exports), len(quantized)) == (3, 4)


def test_a_model_without_mean_pooling_is_refused(tmp_path: Path) -> None:
    model = _fake_model(
        tmp_path / "model", {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}
    )
    with pytest.raises(embedding.EmbeddingError, match="only mean pooling"):
        embedding.export_onnx(model, tmp_path / "out.onnx")


def test_exports_of_two_directories_with_the_same_name_do_not_collide(tmp_path: Path) -> None:
    one, two = tmp_path / "a" / "model", tmp_path / "b" / "model"
    assert embedding.export_path(str(one)) != embedding.export_path(str(two))
    assert embedding.export_path(MODEL).name == f"{MODEL}.onnx"
