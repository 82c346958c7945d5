"""When a patient's treatment was, or will be, read from their own words.

"I had it 3 hours ago", "yesterday at 4", "this morning", "my appointment is Friday at 10":
the date parser (``dateparser``) finds the expression and its day; this module decides how
exact it is and turns it into a range of instants in the patient's time zone:

- an hour or a clock time ("3 hours ago", "at 14:30", "yesterday at 4") is one instant;
- a part of the day ("this morning", "last night") is that part of the day;
- a day alone ("yesterday", "on Monday", "two days ago") is the whole day.

Elapsed time is counted in real hours (``zoneinfo``), so a daylight-saving change counts.
A bare hour for an appointment ("at 4") is read within clinic hours: 1 to 7 as the
afternoon, 8 to 12 as the morning. A time that cannot be a treatment (far in the past or
the future, "in -5 hours", "on the 45th") is not read at all: the answer stays general.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date as date_type
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import dateparser
from dateparser.search import search_dates

# A treatment this far away is no treatment the patient is asking about.
FARTHEST = timedelta(days=60)
# What the date parser is asked to read (English only for now).
LANGUAGES = ["en"]

# Words without which a message holds no time worth parsing (the parser is not called).
_TIME_WORDS = re.compile(
    r"\b(ago|yesterday|today|tonight|tomorrow|morning|afternoon|evening|night|noon|midday|"
    r"midnight|lunchtime|mon(day)?|tue(s|sday)?|wed(nesday)?|thu(rs|rsday)?|fri(day)?|"
    r"sat(urday)?|sun(day)?|week|weeks|days?|hours?|hrs?|minutes?|mins?|"
    r"jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t|tember)?|"
    r"oct(ober)?|nov(ember)?|dec(ember)?|\d{1,2}(st|nd|rd|th)|\d{1,2}([:.]\d\d)?\s*(am|pm)|"
    r"at \d{1,2}([:.]\d\d)?)\b",
    re.IGNORECASE,
)
# An expression that names an hour or a minute: one instant.
_INSTANT = re.compile(
    r"(\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|half an?)\s*"
    r"(hours?|hrs?|minutes?|mins?)\b|\d{1,2}[:.]\d\d|\d\s*(am|pm)\b|\bnoon\b|\bmidday\b|"
    r"\bmidnight\b|\bat \d{1,2}\b",
    re.IGNORECASE,
)
# Parts of the day, as hours from midnight (night runs past midnight).
_PARTS_OF_DAY: tuple[tuple[re.Pattern[str], int, int], ...] = (
    (re.compile(r"\blast night\b|\bnight\b", re.IGNORECASE), 18, 26),
    (re.compile(r"\bmorning\b", re.IGNORECASE), 6, 12),
    (re.compile(r"\bafternoon\b", re.IGNORECASE), 12, 18),
    (re.compile(r"\bevening\b|\btonight\b", re.IGNORECASE), 18, 23),
    (re.compile(r"\blunch ?time\b", re.IGNORECASE), 11, 15),
)
_EARLIER_TODAY = re.compile(r"\bearlier today\b|\bearlier on\b", re.IGNORECASE)
# Words that put the treatment in the future ("my appointment is Friday at 10").
_FUTURE = re.compile(
    r"\b(tomorrow|next|in \d+|in an?|in half|will|going to|gonna|booked|booking|appointment is|"
    r"is on|coming up|later today|this coming|upcoming|planned|scheduled)\b",
    re.IGNORECASE,
)
# What the parser must not take for the treatment's time: the activity's ("now", "today").
UTC = timezone.utc
_NOT_THE_TREATMENT = re.compile(
    r"^(now|right now|today|tonight|this evening|yet|again|then|soon|later|asap)$", re.IGNORECASE
)
_NEGATIVE = re.compile(r"-\s*\d")
_BARE_HOUR = re.compile(r"\bat (\d{1,2})\b(?!\s*(?:[:.]\d|am|pm|a\.m|p\.m|o'?clock|h\b|hours?|hrs?))", re.I)
_ORDINAL = re.compile(r"\b(?:on )?the (\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)
_MONTH = re.compile(
    r"\b(jan(uary)?|feb(ruary)?|march|apr(il)?|may|june|july|aug(ust)?|sept?(ember)?|oct(ober)?|"
    r"nov(ember)?|dec(ember)?)\b",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"\b\d{1,2}(:\d\d)?\s*(am|pm)\b|\b\d{1,2}:\d\d\b", re.IGNORECASE)
# "this morning", "last night", "yesterday afternoon" (the parser reads none of them).
_NAMED_PART = re.compile(r"\b(this|last|yesterday)\s+(morning|afternoon|evening|night)\b", re.IGNORECASE)
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
# "3 hours ago", "half an hour ago", "in 2 hours": counted from now in real time.
_RELATIVE = re.compile(
    r"\b(?:(in)\s+)?(\d+(?:\.\d+)?|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
    r"twelve|half an?)\s*(hours?|hrs?|h|minutes?|mins?)\b(\s+and\s+a\s+half)?(?:\s+(ago))?",
    re.IGNORECASE,
)
# A span no day can be taken from ("last week", "the other day", "at the weekend"): rather no
# time than a day that could say a window has passed when it may not have.
_VAGUE_SPAN = re.compile(
    r"\b(last|this|next|past)\s+(week|month|year)\b|\bthe other day\b|\bweekend\b|\ba while\b",
    re.IGNORECASE,
)
_OTHER_DAY = re.compile(
    r"\b(yesterday|ago|days?|week|mon|tues?|wed|thu(rs)?|fri|sat|sun)[a-z]*\b", re.IGNORECASE
)
_EVENING = re.compile(r"\b(night|evening|tonight|pm)\b", re.IGNORECASE)
_DOTTED_TIME = re.compile(r"\b(\d{1,2})\.(\d\d)\s*(am|pm)?\b", re.IGNORECASE)


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


def _prepared(text: str) -> str:
    """The message with its clock times in a shape the parser reads: "9.30am" as "9:30am",
    a bare "at 4" as "at 16:00"."""
    text = _DOTTED_TIME.sub(lambda m: f"{m.group(1)}:{m.group(2)}{m.group(3) or ''}", text)
    evening = bool(_EVENING.search(text))

    def hour(match: re.Match[str]) -> str:
        value = int(match.group(1))
        value = value + 12 if evening and 1 <= value <= 11 else _clinic_hour(value)
        return f"at {value:02d}:00" if value < 24 else match.group(0)

    return _BARE_HOUR.sub(hour, text)


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


def _part_of_day(words: str) -> tuple[int, int] | None:
    for pattern, first, last in _PARTS_OF_DAY:
        if pattern.search(words):
            return first, last
    return None


def _ordinal_day(text: str, today: date_type) -> date_type | None:
    """ "on the 3rd" (no month): the most recent such day, this month or the one before."""
    match = _ORDINAL.search(text)
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


def _settings(now: datetime, future: bool) -> dict[str, Any]:
    return {
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "PREFER_DATES_FROM": "future" if future else "past",
        "RETURN_AS_TIMEZONE_AWARE": False,
        "PREFER_DAY_OF_MONTH": "first",
    }


def _at_clock(text: str, day: date_type, now: datetime, future: bool) -> tuple[str, datetime] | None:
    """The clock time ``text`` names ("at 8", "14:30") on ``day``: its words and the instant."""
    clock = _CLOCK.search(text)
    point = clock and dateparser.parse(clock.group(0), languages=LANGUAGES, settings=_settings(now, future))
    if not clock or not point:
        return None
    assert isinstance(now.tzinfo, ZoneInfo)
    return clock.group(0), _local(datetime.combine(day, point.time()), now.tzinfo)


def _parsed(text: str, now: datetime, future: bool) -> tuple[str, datetime, datetime] | None:
    """The first time in ``text`` that can be the treatment's, as (words, earliest, latest)."""
    zone = now.tzinfo
    assert isinstance(zone, ZoneInfo)
    today = now.date()
    if _EARLIER_TODAY.search(text):
        return "earlier today", _local(datetime.combine(today, time()), zone), now.astimezone(UTC)
    relative = _RELATIVE.search(text)
    if relative and (relative.group(1) or relative.group(5)):
        amount = relative.group(2).lower()
        count = NUMBER_WORDS[amount] if amount in NUMBER_WORDS else float(amount)
        count += 0.5 if relative.group(4) else 0  # "an hour and a half ago"
        unit = timedelta(minutes=1) if relative.group(3).lower().startswith("m") else timedelta(hours=1)
        sign = 1 if relative.group(1) else -1
        instant = now.astimezone(UTC) + sign * count * unit
        return relative.group(0), instant, instant
    match = _NAMED_PART.search(text)
    if match and match.group(1).lower() == "this" and _OTHER_DAY.search(text):
        match = None  # "yesterday at 10, can I wash it this morning?": the morning is the wash's
    if match:
        first, last = _part_of_day(match.group(0)) or (0, 24)
        day = today - timedelta(days=1) if match.group(1).lower() in ("last", "yesterday") else today
        clocked = _at_clock(text, day, now, future)  # "last night at 8"
        if clocked is not None:
            return f"{match.group(0)} {clocked[0]}", clocked[1], clocked[1]
        earliest, latest = _day_part(day, first, last, zone)
        return match.group(0), earliest, latest
    ordinal = _ordinal_day(text, today) if not future else None
    if ordinal is not None and not _MONTH.search(text):
        clocked = _at_clock(text, ordinal, now, future)  # "on the 3rd at 14:30"
        if clocked is not None:
            return clocked[0], clocked[1], clocked[1]
        earliest, latest = _whole_day(ordinal, zone)
        return "the " + str(ordinal.day), earliest, latest
    settings = _settings(now, future)
    for words, searched in search_dates(text, languages=LANGUAGES, settings=settings) or []:
        if _NOT_THE_TREATMENT.match(words.strip()):
            continue
        # The search keeps the base's minutes for "10am"; the words parsed alone do not.
        reading = dateparser.parse(words, languages=LANGUAGES, settings=settings) or searched
        if _INSTANT.search(words):
            instant = _local(reading, zone)
            return words, instant, instant
        after = text[text.lower().find(words.lower()) + len(words) :][:20]
        part = _part_of_day(after.split(",")[0]) if after else None
        if part is not None:
            earliest, latest = _day_part(reading.date(), part[0], part[1], zone)
            return words + " " + after.split(",")[0].strip(), earliest, latest
        earliest, latest = _whole_day(reading.date(), zone)
        return words, earliest, latest
    return None


def read_treatment_time(text: str, now: datetime) -> TreatmentTime | None:
    """When the treatment was or will be, from ``text``; None when it says no usable time.

    ``now`` is the current instant in the patient's time zone (an aware datetime whose
    ``tzinfo`` is a ``ZoneInfo``). The range's ends are UTC instants.
    """
    if not _TIME_WORDS.search(text) or _NEGATIVE.search(text):
        return None
    if not isinstance(now.tzinfo, ZoneInfo):
        raise TimeZoneError("now must carry a ZoneInfo time zone")
    prepared = _prepared(text)
    if _VAGUE_SPAN.search(prepared):
        return None
    future = bool(_FUTURE.search(prepared))
    found = _parsed(prepared, now, future)
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


def mentions_time(text: str) -> bool:
    """Whether ``text`` says when a treatment was or will be (any day would do)."""
    if not _TIME_WORDS.search(text):
        return False
    return read_treatment_time(text, datetime.now(ZoneInfo("UTC"))) is not None


def warm_up() -> None:
    """Load the parser's language data now (its first call takes about 50 ms), so that no
    patient waits for it: the servers call this when they start."""
    now = datetime.now(ZoneInfo("UTC"))
    for text in ("I had it yesterday at 4pm", "on Monday", "my appointment is Friday at 10"):
        read_treatment_time(text, now)
