"""Every setting of the bot, read once from the environment with an embedded default."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = os.environ.get(name)
    if value is None:
        return default
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Where the bot's data lives and how it talks to clients."""

    faq_dir: Path = field(default_factory=lambda: _env_path("FAQ_DIR", PROJECT_DIR / "data" / "faq"))
    nlu_dir: Path = field(default_factory=lambda: _env_path("NLU_DIR", PROJECT_DIR / "data" / "nlu"))
    sources_dir: Path = field(
        default_factory=lambda: _env_path("SOURCES_DIR", PROJECT_DIR.parent / "shared" / "sources")
    )
    safety_dir: Path = field(default_factory=lambda: _env_path("SAFETY_DIR", PROJECT_DIR / "data" / "safety"))
    # The clinic's contact details (handoff and urgent replies): one file per deployment.
    clinic_file: Path = field(
        default_factory=lambda: _env_path("CLINIC_FILE", PROJECT_DIR / "data" / "clinic.yml")
    )
    # Channels whose clients read the answer's metadata (topic, route, sources) from the
    # message's `custom` object. Messaging apps (Twilio, Telegram, Messenger) are left out:
    # they would deliver the JSON as an extra, empty or confusing message.
    metadata_channels: tuple[str, ...] = field(
        default_factory=lambda: _env_list("METADATA_CHANNELS", ("rest", "socketio"))
    )
    # Embedding retrieval (bot/retrieval.py): a packaged model's name or a model directory.
    retrieval_model: str = field(
        default_factory=lambda: os.environ.get("RETRIEVAL_MODEL", "all-MiniLM-L6-v2")
    )
    index_dir: Path = field(
        default_factory=lambda: _env_path("RETRIEVAL_INDEX_DIR", PROJECT_DIR / "models" / "retrieval")
    )
    # Cosine-similarity thresholds, tuned on tests/dev_questions.yml (see README):
    # answer when the best topic scores at least `answer` and leads the next by `margin`;
    # offer "did you mean" for topics scoring at least `suggest`; otherwise say so honestly.
    retrieval_answer: float = field(default_factory=lambda: _env_float("RETRIEVAL_ANSWER", 0.60))
    retrieval_suggest: float = field(default_factory=lambda: _env_float("RETRIEVAL_SUGGEST", 0.52))
    retrieval_margin: float = field(default_factory=lambda: _env_float("RETRIEVAL_MARGIN", 0.04))


@functools.lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return Settings()


def display_path(path: Path | str) -> str:
    """``path`` relative to the project when it lies inside it, for reports."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)
