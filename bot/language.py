"""Which language a patient writes in: English or Spanish, the languages the bot answers in,
or another one it does not.

Short texts are ambiguous ("ok", "meso", "PRP vs meso"), so a message's language is
decided in the light of the conversation:

- a message that clearly reads as a served language is in that language;
- one that clearly reads as another language (and is long enough to tell) is in no served
  language: the patient gets a short reply, in every served language, saying which the bot
  answers in;
- anything else keeps the conversation's language, else the client's hint (the widget sends
  the browser's), else the first served language.

The detector is lingua (``lingua-language-detector``), made for short texts, restricted to
the served languages and a few others a clinic's patients are likely to write in, so that
"another language" can be recognised at all.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lingua import ConfidenceValue, Language, LanguageDetector, LanguageDetectorBuilder

ENGLISH, SPANISH = "en", "es"
# The intent of a message clearly in a language the bot does not answer in.
OTHER_LANGUAGE_INTENT = "other_language"
SERVED = (ENGLISH, SPANISH)
# Languages recognised so as to say "I answer in English and Spanish" to them.
OTHERS = ("fr", "de", "pt", "it", "nl")
_CODES = {
    "en": Language.ENGLISH,
    "es": Language.SPANISH,
    "fr": Language.FRENCH,
    "de": Language.GERMAN,
    "pt": Language.PORTUGUESE,
    "it": Language.ITALIAN,
    "nl": Language.DUTCH,
    "pl": Language.POLISH,
    "tr": Language.TURKISH,
    "ru": Language.RUSSIAN,
    "ar": Language.ARABIC,
    "zh": Language.CHINESE,
    "vi": Language.VIETNAMESE,
    "tl": Language.TAGALOG,
    "ko": Language.KOREAN,
    "ja": Language.JAPANESE,
    "hi": Language.HINDI,
}
_NAMES = {language: code for code, language in _CODES.items()}
# Marks only Spanish uses among the languages the bot serves.
_SPANISH_PUNCTUATION = re.compile(r"[¿¡]")
_SPANISH_WORDS = re.compile(
    r"\b(hola|gracias|buen[oa]s|qu[eé]|c[oó]mo|cu[aá]nto|cu[aá]nta|cu[aá]ndo|d[oó]nde|puedo|tengo|est[aá]|"
    r"despu[eé]s|mesoterapia|embarazada|cabello|tratamiento|sesi[oó]n|sesiones)\b",
    re.I,
)
_WORD = re.compile(r"\w+", re.UNICODE)
# Short words each served language writes all the time: when the detector is unsure, the
# language with more of them in a message is its language.
_FUNCTION_WORDS = {
    "en": frozenset(
        [
            "the",
            "a",
            "an",
            "and",
            "or",
            "of",
            "to",
            "in",
            "on",
            "for",
            "with",
            "is",
            "are",
            "was",
            "be",
            "it",
            "i",
            "my",
            "me",
            "you",
            "your",
            "can",
            "do",
            "does",
            "did",
            "how",
            "what",
            "when",
            "will",
            "would",
            "should",
            "much",
            "many",
            "after",
            "before",
            "this",
            "that",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "un",
            "una",
            "unos",
            "unas",
            "y",
            "o",
            "de",
            "del",
            "al",
            "en",
            "con",
            "por",
            "para",
            "es",
            "son",
            "era",
            "ser",
            "yo",
            "mi",
            "me",
            "te",
            "tu",
            "se",
            "le",
            "lo",
            "que",
            "como",
            "cuando",
            "cuanto",
            "cuanta",
            "donde",
            "muy",
            "mas",
            "despues",
            "antes",
            "este",
            "esta",
            "eso",
            "hay",
            "puedo",
            "pelo",
            "cara",
        ]
    ),
}


@dataclass(frozen=True)
class LanguageRules:
    """How sure the detector must be (chosen on the question sets, docs/languages.md)."""

    served_confidence: float = 0.5  # a served language this likely is the message's
    other_confidence: float = 0.8  # another language this likely, ...
    other_words: int = 3  # ... in a message of at least this many words, is no served one


@dataclass(frozen=True)
class Detected:
    language: str | None  # a served language, or None: another one
    code: str  # the detector's best guess, served or not
    confidence: float
    sure: bool  # the message alone says so (not the conversation's or the hint)


@functools.lru_cache(maxsize=1)
def detector() -> LanguageDetector:
    languages = [_CODES[code] for code in (*SERVED, *OTHERS)]
    return LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models().build()


@functools.lru_cache(maxsize=1)
def confidence_values(text: str) -> tuple[ConfidenceValue, ...]:
    """lingua's confidence in each language for ``text``, best first. The last text's are
    kept: the topic reader and the language reader each ask about the same message, one
    right after the other, and lingua's reading is about 2% of the server's time per call."""
    return tuple(detector().compute_language_confidence_values(text))


def served_hint(hint: object) -> str | None:
    """A client's language hint ("es-MX", "en") as a served language, else None."""
    if not isinstance(hint, str):
        return None
    code = hint.strip().lower().replace("_", "-").split("-")[0]
    return code if code in SERVED else None


def detect(
    text: str,
    conversation: str | None = None,
    hint: str | None = None,
    rules: LanguageRules = LanguageRules(),
    served: Sequence[str] = SERVED,
) -> Detected:
    """The language to read and answer ``text`` in (see the module's notes)."""
    fallback: str = served_hint(hint) or served[0]
    if conversation is not None and conversation in served:
        fallback = conversation
    words = _WORD.findall(text)
    if not words:
        return Detected(fallback, fallback, 0.0, False)
    values = confidence_values(text)
    best = values[0]
    code = _NAMES[best.language]
    served_scores = {_NAMES[v.language]: v.value for v in values if _NAMES[v.language] in served}
    if SPANISH in served and _SPANISH_PUNCTUATION.search(text):  # ¿ ¡: no other language writes them
        return Detected(SPANISH, SPANISH, served_scores.get(SPANISH, 0.0), True)
    if code not in served and best.value >= rules.other_confidence and len(words) >= rules.other_words:
        return Detected(None, code, best.value, True)
    if (
        SPANISH in served
        and _SPANISH_WORDS.search(text)
        and served_scores.get(SPANISH, 0.0) >= served_scores.get(ENGLISH, 0.0)
    ):
        return Detected(SPANISH, SPANISH, served_scores.get(SPANISH, 0.0), True)
    if code in served and best.value >= rules.served_confidence:
        return Detected(code, code, best.value, True)
    votes = {lang: sum(w.lower() in _FUNCTION_WORDS.get(lang, ()) for w in words) for lang in served}
    ranked = sorted(votes.items(), key=lambda item: -item[1])
    if len(ranked) > 1 and ranked[0][1] >= 2 and ranked[0][1] > ranked[1][1] and conversation not in served:
        return Detected(ranked[0][0], code, best.value, False)  # a first message: its words decide
    return Detected(fallback, code, best.value, False)
