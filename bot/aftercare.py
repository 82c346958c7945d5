"""Aftercare that knows when the treatment was: "I had it yesterday, can I go running today?"

The sources give waiting times for some activities (wash the hair after 24 hours, no
vigorous exercise for 48) and none for others (coffee, alcohol, smoking: "before and
after"). ``data/faq/aftercare.yml`` holds each activity's topic, waiting time, sources and
words, and every sentence the patient reads. Given when the treatment was
(``bot/treatment_time.py``), each activity the answer covers gets a verdict:

- **passed** only when the window has ended even from the latest time the patient's words
  allow ("yesterday" is the whole day);
- **not passed** when it has not ended even from the earliest (or the treatment is still to
  come);
- **unknown** otherwise, and always where the sources give no duration: never "yes, you can".

Side effects still there longer than the sources describe ("still swollen two weeks later")
get a notice to contact the clinic (``lasting_side_effects``).

The file's top level is in the first language served; each other language has its block,
keyed by its code (``es:``), with the activities' names and words, every sentence, how
times are written and the symptoms' words; the loader refuses a file that lacks a language
served. ``AftercareRules.in_language`` gives the rules in a language: its sentences, and
the treatment's time read from that language's words. A message names an activity in any
language served (a Spanish patient writes "gym", an English one "cafe").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.clinic import CLINIC_FIELDS, Clinic
from bot.knowledge import KnowledgeBase, default_knowledge_base, template_problems
from bot.settings import load_settings
from bot.treatment_time import TreatmentTime, number_words, plain, read_treatment_time, without_accents
from bot.yaml_files import InvalidData, read_yaml

AFTERCARE_FILE = "aftercare.yml"
SAYS = ("passed", "not_passed", "future", "unknown", "no_duration", "ask_time", "lasting")
WHEN = ("today", "tomorrow", "yesterday", "other", "time")
# The placeholders each text may use ({half} needs `am` and `pm`).
_SAYS_PLACEHOLDERS = {"activity", "hours", "ends", "earliest", "latest", "treated"}
_WHEN_PLACEHOLDERS = {
    "today": {"time"},
    "tomorrow": {"time"},
    "yesterday": {"time"},
    "other": {"weekday", "day", "month", "time"},
    "time": {"hour", "hour24", "minute", "half"},
}


@dataclass(frozen=True)
class _Lasting:
    """How a patient says how long a side effect has lasted, in one language."""

    duration: re.Pattern[str]  # "two weeks": the count, then the unit
    counts: Mapping[str, float]
    unit_days: Mapping[str, int]
    still: re.Pattern[str]  # "still", "hasn't gone": a time then says since when


_LASTING = {
    "en": _Lasting(
        re.compile(
            r"\b(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a few|few|several|couple of|"
            r"a couple of)\s+(days?|weeks?|months?)\b",
            re.IGNORECASE,
        ),
        {**number_words("en"), "a few": 3, "few": 3, "several": 3, "couple of": 2, "a couple of": 2},
        {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30},
        re.compile(r"\b(still|not gone|hasn'?t gone|haven'?t gone|won'?t go|not going|not settled)\b", re.I),
    ),
    # Read without accents ("después de dos semanas" as "despues de dos semanas").
    "es": _Lasting(
        re.compile(
            r"\b(\d+|un|una|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|quince|veinte|"
            r"treinta|unos|unas|varios|varias|algunos|algunas|un par de|par de)"
            r"\s+(dias?|semanas?|mes|meses)\b",
            re.IGNORECASE,
        ),
        {
            **number_words("es"),
            **dict.fromkeys(("unos", "unas", "varios", "varias", "algunos", "algunas"), 3),
            "un par de": 2,
            "par de": 2,
        },
        {"dia": 1, "dias": 1, "semana": 7, "semanas": 7, "mes": 30, "meses": 30},
        re.compile(
            r"\b(sigo|sigue|siguen|todavia|aun|no se (?:me )?(?:quita|quitan|va|van|baja|bajan|pasa|pasan)|"
            r"no (?:se )?(?:me )?(?:ha|han) (?:ido|quitado|bajado|pasado|desaparecido)|no desaparecen?|"
            r"no mejoran?|persisten?)\b",
            re.IGNORECASE,
        ),
    ),
}


class AftercareError(InvalidData):
    """``data/faq/aftercare.yml`` is invalid."""

    summary = "the aftercare rules are invalid"


@dataclass(frozen=True)
class Activity:
    id: str
    topic: str
    wait_hours: float | None
    sources: tuple[str, ...]
    name: str  # in the rules' language
    words: re.Pattern[str]  # that show a message asks about it, in every language served


@dataclass(frozen=True)
class Verdict:
    """One activity judged against the treatment's time."""

    activity: Activity
    treated: TreatmentTime | None
    passed: bool | None

    @property
    def ends(self) -> tuple[datetime, datetime] | None:
        """When the window ends, from the earliest and the latest treatment time."""
        if self.treated is None or self.activity.wait_hours is None:
            return None
        wait = timedelta(hours=self.activity.wait_hours)
        return self.treated.earliest + wait, self.treated.latest + wait

    def metadata(self, zone: ZoneInfo) -> dict[str, Any]:
        ends = self.ends
        return {
            "activity": self.activity.id,
            "wait_hours": self.activity.wait_hours,
            "treated_at": self.treated.latest.astimezone(zone).isoformat() if self.treated else None,
            "ends_at": ends[1].astimezone(zone).isoformat() if ends else None,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class AftercareRules:
    activities: tuple[Activity, ...]
    says: Mapping[str, str]
    when: Mapping[str, Any]
    lasting_days: int
    symptoms: re.Pattern[str]
    language: str = "en"
    # The same rules in each other language served, by code.
    translations: Mapping[str, AftercareRules] = field(default_factory=dict)

    def in_language(self, language: str | None) -> AftercareRules:
        """These rules in ``language`` (a served one), else as they are."""
        if language is None or language == self.language:
            return self
        return self.translations.get(language, self)

    @property
    def topics(self) -> frozenset[str]:
        """The topics whose answers depend on when the treatment was."""
        return frozenset(a.topic for a in self.activities)

    def activities_for(self, topics: Iterable[str], text: str) -> list[Activity]:
        """The activities an answer on ``topics`` covers: those the message names, or all
        of the topics' activities when it names none."""
        wanted = set(topics)
        covered = [a for a in self.activities if a.topic in wanted]
        named = [a for a in covered if a.words.search(text)]
        return named or covered

    def timed(self, activities: Sequence[Activity]) -> bool:
        """Whether knowing the treatment's time would change the answer."""
        return any(a.wait_hours is not None for a in activities)

    def format_time(self, instant: datetime, now: datetime) -> str:
        """``instant`` as the patient reads it, in ``now``'s time zone."""
        local, today = instant.astimezone(now.tzinfo), now.date()
        hour = local.hour % 12 or 12
        clock = self.when["time"].format(
            hour=hour,
            hour24=local.hour,
            minute=f"{local.minute:02d}",
            half=self.when.get("am" if local.hour < 12 else "pm", ""),
        )
        days = (local.date() - today).days
        named = {0: "today", 1: "tomorrow", -1: "yesterday"}.get(days)
        if named:
            return str(self.when[named]).format(time=clock)
        return str(self.when["other"]).format(
            weekday=self.when["weekdays"][local.weekday()],
            day=local.day,
            month=self.when["months"][local.month - 1],
            time=clock,
        )


def judge(activity: Activity, treated: TreatmentTime | None, now: datetime) -> Verdict:
    if treated is None or activity.wait_hours is None:
        return Verdict(activity, treated, None)
    instant, wait = now.astimezone(timezone.utc), timedelta(hours=activity.wait_hours)
    if treated.latest + wait <= instant:
        return Verdict(activity, treated, True)
    if treated.earliest + wait > instant:
        return Verdict(activity, treated, False)
    return Verdict(activity, treated, None)


def _hours(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def verdict_sentence(rules: AftercareRules, verdict: Verdict, now: datetime) -> str:
    activity, says = verdict.activity, rules.says
    if activity.wait_hours is None:
        return says["no_duration"].format(activity=activity.name)
    ends = verdict.ends
    if verdict.treated is None or ends is None:
        return ""
    hours = _hours(activity.wait_hours)
    if verdict.treated.earliest > now.astimezone(timezone.utc):
        return says["future"].format(
            treated=rules.format_time(verdict.treated.earliest, now),
            hours=hours,
            activity=activity.name,
            ends=rules.format_time(ends[1], now),
        )
    if verdict.passed is True:
        return says["passed"].format(
            hours=hours, activity=activity.name, ends=rules.format_time(ends[1], now)
        )
    if verdict.passed is False and verdict.treated.exact:
        return says["not_passed"].format(
            hours=hours, activity=activity.name, ends=rules.format_time(ends[1], now)
        )
    return says["unknown"].format(
        hours=hours,
        activity=activity.name,
        earliest=rules.format_time(ends[0], now),
        latest=rules.format_time(ends[1], now),
    )


@dataclass(frozen=True)
class AftercareAnswer:
    """The sentences that answer the question asked, before the topic's general answer."""

    lines: tuple[str, ...]  # before the general answer
    verdicts: tuple[Verdict, ...]
    asks_time: bool  # the reply asks when the treatment was, after the general answer
    read: TreatmentTime | None  # the treatment's time read from this message

    def metadata(self, zone: ZoneInfo) -> list[dict[str, Any]]:
        return [v.metadata(zone) for v in self.verdicts]


def answer_aftercare(
    rules: AftercareRules,
    topics: Sequence[str],
    text: str,
    now: datetime,
    known: TreatmentTime | None,
    may_ask: bool,
) -> AftercareAnswer | None:
    """What to say before the general answer on ``topics`` (None: they are not aftercare).

    The treatment's time comes from ``text``, else from earlier in the conversation
    (``known``). Without one, and when it would change the answer, the reply asks for it
    once (``may_ask``); the general answer is given either way.
    """
    activities = rules.activities_for(topics, text)
    if not activities:
        return None
    read = read_treatment_time(text, now, rules.language)
    treated = read or known
    verdicts = tuple(judge(a, treated, now) for a in activities)
    # Without a time, the general answer already says what the sources say.
    lines = [line for v in verdicts if treated is not None and (line := verdict_sentence(rules, v, now))]
    asks = treated is None and may_ask and rules.timed(activities)
    return AftercareAnswer(tuple(lines), verdicts, asks, read)


def _count(amount: str, lasting: _Lasting) -> int:
    amount = amount.lower()
    return int(amount) if amount.isdigit() else int(lasting.counts.get(amount, 1))


def lasts_longer_than_described(rules: AftercareRules, text: str, now: datetime) -> bool:
    """A side effect still there after more days than the sources describe ("still swollen
    and bruised two weeks later", "sigo hinchada después de dos semanas"), in the rules'
    language."""
    lasting = _LASTING.get(rules.language)
    if lasting is None or not rules.symptoms.search(text):
        return False
    words = plain(text, rules.language)
    days = max(
        (
            _count(m.group(1), lasting) * lasting.unit_days[m.group(2).lower()]
            for m in lasting.duration.finditer(words)
        ),
        default=0,
    )
    treated = read_treatment_time(text, now, rules.language) if lasting.still.search(words) else None
    if treated is not None:
        days = max(days, int((now.astimezone(timezone.utc) - treated.latest).total_seconds() // 86400))
    return days >= rules.lasting_days


def lasting_notice(rules: AftercareRules, clinic: Clinic) -> str:
    return rules.says["lasting"].format(**clinic.details_in(rules.language))


def _word(value: Any) -> str:
    """A word as a regex that also matches it written without its accents ("champ[úu]")."""
    return "".join(
        f"[{c}{without_accents(c)}]" if without_accents(c) != c else re.escape(c) for c in str(value).strip()
    )


def _words(values: Iterable[Any]) -> re.Pattern[str]:
    ordered = sorted((str(v).strip() for v in values), key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(_word(v) for v in ordered) + r")\b", re.IGNORECASE)


def _texts(
    block: Mapping[str, Any], where: str, problems: list[str]
) -> tuple[dict[str, str], dict[str, Any], list[Any]]:
    """A language's sentences, how it writes times and its symptom words; problems reported."""
    says, when = block.get("says") or {}, block.get("when") or {}
    symptoms = (block.get("lasting") or {}).get("symptoms") or []
    if not isinstance(says, dict) or not isinstance(when, dict):
        problems.append(f"{where}: says and when must be mappings")
        return {}, {}, []
    for name in SAYS:
        if not isinstance(says.get(name), str):
            problems.append(f"{where}: says.{name} is missing")
            continue
        allowed = _SAYS_PLACEHOLDERS | (set(CLINIC_FIELDS) if name == "lasting" else set())
        problems += template_problems(where, f"says.{name}", says[name], sorted(allowed))
    for name in WHEN:
        if not isinstance(when.get(name), str):
            problems.append(f"{where}: when.{name} is missing")
            continue
        problems += template_problems(where, f"when.{name}", when[name], sorted(_WHEN_PLACEHOLDERS[name]))
    if "{half}" in str(when.get("time", "")):
        problems += [
            f"{where}: when.{h} is missing" for h in ("am", "pm") if not isinstance(when.get(h), str)
        ]
    if len(when.get("weekdays") or []) != 7 or len(when.get("months") or []) != 12:
        problems.append(f"{where}: when needs 7 weekdays and 12 months")
    if not isinstance(symptoms, list) or not symptoms:
        problems.append(f"{where}: lasting needs symptoms")
        symptoms = []
    return says, when, symptoms


def load_aftercare(
    path: Path, knowledge: KnowledgeBase, languages: Sequence[str] | None = None
) -> AftercareRules:
    """Read and check the aftercare rules against the knowledge base, in every language
    served (``LANGUAGES``); raise naming every problem."""
    languages = tuple(languages or load_settings().languages)
    problems: list[str] = []
    data = read_yaml(path, problems)
    if problems:
        raise AftercareError(problems)
    if not isinstance(data, dict):
        raise AftercareError([f"{path}: must be a mapping with activities, says, when and lasting"])
    items: list[dict[str, Any]] = []
    for number, item in enumerate(data.get("activities") or [], 1):
        where = f"{path}: activity {number}"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        topic, wait, sources = item.get("topic"), item.get("wait_hours"), item.get("sources") or []
        if topic not in knowledge.topics:
            problems.append(f"{where}: unknown topic {topic!r}")
        if wait is not None and (not isinstance(wait, int | float) or wait <= 0):
            problems.append(f"{where}: wait_hours must be a positive number of hours, or null")
        problems += [f"{where}: unknown source {s!r}" for s in sources if s not in knowledge.sources]
        if isinstance(topic, str) and topic in knowledge.topics:
            problems += [
                f"{where}: source {s} is not among topic {topic}'s sources"
                for s in sources
                if s not in knowledge.topic(topic).sources
            ]
        if not item.get("id") or not item.get("name") or not item.get("words"):
            problems.append(f"{where}: needs an id, a name and words")
            continue
        items.append(item)
    if not items:
        problems.append(f"{path}: no activities")
    lasting = data.get("lasting") or {}
    if not isinstance(lasting.get("days"), int):
        problems.append(f"{path}: lasting needs days (a whole number) and symptoms")
    texts = {languages[0]: _texts(data, str(path), problems)}
    names = {languages[0]: {str(i["id"]): str(i["name"]) for i in items}}
    words: dict[str, list[Any]] = {str(i["id"]): list(i["words"]) for i in items}
    for language in languages[1:]:
        block = data.get(language)
        where = f"{path} ({language})"
        if not isinstance(block, dict):
            problems.append(f"{path}: no '{language}:' block, and the bot serves {language} (LANGUAGES)")
            continue
        texts[language] = _texts(block, where, problems)
        translated = block.get("activities") or {}
        names[language] = {}
        for activity_id in words:
            entry = translated.get(activity_id) if isinstance(translated, dict) else None
            entry = entry if isinstance(entry, dict) else {}
            if not entry.get("name") or not entry.get("words") or not isinstance(entry["words"], list):
                problems.append(f"{where}: activity {activity_id} needs a name and words")
                continue
            names[language][activity_id] = str(entry["name"])
            words[activity_id] += entry["words"]
    if problems:
        raise AftercareError(problems)
    activities = tuple(
        Activity(
            str(i["id"]),
            str(i["topic"]),
            i.get("wait_hours"),
            tuple(i.get("sources") or []),
            str(i["name"]),
            _words(words[str(i["id"])]),
        )
        for i in items
    )

    def rules(language: str) -> AftercareRules:
        says, when, symptoms = texts[language]
        return AftercareRules(
            tuple(replace(a, name=names[language][a.id]) for a in activities),
            says,
            when,
            int(lasting["days"]),
            _words(symptoms),
            language,
        )

    first = rules(languages[0])
    return replace(first, translations={language: rules(language) for language in languages[1:]})


@functools.lru_cache(maxsize=1)
def default_aftercare() -> AftercareRules:
    return load_aftercare(load_settings().faq_dir / AFTERCARE_FILE, default_knowledge_base())
