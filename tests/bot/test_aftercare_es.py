"""Aftercare that knows when the treatment was, in Spanish (bot/aftercare.py,
bot/treatment_time.py): the Spanish twin of tests/bot/test_aftercare.py.

The clock is frozen on Wednesday 17 June 2026 at 15:00 in Madrid unless a test says otherwise.
"""

from __future__ import annotations

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
    lasts_longer_than_described,
    load_aftercare,
)
from bot.knowledge import KnowledgeBase
from bot.settings import PROJECT_DIR
from bot.treatment_time import mentions_time, read_treatment_time

RULES = PROJECT_DIR / "data" / "faq" / "aftercare.yml"
MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2026, 6, 17, 15, 0, tzinfo=MADRID)  # a Wednesday


@pytest.fixture(scope="module")
def rules() -> AftercareRules:
    return default_aftercare().in_language("es")


def _madrid(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=MADRID).astimezone(timezone.utc)


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("me la hice ayer a las 4, ya me puedo lavar el pelo?", _madrid(16, 16)),
        ("Me la hice ayer a las 4, ¿ya me puedo lavar el pelo?", _madrid(16, 16)),
        ("hace 3 horas que sali de la sesion, puedo ir al gym?", _madrid(17, 12)),
        ("hace tres horas que salí de la sesión", _madrid(17, 12)),
        ("hace media hora", _madrid(17, 14, 30)),
        ("me la hice hace una hora y media", _madrid(17, 13, 30)),
        ("hace cuarenta y cinco minutos", _madrid(17, 14, 15)),
        ("a las 13:30", _madrid(17, 13, 30)),
        ("ayer a las 16:30", _madrid(16, 16, 30)),
        ("me la hice ayer al mediodia", _madrid(16, 12)),
        ("ayer a las 9 de la mañana", _madrid(16, 9)),
        ("ayer a las 4 y media", _madrid(16, 16, 30)),
        ("ayer a la una", _madrid(16, 13)),
        ("ayer a las 16h", _madrid(16, 16)),
        ("me la hice anoche a las 10", _madrid(16, 22)),
        ("el lunes a las cinco de la tarde", _madrid(15, 17)),
        ("el 3 de junio a las 10", _madrid(3, 10)),
    ],
)
def test_an_hour_or_a_clock_time_is_one_instant(text: str, at: datetime) -> None:
    treated = read_treatment_time(text, NOW, "es")
    assert treated is not None and treated.exact, treated
    assert treated.earliest == at


@pytest.mark.parametrize(
    ("text", "earliest", "latest"),
    [
        ("fue esta mañana", _madrid(17, 6), _madrid(17, 12)),
        ("fue esta manana", _madrid(17, 6), _madrid(17, 12)),
        ("esta tarde me hice la meso", _madrid(17, 12), _madrid(17, 15)),  # until now
        ("anoche", _madrid(16, 18), _madrid(17, 2)),
        ("ayer por la noche", _madrid(16, 18), _madrid(17, 2)),
        ("ayer en la tarde", _madrid(16, 12), _madrid(16, 21)),
        ("fue el lunes por la tarde, ya puedo nadar?", _madrid(15, 12), _madrid(15, 21)),
        ("anteayer por la noche", _madrid(15, 18), _madrid(16, 2)),
        ("hoy temprano", _madrid(17, 0), _madrid(17, 15)),
    ],
)
def test_a_part_of_the_day_is_that_part(text: str, earliest: datetime, latest: datetime) -> None:
    treated = read_treatment_time(text, NOW, "es")
    assert treated is not None
    assert (treated.earliest, treated.latest) == (earliest, latest)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("antier", 15),
        ("anteayer", 15),
        ("antes de ayer", 15),
        ("hace dos dias", 15),
        ("hace 2 días", 15),
        ("me la hice el lunes", 15),
        ("me la hice el sábado, ya puedo ir al gym?", 13),
        ("me la hice el sabado", 13),
        ("hace una semana", 10),
        ("el dia 3", 3),
        ("el 12/06", 12),  # day first
        ("me la hice el lunes, ¿puedo correr mañana?", 15),  # tomorrow is the run's
    ],
)
def test_a_day_alone_is_the_whole_day(text: str, day: int) -> None:
    treated = read_treatment_time(text, NOW, "es")
    assert treated is not None and not treated.exact, treated
    assert (treated.earliest, treated.latest) == (_madrid(day, 0), _madrid(day, 23, 59))


@pytest.mark.parametrize(
    ("text", "earliest", "latest"),
    [
        ("mi cita es el viernes a las 10", _madrid(19, 10), _madrid(19, 10)),
        ("tengo cita el sabado a las 11, cuando puedo ir al gimnasio?", _madrid(20, 11), _madrid(20, 11)),
        ("me la hago mañana a las 10", _madrid(18, 10), _madrid(18, 10)),
        ("dentro de 2 horas", _madrid(17, 17), _madrid(17, 17)),
        ("pasado mañana", _madrid(19, 0), _madrid(19, 23, 59)),
        ("el lunes que viene", _madrid(22, 0), _madrid(22, 23, 59)),
    ],
)
def test_a_future_appointment_is_read_as_future(text: str, earliest: datetime, latest: datetime) -> None:
    treated = read_treatment_time(text, NOW, "es")
    assert treated is not None
    assert (treated.earliest, treated.latest) == (earliest, latest)


@pytest.mark.parametrize(
    "text",
    [
        "me la hice hace 300 años, puedo lavarme el pelo?",
        "en -5 horas puedo correr",
        "me la hice el 45, puedo lavarme el pelo?",
        "mi cita es dentro de 400 dias",
        "me la hice la semana pasada, puedo lavarme el pelo?",  # no day to count from
        "fue el otro dia",
        "hace un rato",
        "hace unos dias",
        "el fin de semana",
        "a la hora de comer",
        "ayer a medianoche",
        "ayer a las 12 de la noche",
        "puedo lavarme el pelo despues del tratamiento?",
        "puedo correr despues de 2 semanas?",  # a wait, not when the treatment was
        "puedo ir al gym hoy?",
        "buenos dias, puedo lavarme el pelo?",
        "",
    ],
)
def test_nonsense_far_off_or_no_time_gets_the_general_answer(rules: AftercareRules, text: str) -> None:
    assert read_treatment_time(text, NOW, "es") is None
    answer = answer_aftercare(rules, ["washing_hair"], text, NOW, None, may_ask=False)
    assert answer is not None and answer.lines == () and answer.read is None


def test_hours_are_real_hours_across_a_daylight_saving_change() -> None:
    # 2026-03-29 is the night Spain springs forward: 02:00 does not exist.
    now = datetime(2026, 3, 29, 4, 0, tzinfo=MADRID)
    treated = read_treatment_time("me la hice hace 3 horas", now, "es")
    assert treated is not None and now.astimezone(timezone.utc) - treated.earliest == timedelta(hours=3)


def test_the_verdict_lines_are_in_spanish_in_the_patients_time(rules: AftercareRules) -> None:
    answer = answer_aftercare(
        rules, ["washing_hair"], "me la hice ayer a las 4, ¿ya me puedo lavar el pelo?", NOW, None, True
    )
    assert answer is not None and not answer.asks_time
    assert answer.lines == (
        rules.says["not_passed"].format(
            hours="24", activity="lavarse el cabello", ends=rules.when["today"].format(time="16:00")
        ),
    )
    answer = answer_aftercare(
        rules, ["exercise"], "hace 3 horas que salí, ¿puedo ir al gym?", NOW, None, True
    )
    assert answer is not None
    ends = rules.when["other"].format(weekday="viernes", day=19, month="junio", time="12:00")
    assert answer.lines == (
        rules.says["not_passed"].format(hours="48", activity="hacer ejercicio intenso", ends=ends),
    )
    assert "el viernes 19 de junio a las 12:00" in answer.lines[0]


def test_spanish_activity_words_name_the_activities(rules: AftercareRules) -> None:
    text = "me la hice antier, ¿puedo tomar una cerveza y fumar un cigarro?"
    answer = answer_aftercare(rules, ["coffee_alcohol"], text, NOW, None, True)
    assert answer is not None
    assert [(v.activity.id, v.passed) for v in answer.verdicts] == [("alcohol", None), ("smoking", None)]
    assert answer.lines == tuple(
        rules.says["no_duration"].format(activity=name) for name in ("el alcohol", "fumar")
    )
    named = {
        "champu": "washing_hair",
        "me puedo duchar": "washing_hair",
        "puedo ir al gimnasio": "exercise",
        "puedo entrenar o sudar": "exercise",
        "y la bici": "exercise",
        "un cafe": "coffee",
        "cafeína": "coffee",
        "una copa de vino": "alcohol",
        "tomar algo": "alcohol",
        "vapear": "smoking",
    }
    topics = ["washing_hair", "exercise", "coffee_alcohol"]
    for text, activity in named.items():
        assert [a.id for a in rules.activities_for(topics, text)] == [activity], text


def test_the_time_is_asked_in_spanish_when_it_would_change_the_answer(rules: AftercareRules) -> None:
    answer = answer_aftercare(rules, ["exercise"], "¿cuándo puedo volver al gimnasio?", NOW, None, True)
    assert answer is not None and answer.asks_time and answer.lines == ()
    assert rules.says["ask_time"].startswith("¿Cuándo fue su tratamiento?")


@pytest.mark.parametrize(
    ("text", "longer"),
    [
        ("sigo hinchada despues de dos semanas", True),
        ("sigo hinchada después de dos semanas, ¿es normal?", True),
        ("me la hice hace 10 días y todavía me duele", True),
        ("moretones que no se van después de un mes", True),
        ("me la hice el 3 de junio y sigo con moretones", True),
        ("me la hice hace 2 días y sigue un poco roja", False),
        ("¿es normal la hinchazón después de la meso?", False),
        ("¿cuánto dura el moretón?", False),
    ],
)
def test_side_effects_longer_than_the_sources_describe(
    rules: AftercareRules, text: str, longer: bool
) -> None:
    assert lasts_longer_than_described(rules, text, NOW) is longer


def test_a_message_that_says_when_in_either_language() -> None:
    assert mentions_time("me la hice ayer a las 4")
    assert mentions_time("hace 12 horas", "es")
    assert not mentions_time("¿duele?")
    assert not mentions_time("¿ya me puedo lavar el pelo?")
    assert not mentions_time("me la hice ayer a las 4", "en")


def _without(tmp_path: Path, change: Any) -> Path:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "aftercare.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda data: data.pop("es"), "no 'es:' block, and the bot serves es"),
        (lambda data: data["es"]["says"].pop("passed"), "(es): says.passed is missing"),
        (
            lambda data: data["es"]["activities"].pop("exercise"),
            "(es): activity exercise needs a name and words",
        ),
        (lambda data: data["es"]["when"]["months"].pop(), "(es): when needs 7 weekdays and 12 months"),
        (lambda data: data["es"]["lasting"].pop("symptoms"), "(es): lasting needs symptoms"),
        (
            lambda data: data["es"]["says"].update(passed="terminaron {fin}"),
            "(es): 'says.passed' uses unknown placeholders ['fin']",
        ),
    ],
)
def test_the_loader_refuses_a_file_without_a_language_served(
    tmp_path: Path, knowledge: KnowledgeBase, change: Any, problem: str
) -> None:
    with pytest.raises(AftercareError) as raised:
        load_aftercare(_without(tmp_path, change), knowledge, languages=("en", "es"))
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_a_language_not_served_needs_no_block(tmp_path: Path, knowledge: KnowledgeBase) -> None:
    rules = load_aftercare(_without(tmp_path, lambda data: data.pop("es")), knowledge, languages=("en",))
    assert rules.in_language("es") is rules and rules.translations == {}
