"""Every setting read once from the environment, with its embedded default (bot/settings.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import PROJECT_DIR, Settings, display_path, load_settings


def test_the_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "FAQ_DIR",
        "CLINIC_FILE",
        "MAX_MESSAGE_CHARS",
        "BIND_ADDRESS",
        "RESTART_LIMIT",
        "REST_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.faq_dir == PROJECT_DIR / "data" / "faq"
    assert settings.clinic_file == PROJECT_DIR / "data" / "clinic.yml"
    assert settings.max_message_chars == 1000
    assert settings.bind_address == "127.0.0.1"  # loopback unless a deployment says otherwise
    assert settings.restart_limit == 5
    assert settings.rest_token is None
    assert settings.metadata_channels == ("rest", "socketio")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLINIC_FILE", str(tmp_path / "clinic.yml"))
    monkeypatch.setenv("MAX_MESSAGE_CHARS", "2_000")
    monkeypatch.setenv("RETRIEVAL_ANSWER", "0.65")
    monkeypatch.setenv("RETRIEVAL_SUGGEST_ES", "0.85")
    monkeypatch.setenv("WIDGET_ORIGINS", " https://a.example , ,https://b.example")
    monkeypatch.setenv("BIND_ADDRESS", "0.0.0.0")  # noqa: S104 (the setting, not a bind)
    settings = Settings()
    assert settings.clinic_file == tmp_path / "clinic.yml"
    assert settings.max_message_chars == 2000
    assert settings.retrieval_answer == 0.65
    assert settings.retrieval_by_language == {"es": (0.80, 0.85)}  # the default answer, the set suggest
    assert settings.widget_origins == ("https://a.example", "https://b.example")
    assert settings.bind_address == "0.0.0.0"  # noqa: S104


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("many", "must be a whole number, not 'many'"),
        ("0", "must be at least 1, not 0"),
        ("1.5", "must be a whole number, not .1.5."),
    ],
)
def test_a_number_setting_that_is_not_one_is_refused_naming_it(
    value: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_MESSAGE_CHARS", value)
    with pytest.raises(ValueError, match=f"MAX_MESSAGE_CHARS {problem}"):
        Settings()


def test_secrets_stay_out_of_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REST_TOKEN", "rest-secret-value")
    monkeypatch.setenv("RASA_API_TOKEN", "api-secret-value")
    monkeypatch.setenv("SESSION_SECRET", "session-secret-value")
    monkeypatch.setenv("LOCK_STORE_URL", "redis://:password-value@localhost:6379/0")
    shown = repr(Settings())
    assert all(
        secret not in shown for secret in ("rest-secret", "api-secret", "session-secret", "password-value")
    )


def test_the_settings_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    load_settings.cache_clear()
    try:
        monkeypatch.setenv("MAX_MESSAGE_CHARS", "300")
        first = load_settings()
        monkeypatch.setenv("MAX_MESSAGE_CHARS", "400")
        assert load_settings() is first and first.max_message_chars == 300
    finally:
        load_settings.cache_clear()


def test_paths_are_shown_relative_to_the_project_when_inside_it(tmp_path: Path) -> None:
    assert display_path(PROJECT_DIR / "data" / "clinic.yml") == "data/clinic.yml"
    assert display_path(tmp_path / "x.yml") == str(tmp_path / "x.yml")
