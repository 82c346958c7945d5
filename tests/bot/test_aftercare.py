"""Aftercare that knows when the treatment was (bot/aftercare.py, bot/treatment_time.py).

The question set ``tests/aftercare_questions.yml`` was written before the code: each item
freezes the clock at its own local time, in its own time zone (seven of them, twenty items
around a daylight-saving change), and names the expected verdict per activity.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.aftercare import (
    AftercareError,
    AftercareRules,
    answer_aftercare,
    default_aftercare,
    judge,
    lasts_longer_than_described,
    load_aftercare,
)
from bot.knowledge import KnowledgeBase
from bot.settings import PROJECT_DIR
from bot.treatment_time import mentions_time, read_treatment_time

QUESTIONS = PROJECT_DIR / "tests" / "aftercare_questions.yml"
RULES = PROJECT_DIR / "data" / "faq" / "aftercare.yml"


def _items() -> list[dict[str, Any]]:
    return list(yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"])


def _now(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["now"]).replace(tzinfo=ZoneInfo(item["tz"]))


@pytest.fixture(scope="module")
def rules() -> AftercareRules:
    return default_aftercare()


def test_the_question_set_is_as_the_issue_asks() -> None:
    items = _items()
    assert len(items) >= 80
    assert len({item["tz"] for item in items}) >= 3
    values = Counter(v for item in items for v in item["expect"].values())
    assert values[True] >= 20 and values[False] >= 20


def test_every_time_is_right_or_unknown_and_never_passed_while_open(rules: AftercareRules) -> None:
    activities = {a.id: a for a in rules.activities}
    outcomes: Counter[str] = Counter()
    wrong = []
    for item in _items():
        now = _now(item)
        treated = read_treatment_time(item["text"], now)
        for activity_id, expected in item["expect"].items():
            got = judge(activities[activity_id], treated, now).passed
            if got == expected:
                outcomes["right"] += 1
            elif got is None:
                outcomes["unknown"] += 1
            else:
                outcomes["wrong"] += 1
                wrong.append((item["text"], item["now"], item["tz"], activity_id, expected, got))
    assert wrong == []
    total = sum(outcomes.values())
    # Unknown is safe, but a reader that knows nothing is no reader.
    assert outcomes["right"] / total >= 0.95, outcomes


@pytest.mark.parametrize(
    ("text", "hours_before_now"),
    [
        ("I had it 3 hours ago", 3),
        ("had my meso half an hour ago", 0.5),
        ("it was done 48 hours ago", 48),
        ("I'm having it in 2 hours", -2),
        ("had it an hour and a half ago", 1.5),
    ],
)
def test_hours_are_real_hours_across_a_daylight_saving_change(text: str, hours_before_now: float) -> None:
    # 2026-03-08 is the night the United States springs forward: 02:00 does not exist.
    now = datetime(2026, 3, 9, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    treated = read_treatment_time(text, now)
    assert treated is not None and treated.exact
    elapsed = now.astimezone(timezone.utc) - treated.earliest
    assert elapsed == timedelta(hours=hours_before_now)


@pytest.mark.parametrize(
    ("text", "hour", "minute"),
    [
        ("yesterday at 4", 16, 0),
        ("yesterday at 4:30", 16, 30),
        ("yesterday at 4:30am", 4, 30),
        ("yesterday at 10:15", 10, 15),
    ],
)
def test_a_clock_time_without_am_or_pm_is_read_within_clinic_hours(text: str, hour: int, minute: int) -> None:
    # "at 4:30" read as 04:30 would end the waiting time twelve hours early.
    zone = ZoneInfo("America/New_York")
    treated = read_treatment_time(text, datetime(2026, 12, 5, 10, 0, tzinfo=zone))
    assert treated is not None and treated.exact
    assert treated.earliest == datetime(2026, 12, 4, hour, minute, tzinfo=zone).astimezone(timezone.utc)


def test_a_day_without_an_hour_is_the_whole_day_and_stays_safe_at_both_ends(rules: AftercareRules) -> None:
    exercise = next(a for a in rules.activities if a.id == "exercise")
    zone = ZoneInfo("Europe/London")
    treated = read_treatment_time("had it on monday", datetime(2026, 6, 17, 9, 0, tzinfo=zone))  # a Wednesday
    assert treated is not None and not treated.exact
    assert treated.earliest == datetime(2026, 6, 15, 0, 0, tzinfo=zone).astimezone(timezone.utc)
    # 48 hours from Monday morning have passed on Wednesday at 9, but not from Monday night.
    assert judge(exercise, treated, datetime(2026, 6, 17, 9, 0, tzinfo=zone)).passed is None
    assert judge(exercise, treated, datetime(2026, 6, 18, 0, 0, tzinfo=zone)).passed is True
    assert judge(exercise, treated, datetime(2026, 6, 16, 23, 0, tzinfo=zone)).passed is False


@pytest.mark.parametrize(
    "text",
    [
        "I had it 300 years ago, can I wash my hair?",
        "in -5 hours can I go running",
        "I had it on the 45th, can I wash my hair",
        "my appointment is in 400 days",
        "I had it last week, can I wash my hair?",  # any day of the week: no day to count from
        "had it the other day, can I wash my hair",
        "can I wash my hair after the treatment?",
        "",
    ],
)
def test_nonsense_far_off_or_no_time_gets_the_general_answer(rules: AftercareRules, text: str) -> None:
    now = datetime(2026, 6, 17, 12, 0, tzinfo=ZoneInfo("America/New_York"))
    assert read_treatment_time(text, now) is None
    answer = answer_aftercare(rules, ["washing_hair"], text, now, None, may_ask=False)
    assert answer is not None and answer.lines == () and answer.read is None
    assert [v.passed for v in answer.verdicts] == [None]


def test_the_answer_says_when_the_window_ends_in_the_patients_time(rules: AftercareRules) -> None:
    zone = ZoneInfo("Australia/Sydney")
    now = datetime(2026, 6, 17, 15, 0, tzinfo=zone)
    answer = answer_aftercare(
        rules, ["washing_hair"], "I had it 3 hours ago, can I wash my hair?", now, None, True
    )
    assert answer is not None and not answer.asks_time
    assert answer.lines == (
        rules.says["not_passed"].format(
            hours="24", activity="washing your hair", ends=rules.when["tomorrow"].format(time="12:00 pm")
        ),
    )
    [entry] = answer.metadata(zone)
    assert entry == {
        "activity": "washing_hair",
        "wait_hours": 24,
        "treated_at": "2026-06-17T12:00:00+10:00",
        "ends_at": "2026-06-18T12:00:00+10:00",
        "passed": False,
    }


def test_passed_is_never_a_yes_and_defers_to_the_practitioner(rules: AftercareRules) -> None:
    now = datetime(2026, 6, 17, 15, 0, tzinfo=ZoneInfo("Europe/Madrid"))
    answer = answer_aftercare(rules, ["exercise"], "I had it 3 days ago, gym ok?", now, None, True)
    assert answer is not None and [v.passed for v in answer.verdicts] == [True]
    assert "you can" not in answer.lines[0].lower()
    assert answer.lines[0].startswith(rules.says["passed"].split("{")[0])


def test_without_a_duration_in_the_sources_none_is_invented(rules: AftercareRules) -> None:
    now = datetime(2026, 6, 17, 22, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    answer = answer_aftercare(
        rules,
        ["coffee_alcohol"],
        "I had it this morning, can I have a beer and a cigarette?",
        now,
        None,
        True,
    )
    assert answer is not None
    assert [(v.activity.id, v.passed) for v in answer.verdicts] == [("alcohol", None), ("smoking", None)]
    assert all(m["wait_hours"] is None and m["ends_at"] is None for m in answer.metadata(now.tzinfo))  # type: ignore[arg-type]
    assert not answer.asks_time  # a time would not change the answer


def test_the_time_is_asked_once_and_a_later_message_gives_it(rules: AftercareRules) -> None:
    zone = ZoneInfo("America/New_York")
    now = datetime(2026, 6, 17, 20, 0, tzinfo=zone)
    first = answer_aftercare(rules, ["exercise"], "when can I go back to the gym?", now, None, may_ask=True)
    assert first is not None and first.asks_time and first.lines == ()
    again = answer_aftercare(rules, ["exercise"], "and running?", now, None, may_ask=False)
    assert again is not None and not again.asks_time and again.lines == ()
    told = read_treatment_time("I had it 12 hours ago", now)
    later = answer_aftercare(rules, ["exercise"], "what about the gym then?", now, told, may_ask=False)
    assert later is not None and [v.passed for v in later.verdicts] == [False]


def test_a_future_appointment_counts_from_the_appointment(rules: AftercareRules) -> None:
    zone = ZoneInfo("Europe/London")
    now = datetime(2026, 6, 17, 9, 0, tzinfo=zone)  # a Wednesday
    text = "my appointment is Friday at 10, when can I go back to the gym?"
    answer = answer_aftercare(rules, ["exercise"], text, now, None, True)
    assert answer is not None
    [entry] = answer.metadata(zone)
    assert entry["treated_at"] == "2026-06-19T10:00:00+01:00"
    assert entry["ends_at"] == "2026-06-21T10:00:00+01:00" and entry["passed"] is False


@pytest.mark.parametrize(
    ("text", "longer"),
    [
        ("still swollen and bruised two weeks later", True),
        ("I had it 10 days ago and my scalp is still sore", True),
        ("bruising that hasn't gone after a month", True),
        ("I had it 2 days ago and it's still a bit red", False),
        ("is swelling normal after meso?", False),
        ("how long does bruising last", False),
    ],
)
def test_side_effects_longer_than_the_sources_describe(
    rules: AftercareRules, text: str, longer: bool
) -> None:
    now = datetime(2026, 6, 17, 12, 0, tzinfo=ZoneInfo("America/New_York"))
    assert lasts_longer_than_described(rules, text, now) is longer


def test_a_message_that_says_when() -> None:
    assert mentions_time("I had it 12 hours ago")
    assert mentions_time("yesterday at 4pm")
    assert not mentions_time("does it hurt?")
    assert not mentions_time("can I wash my hair now?")


def _rules_file(tmp_path: Path, change: dict[str, Any]) -> Path:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    data["activities"][0].update(change)
    path = tmp_path / "aftercare.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"topic": "no_such_topic"}, "unknown topic 'no_such_topic'"),
        ({"wait_hours": -3}, "wait_hours must be a positive number"),
        ({"sources": ["S9"]}, "unknown source 'S9'"),
        ({"sources": ["S1"]}, "source S1 is not among topic washing_hair's sources"),
    ],
)
def test_the_rules_are_checked_against_the_knowledge_base(
    tmp_path: Path, knowledge: KnowledgeBase, change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(AftercareError) as raised:
        load_aftercare(_rules_file(tmp_path, change), knowledge)
    assert any(problem in p for p in raised.value.problems), raised.value.problems
