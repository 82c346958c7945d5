"""Sentence embeddings with onnxruntime: a sentence-transformers model exported once to ONNX.

The servers embed every patient message. Run by torch on one thread, all-MiniLM-L6-v2 took
about 11-14 ms per message; the same network exported to ONNX and run by onnxruntime takes
about 5-6 ms and gives the same vectors (largest difference 3.4e-7, cosine 0.9999998 on 37
patient questions), and a process that embeds never imports torch (about 200 MB instead of
900 MB). The servers run that export with its weights quantized to 8 bits: about 1.3 ms per
message, cosine >= 0.98 with the float vectors, and retrieval alone as accurate on the dev
and held-out questions (0.590 and 0.547 against 0.595 and 0.529). The exports are made from
the model's local files (never a hub), the first time a process needs them, into
``models/embedding/``; a fingerprint of the model's files beside each makes a changed model
export again.

Pooling is the model's own: mean over the tokens, then L2 normalisation (the
sentence-transformers configuration is read and anything else is refused).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.settings import PROJECT_DIR

EXPORT_DIR = PROJECT_DIR / "models" / "embedding"
EXPORT_FORMAT = 2
BATCH_SIZE = 64


class EmbeddingError(RuntimeError):
    """The model cannot be exported or loaded."""


def _read_json(path: Path) -> Any:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise EmbeddingError(f"cannot read {path}: {error}") from error
    return data


def _check_pooling(model_dir: Path) -> None:
    pooling = _read_json(model_dir / "1_Pooling" / "config.json")
    modes = {key for key, on in pooling.items() if key.startswith("pooling_mode") and on}
    if modes != {"pooling_mode_mean_tokens"}:
        raise EmbeddingError(f"{model_dir}: only mean pooling is supported, the model uses {sorted(modes)}")
    modules = _read_json(model_dir / "modules.json") if (model_dir / "modules.json").exists() else []
    if not any(str(module.get("type", "")).endswith("Normalize") for module in modules):
        raise EmbeddingError(f"{model_dir}: the model does not normalise its embeddings")


def max_length(model_dir: Path) -> int:
    config = model_dir / "sentence_bert_config.json"
    return int(_read_json(config).get("max_seq_length", 256)) if config.exists() else 256


def fingerprint(model_dir: Path) -> str:
    """A hash of the model's files (names, sizes and the weights' bytes)."""
    digest = hashlib.sha256(f"format {EXPORT_FORMAT}\n".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and p.suffix != ".md"):
        digest.update(f"{path.relative_to(model_dir)}\t{path.stat().st_size}\n".encode())
        if path.suffix in {".safetensors", ".bin"}:
            with path.open("rb") as weights:
                for block in iter(lambda: weights.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def export_path(name: str) -> Path:
    """Where the export of the model named ``name`` (a packaged name or a directory) lives."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).name or name)
    if Path(name).name != name:  # a directory: its full path decides, not only its last part
        slug += "-" + hashlib.sha256(str(Path(name).resolve()).encode()).hexdigest()[:8]
    return EXPORT_DIR / f"{slug}.onnx"


def export_onnx(model_dir: Path, target: Path) -> None:
    """Export the model's transformer (token ids -> token vectors) to ``target``, atomically."""
    import torch  # heavy: only the export needs torch
    from transformers import AutoModel, AutoTokenizer

    _check_pooling(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    # A padded batch, so the traced graph keeps the attention mask.
    sample = tokenizer(["how much does mesotherapy cost?", "meso pls"], padding=True, return_tensors="pt")
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]

    class TokenVectors(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            vectors: torch.Tensor = self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state
            return vectors

    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "token_vectors"]}
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        partial = Path(work) / target.name
        with torch.no_grad():
            torch.onnx.export(
                TokenVectors(),
                tuple(sample[name] for name in names),
                str(partial),
                dynamo=False,
                opset_version=17,
                input_names=names,
                output_names=["token_vectors"],
                dynamic_axes=axes,
                do_constant_folding=True,
            )
        os.replace(partial, target)


def _is_current(stamp: Path, expected: dict[str, Any]) -> bool:
    try:
        return bool(json.loads(stamp.read_text(encoding="utf-8")) == expected)
    except (OSError, json.JSONDecodeError):
        return False


def quantize(source: Path, target: Path) -> None:
    """Weights to 8-bit integers, one scale per output channel (dynamic quantization), atomically.

    Activations are quantized on the fly, so one message costs about a quarter of the float
    network's time; the vectors move a little (cosine >= 0.98 with the float ones here).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        partial = Path(work) / target.name
        quantize_dynamic(str(source), str(partial), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(partial, target)


def ensure_export(model_dir: Path, name: str, quantized: bool = True) -> Path:
    """The ONNX export of the model (8-bit unless ``quantized`` is false), made now if it is
    missing or the model changed."""
    target = export_path(name)
    expected = {"format": EXPORT_FORMAT, "model": name, "fingerprint": fingerprint(model_dir)}
    stamp = target.with_suffix(".json")
    exported = not (target.exists() and _is_current(stamp, expected))
    if exported:
        export_onnx(model_dir, target)
        stamp.write_text(json.dumps(expected, indent=1), encoding="utf-8")
    if not quantized:
        return target
    small = target.with_suffix(".int8.onnx")
    small_stamp = small.with_suffix(".json")
    expected_small = {**expected, "quantized": "int8, per channel, dynamic"}
    if exported or not (small.exists() and _is_current(small_stamp, expected_small)):
        quantize(target, small)
        small_stamp.write_text(json.dumps(expected_small, indent=1), encoding="utf-8")
    return small


def _threads() -> int:
    """onnxruntime's threads: OMP_NUM_THREADS when set (the servers set 1), else its default."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


class OnnxSentenceEncoder:
    """Tokenizer (``tokenizers``) plus the exported network (onnxruntime), with mean pooling."""

    def __init__(self, model_dir: Path, name: str, quantized: bool = True) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        if not model_dir.is_dir():
            raise EmbeddingError(f"embedding model not found at {model_dir}")
        self.name = name
        onnx_file = ensure_export(model_dir, name, quantized)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length(model_dir))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        rows = [
            self._encode_batch(texts[start : start + BATCH_SIZE])
            for start in range(0, len(texts), BATCH_SIZE)
        ]
        return np.asarray(np.concatenate(rows), dtype=np.float32)

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)

        def padded(rows: list[list[int]]) -> np.ndarray:
            return np.array([row + [0] * (width - len(row)) for row in rows], dtype=np.int64)

        mask = padded([e.attention_mask for e in encodings])
        feeds = {
            "input_ids": padded([e.ids for e in encodings]),
            "attention_mask": mask,
            "token_type_ids": padded([e.type_ids for e in encodings]),
        }
        (vectors,) = self._session.run(
            ["token_vectors"], {k: v for k, v in feeds.items() if k in self._inputs}
        )
        weights = mask[..., None].astype(np.float32)
        pooled = (vectors * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)
