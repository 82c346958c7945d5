"""The chat widget's own words (data/widget.yml, bot/widget_words.py): the shipped file is
complete, a broken one is refused naming the problem, and none of the words is written in
web/ (the server serves them, channels/socketio.py; tests/system/test_widget.py shows them in a
browser)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import PROJECT_DIR, Settings, load_settings
from bot.widget_words import (
    DEFAULT_LANGUAGE,
    PAGE_WORDS,
    WIDGET_WORDS,
    WORDS,
    WidgetWordsError,
    default_widget_words,
    load_widget_words,
)
from tooling.cli import main

WIDGET_JS = PROJECT_DIR / "web" / "widget.js"
WIDGET_PAGE = PROJECT_DIR / "web" / "index.html"


@pytest.fixture
def shipped() -> dict[str, Any]:
    """A copy of the shipped file's content, to break."""
    data: dict[str, Any] = yaml.safe_load(load_settings().widget_words_file.read_text(encoding="utf-8"))
    return data


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "widget.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _english() -> dict[str, str]:
    return dict(default_widget_words().languages[DEFAULT_LANGUAGE])


# --- the file and its loader ---------------------------------------------------------------------


def test_the_shipped_words_load_complete() -> None:
    words = load_widget_words(PROJECT_DIR / "data" / "widget.yml")
    assert DEFAULT_LANGUAGE in words.languages
    for language, texts in words.languages.items():
        assert set(texts) == set(WORDS), language
        assert all(text.strip() == text and text for text in texts.values()), language
    assert default_widget_words() == words


def test_the_file_is_found_from_the_project_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WIDGET_WORDS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().widget_words_file == PROJECT_DIR / "data" / "widget.yml"
    assert load_widget_words(Settings().widget_words_file).languages[DEFAULT_LANGUAGE]


def _without_send_label(data: dict[str, Any]) -> None:
    del data["en"]["sendLabel"]


def _empty_title(data: dict[str, Any]) -> None:
    data["en"]["title"] = "  "


def _number_as_label(data: dict[str, Any]) -> None:
    data["en"]["urgentLabel"] = 112


def _unknown_word(data: dict[str, Any]) -> None:
    data["en"]["titel"] = "Questions"


def _no_english(data: dict[str, Any]) -> None:
    data["es"] = data.pop("en")


def _incomplete_language(data: dict[str, Any]) -> None:
    data["es"] = {"title": "Preguntas sobre la mesoterapia"}


def _not_a_language_code(data: dict[str, Any]) -> None:
    data["English"] = dict(data["en"])


def _words_not_a_mapping(data: dict[str, Any]) -> None:
    data["es"] = ["Preguntas"]


@pytest.mark.parametrize(
    ("breaks", "problem"),
    [
        (_without_send_label, "language 'en': 'sendLabel' is missing"),
        (_empty_title, "language 'en': 'title' must be non-empty text"),
        (_number_as_label, "language 'en': 'urgentLabel' must be non-empty text"),
        (_unknown_word, "language 'en': unknown words titel"),
        (_no_english, "needs the words in 'en'"),
        (_incomplete_language, "language 'es': 'placeholder' is missing"),
        (_not_a_language_code, "language 'English' is not a lower-case language code"),
        (_words_not_a_mapping, "language 'es': must be a mapping of title"),
    ],
)
def test_broken_words_are_refused_naming_the_file_and_the_problem(
    breaks: Any, problem: str, shipped: dict[str, Any], tmp_path: Path
) -> None:
    breaks(shipped)
    path = _write(tmp_path, shipped)
    with pytest.raises(WidgetWordsError) as raised:
        load_widget_words(path)
    assert any(p.startswith(f"{path}: ") and problem in p for p in raised.value.problems), raised.value
    assert problem in str(raised.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("en:\n  title: [Questions\n", "is not valid YAML"),
        ("- title\n- placeholder\n", "must be a mapping of language"),
        ("", "must be a mapping of language"),
    ],
)
def test_a_file_that_is_no_mapping_of_words_is_refused(content: str, problem: str, tmp_path: Path) -> None:
    path = tmp_path / "widget.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(WidgetWordsError, match=problem) as raised:
        load_widget_words(path)
    assert str(path) in str(raised.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "no-such-file.yml"
    with pytest.raises(WidgetWordsError, match="cannot be read") as raised:
        load_widget_words(path)
    assert str(path) in str(raised.value)


def test_every_problem_is_reported_at_once(shipped: dict[str, Any], tmp_path: Path) -> None:
    _without_send_label(shipped)
    _unknown_word(shipped)
    _incomplete_language(shipped)
    with pytest.raises(WidgetWordsError) as raised:
        load_widget_words(_write(tmp_path, shipped))
    assert len(raised.value.problems) == 1 + 1 + (len(WORDS) - 1)


def test_a_page_gets_its_language_or_else_english(shipped: dict[str, Any], tmp_path: Path) -> None:
    spanish = {name: f"{text} (es)" for name, text in shipped["en"].items()}
    words = load_widget_words(_write(tmp_path, {**shipped, "es": spanish}))
    asked = {"es": "es", "es-MX": "es", "ES_mx": "es", " en ": "en", "fr": "en", "": "en", None: "en"}
    assert {page: words.language(page) for page in asked} == asked
    assert words.widget_words("es") == {name: spanish[name] for name in WIDGET_WORDS}
    assert not set(PAGE_WORDS) & set(words.widget_words("en"))


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("es-MX,es;q=0.9,en;q=0.8", "es"),
        ("es_ES", "es"),
        ("en-GB,en;q=0.9,es;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,es;q=0.7,en;q=0.5", "es"),  # the best liked of those served
        ("en;q=0.4, es;q=0.8", "es"),  # by quality, not by order
        ("fr, de", "en"),  # none served
        ("es;q=0, en", "en"),  # refused
        ("es;q=abc, en;q=0.2", "en"),  # no valid quality
        ("*, es;q=0.5", "es"),
        ("<script>, es", "es"),  # no language tag
        ("", "en"),
        (None, "en"),
    ],
)
def test_a_page_is_served_in_the_browsers_best_liked_language(
    header: str | None, language: str, shipped: dict[str, Any], tmp_path: Path
) -> None:
    spanish = {name: f"{text} (es)" for name, text in shipped["en"].items()}
    words = load_widget_words(_write(tmp_path, {**shipped, "es": spanish}))
    assert words.page_language(header) == language


# --- python -m tooling validate ----------------------------------------------------------------------


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Settings read again from the environment (as the test sets it), and again after it."""
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()


@pytest.mark.usefixtures("fresh_settings")
def test_validate_checks_the_widget_words(
    shipped: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate"]) == 0
    assert f"Widget words OK: en, es ({load_settings().widget_words_file})" in capsys.readouterr().out

    _empty_title(shipped)
    broken = _write(tmp_path, shipped)
    monkeypatch.setenv("WIDGET_WORDS_FILE", str(broken))
    load_settings.cache_clear()
    assert main(["validate"]) == 1
    error = capsys.readouterr().err
    assert f"{broken}: language 'en': 'title' must be non-empty text" in error


# --- no word of the file is written in web/ ------------------------------------------------------


def js_string_literals(source: str) -> list[str]:
    """The string and template literals of JavaScript ``source``, escapes decoded; comments
    and regular-expression literals are skipped (a small scanner, enough for web/widget.js)."""
    literals = []
    previous = ""  # the last character outside comments and spaces
    i = 0
    while i < len(source):
        char = source[i]
        if source.startswith("//", i):
            end = source.find("\n", i)
            i = len(source) if end < 0 else end
        elif source.startswith("/*", i):
            i = source.index("*/", i + 2) + 2
        elif char in "\"'`":
            end = i + 1
            while source[end] != char:
                end += 2 if source[end] == "\\" else 1
            body = source[i + 1 : end]
            literals.append(body.encode("latin-1", "backslashreplace").decode("unicode_escape"))
            previous, i = char, end + 1
        elif char == "/" and (not previous or previous in "(,=:[!&|?{};"):
            end, in_class = i + 1, False  # a regular expression, e.g. /https?:\/\/[^\s<>"]+/g
            while in_class or source[end] != "/":
                if source[end] == "\\":
                    end += 1
                elif source[end] in "[]":
                    in_class = source[end] == "["
                end += 1
            previous, i = "/", end + 1
        else:
            if not char.isspace():
                previous = char
            i += 1
    return literals


def _words_in(literals: list[str], words: list[str]) -> list[tuple[str, str]]:
    return [(word, literal) for literal in literals for word in words if word in literal]


def test_widget_js_holds_none_of_the_words() -> None:
    literals = js_string_literals(WIDGET_JS.read_text(encoding="utf-8"))
    assert {"widget.css", "words.json", "\u00d7"} <= set(literals)  # the scanner reads the file
    assert _words_in(literals, list(_english().values())) == []


def test_a_word_written_back_into_widget_js_is_caught() -> None:
    english = _english()
    source = WIDGET_JS.read_text(encoding="utf-8") + (
        f'\nvar DEFAULTS = {{ title: "{english["title"]}", '
        f"offlineText: '{english['offlineText'].encode('ascii', 'backslashreplace').decode()}' }};\n"
    )
    found = _words_in(js_string_literals(source), list(english.values()))
    assert [word for word, _ in found] == [english["title"], english["offlineText"]]


def test_the_chat_page_holds_none_of_the_words() -> None:
    page = WIDGET_PAGE.read_text(encoding="utf-8")
    assert [word for word in _english().values() if word in page] == []


def test_the_widget_shows_every_word_it_is_served() -> None:
    source = WIDGET_JS.read_text(encoding="utf-8")
    assert [name for name in WIDGET_WORDS if f"config.{name}" not in source] == []
