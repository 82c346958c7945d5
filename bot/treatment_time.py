"""When a patient's treatment was, or will be, read from their own words.

"I had it 3 hours ago", "yesterday at 4", "this morning", "my appointment is Friday at 10";
"me la hice ayer a las 4", "hace 3 horas", "fue esta mañana", "mi cita es el viernes a las
10": the date parser (``dateparser``) finds the expression and its day; this module decides
how exact it is and turns it into a range of instants in the patient's time zone:

- an hour or a clock time ("3 hours ago", "at 14:30", "yesterday at 4") is one instant;
- a part of the day ("this morning", "last night") is that part of the day;
- a day alone ("yesterday", "on Monday", "two days ago") is the whole day.

Elapsed time is counted in real hours (``zoneinfo``), so a daylight-saving change counts.
A bare hour for an appointment ("at 4") is read within clinic hours: 1 to 7 as the
afternoon, 8 to 12 as the morning. A time that cannot be a treatment (far in the past or
the future, "in -5 hours", "on the 45th") is not read at all: the answer stays general.

Each language the reader knows has its own patterns (``_Grammar``: English, Spanish), and
one reading works with any of them. The parser reads Spanish less well than English, so a
Spanish message is first put in words it reads: accents dropped ("mañana" as "manana",
as patients often write), number words as digits ("hace dos días" as "hace 2 dias"),
"antier" and "antes de ayer" as "anteayer", "anoche" as "ayer por la noche", "al mediodía"
and "a las 4 y media de la tarde" as clock times; and an expression it finds must hold a
time word (it takes "mi" for miércoles).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date as date_type
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import dateparser
from dateparser.search import search_dates

# A treatment this far away is no treatment the patient is asking about.
FARTHEST = timedelta(days=60)
UTC = timezone.utc
_NEGATIVE = re.compile(r"-\s*\d")
_CLOCK = re.compile(r"\b\d{1,2}(:\d\d)?\s*(am|pm)\b|\b\d{1,2}:\d\d\b", re.IGNORECASE)
_DOTTED_TIME = re.compile(r"\b(\d{1,2})\.(\d\d)\s*(am|pm)?\b", re.IGNORECASE)


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


def _alternatives(words: Mapping[str, Any]) -> str:
    """The words as one regex alternation, longest first ("veintidos" before "dos")."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def without_accents(text: str) -> str:
    """``text`` with its accents dropped ("mañana" as "manana", "días" as "dias"): Spanish
    patients often leave them out, so the Spanish patterns are written without them."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@dataclass(frozen=True)
class _Grammar:
    """How times are written in one language: the patterns the reading below is made of."""

    code: str  # the date parser's language
    time_words: re.Pattern[str]  # without one, a message holds no time worth parsing
    instant: re.Pattern[str]  # an expression that names an hour or a minute
    parts_of_day: tuple[tuple[re.Pattern[str], int, int], ...]  # hours from midnight
    earlier_today: re.Pattern[str]
    earlier_today_words: str
    future: re.Pattern[str]  # words that put the treatment in the future
    not_the_treatment: re.Pattern[str]  # what the parser finds that is the activity's time
    bare_hour: re.Pattern[str]  # "at 4": group ``hour``; optional ``minute``, ``offset``, ``part``
    clock: str  # how a bare hour is rewritten for the parser
    ordinal: re.Pattern[str]  # a day of the month without its month ("on the 3rd")
    day_of_month: str
    month: re.Pattern[str]
    named_part: re.Pattern[str]  # "this morning", "last night": groups ``day`` and ``part``
    this_day: re.Pattern[str]  # the ``day`` of a named part that is today
    yesterday: re.Pattern[str]  # the ``day`` of a named part that is yesterday
    numbers: Mapping[str, float]  # numbers as patients write them in words
    relative: re.Pattern[str]  # "3 hours ago": groups ``future``, ``past``, ``amount``, ``unit``, ``half``
    vague_span: re.Pattern[str]  # a span no day can be taken from
    other_day: re.Pattern[str]
    evening: re.Pattern[str]  # a bare hour in a message with one of these is after noon
    # A bare hour's ``part`` that keeps it before noon ("a las 9 de la mañana").
    morning: re.Pattern[str] | None = None
    minute_words: Mapping[str, int] = field(default_factory=dict)  # a bare hour's ``offset``
    # Words that put the treatment in the past whatever else the message says ("me la hice").
    past: re.Pattern[str] | None = None
    # Rewrites into words the parser reads, in order, after ``plain``.
    rewrites: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = ()
    plain: Callable[[str], str] = str  # the message as the patterns read it
    found_needs_time_word: bool = False  # the parser takes some short words for dates
    parser_settings: Mapping[str, Any] = field(default_factory=dict)


# Numbers as patients write them in words.
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "half an": 0.5,
    "half a": 0.5,
}

_ENGLISH = _Grammar(
    code="en",
    time_words=_pattern(
        r"\b(ago|yesterday|today|tonight|tomorrow|morning|afternoon|evening|night|noon|midday|"
        r"midnight|lunchtime|mon(day)?|tue(s|sday)?|wed(nesday)?|thu(rs|rsday)?|fri(day)?|"
        r"sat(urday)?|sun(day)?|week|weeks|days?|hours?|hrs?|minutes?|mins?|"
        r"jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t|tember)?|"
        r"oct(ober)?|nov(ember)?|dec(ember)?|\d{1,2}(st|nd|rd|th)|\d{1,2}([:.]\d\d)?\s*(am|pm)|"
        r"at \d{1,2}([:.]\d\d)?)\b"
    ),
    instant=_pattern(
        r"(\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|half an?)\s*"
        r"(hours?|hrs?|minutes?|mins?)\b|\d{1,2}[:.]\d\d|\d\s*(am|pm)\b|\bnoon\b|\bmidday\b|"
        r"\bmidnight\b|\bat \d{1,2}\b"
    ),
    parts_of_day=(
        (_pattern(r"\blast night\b|\bnight\b"), 18, 26),
        (_pattern(r"\bmorning\b"), 6, 12),
        (_pattern(r"\bafternoon\b"), 12, 18),
        (_pattern(r"\bevening\b|\btonight\b"), 18, 23),
        (_pattern(r"\blunch ?time\b"), 11, 15),
    ),
    earlier_today=_pattern(r"\bearlier today\b|\bearlier on\b"),
    earlier_today_words="earlier today",
    future=_pattern(
        r"\b(tomorrow|next|in \d+|in an?|in half|will|going to|gonna|booked|booking|appointment is|"
        r"is on|coming up|later today|this coming|upcoming|planned|scheduled)\b"
    ),
    not_the_treatment=_pattern(
        r"^(now|right now|today|tonight|this evening|yet|again|then|soon|later|asap)$"
    ),
    # "at 4" and "at 4:30" without am or pm: within clinic hours (16:00, 16:30).
    bare_hour=_pattern(
        r"\bat (?P<hour>\d{1,2})(?::(?P<minute>\d\d))?\b"
        r"(?!\s*(?:[:.]\d|am|pm|a\.m|p\.m|o'?clock|h\b|hours?|hrs?))"
    ),
    clock="at {hour:02d}:{minute:02d}",
    ordinal=_pattern(r"\b(?:on )?the (\d{1,2})(?:st|nd|rd|th)\b"),
    day_of_month="the {day}",
    month=_pattern(
        r"\b(jan(uary)?|feb(ruary)?|march|apr(il)?|may|june|july|aug(ust)?|sept?(ember)?|oct(ober)?|"
        r"nov(ember)?|dec(ember)?)\b"
    ),
    named_part=_pattern(r"\b(?P<day>this|last|yesterday)\s+(?P<part>morning|afternoon|evening|night)\b"),
    this_day=_pattern(r"^this$"),
    yesterday=_pattern(r"^(last|yesterday)$"),
    numbers=NUMBER_WORDS,
    relative=_pattern(
        r"\b(?:(?P<future>in)\s+)?(?P<amount>\d+(?:\.\d+)?|an?|one|two|three|four|five|six|seven|eight|"
        r"nine|ten|eleven|twelve|half an?)\s*(?P<unit>hours?|hrs?|h|minutes?|mins?)\b"
        r"(?P<half>\s+and\s+a\s+half)?(?:\s+(?P<past>ago))?"
    ),
    # "last week", "the other day", "at the weekend": rather no time than a day that could
    # say a window has passed when it may not have.
    vague_span=_pattern(
        r"\b(last|this|next|past)\s+(week|month|year)\b|\bthe other day\b|\bweekend\b|\ba while\b"
    ),
    other_day=_pattern(r"\b(yesterday|ago|days?|week|mon|tues?|wed|thu(rs)?|fri|sat|sun)[a-z]*\b"),
    evening=_pattern(r"\b(night|evening|tonight|pm)\b"),
)

# Spanish numbers in words, 1 to 59 ("veinticuatro", "treinta y cinco").
_SPANISH_UNITS = {
    "un": 1,
    "una": 1,
    "uno": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
}
_SPANISH_NUMBERS: dict[str, int] = {
    **_SPANISH_UNITS,
    "diez": 10,
    "once": 11,
    "doce": 12,
    "trece": 13,
    "catorce": 14,
    "quince": 15,
    "dieciseis": 16,
    "diecisiete": 17,
    "dieciocho": 18,
    "diecinueve": 19,
    "veinte": 20,
    **{f"veinti{w}": 20 + n for w, n in _SPANISH_UNITS.items() if w != "un"},
    **{
        f"{tens} y {w}": value + n
        for tens, value in (("treinta", 30), ("cuarenta", 40), ("cincuenta", 50))
        for w, n in _SPANISH_UNITS.items()
    },
    "treinta": 30,
    "cuarenta": 40,
    "cincuenta": 50,
}
_SPANISH_NUMBER = _alternatives(_SPANISH_NUMBERS)
_SPANISH_UNIT = r"(?:horas?|hrs?|minutos?|mins?|dias?|semanas?|mes|meses)"
_SPANISH_WEEKDAY = r"(?:lunes|martes|miercoles|jueves|viernes|sabado|domingo)"
_SPANISH_MONTH = (
    r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|sept?iembre|setiembre|octubre|noviembre|"
    r"diciembre)"
)


def _digits(match: re.Match[str]) -> str:
    """A Spanish number in words as digits ("dos" as "2"), with what came before it."""
    before, number = match.group(1) or "", match.group(2).lower()
    return f"{before}{_SPANISH_NUMBERS[number]}"


_SPANISH = _Grammar(
    code="es",
    time_words=_pattern(
        rf"\b(hace|ayer|anteayer|antier|anoche|antenoche|hoy|manana|tarde|noche|madrugada|mediodia|"
        rf"medianoche|{_SPANISH_WEEKDAY}|semanas?|dias?|horas?|hrs?|minutos?|mins?|{_SPANISH_MONTH}|"
        rf"\d{{1,2}}/\d{{1,2}}|\d{{1,2}}([:.]\d\d)?\s*(am|pm|h|hs)|\d{{1,2}}:\d\d|"
        rf"a las? (\d{{1,2}}|{_SPANISH_NUMBER})|el (dia )?\d{{1,2}})\b"
    ),
    instant=_pattern(
        r"(\d+|una?|media)\s*(horas?|hrs?|minutos?|mins?)\b|\d{1,2}[:.]\d\d|\d\s*(am|pm)\b|"
        r"\bmediodia\b|\bmedianoche\b|\ba las? \d{1,2}\b"
    ),
    parts_of_day=(
        (_pattern(r"\bnoche\b"), 18, 26),
        (_pattern(r"\bmadrugada\b"), 0, 6),
        (_pattern(r"\b(?:la|esta)\s+manana\b"), 6, 12),
        # In Spanish the afternoon ("la tarde") runs until the evening meal.
        (_pattern(r"\btarde\b"), 12, 21),
        (_pattern(r"\bhora de(?: la)? (?:comer|comida|almorzar|almuerzo)\b"), 12, 16),
    ),
    earlier_today=_pattern(r"\bhoy (?:mas )?temprano\b|\bmas temprano hoy\b|\bhoy mas temprano\b"),
    earlier_today_words="hoy temprano",
    # "mañana" is tomorrow, but "esta mañana" and "por la mañana" are a morning.
    future=_pattern(
        r"(?<!la )(?<!esta )\bmanana\b|\bproxim[oa]\b|\bque viene\b|\bdentro de\b|\ben \d+|"
        r"\ben media hora\b|\bvoy a\b|\bme van a\b|\bvamos a\b|"
        r"\btengo (?:la |una |mi )?(?:cita|sesion|turno)\b|\b(?:cita|sesion|turno) (?:es|sera)\b|"
        r"\bme toca\b|\breservad[oa]\b|\bagendad[oa]\b|\bprogramad[oa]\b|\bme la (?:hare|hago)\b|"
        r"\bme (?:lo )?hare\b|\bmas tarde\b"
    ),
    # "me la hice el lunes, ¿puedo correr mañana?": the treatment was Monday last.
    past=_pattern(
        r"\b(?:me (?:la |lo )?hice|me (?:la |lo )?(?:hicieron|pusieron|aplicaron|inyectaron)|fue|tuve|"
        r"sali|termine|acabe|me toco)\b"
    ),
    not_the_treatment=_pattern(
        r"^(?:ahora|ahorita|ya|hoy|hoy mismo|esta noche|esta tarde|luego|pronto|despues|otra vez|"
        r"de nuevo)$|^(?:de|del|desde|durante|por|tras|para)\s|^(?:horas?|minutos?|dias?|semanas?)\b"
    ),
    bare_hour=_pattern(
        r"\ba las? (?P<hour>\d{1,2})(?::(?P<minute>\d\d)|\s*(?:h|hs|hrs)\b)?"
        r"(?:\s+(?P<offset>y media|y cuarto|menos cuarto))?"
        r"(?:\s+(?P<part>de la (?:manana|tarde|noche|madrugada)|en punto))?"
        r"(?!\s*(?:[:.]\d|am\b|pm\b|a\.\s?m|p\.\s?m|horas?\b|hrs?\b))"
    ),
    clock="a las {hour:02d}:{minute:02d}",
    ordinal=_pattern(
        r"\bel (?:dia )?(\d{1,2})\b(?!\s*(?:de\b|del\b|/|:|[.,]\d|h\b|hs\b|horas?|hrs?|dias?|semanas?|"
        r"mes|meses|minutos?|mins?|am\b|pm\b|%))"
    ),
    day_of_month="el {day}",
    month=_pattern(rf"\b({_SPANISH_MONTH}|ene|feb|abr|ago|sept?|oct|nov|dic)\b"),
    named_part=_pattern(
        r"\b(?P<day>esta|(?:hoy|ayer)(?:\s+(?:por|en|a)\s+la|\s+de)?)\s+"
        r"(?P<part>manana|tarde|noche|madrugada)\b"
    ),
    this_day=_pattern(r"^(esta|hoy)\b"),
    yesterday=_pattern(r"^ayer\b"),
    numbers={**_SPANISH_NUMBERS, "media": 0.5},
    relative=_pattern(
        r"\b(?:(?P<future>en|dentro de)|(?P<past>hace))\s+"
        r"(?:(?:como|unas?|unos|mas o menos|casi|aprox(?:imadamente)?)\s+)?"
        r"(?P<amount>\d+(?:[.,]\d+)?|media)\s*(?P<unit>horas?|hrs?|h|minutos?|mins?)\b"
        r"(?P<half>\s+y\s+media)?"
    ),
    # "medianoche" too: the end of one day or the start of the next.
    vague_span=_pattern(
        r"\b(?:la|esta|la proxima|la otra) semana\b|\bsemana (?:pasada|que viene)\b|"
        r"\b(?:el|este) (?:mes|ano)\b|\bmes pasado\b|\bel otro dia\b|\bfin de semana\b|\bfinde\b|"
        r"\bhace (?:un )?(?:rato|ratito|tiempo|poco)\b|\bmedianoche\b|"
        r"\b(?:unos|unas|varios|varias|algunos|algunas|un par de|par de)\s+(?:horas|dias|semanas|meses)\b"
    ),
    other_day=_pattern(rf"\b(ayer|anteayer|hace|dias?|semanas?|{_SPANISH_WEEKDAY})\b"),
    evening=_pattern(r"\b(tarde|noche|pm)\b"),
    morning=_pattern(r"\b(manana|madrugada)\b"),
    minute_words={"y media": 30, "y cuarto": 15, "menos cuarto": -15},
    rewrites=(
        (_pattern(r"\b(?:antenoche|anteanoche|antes de anoche)\b"), "anteayer por la noche"),
        (_pattern(r"\b(?:antier|antes de ayer)\b"), "anteayer"),
        (_pattern(r"\banoche\b"), "ayer por la noche"),
        (_pattern(r"\bpasado manana\b"), "en 2 dias"),
        (_pattern(r"\b(?:a las? )?(?:12|doce) de la noche\b"), "medianoche"),
        (_pattern(r"\b(?:al|a)\s+mediodia\b"), "a las 12:00"),
        (_pattern(r"\bmediodia\b"), "12:00"),
        (_pattern(rf"\b(a las? )({_SPANISH_NUMBER})\b"), _digits),
        (_pattern(rf"\b()({_SPANISH_NUMBER})\b(?=\s+{_SPANISH_UNIT}\b)"), _digits),
    ),
    plain=without_accents,
    found_needs_time_word=True,
    # "el 12/06" is the 12th of June.
    parser_settings={"DATE_ORDER": "DMY"},
)

_GRAMMARS = {grammar.code: grammar for grammar in (_ENGLISH, _SPANISH)}
# The languages whose times are read.
LANGUAGES = tuple(_GRAMMARS)


def number_words(language: str) -> Mapping[str, float]:
    """Numbers as patients write them in words, in ``language`` (none for a language not read)."""
    grammar = _GRAMMARS.get(language)
    return grammar.numbers if grammar else {}


def plain(text: str, language: str) -> str:
    """``text`` as this module's patterns for ``language`` read it (Spanish: without accents)."""
    grammar = _GRAMMARS.get(language)
    return grammar.plain(text) if grammar else text


class TimeZoneError(ValueError):
    """A time without an IANA time zone."""


@dataclass(frozen=True)
class TreatmentTime:
    """The treatment's time, as a range of instants (equal ends: an exact time)."""

    earliest: datetime
    latest: datetime
    expression: str  # the patient's words it was read from

    @property
    def exact(self) -> bool:
        return self.earliest == self.latest

    def to_dict(self) -> dict[str, str]:
        return {
            "earliest": self.earliest.isoformat(),
            "latest": self.latest.isoformat(),
            "expression": self.expression,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> TreatmentTime:
        return cls(
            datetime.fromisoformat(data["earliest"]),
            datetime.fromisoformat(data["latest"]),
            str(data.get("expression", "")),
        )


def _clinic_hour(hour: int) -> int:
    """A bare appointment hour read within clinic hours: "at 4" is 16:00, "at 10" 10:00."""
    return hour + 12 if 1 <= hour <= 7 else hour


def _prepared(text: str, grammar: _Grammar) -> str:
    """The message in words the parser reads: the language's rewrites, "9.30am" as "9:30am",
    a bare "at 4" as "at 16:00" ("a las 4 y media de la tarde" as "a las 16:30")."""
    for pattern, replacement in grammar.rewrites:
        text = pattern.sub(replacement, text)
    text = _DOTTED_TIME.sub(lambda m: f"{m.group(1)}:{m.group(2)}{m.group(3) or ''}", text)
    evening = bool(grammar.evening.search(text))

    def hour(match: re.Match[str]) -> str:
        found = match.groupdict()
        value, part = int(found["hour"]), found.get("part") or ""
        if grammar.morning is not None and grammar.morning.search(part):
            pass  # "a las 9 de la mañana"
        elif evening and 1 <= value <= 11:
            value += 12
        else:
            value = _clinic_hour(value)
        minutes = (
            value * 60
            + int(found.get("minute") or 0)
            + grammar.minute_words.get(found.get("offset") or "", 0)
        )
        if not 0 <= minutes < 24 * 60:
            return match.group(0)
        return grammar.clock.format(hour=minutes // 60, minute=minutes % 60)

    return grammar.bare_hour.sub(hour, text)


def _local(naive: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in ``zone`` as a UTC instant; in a gap or a repeated hour, the
    earlier reading. (Python compares and adds aware datetimes of one zone by their wall
    clocks, so every instant here is kept in UTC.)"""
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _day_part(date: date_type, first: int, last: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(date, time())
    return _local(start + timedelta(hours=first), zone), _local(start + timedelta(hours=last), zone)


def _whole_day(date: date_type, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return _day_part(date, 0, 24, zone)[0], _local(datetime.combine(date, time(23, 59)), zone)


def _part_of_day(words: str, grammar: _Grammar) -> tuple[int, int] | None:
    for pattern, first, last in grammar.parts_of_day:
        if pattern.search(words):
            return first, last
    return None


def _ordinal_day(text: str, today: date_type, grammar: _Grammar) -> date_type | None:
    """ "on the 3rd" (no month): the most recent such day, this month or the one before."""
    match = grammar.ordinal.search(text)
    if not match:
        return None
    day = int(match.group(1))
    year, month = today.year, today.month
    for _ in range(2):
        try:
            candidate = date_type(year, month, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate <= today:
            return candidate
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return None


def _settings(now: datetime, future: bool, grammar: _Grammar) -> dict[str, Any]:
    return {
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "PREFER_DATES_FROM": "future" if future else "past",
        "RETURN_AS_TIMEZONE_AWARE": False,
        "PREFER_DAY_OF_MONTH": "first",
        **grammar.parser_settings,
    }


def _at_clock(
    text: str, day: date_type, now: datetime, future: bool, grammar: _Grammar
) -> tuple[str, datetime] | None:
    """The clock time ``text`` names ("at 8", "14:30") on ``day``: its words and the instant."""
    clock = _CLOCK.search(text)
    settings = _settings(now, future, grammar)
    point = clock and dateparser.parse(clock.group(0), languages=[grammar.code], settings=settings)
    if not clock or not point:
        return None
    assert isinstance(now.tzinfo, ZoneInfo)
    return clock.group(0), _local(datetime.combine(day, point.time()), now.tzinfo)


def _parsed(
    text: str, now: datetime, future: bool, grammar: _Grammar
) -> tuple[str, datetime, datetime] | None:
    """The first time in ``text`` that can be the treatment's, as (words, earliest, latest)."""
    zone = now.tzinfo
    assert isinstance(zone, ZoneInfo)
    today = now.date()
    if grammar.earlier_today.search(text):
        return grammar.earlier_today_words, _local(datetime.combine(today, time()), zone), now.astimezone(UTC)
    relative = grammar.relative.search(text)
    if relative and (relative.group("future") or relative.group("past")):
        amount = relative.group("amount").lower()
        count = grammar.numbers[amount] if amount in grammar.numbers else float(amount.replace(",", "."))
        count += 0.5 if relative.group("half") else 0  # "an hour and a half ago"
        unit = timedelta(minutes=1) if relative.group("unit").lower().startswith("m") else timedelta(hours=1)
        sign = 1 if relative.group("future") else -1
        instant = now.astimezone(UTC) + sign * count * unit
        return relative.group(0), instant, instant
    match = grammar.named_part.search(text)
    if match and grammar.this_day.search(match.group("day")) and grammar.other_day.search(text):
        match = None  # "yesterday at 10, can I wash it this morning?": the morning is the wash's
    if match:
        first, last = _part_of_day(match.group(0), grammar) or (0, 24)
        day = today - timedelta(days=1) if grammar.yesterday.search(match.group("day")) else today
        clocked = _at_clock(text, day, now, future, grammar)  # "last night at 8"
        if clocked is not None:
            return f"{match.group(0)} {clocked[0]}", clocked[1], clocked[1]
        earliest, latest = _day_part(day, first, last, zone)
        return match.group(0), earliest, latest
    ordinal = _ordinal_day(text, today, grammar) if not future else None
    if ordinal is not None and not grammar.month.search(text):
        clocked = _at_clock(text, ordinal, now, future, grammar)  # "on the 3rd at 14:30"
        if clocked is not None:
            return clocked[0], clocked[1], clocked[1]
        earliest, latest = _whole_day(ordinal, zone)
        return grammar.day_of_month.format(day=ordinal.day), earliest, latest
    settings = _settings(now, future, grammar)
    for words, searched in search_dates(text, languages=[grammar.code], settings=settings) or []:
        if grammar.not_the_treatment.search(words.strip()):
            continue
        if grammar.found_needs_time_word and not grammar.time_words.search(words):
            continue  # "mi" (miércoles) in "mi cita es el viernes"
        # The search keeps the base's minutes for "10am"; the words parsed alone do not.
        reading = dateparser.parse(words, languages=[grammar.code], settings=settings) or searched
        if grammar.instant.search(words):
            instant = _local(reading, zone)
            return words, instant, instant
        after = text[text.lower().find(words.lower()) + len(words) :][:20]
        part = _part_of_day(after.split(",")[0], grammar) if after else None
        if part is not None:
            earliest, latest = _day_part(reading.date(), part[0], part[1], zone)
            return words + " " + after.split(",")[0].strip(), earliest, latest
        earliest, latest = _whole_day(reading.date(), zone)
        return words, earliest, latest
    return None


def read_treatment_time(text: str, now: datetime, language: str = "en") -> TreatmentTime | None:
    """When the treatment was or will be, from ``text`` in ``language``; None when it says no
    usable time (or the language is not one whose times are read: ``LANGUAGES``).

    ``now`` is the current instant in the patient's time zone (an aware datetime whose
    ``tzinfo`` is a ``ZoneInfo``). The range's ends are UTC instants.
    """
    grammar = _GRAMMARS.get(language)
    if grammar is None:
        return None
    text = grammar.plain(text)
    if not grammar.time_words.search(text) or _NEGATIVE.search(text):
        return None
    if not isinstance(now.tzinfo, ZoneInfo):
        raise TimeZoneError("now must carry a ZoneInfo time zone")
    prepared = _prepared(text, grammar)
    if grammar.vague_span.search(prepared):
        return None
    future = bool(grammar.future.search(prepared))
    if future and grammar.past is not None and grammar.past.search(prepared):
        future = False
    found = _parsed(prepared, now, future, grammar)
    if found is None:
        return None
    words, earliest, latest = found
    instant = now.astimezone(UTC)
    if earliest - instant > FARTHEST or instant - latest > FARTHEST:
        return None
    if not future:
        if earliest > instant:
            return None  # a past treatment cannot be in the future
        latest = min(latest, instant)
    return TreatmentTime(earliest, latest, words)


def mentions_time(text: str, language: str | None = None) -> bool:
    """Whether ``text`` says when a treatment was or will be (any day would do), in
    ``language``; without one, in the first language (English first) whose time words it
    holds, so that "5pm" in an English message is read as English only."""
    now = datetime.now(ZoneInfo("UTC"))
    for code in LANGUAGES if language is None else (language,):
        grammar = _GRAMMARS.get(code)
        if grammar is not None and grammar.time_words.search(grammar.plain(text)):
            return read_treatment_time(text, now, code) is not None
    return False


def warm_up() -> None:
    """Load the parser's language data now (its first call takes about 50 ms), so that no
    patient waits for it: the servers call this when they start."""
    now = datetime.now(ZoneInfo("UTC"))
    for language, text in (
        ("en", "I had it yesterday at 4pm"),
        ("en", "on Monday"),
        ("en", "my appointment is Friday at 10"),
        ("es", "me la hice ayer a las 4"),
        ("es", "el lunes por la tarde"),
        ("es", "mi cita es el viernes a las 10"),
    ):
        read_treatment_time(text, now, language)
