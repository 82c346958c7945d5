"""The ONNX exports of the embedding model: float (sentence-transformers' vectors) and 8-bit, no torch.

The 8-bit network must give the same vectors on every x86-64 CPU: the tests run it here and
on CPUs emulated by QEMU's user mode (AVX2 without AVX-512, and SSE without AVX), which
executes the same onnxruntime build with the kernels it picks for the emulated CPU.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import bot.embedding as embedding
from bot.embedding import (
    CombinedEncoder,
    EmbeddingError,
    LazyVectors,
    SentenceEncoder,
    model_vectors,
    resolve_model_path,
)
from bot.settings import PROJECT_DIR

MODEL = "all-MiniLM-L6-v2"
# The texts each process checks the 8-bit network on, and some patients' wordings.
TEXTS = [
    *embedding.PROBE_TEXTS,
    "what could go wrong, worst case",
    "is it gonna wreck my bank account",
    "I had it yesterday, can I go running today?",
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
    assert encoder.precision == "int8"
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


def test_an_8_bit_vector_does_not_depend_on_the_other_texts_of_a_call(encoder: SentenceEncoder) -> None:
    together = encoder.encode(TEXTS)
    alone = np.concatenate([encoder.encode([text]) for text in TEXTS])
    reversed_order = encoder.encode(TEXTS[::-1])[::-1]
    assert np.array_equal(together, alone) and np.array_equal(together, reversed_order)


def test_a_training_sized_call_is_remembered_for_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    run: list[str] = []
    network_encode = embedding._NetworkRunner._encode

    def counting(runner: object, texts: list[str]) -> np.ndarray:
        run.extend(text for text in texts if text.startswith("question"))  # not the encoder's probes
        return network_encode(runner, texts)  # type: ignore[arg-type]

    monkeypatch.setattr(embedding._NetworkRunner, "_encode", counting)
    monkeypatch.setattr(embedding, "_REMEMBERED", {})
    texts = [f"question number {n} about mesotherapy" for n in range(embedding.PARALLEL_FROM)]
    new = "question about something new"
    first = SentenceEncoder.from_setting("all-MiniLM-L6-v2").encode(texts)
    assert run == texts  # each text once
    again = SentenceEncoder.from_setting("all-MiniLM-L6-v2").encode([*texts[::-1], new, *texts])
    assert run == [*texts, new]  # another encoder of the same network: only the new text
    assert np.array_equal(again[: len(texts)], first[::-1]) and np.array_equal(again[-len(texts) :], first)
    SentenceEncoder.from_setting("all-MiniLM-L6-v2").encode(texts[:2])
    assert run[-2:] == texts[:2]  # a message-sized call always runs the network


EMULATED_CPUS = {
    # QEMU CPU model: what the kernels see. Haswell: AVX2, no AVX-512, no VNNI (the CPUs
    # where full-range 8-bit weights saturated); Nehalem: SSE4.2, no AVX at all.
    "Haswell": "AVX2",
    "Nehalem": "SSE (no AVX2)",
}


@pytest.mark.skipif(platform.machine() != "x86_64", reason="emulates x86-64 CPUs")
@pytest.mark.parametrize("cpu", sorted(EMULATED_CPUS))
def test_the_8_bit_network_gives_the_same_vectors_on_an_emulated_cpu(
    cpu: str, encoder: SentenceEncoder, reference: np.ndarray, tmp_path: Path
) -> None:
    qemu = shutil.which("qemu-x86_64")
    assert qemu, "qemu-x86_64 is missing: scripts/system-packages installs qemu-user"
    embedding.ensure_export(resolve_model_path(MODEL), MODEL)  # made here, natively: only run there
    out = tmp_path / "vectors.npy"
    code = (
        "import json, sys, numpy as np; from bot.embedding import instruction_set; "
        "from bot.embedding import SentenceEncoder; "
        f"encoder = SentenceEncoder.from_setting({MODEL!r}); "
        f"np.save({str(out)!r}, encoder.encode(json.loads(sys.argv[1]))); "
        "print(instruction_set(), encoder.precision, sep='|')"
    )
    result = subprocess.run(  # noqa: S603 (fixed command)
        [qemu, "-cpu", cpu, sys.executable, "-c", code, json.dumps(TEXTS)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == f"{EMULATED_CPUS[cpu]}|int8"
    emulated = np.load(out, allow_pickle=False)
    assert np.abs(emulated - encoder.encode(TEXTS)).max() < 1e-5  # the same vectors as here
    assert ((emulated * reference).sum(axis=1)).min() >= 0.97


def test_an_8_bit_network_that_drifts_on_this_cpu_gives_way_to_the_float_one(
    encoder: SentenceEncoder,
    reference: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    small = embedding.ensure_export(resolve_model_path(MODEL), MODEL)
    reference_of_probes = np.load(embedding.probe_path(small), allow_pickle=False)
    # As a CPU whose kernels drift would see it: the probes' float vectors far from the 8-bit ones.
    monkeypatch.setattr(embedding.np, "load", lambda *args, **kwargs: -reference_of_probes)
    with caplog.at_level(logging.INFO, logger="bot.embedding"):
        fallback = SentenceEncoder.from_setting(MODEL)
    assert fallback.precision == "float"
    assert "drifts" in caplog.text and "float network instead" in caplog.text
    assert np.abs(fallback.encode(TEXTS) - reference).max() < 1e-5


def test_the_8_bit_export_records_how_and_where_it_was_made(encoder: SentenceEncoder) -> None:
    small = embedding.ensure_export(resolve_model_path(MODEL), MODEL)
    stamp = json.loads(small.with_suffix(".json").read_text(encoding="utf-8"))
    assert stamp["quantized"] == embedding.QUANTIZATION and "7 bits" in stamp["quantized"]
    assert stamp["quantized_on"] == embedding.instruction_set()
    assert embedding.MIN_PROBE_COSINE <= stamp["probe_min_cosine"] <= 1.0
    probes = np.load(embedding.probe_path(small), allow_pickle=False)
    assert probes.shape == (len(embedding.PROBE_TEXTS), 384)


def test_a_process_that_embeds_never_imports_torch(encoder: SentenceEncoder) -> None:
    code = (
        "import sys; from bot.embedding import SentenceEncoder; "
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

    def fake_probe(model_dir: Path, float_file: Path, small: Path) -> dict[str, object]:
        embedding.probe_path(small).write_bytes(b"probe vectors")
        return {"quantized_on": "a test CPU"}

    monkeypatch.setattr(embedding, "EXPORT_DIR", tmp_path / "exports")
    monkeypatch.setattr(embedding, "export_onnx", fake_export)
    monkeypatch.setattr(embedding, "quantize", fake_quantize)
    monkeypatch.setattr(embedding, "record_probe", fake_probe)
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
    embedding.probe_path(small).unlink()  # so is it when its probe vectors are missing
    embedding.ensure_export(model, str(model))
    assert (len(exports), len(quantized)) == (3, 5)
    assert json.loads(small.with_suffix(".json").read_text())["quantized_on"] == "a test CPU"


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


class _Part:
    """A model that gives the same unit vector for every text."""

    def __init__(self, name: str, vector: list[float]) -> None:
        self.name, self.dimension, self.precision = name, len(vector), "float"
        self.vector = np.asarray(vector, dtype=np.float32) / np.linalg.norm(vector)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(self.vector, (len(texts), 1))


def test_one_models_vectors_are_cut_from_the_combined_ones() -> None:
    first, second = _Part("first", [3.0, 4.0]), _Part("second", [1.0, 2.0, 2.0])
    combined = CombinedEncoder("first+second", [first, second])  # type: ignore[list-item]
    vectors = combined.encode(["a", "b"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.allclose(model_vectors(combined, vectors, "second"), second.encode(["a", "b"]))
    assert np.allclose(model_vectors(combined, vectors, "first"), first.encode(["a", "b"]))
    assert model_vectors(first, vectors, "first") is vectors  # a single model: all of it
    with pytest.raises(EmbeddingError):
        model_vectors(combined, vectors, "third")
    with pytest.raises(EmbeddingError):
        model_vectors(first, vectors, "second")


class _Counted(_Part):
    """A ``_Part`` that records the texts of each run."""

    def __init__(self, name: str, vector: list[float]) -> None:
        super().__init__(name, vector)
        self.runs: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.runs.append(list(texts))
        return super().encode(texts)


def test_lazy_vectors_run_each_network_once_and_only_when_needed() -> None:
    first, second = _Counted("first", [3.0, 4.0]), _Counted("second", [1.0, 2.0, 2.0])
    combined = CombinedEncoder("first+second", [first, second])  # type: ignore[list-item]
    expected = combined.encode(["a", "b"])
    first.runs.clear()
    second.runs.clear()
    reported: list[tuple[str, list[str]]] = []
    lazy = LazyVectors(combined, ["a", "b"], lambda model, texts: reported.append((model, list(texts))))
    part = lazy.model("first")
    assert first.runs == [["a", "b"]] and second.runs == []  # the other network has not run
    # Bit for bit what is cut from the encoder's own vectors.
    assert np.array_equal(part, model_vectors(combined, expected, "first"))
    assert np.array_equal(lazy.whole(), expected)
    assert np.array_equal(lazy.model("second"), model_vectors(combined, expected, "second"))
    assert first.runs == [["a", "b"]] and second.runs == [["a", "b"]]  # each network once
    assert reported == [("first", ["a", "b"]), ("second", ["a", "b"])]
    with pytest.raises(EmbeddingError):
        LazyVectors(combined, ["a"]).model("third")


def test_lazy_vectors_of_one_model_are_all_of_its_vectors() -> None:
    single = _Counted("first", [3.0, 4.0])
    lazy = LazyVectors(single, ["a"])
    assert np.array_equal(lazy.model("first"), single.encode(["a"])) and lazy.whole() is lazy.model("first")
    assert len(single.runs) == 2  # the one run of the lazy vectors, and the one above
    with pytest.raises(EmbeddingError):
        lazy.model("second")
