"""Sentence embeddings with onnxruntime: a sentence-transformers model exported once to ONNX.

The servers embed every patient message. Run by torch on one thread, all-MiniLM-L6-v2 took
about 11-14 ms per message; the same network exported to ONNX and run by onnxruntime takes
about 5-6 ms and gives the same vectors (largest difference 3.4e-7, cosine 0.9999998 on 37
patient questions), and a process that embeds never imports torch (about 200 MB instead of
900 MB). The exports are made from the model's local files (never a hub), the first time a
process needs them, into ``models/embedding/``; a fingerprint of the model's files beside
each makes a changed model export again.

The servers run that export with its weights quantized (``quantize``): about a quarter of
the float network's time per message. The quantization is chosen so that every x86-64 CPU
computes the same vectors. onnxruntime multiplies 8-bit activations (0..255) by 8-bit
weights; on CPUs without VNNI (AVX2, and AVX-512 without VNNI) its kernels add pairs of
those products in 16 bits with saturation, so full-range weights (up to 127) overflow there
and the vectors drift (cosine 0.96 with the float ones on an AVX2-only AMD EPYC, 0.97-0.98
with VNNI). Weights kept to 7 bits (``reduce_range``: 2 x 255 x 64 = 32,640 < 32,767)
never overflow, so the integer arithmetic is exact on every kernel, SSE, AVX2, AVX-512, VNNI
or AMX, and the vectors agree to 1e-7 (``tests/bot/test_embedding.py`` runs the network on an
emulated AVX2 CPU and on an SSE-only one). The activations' scale is taken per run over
the whole input, so the 8-bit network embeds one text per run: a text's vector never
depends on the other texts of a batch or on their padding.

Each process checks the 8-bit network before it uses it (``OnnxSentenceEncoder``): the
vectors of a few probe texts must keep a cosine of at least ``MIN_PROBE_COSINE`` with the
float network's, which were computed when the export was made. If they do not (a CPU or
onnxruntime release whose kernels differ), the process runs the float network instead and
logs why; the choice, and the CPU's instruction set, are logged either way.

Pooling is the model's own: mean over the tokens, then L2 normalisation (the
sentence-transformers configuration is read and anything else is refused).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bot.packaged_models import PACKAGED_MODELS, packaged_model_path, query_prefix
from bot.settings import PROJECT_DIR

EXPORT_DIR = PROJECT_DIR / "models" / "embedding"
EXPORT_FORMAT = 3  # 3: weights quantized to 7 bits, the same vectors on every x86-64 CPU
BATCH_SIZE = 64
PARALLEL_FROM = 32  # texts embedded one at a time: this many or more are spread over the cores
QUANTIZATION = "int8 weights in 7 bits (reduce_range), one scale per output channel, dynamic"
# Texts the 8-bit network is checked on in every process, against the float network's
# vectors (saved beside the export): short, long, an emergency, Spanish, emoji, empty.
PROBE_TEXTS = (
    "how much does mesotherapy cost?",
    "meso pls",
    "does it hurt?",
    "my lips are swelling up and I can't breathe",
    "can I wash my hair after the treatment, or should I wait a day or two before using shampoo again?",
    "¿cuánto cuesta? 💉",
    "",
)
MIN_PROBE_COSINE = 0.97

logger = logging.getLogger(__name__)


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


def dimension(model_dir: Path) -> int:
    """The length of the model's sentence vectors (its pooling layer's width)."""
    return int(_read_json(model_dir / "1_Pooling" / "config.json")["word_embedding_dimension"])


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


def network_identity(model_dir: Path, quantized: bool) -> str:
    """What decides the vectors: the export's format, the quantization and the model's files.

    A trained model that stored features from one network must not be reused with another
    (Rasa's training cache keys the featurizer on it).
    """
    precision = QUANTIZATION if quantized else "float"
    return f"export format {EXPORT_FORMAT}; {precision}; model {fingerprint(model_dir)}"


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


def _read_stamp(stamp: Path) -> dict[str, Any]:
    try:
        data = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_current(stamp: Path, expected: dict[str, Any]) -> bool:
    """Whether the stamp names what is expected (it may record more, such as the CPU)."""
    recorded = _read_stamp(stamp)
    return all(recorded.get(key) == value for key, value in expected.items())


def instruction_set() -> str:
    """The widest integer instruction set onnxruntime's 8-bit kernels can use on this CPU.

    Read from the CPU itself (CPUID, through NumPy's dispatch table), not /proc/cpuinfo, so an
    emulated CPU reports what it emulates.
    """
    from numpy.core._multiarray_umath import __cpu_features__ as features

    for name, label in (
        ("AVX512VNNI", "AVX-512 VNNI"),
        ("AVX512BW", "AVX-512 without VNNI"),
        ("AVX2", "AVX2"),
    ):
        if features.get(name):
            return label
    return "SSE (no AVX2)"


def quantize(source: Path, target: Path) -> None:
    """Weights to 7-bit integers, one scale per output channel (dynamic quantization), atomically.

    Activations are quantized on the fly, so one message costs about a quarter of the float
    network's time. 7 bits, not 8, so that no CPU's kernel saturates (module docstring).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        partial = Path(work) / target.name
        quantize_dynamic(
            str(source), str(partial), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
        )
        os.replace(partial, target)


def probe_path(network: Path) -> Path:
    """Where the float network's vectors of ``PROBE_TEXTS`` are kept, beside the 8-bit file."""
    return network.with_suffix(".probe.npy")


def probe_cosines(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Each probe text's cosine between two encoders' normalised vectors."""
    if vectors.shape != reference.shape:
        return np.zeros(len(PROBE_TEXTS), dtype=np.float32)
    return np.asarray((vectors * reference).sum(axis=1), dtype=np.float32)


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
    expected_small = {**expected, "quantized": QUANTIZATION}
    current = small.exists() and probe_path(small).exists() and _is_current(small_stamp, expected_small)
    if exported or not current:
        quantize(target, small)
        made = record_probe(model_dir, target, small)
        small_stamp.write_text(json.dumps({**expected_small, **made}, indent=1), encoding="utf-8")
    return small


def record_probe(model_dir: Path, float_file: Path, small: Path) -> dict[str, Any]:
    """Save the float network's vectors of the probe texts beside the 8-bit file (atomically),
    and say for its stamp how close the 8-bit network came to them on this CPU."""
    reference = _NetworkRunner(model_dir, float_file, one_by_one=False).encode(PROBE_TEXTS)
    with tempfile.TemporaryDirectory(dir=small.parent) as work:
        partial = Path(work) / probe_path(small).name
        np.save(partial, reference, allow_pickle=False)
        os.replace(partial, probe_path(small))
    vectors = _NetworkRunner(model_dir, small, one_by_one=True).encode(PROBE_TEXTS)
    cosine = float(probe_cosines(vectors, reference).min())
    return {"quantized_on": instruction_set(), "probe_min_cosine": round(cosine, 4)}


def _threads(one_by_one: bool) -> int:
    """onnxruntime's threads: OMP_NUM_THREADS when set (the servers set 1). Else one for a
    network run one text at a time, whose many texts go one thread per core (threads of its
    own on top would fight them for the cores), and onnxruntime's default for the others."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return 1 if one_by_one else 0


# Each network's vectors of the texts of training-sized calls, for the process's lifetime.
# (A network is known by its file's path, size and modification time: a new export is another.)
_REMEMBERED: dict[tuple[Path, int, int], dict[str, np.ndarray]] = {}


class _NetworkRunner:
    """Tokenizer (``tokenizers``) plus one exported network (onnxruntime), with mean pooling."""

    def __init__(self, model_dir: Path, network: Path, one_by_one: bool) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.network = network
        # The 8-bit network runs one text at a time: its activations' scale is taken over
        # the whole input, which must not depend on the other texts of a batch.
        self.one_by_one = one_by_one
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = _threads(one_by_one)
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(network), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length(model_dir))
        self._prefix = query_prefix(model_dir)  # e5's "query: "; empty for most models

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised float32 vectors, one row per text. Those of a training-sized call are
        remembered for the process: a second training in it (tuning, tests) reuses them."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if len(texts) < PARALLEL_FROM:
            return self._encode(texts)
        stat = self.network.stat()
        remembered = _REMEMBERED.setdefault((self.network, stat.st_size, stat.st_mtime_ns), {})
        missing = list(dict.fromkeys(text for text in texts if text not in remembered))
        if missing:
            remembered.update(zip(missing, self._encode(missing), strict=True))
        return np.stack([remembered[text] for text in texts])

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        size = 1 if self.one_by_one else BATCH_SIZE
        batches = [texts[start : start + size] for start in range(0, len(texts), size)]
        if self.one_by_one and len(batches) >= PARALLEL_FROM:
            # Many texts one at a time (training): one thread per core, as onnxruntime
            # releases the GIL while it runs; each text's vector is the same either way.
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                rows = list(pool.map(self._encode_batch, batches))
        else:
            rows = [self._encode_batch(batch) for batch in batches]
        return np.asarray(np.concatenate(rows), dtype=np.float32)

    def _encode_batch(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch([self._prefix + text for text in texts])
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


class OnnxSentenceEncoder:
    """The sentence encoder the servers use: the 8-bit network when it holds on this CPU
    (its probe texts' cosines with the float network), else the float network.

    ``precision`` says which runs: ``"int8"`` or ``"float"``.
    """

    def __init__(self, model_dir: Path, name: str, quantized: bool = True) -> None:
        if not model_dir.is_dir():
            raise EmbeddingError(f"embedding model not found at {model_dir}")
        self.name = name
        self.dimension = dimension(model_dir)
        self.precision = "float"
        cpu = instruction_set()
        if quantized:
            small = ensure_export(model_dir, name, quantized=True)
            runner = _NetworkRunner(model_dir, small, one_by_one=True)
            reference = np.load(probe_path(small), allow_pickle=False)
            cosine = float(probe_cosines(runner.encode(PROBE_TEXTS), reference).min())
            if cosine >= MIN_PROBE_COSINE:
                self.precision = "int8"
                self._runner = runner
                logger.info(
                    "Sentence embedding: the 8-bit network (%s) on this %s CPU; probe cosine %.4f "
                    "with the float network.",
                    QUANTIZATION,
                    cpu,
                    cosine,
                )
                return
            logger.warning(
                "Sentence embedding: the 8-bit network drifts on this %s CPU (probe cosine %.4f, "
                "below %.2f): running the float network instead, about 4 times slower.",
                cpu,
                cosine,
                MIN_PROBE_COSINE,
            )
        else:
            logger.info("Sentence embedding: the float network (as configured) on this %s CPU.", cpu)
        self._runner = _NetworkRunner(model_dir, ensure_export(model_dir, name, quantized=False), False)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        return self._runner.encode(texts)


MODEL_SEPARATOR = "+"  # "a+b": both models' vectors side by side (``CombinedEncoder``)


def model_names(setting: str) -> list[str]:
    """The models a setting names: one, or several joined by ``+``."""
    names = [name.strip() for name in setting.split(MODEL_SEPARATOR)]
    if not all(names):
        raise EmbeddingError(f"embedding model setting {setting!r} names an empty model")
    return names


def resolve_model_path(setting: str) -> Path:
    """A packaged model's directory by name (bot/packaged_models.py), or the setting itself
    when it is a directory."""
    packaged = packaged_model_path(setting)
    if packaged is not None:
        return packaged
    path = Path(setting)
    if path.is_dir():
        return path
    raise EmbeddingError(
        f"embedding model {setting!r} is neither a packaged model "
        f"({', '.join(PACKAGED_MODELS)}) nor a directory"
    )


def setting_identity(setting: str, quantized: bool = True) -> str:
    """The identity of every network a setting names (``network_identity``), in order."""
    return " + ".join(network_identity(resolve_model_path(name), quantized) for name in model_names(setting))


class SentenceEncoder(OnnxSentenceEncoder):
    """A sentence-transformers model from local files, run by onnxruntime."""

    @classmethod
    def from_setting(cls, setting: str, quantized: bool = True) -> SentenceEncoder:
        """The model a setting names: a packaged model's name or a model directory."""
        return cls(resolve_model_path(setting), setting, quantized)


def load_encoder(setting: str, quantized: bool = True) -> SentenceEncoder | CombinedEncoder:
    """The encoder a setting names: one model, or several joined by ``+``, whose vectors
    are put side by side (``CombinedEncoder``)."""
    names = model_names(setting)
    if len(names) == 1:
        return SentenceEncoder.from_setting(names[0], quantized)
    return CombinedEncoder(setting, [SentenceEncoder.from_setting(name, quantized) for name in names])


# The servers' encoders, one per setting for the process's lifetime (``shared_encoder``).
_SHARED: dict[str, SentenceEncoder | CombinedEncoder] = {}


def shared_encoder(setting: str) -> SentenceEncoder | CombinedEncoder:
    """The process's 8-bit encoder for ``setting``, loaded on first use and kept.

    The Rasa server loads it before it starts its worker processes
    (``rasa_server/preload.py``), so they inherit one copy of the networks' weights instead
    of loading one each: less memory, and weights that stay in the CPU's shared cache (two
    workers each running their own copy of e5 took about 15% longer per message than two
    running one copy).
    """
    encoder = _SHARED.get(setting)
    if encoder is None:
        encoder = _SHARED[setting] = load_encoder(setting)
    return encoder


class CombinedEncoder:
    """Several encoders as one: each text's vectors side by side, scaled so that the whole
    has length 1. The cosine of two such vectors is the mean of the models' cosines. Used
    with an English model and a multilingual one: the English one reads English paraphrases
    best, the multilingual one reads Spanish (docs/languages.md)."""

    def __init__(self, name: str, parts: Sequence[OnnxSentenceEncoder]) -> None:
        self.name = name
        self.parts = tuple(parts)
        self.precision = "+".join(part.precision for part in self.parts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self.combine([part.encode(texts) for part in self.parts])

    def combine(self, vectors: Sequence[np.ndarray]) -> np.ndarray:
        """The whole vectors from each model's own (in the order of ``parts``)."""
        return np.asarray(np.hstack(vectors) / np.sqrt(len(self.parts)), dtype=np.float32)

    def model_vectors(self, vectors: np.ndarray, name: str) -> np.ndarray:
        """The vectors of the model ``name`` alone, cut from combined ones: each of length 1,
        as that model gives them."""
        start = 0
        for part in self.parts:
            if part.name == name:
                cut = vectors[:, start : start + part.dimension] * np.sqrt(len(self.parts))
                return np.ascontiguousarray(cut, dtype=np.float32)
            start += part.dimension
        raise EmbeddingError(f"the embedding {self.name!r} has no model {name!r}")


class LazyVectors:
    """Texts' vectors from an encoder, each of its networks run only when a reading first
    needs it: one model's part (``model``) for a classifier that reads that model alone, all
    of them (``whole``) for one that reads them side by side and for the nearest questions.
    The values are exactly the encoder's ``encode`` and ``model_vectors``'s.

    ``on_run`` is called with the model's name and the texts each time a network runs.
    """

    def __init__(
        self,
        encoder: Any,
        texts: Sequence[str],
        on_run: Callable[[str, Sequence[str]], None] | None = None,
    ) -> None:
        self.encoder = encoder
        self.texts = list(texts)
        self._on_run = on_run
        self._own: dict[str, np.ndarray] = {}  # each model's vectors, as it gives them
        self._whole: np.ndarray | None = None

    def _parts(self) -> tuple[Any, ...]:
        return self.encoder.parts if isinstance(self.encoder, CombinedEncoder) else (self.encoder,)

    def _run(self, part: Any) -> np.ndarray:
        vectors = self._own.get(part.name)
        if vectors is None:
            if self._on_run is not None:
                self._on_run(part.name, self.texts)
            vectors = self._own[part.name] = part.encode(self.texts)
        return vectors

    def whole(self) -> np.ndarray:
        """The encoder's vectors of the texts (every network run, each once)."""
        if self._whole is None:
            vectors = [self._run(part) for part in self._parts()]
            combined = isinstance(self.encoder, CombinedEncoder)
            self._whole = self.encoder.combine(vectors) if combined else vectors[0]
        return self._whole

    def model(self, name: str) -> np.ndarray:
        """The vectors of the model ``name`` alone, as ``model_vectors`` cuts them from the
        whole; only that model's network is run for them."""
        if not isinstance(self.encoder, CombinedEncoder):
            return model_vectors(self.encoder, self.whole(), name)
        if self._whole is not None:
            return self.encoder.model_vectors(self._whole, name)
        part = next((p for p in self.encoder.parts if p.name == name), None)
        if part is None:
            raise EmbeddingError(f"the embedding {self.encoder.name!r} has no model {name!r}")
        # Scaled as in the whole, then back: the same float32 values as cutting the whole.
        share = np.asarray(self._run(part) / np.sqrt(len(self.encoder.parts)), dtype=np.float32)
        return np.ascontiguousarray(share * np.sqrt(len(self.encoder.parts)), dtype=np.float32)


def model_vectors(encoder: object, vectors: np.ndarray, name: str) -> np.ndarray:
    """The vectors of the model ``name`` alone, from an encoder's vectors: a part of a
    ``CombinedEncoder``'s, or all of a single model's."""
    if isinstance(encoder, CombinedEncoder):
        return encoder.model_vectors(vectors, name)
    if getattr(encoder, "name", None) == name:
        return vectors
    raise EmbeddingError(f"the embedding {getattr(encoder, 'name', encoder)!r} has no model {name!r}")
