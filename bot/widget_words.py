"""The chat widget's own words, by language (``data/widget.yml``, or the file
``WIDGET_WORDS_FILE`` names): its heading, labels and connection notes, and the title of
the chat page at ``/webchat/``.

The Rasa server gives them to the widget (channels/socketio.py), so that no word a patient
reads is written in ``web/``. Every problem in the file is reported at once, each naming
the file.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.settings import load_settings
from bot.yaml_files import InvalidData, read_yaml

# The words web/widget.js shows, by its option names: a page's window.MesoChat overrides each.
WIDGET_WORDS = (
    "title",
    "placeholder",
    "sendLabel",
    "openLabel",
    "closeLabel",
    "urgentLabel",
    "feedbackQuestion",
    "feedbackHelpful",
    "feedbackNotHelpful",
    "connectingText",
    "offlineText",
    "typingLabel",
)
# The words of the chat page the server itself serves (web/index.html).
PAGE_WORDS = ("pageTitle",)
WORDS = WIDGET_WORDS + PAGE_WORDS
# Every language falls back to this one, which the file must therefore have.
DEFAULT_LANGUAGE = "en"
# A language as web pages name it (<html lang="...">), lower case: "en", "es", "pt-br".
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")


class WidgetWordsError(InvalidData):
    """The widget's words are incomplete or malformed."""

    summary = "widget words are invalid"


@dataclass(frozen=True)
class WidgetWords:
    # language code -> word name (WORDS) -> text
    languages: Mapping[str, Mapping[str, str]]

    def _served(self, asked: str) -> str | None:
        """The language with words here for ``asked`` (e.g. "es", "es-MX", "en_GB"): that
        one, else its primary language, else None."""
        code = asked.strip().lower().replace("_", "-")
        return next((c for c in (code, code.split("-")[0]) if c in self.languages), None)

    def language(self, asked: str | None) -> str:
        """The language to use for a page in ``asked``: that one, else its primary
        language, else English."""
        return (self._served(asked) if asked else None) or DEFAULT_LANGUAGE

    def page_language(self, accept_language: str | None) -> str:
        """The language to serve a page in, for a browser's ``Accept-Language`` header
        ("es-MX,es;q=0.9,en;q=0.8"): the one it likes best among those with words here,
        else English. A language it refuses (``q=0``) or gives no valid quality is skipped."""
        liked: list[tuple[float, int, str]] = []
        for position, entry in enumerate((accept_language or "").split(",")):
            tag, _, parameters = entry.partition(";")
            quality = 1.0
            for parameter in parameters.split(";"):
                name, _, value = parameter.strip().partition("=")
                if name.strip().lower() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            tag = tag.strip().lower().replace("_", "-")
            if quality > 0 and tag != "*" and LANGUAGE_CODE.fullmatch(tag):
                liked.append((-quality, position, tag))
        return next(filter(None, (self._served(tag) for _, _, tag in sorted(liked))), DEFAULT_LANGUAGE)

    def widget_words(self, language: str) -> dict[str, str]:
        """The words the widget shows, in ``language`` (one of ``languages``)."""
        return {name: self.languages[language][name] for name in WIDGET_WORDS}


def load_widget_words(path: Path) -> WidgetWords:
    """Read and check the widget's words; raise naming every problem."""
    problems: list[str] = []
    data = read_yaml(path, problems)
    if problems:
        raise WidgetWordsError(problems)
    if not isinstance(data, dict) or not data:
        raise WidgetWordsError([f"{path}: must be a mapping of language (e.g. en) -> the widget's words"])
    languages: dict[str, dict[str, str]] = {}
    for code, words in data.items():
        where = f"{path}: language {code!r}"
        if not isinstance(code, str) or not LANGUAGE_CODE.fullmatch(code):
            problems.append(
                f"{where} is not a lower-case language code such as en or pt-br "
                '(quote one YAML reads otherwise, e.g. "no")'
            )
            continue
        if not isinstance(words, dict):
            problems.append(f"{where}: must be a mapping of {', '.join(WORDS)}")
            continue
        problems += _word_problems(where, words)
        languages[code] = {name: " ".join(str(words.get(name)).split()) for name in WORDS}
    if DEFAULT_LANGUAGE not in data:
        problems.append(
            f"{path}: needs the words in '{DEFAULT_LANGUAGE}', which pages in other languages are given"
        )
    if problems:
        raise WidgetWordsError(problems)
    return WidgetWords(languages=languages)


def _word_problems(where: str, words: dict[Any, Any]) -> list[str]:
    problems = [
        f"{where}: '{name}' is missing" if name not in words else f"{where}: '{name}' must be non-empty text"
        for name in WORDS
        if not isinstance(words.get(name), str) or not words[name].strip()
    ]
    unknown = sorted(str(name) for name in set(words) - set(WORDS))
    if unknown:
        problems.append(f"{where}: unknown words {', '.join(unknown)} (the widget knows {', '.join(WORDS)})")
    return problems


@functools.lru_cache(maxsize=1)
def default_widget_words() -> WidgetWords:
    """The widget's words at the configured location, loaded once per process."""
    return load_widget_words(load_settings().widget_words_file)
