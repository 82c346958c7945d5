"""Patient safety: the red-flag screen and personal-advice detection (``data/safety/``).

The screen decides whether a message describes a possible serious complication. It is
data-driven: every pattern lives in ``data/safety/red_flags.yml``, where the file's
header explains how a message is screened. ``components/safety_screen.py`` runs it in
the Rasa NLU pipeline after the intent classifier, so its decision cannot be overridden.

Personal-advice detection (``data/safety/personal_advice.yml``) finds a patient asking
about their own situation, so the answer can say the decision belongs to their doctor.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.settings import load_settings
from bot.yaml_files import InvalidData, read_yaml

EMERGENCY_INTENT = "emergency"
RED_FLAGS_FILE = "red_flags.yml"
PERSONAL_ADVICE_FILE = "personal_advice.yml"
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

_APOSTROPHES = re.compile("['\u2018\u2019\u201b\u0060\u00b4]")
_NOT_TEXT = re.compile(r"[^a-z0-9.,?!;:\s-]+")
_SPACES = re.compile(r"\s+")
# Clauses end at punctuation and at words that start a new thought.


# {gap:N} in a pattern: up to N characters inside one sentence without a negation word.
_GAP = re.compile(r"\{gap:(\d+)\}")


def normalise(text: str) -> str:
    """Lower case, accents dropped ("respiración" -> "respiracion", "año" -> "ano"),
    apostrophes dropped ("can't" -> "cant"), other symbols (¿ ¡) as spaces."""
    text = _APOSTROPHES.sub("", text.lower()).replace("\u2014", " - ").replace("\u2013", " - ")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return _SPACES.sub(" ", _NOT_TEXT.sub(" ", text)).strip()


# Clauses end at punctuation and at words that start a new thought; a negation never reaches
# past a sentence break. English words here; each language's file adds its own
# (``clause_breaks``, ``sentence_breaks``: red_flags_es.yml).
_PUNCTUATION_BREAK = r"[.?!;,:\n]+|\s-\s"
CLAUSE_BREAK_WORDS = ("but", "however", "although", "though", "also", "btw", "anyway", "plus")
SENTENCE_BREAK_WORDS = ("but", "and", "however", "although", "though", "yet")


def _breaks(words: Iterable[str]) -> re.Pattern[str]:
    alternatives = sorted({re.escape(normalise(w)) for w in words if normalise(w)}, key=len, reverse=True)
    return re.compile(rf"{_PUNCTUATION_BREAK}|\b(?:{'|'.join(alternatives)})\b")


_CLAUSE_BREAK = _breaks(CLAUSE_BREAK_WORDS)
_SENTENCE_BREAK = _breaks(SENTENCE_BREAK_WORDS)


class SafetyRulesError(InvalidData):
    """The safety data is invalid."""

    summary = "safety rules are invalid"


@dataclass(frozen=True)
class RedFlag:
    id: str
    name: str
    patterns: tuple[re.Pattern[str], ...]
    exceptions: tuple[re.Pattern[str], ...] = ()
    # Something a patient can have before treatment (an infected spot): in a clause about a
    # treatment still to come it is a question for their doctor, not a complication.
    may_predate_treatment: bool = False


@dataclass(frozen=True)
class Mention:
    """One red-flag match: its flag, the words matched, and whether it describes now."""

    red_flag: str
    words: str
    describes_now: bool


@dataclass(frozen=True)
class Screening:
    mentions: tuple[Mention, ...]

    @property
    def urgent(self) -> bool:
        return any(m.describes_now for m in self.mentions)

    @property
    def red_flags(self) -> tuple[str, ...]:
        """The red flags described as happening now, each once, in the order found."""
        return tuple(dict.fromkeys(m.red_flag for m in self.mentions if m.describes_now))


@dataclass(frozen=True)
class Situation:
    id: str
    topic: str | None
    patterns: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class PersonalAdvice:
    """The patient's own situations found in a message, and the topic that answers them."""

    situations: tuple[str, ...] = ()
    topic: str | None = None


@dataclass(frozen=True)
class SafetyRules:
    red_flags: tuple[RedFlag, ...]
    general: tuple[re.Pattern[str], ...]
    now: tuple[re.Pattern[str], ...]
    before_treatment: tuple[re.Pattern[str], ...]
    after_treatment: tuple[re.Pattern[str], ...]
    negation: re.Pattern[str]
    personal: re.Pattern[str]
    situations: tuple[Situation, ...]
    answer_instead_of: tuple[str, ...] = ()
    # The intent classifier's own `emergency` prediction escalates at this confidence.
    classifier_confidence: float = 1.0
    clause_break: re.Pattern[str] = _CLAUSE_BREAK
    sentence_break: re.Pattern[str] = _SENTENCE_BREAK

    def screen(self, text: str) -> Screening:
        """Every red-flag mention in ``text``; urgent when one describes what is happening."""
        normal = normalise(text)
        clauses = _spans(normal, self.clause_break)
        sentences = _spans(normal, self.sentence_break)
        before_treatment = any(p.search(normal) for p in self.before_treatment)
        mentions = []
        for flag in self.red_flags:
            for pattern in flag.patterns:
                for match in pattern.finditer(normal):
                    context = _covering(normal, clauses, match.start(), match.end())
                    if any(exception.search(context) for exception in flag.exceptions):
                        continue
                    sentence_start = next((s for s, e in sentences if s <= match.start() <= e), 0)
                    if self.negation.search(normal[sentence_start : match.start()]):
                        continue
                    describes_now = self._describes_now(flag, context, before_treatment)
                    mentions.append(Mention(flag.id, match.group(0), describes_now))
        return Screening(tuple(mentions))

    def answer_topic(self, advice: PersonalAdvice, intent: str | None) -> str | None:
        """The topic that answers a personal question the classifier found unsure or broad."""
        if advice.topic and (intent is None or intent in self.answer_instead_of):
            return advice.topic
        return None

    def _describes_now(self, flag: RedFlag, context: str, before_treatment: bool) -> bool:
        """Whether a mention in ``context`` (its clause) describes what is happening now."""
        if (
            flag.may_predate_treatment
            and before_treatment
            and not any(p.search(context) for p in self.after_treatment)
        ):
            return False
        general = any(p.search(context) for p in self.general)
        return not general or any(p.search(context) for p in self.now)

    def personal_advice(self, text: str) -> PersonalAdvice:
        """The situations a patient describes about themself (none for a general question)."""
        normal = normalise(text)
        if not self.personal.search(normal):
            return PersonalAdvice()
        found = [s for s in self.situations if any(p.search(normal) for p in s.patterns)]
        topic = next((s.topic for s in found if s.topic), None)
        return PersonalAdvice(tuple(s.id for s in found), topic)


def _spans(text: str, breaks: re.Pattern[str]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for found in breaks.finditer(text):
        spans.append((start, found.start()))
        start = found.end()
    spans.append((start, len(text)))
    return spans


def _covering(text: str, spans: Sequence[tuple[int, int]], start: int, end: int) -> str:
    """The text of every span the range [start, end) touches."""
    touched = [(s, e) for s, e in spans if s <= end and e >= start] or [(start, end)]
    return text[min(s for s, _ in touched) : max(max(e for _, e in touched), end)]


class _Reader:
    """Collects every problem in a safety file, naming the file and entry."""

    def __init__(self, path: Path, problems: list[str], gap: str = "[^.?!]") -> None:
        self.path = path
        self.problems = problems
        self.gap = gap

    def read(self) -> dict[str, Any]:
        reported = len(self.problems)
        data = read_yaml(self.path, self.problems)
        if len(self.problems) > reported:
            return {}
        if not isinstance(data, dict):
            self.problems.append(f"{self.path}: must be a mapping")
            return {}
        return data

    def patterns(self, where: str, value: Any, required: bool = True) -> tuple[re.Pattern[str], ...]:
        if value is None and not required:
            return ()
        if not isinstance(value, list) or not value or not all(isinstance(p, str) and p for p in value):
            self.problems.append(f"{self.path}: {where}: needs a list of patterns")
            return ()
        return tuple(
            p for p in (self.pattern(f"{where}, pattern {i + 1}", v) for i, v in enumerate(value)) if p
        )

    def pattern(self, where: str, value: Any) -> re.Pattern[str] | None:
        if not isinstance(value, str) or not value:
            self.problems.append(f"{self.path}: {where}: needs a pattern")
            return None
        expanded = _GAP.sub(lambda found: f"{self.gap}{{0,{found.group(1)}}}", value)
        try:
            compiled = re.compile(expanded)
        except re.error as error:
            self.problems.append(f"{self.path}: {where}: is not a valid regular expression ({error})")
            return None
        if compiled.search(""):
            self.problems.append(f"{self.path}: {where}: matches empty text")
            return None
        return compiled

    def entries(
        self, data: dict[str, Any], key: str, label: str
    ) -> Iterator[tuple[str, dict[str, Any], str]]:
        """Each entry of the list ``key`` with a valid, unique id: (id, entry, where)."""
        entries = data.get(key)
        if data and (not isinstance(entries, list) or not entries):
            self.problems.append(f"{self.path}: needs a '{key}' list")
        seen: set[str] = set()
        for number, entry in enumerate(entries if isinstance(entries, list) else [], start=1):
            entry_id = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(entry_id, str) or not ID_PATTERN.match(entry_id):
                self.problems.append(f"{self.path}: {label} {number}: needs an id in lower_snake_case")
            elif entry_id in seen:
                self.problems.append(f"{self.path}: {label} {number}: duplicate id '{entry_id}'")
            else:
                seen.add(entry_id)
                yield entry_id, entry, f"{label} '{entry_id}'"


def _load_red_flags(reader: _Reader, data: dict[str, Any]) -> tuple[RedFlag, ...]:
    flags: list[RedFlag] = []
    for flag_id, entry, where in reader.entries(data, "red_flags", "red flag"):
        unknown = sorted(set(entry) - {"id", "name", "patterns", "except", "may_predate_treatment"})
        if unknown:
            reader.problems.append(f"{reader.path}: {where}: unknown fields {', '.join(unknown)}")
        if not isinstance(entry.get("name"), str) or not entry["name"].strip():
            reader.problems.append(f"{reader.path}: {where}: needs a name")
        if not isinstance(entry.get("may_predate_treatment", False), bool):
            reader.problems.append(f"{reader.path}: {where}: 'may_predate_treatment' must be true or false")
        flags.append(
            RedFlag(
                id=flag_id,
                name=str(entry.get("name", "")),
                patterns=reader.patterns(where, entry.get("patterns")),
                exceptions=reader.patterns(f"{where}, except", entry.get("except"), required=False),
                may_predate_treatment=entry.get("may_predate_treatment") is True,
            )
        )
    return tuple(flags)


def _load_situations(
    reader: _Reader, data: dict[str, Any], known_topics: Iterable[str] | None
) -> tuple[Situation, ...]:
    topics = set(known_topics) if known_topics is not None else None
    situations: list[Situation] = []
    for situation_id, entry, where in reader.entries(data, "situations", "situation"):
        topic = entry.get("topic")
        if topic is not None and (not isinstance(topic, str) or (topics is not None and topic not in topics)):
            reader.problems.append(f"{reader.path}: {where}: topic '{topic}' is not in the knowledge base")
        situations.append(Situation(situation_id, topic, reader.patterns(where, entry.get("patterns"))))
    return tuple(situations)


# The lists another language's file adds to; in its entries, the patterns (and exceptions).
_MERGED_LISTS = (
    "general",
    "now",
    "before_treatment",
    "after_treatment",
    "negations",
    "clause_breaks",
    "sentence_breaks",
)
_MERGED_ENTRY_LISTS = ("patterns", "except")


def _with_language_files(
    data: dict[str, Any], safety_dir: Path, name: str, entries_key: str, problems: list[str]
) -> dict[str, Any]:
    """``data`` (``red_flags.yml`` or ``personal_advice.yml``) with what each language's own
    file (``red_flags_es.yml``) adds: patterns for the same ids, more clause patterns and
    negation words, and its ``personal`` pattern as an alternative. A language file names
    no id of its own: every red flag and situation is defined once, in the main file."""
    merged = {
        **data,
        entries_key: [dict(entry) for entry in data.get(entries_key) or [] if isinstance(entry, dict)],
    }
    by_id = {entry.get("id"): entry for entry in merged[entries_key]}
    stem = Path(name).stem
    for path in sorted(safety_dir.glob(f"{stem}_*.yml")):
        extra = _Reader(path, problems).read()
        for key in _MERGED_LISTS:
            if isinstance(extra.get(key), list) and isinstance(merged.get(key, []), list):
                merged[key] = [*merged.get(key, []), *extra[key]]
        if isinstance(extra.get("personal"), str) and isinstance(merged.get("personal"), str):
            merged["personal"] = f"(?:{merged['personal']})|(?:{extra['personal']})"
        for number, entry in enumerate(extra.get(entries_key) or [], start=1):
            entry_id = entry.get("id") if isinstance(entry, dict) else None
            target = by_id.get(entry_id)
            if target is None:
                problems.append(f"{path}: entry {number}: id {entry_id!r} is not in {name}")
                continue
            for key in _MERGED_ENTRY_LISTS:
                if isinstance(entry.get(key), list):
                    target[key] = [*(target.get(key) or []), *entry[key]]
    return merged


def load_safety_rules(safety_dir: Path, known_topics: Iterable[str] | None = None) -> SafetyRules:
    """Load and check the red flags and personal-advice situations, with each language's own
    file's patterns (``red_flags_es.yml``, ``personal_advice_es.yml``); raise on any problem.
    Every message is screened with every language's patterns."""
    problems: list[str] = []
    path = safety_dir / RED_FLAGS_FILE
    flag_data = _with_language_files(
        _Reader(path, problems).read(), safety_dir, RED_FLAGS_FILE, "red_flags", problems
    )
    negations = flag_data.get("negations")
    if not isinstance(negations, list) or not all(isinstance(n, str) and n.strip() for n in negations):
        problems.append(f"{path}: 'negations' must be a list of words")
        negations = ["no"]
    words = "|".join(re.escape(normalise(n)) for n in negations)
    # A negation, then at most two words, right before the symptom.
    negation = re.compile(rf"\b(?:{words})(?:\s+\S+){{0,2}}\s*$")
    flags_reader = _Reader(path, problems, gap=rf"(?:(?!\b(?:{words})\b)[^.?!])")
    red_flags = _load_red_flags(flags_reader, flag_data)
    general = flags_reader.patterns("general", flag_data.get("general"))
    now = flags_reader.patterns("now", flag_data.get("now"))
    before_treatment = flags_reader.patterns("before_treatment", flag_data.get("before_treatment"))
    after_treatment = flags_reader.patterns("after_treatment", flag_data.get("after_treatment"))

    advice_reader = _Reader(safety_dir / PERSONAL_ADVICE_FILE, problems)
    advice_data = _with_language_files(
        advice_reader.read(), safety_dir, PERSONAL_ADVICE_FILE, "situations", problems
    )
    personal = advice_reader.pattern("personal", advice_data.get("personal"))
    situations = _load_situations(advice_reader, advice_data, known_topics)
    confidence = flag_data.get("classifier_confidence", 1.0)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence <= 1:
        problems.append(f"{path}: 'classifier_confidence' must be a number above 0 and at most 1")
        confidence = 1.0
    instead = advice_data.get("answer_instead_of", [])
    if not isinstance(instead, list) or not all(isinstance(i, str) for i in instead):
        problems.append(f"{advice_reader.path}: 'answer_instead_of' must be a list of intent names")
        instead = []
    if problems:
        raise SafetyRulesError(problems)
    assert personal is not None
    return SafetyRules(
        red_flags,
        general,
        now,
        before_treatment,
        after_treatment,
        negation,
        personal,
        situations,
        tuple(instead),
        float(confidence),
        _breaks([*CLAUSE_BREAK_WORDS, *_words(flag_data.get("clause_breaks"))]),
        _breaks([*SENTENCE_BREAK_WORDS, *_words(flag_data.get("sentence_breaks"))]),
    )


def _words(value: Any) -> list[str]:
    return [str(v) for v in value if isinstance(v, str) and v.strip()] if isinstance(value, list) else []


NEVER_MATCHES = "(?!)"


def copy_without_patterns(safety_dir: Path, target: Path) -> None:
    """A copy of the safety data whose red-flag patterns match nothing.

    For measuring the intent classifier's own ``emergency`` predictions
    (``python -m tooling classifier``); never for serving patients.
    """
    target.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((safety_dir / RED_FLAGS_FILE).read_text(encoding="utf-8"))
    for flag in data["red_flags"]:
        flag["patterns"] = [NEVER_MATCHES]
    (target / RED_FLAGS_FILE).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    (target / PERSONAL_ADVICE_FILE).write_bytes((safety_dir / PERSONAL_ADVICE_FILE).read_bytes())


@functools.lru_cache(maxsize=1)
def default_safety_rules() -> SafetyRules:
    """The safety rules at the configured location, loaded once per process.

    Topic ids are checked against the knowledge base by ``python -m tooling validate``.
    """
    return load_safety_rules(load_settings().safety_dir)
