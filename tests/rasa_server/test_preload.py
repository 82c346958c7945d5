"""The sentence embedding loaded once, before the Rasa server forks its workers
(rasa_server/preload.py), and the encoder the topic reader takes (bot.embedding.shared_encoder).
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path
from typing import Any

import pytest
import rasa.core.run
import yaml
from rasa.shared.utils.common import minimal_kwargs

import bot.embedding as embedding
from bot.settings import PROJECT_DIR
from rasa_server import patches, preload
from tooling.servers import DEFAULT_MODEL


def _trained_model() -> Path:
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make test does)")
    return DEFAULT_MODEL


def _configured_reader_model() -> str:
    pipeline = yaml.safe_load((PROJECT_DIR / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    [reader] = [step for step in pipeline if step["name"].endswith("TopicReader")]
    return str(reader["model"])


def test_the_models_topic_reader_names_its_embedding() -> None:
    assert preload.reader_models(_trained_model()) == [_configured_reader_model()]


def test_the_served_models_encoders_are_loaded_once_here(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    loaded: list[str] = []
    # A directory, as `rasa run` takes it: its newest model (models/ may hold others, such
    # as `make eval`'s baseline).
    os.symlink(_trained_model().resolve(), tmp_path / _trained_model().name)
    with caplog.at_level(logging.INFO, logger="rasa_server"):
        assert preload.share_encoders(str(tmp_path), None, loaded.append) == loaded
    assert loaded == [_configured_reader_model()]
    assert "before the workers start: they share it" in caplog.text


def test_a_remote_model_is_left_to_the_workers() -> None:
    loaded: list[str] = []
    assert preload.share_encoders(None, "aws", loaded.append) == [] and loaded == []


def test_a_model_that_cannot_be_read_is_logged_and_left_to_the_workers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a model")
    loaded: list[str] = []
    with caplog.at_level(logging.WARNING, logger="rasa_server"):
        assert preload.share_encoders(str(broken), None, loaded.append) == []
    assert loaded == [] and "each worker loads its own copy" in caplog.text


def test_rasa_serves_with_the_encoders_loaded_first(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []

    def serve_application(
        model_path: str | None = None, channel: str | None = None, remote_storage: str | None = None
    ) -> None:
        calls.append(("serve", (model_path, channel, remote_storage)))

    monkeypatch.setattr(
        preload, "share_encoders", lambda model, remote: calls.append(("share", (model, remote)))
    )
    serve = preload.sharing_encoders(serve_application)
    # Rasa passes only the arguments the function's signature names (rasa/api.py).
    assert inspect.signature(serve) == inspect.signature(serve_application)
    kwargs = minimal_kwargs({"channel": "rest", "remote_storage": None, "not_an_argument": 1}, serve)
    serve("models/meso.tar.gz", **kwargs)
    assert calls == [("share", ("models/meso.tar.gz", None)), ("serve", ("models/meso.tar.gz", "rest", None))]


def test_apply_wraps_rasas_own_serve_application_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rasa.core.run, "serve_application", patches._ORIGINAL_SERVE_APPLICATION)
    patches.apply()
    patches.apply()  # again: still one wrapper around Rasa's own
    assert rasa.core.run.serve_application.__wrapped__ is patches._ORIGINAL_SERVE_APPLICATION


def test_the_shared_encoder_is_loaded_once_per_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []

    def load(setting: str, quantized: bool = True) -> object:
        loads.append(setting)
        return object()

    monkeypatch.setattr(embedding, "_SHARED", {})
    monkeypatch.setattr(embedding, "load_encoder", load)
    first = embedding.shared_encoder("multilingual-e5-small")
    assert embedding.shared_encoder("multilingual-e5-small") is first
    assert embedding.shared_encoder("all-MiniLM-L6-v2") is not first
    assert loads == ["multilingual-e5-small", "all-MiniLM-L6-v2"]
