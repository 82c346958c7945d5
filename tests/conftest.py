"""Function-scoped fixtures: every test gets its own tracker, dispatcher and domain."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.knowledge import KnowledgeBase, default_knowledge_base, load_knowledge_base
from bot.safety import SafetyRules, load_safety_rules
from bot.settings import PROJECT_DIR, load_settings

# Servers started by tests keep their conversations in a database of their own, never in
# the developer's var/. The process that makes the directory (pytest's first; its workers
# inherit the variable) removes it when it exits.
if "BOT_DATA_DIR" not in os.environ:
    os.environ["BOT_DATA_DIR"] = tempfile.mkdtemp(prefix="meso-test-data-")
    atexit.register(shutil.rmtree, os.environ["BOT_DATA_DIR"], ignore_errors=True)


@pytest.fixture
def knowledge() -> KnowledgeBase:
    return default_knowledge_base()


@pytest.fixture
def domain() -> dict[str, Any]:
    domain: dict[str, Any] = yaml.safe_load((PROJECT_DIR / "domain.yml").read_text(encoding="utf-8"))
    return domain


@pytest.fixture
def safety_rules(knowledge: KnowledgeBase) -> SafetyRules:
    return load_safety_rules(PROJECT_DIR / "data" / "safety", knowledge.topics)


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture
def make_tracker() -> Callable[..., Tracker]:
    """A tracker whose latest user message has the given intent, text and input channel."""

    def make(
        intent: str,
        text: str = "",
        channel: str = "rest",
        confidence: float = 0.95,
        reading: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        slots: dict[str, Any] | None = None,
    ) -> Tracker:
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [{"name": intent, "confidence": confidence}],
            "entities": [],
        }
        if reading is not None:  # what the topic reader found (components/topic_reader.py)
            latest["reading"] = reading
        if metadata is not None:  # what the client sent with the message (a time zone)
            latest["metadata"] = metadata
        events = [
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": text, "parse_data": latest, "input_channel": channel},
        ]
        return Tracker(
            sender_id="patient-test",
            slots=dict(slots or {}),
            latest_message=latest,
            events=events,
            paused=False,
            followup_action=None,
            active_loop={},
            latest_action_name="action_listen",
        )

    return make


@pytest.fixture
def data_copy(tmp_path: Path) -> Callable[[], tuple[Path, Path]]:
    """A writable copy of the knowledge base and NLU data, for tests that break them."""

    def copy() -> tuple[Path, Path]:
        faq_dir, nlu_dir = tmp_path / "faq", tmp_path / "nlu"
        shutil.copytree(PROJECT_DIR / "data" / "faq", faq_dir)
        shutil.copytree(PROJECT_DIR / "data" / "nlu", nlu_dir)
        load_knowledge_base(faq_dir, nlu_dir)  # the unbroken copy is valid
        return faq_dir, nlu_dir

    return copy


@pytest.fixture
def embedded_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default store, SQLite in ``BOT_DATA_DIR``, in a directory of the test's own."""
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CONVERSATIONS_DB_URL", raising=False)
    return tmp_path


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Settings read again from the environment in the test (which monkeypatches it)."""
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()
