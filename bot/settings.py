"""Every setting of the bot, read once from the environment with an embedded default."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The file the Rasa server writes once all its worker processes listen (rasa_server/workers.py).
READY_FILE_VARIABLE = "BOT_READY_FILE"


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {number}")
    return number


def _env_limits(name: str, default: dict[str, int]) -> dict[str, int]:
    """``name=chars`` pairs, comma-separated (``twilio=1600,facebook=2000``), over ``default``."""
    value = os.environ.get(name)
    limits = dict(default)
    for item in (value or "").split(","):
        if not item.strip():
            continue
        channel, _, chars = item.partition("=")
        if not chars.strip().isdigit() or int(chars) < 1:
            raise ValueError(f"{name} must be channel=characters pairs, not {item.strip()!r}")
        limits[channel.strip()] = int(chars)
    return limits


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = os.environ.get(name)
    if value is None:
        return default
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Where the bot's data lives and how it talks to clients."""

    # The languages the bot answers in, the first the default (docs/languages.md): every
    # topic, reply and caveat must exist in each (bot/knowledge.py refuses one that lacks one).
    languages: tuple[str, ...] = field(default_factory=lambda: _env_list("LANGUAGES", ("en", "es")))
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
    # The chat widget's own words, by language (bot/widget_words.py, channels/socketio.py).
    widget_words_file: Path = field(
        default_factory=lambda: _env_path("WIDGET_WORDS_FILE", PROJECT_DIR / "data" / "widget.yml")
    )
    # Channels whose clients read the answer's metadata (topic, route, sources) from the
    # message's `custom` object. Messaging apps (Twilio, Telegram, Messenger) are left out:
    # they would deliver the JSON as an extra, empty or confusing message.
    metadata_channels: tuple[str, ...] = field(
        default_factory=lambda: _env_list("METADATA_CHANNELS", ("rest", "socketio"))
    )
    # Messaging apps whose answers carry "helpful / not helpful" as quick replies (Telegram's
    # buttons, Messenger's quick replies). On REST and socket.io the payloads travel in the
    # metadata (`feedback`) and the widget draws its own buttons. Twilio's SMS and WhatsApp
    # get none (docs/clinic-report.md says why).
    feedback_button_channels: tuple[str, ...] = field(
        default_factory=lambda: _env_list("FEEDBACK_BUTTON_CHANNELS", ("telegram", "facebook"))
    )
    # The longest message each messaging app delivers whole, in characters (Twilio's SMS and
    # WhatsApp, Messenger, Telegram): a reply to several questions is cut to fit, with the
    # caveat still in it (bot/answers.py). Other channels have no limit.
    reply_limits: dict[str, int] = field(
        default_factory=lambda: _env_limits(
            "REPLY_LIMITS", {"twilio": 1600, "facebook": 2000, "telegram": 4096}
        )
    )
    # The sentence-embedding model (bot/retrieval.py): a packaged model's name or a model directory.
    retrieval_model: str = field(
        default_factory=lambda: os.environ.get("RETRIEVAL_MODEL", "all-MiniLM-L6-v2+multilingual-e5-small")
    )
    # Cosine-similarity thresholds, tuned on tests/dev_questions.yml (docs/quality-and-speed.md):
    # answer when the best topic scores at least `answer` and leads the next by `margin`;
    # offer "did you mean" for topics scoring at least `suggest`; otherwise say so honestly.
    retrieval_answer: float = field(default_factory=lambda: _env_float("RETRIEVAL_ANSWER", 0.70))
    retrieval_suggest: float = field(default_factory=lambda: _env_float("RETRIEVAL_SUGGEST", 0.65))
    retrieval_margin: float = field(default_factory=lambda: _env_float("RETRIEVAL_MARGIN", 0.04))
    # A language's own answer and suggest thresholds, chosen on its dev sets
    # (docs/languages.md): Spanish's are RETRIEVAL_ANSWER_ES and RETRIEVAL_SUGGEST_ES. The
    # English MiniLM half of the vector finds unrelated Spanish texts closer than English ones
    # ("jajajaja" came within 0.70 of a topic's question).
    retrieval_by_language: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {
            "es": (_env_float("RETRIEVAL_ANSWER_ES", 0.80), _env_float("RETRIEVAL_SUGGEST_ES", 0.80))
        }
    )
    # Bad input (bot/messages.py, channels/rest.py, docs/bad-input.md): the longest message
    # the bot reads, in characters (a longer one gets a reply that says the limit), and the
    # largest REST request body and `metadata` object it accepts, in bytes (larger: 413).
    max_message_chars: int = field(default_factory=lambda: _env_int("MAX_MESSAGE_CHARS", 1000))
    max_request_bytes: int = field(default_factory=lambda: _env_int("MAX_REQUEST_BYTES", 1_000_000))
    max_metadata_bytes: int = field(default_factory=lambda: _env_int("MAX_METADATA_BYTES", 10_000))
    # Security (docs/security.md). Rasa's HTTP API (trackers, model upload, parse) is on only
    # with this token, which every request must then carry; unset, it is off.
    rasa_api_token: str | None = field(
        default_factory=lambda: os.environ.get("RASA_API_TOKEN") or None, repr=False
    )
    # With this set, the REST channel answers only requests that carry it as
    # ``Authorization: Bearer <token>`` (channels/rest.py); unset, REST is open to whoever
    # can reach it, which suits make run, the tests and evaluation on one machine.
    rest_token: str | None = field(default_factory=lambda: os.environ.get("REST_TOKEN") or None, repr=False)
    # With this set, the Rasa server serves the clinic's report at /admin/ to whoever gives
    # this token (``Authorization: Bearer <token>`` or ``?token=``; channels/admin.py);
    # unset, there is no /admin/ at all. At least 16 characters.
    admin_token: str | None = field(default_factory=lambda: os.environ.get("ADMIN_TOKEN") or None, repr=False)
    # Web pages on other origins allowed to open the chat widget's socket.io connection
    # (e.g. "https://www.clinic.example"); the Rasa server's own origin always is.
    widget_origins: tuple[str, ...] = field(default_factory=lambda: _env_list("WIDGET_ORIGINS", ()))
    # Signs the widget's session ids; unset, a random one kept in BOT_DATA_DIR.
    session_secret: str | None = field(
        default_factory=lambda: os.environ.get("SESSION_SECRET") or None, repr=False
    )
    # Deployment (docs/deployment.md). Conversations whose last message is older than this
    # many days are deleted (rasa_server/stores.py): health data is kept no longer than needed.
    retention_days: int = field(default_factory=lambda: _env_int("CONVERSATION_RETENTION_DAYS", 30))
    # Rasa's ticket locks in Redis (``redis://[:password@]host[:port][/db]``, ``rediss://``
    # for TLS) when several Rasa servers share conversations; unset, an SQLite file in
    # BOT_DATA_DIR, which serves the worker processes of one machine.
    lock_store_url: str | None = field(
        default_factory=lambda: os.environ.get("LOCK_STORE_URL") or None, repr=False
    )
    # How long the Rasa server waits for the action server before it tells the patient it
    # cannot answer right now (rasa_server/faults.py); Rasa's own wait is 5 minutes.
    action_timeout_seconds: float = field(default_factory=lambda: _env_float("ACTION_TIMEOUT_SECONDS", 10.0))
    # The address both servers listen on when `make run` (python -m tooling serve) starts
    # them: loopback only, so REST and the widget are reachable from this machine alone, as
    # behind nginx on the same host (docs/deployment.md). "0.0.0.0" listens on every interface.
    bind_address: str = field(default_factory=lambda: os.environ.get("BIND_ADDRESS") or "127.0.0.1")
    # `make run` starts a server again when it exits, waiting 1, 2, 4... up to 30 s; a server
    # restarted more than this many times within 5 minutes keeps failing, and `make run`
    # stops the bot and exits non-zero so that a service manager sees it (tooling/servers.py).
    restart_limit: int = field(default_factory=lambda: _env_int("RESTART_LIMIT", 5))
    # Written by the Rasa server once every worker process listens, removed when it stops
    # (a readiness check); unset, `make run` and the tests use a file of their own.
    ready_file: Path | None = field(
        default_factory=lambda: (
            Path(os.environ[READY_FILE_VARIABLE]) if os.environ.get(READY_FILE_VARIABLE) else None
        )
    )


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
