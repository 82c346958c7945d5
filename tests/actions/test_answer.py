"""The caveat action, run hermetically with a fresh tracker and dispatcher per test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerFaq
from bot.aftercare import default_aftercare
from bot.clinic import default_clinic
from bot.conversation import ASKED_TIME_SLOT, LANGUAGE_KEY, TREATMENT_TIME_SLOT
from bot.knowledge import KnowledgeBase, default_knowledge_base
from bot.settings import load_settings

MakeTracker = Callable[..., Tracker]


def _run(dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[dict[str, Any]]:
    return asyncio.run(ActionAnswerFaq().run(dispatcher, tracker, domain))


def test_answers_with_the_topic_sources_and_caveat(
    knowledge: KnowledgeBase,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
    domain: dict[str, Any],
) -> None:
    events = _run(dispatcher, make_tracker("faq_cost", "how much is it?"), domain)
    assert events == [{"event": "slot", "timestamp": None, "name": "last_topic", "value": "cost"}]
    [message] = dispatcher.messages
    assert message["text"].endswith(knowledge.caveat)
    assert message["custom"] == {
        "data": {
            "topic": "cost",
            "route": "intent",
            "sources": list(knowledge.topic("cost").sources),
            "topics": ["cost"],
        }
    }


def test_every_topic_intent_gets_its_own_answer(
    knowledge: KnowledgeBase, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    for topic in knowledge.topics.values():
        dispatcher = CollectingDispatcher()
        _run(dispatcher, make_tracker(topic.intent), domain)
        [message] = dispatcher.messages
        assert message["custom"]["data"]["topic"] == topic.id
        assert message["text"].startswith(topic.answer)


@pytest.mark.parametrize("channel", ["twilio", "telegram", "facebook"])
def test_messaging_apps_get_no_json_message(
    channel: str,
    knowledge: KnowledgeBase,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
    domain: dict[str, Any],
) -> None:
    _run(dispatcher, make_tracker("faq_pain", channel=channel), domain)
    [message] = dispatcher.messages
    assert message["text"].startswith(knowledge.topic("pain").answer)
    assert message["text"].endswith(knowledge.caveat)
    assert not message["custom"]


@pytest.mark.parametrize("intent", ["greet", "faq_not_a_topic", None])
def test_no_topic_gets_the_honest_no_match(
    intent: str | None, dispatcher: CollectingDispatcher, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    _run(dispatcher, make_tracker(intent), domain)
    [message] = dispatcher.messages
    assert message["custom"] == {"data": {"topic": None, "route": "fallback", "sources": []}}
    assert [b["payload"] for b in message["buttons"]] == [
        "/faq_cost",
        "/faq_pain",
        "/faq_results_timing",
        "/faq_side_effects",
    ]


def test_every_question_the_reader_found_is_answered_in_one_message(
    knowledge: KnowledgeBase,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
    domain: dict[str, Any],
) -> None:
    tracker = make_tracker("faq_pain", "does it hurt and how much?", reading={"topics": ["pain", "cost"]})
    events = _run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["custom"]["data"]["topics"] == ["pain", "cost"]
    assert message["text"].count(knowledge.caveat) == 1
    assert events[0]["value"] == "cost"  # the last topic answered is the one to follow up


def test_a_reading_that_does_not_start_with_the_intent_answers_the_intent_alone(
    knowledge: KnowledgeBase,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
    domain: dict[str, Any],
) -> None:
    """The safety screen may choose another topic for a personal question: that one wins."""
    tracker = make_tracker("faq_contraindications", "pregnant, cost?", reading={"topics": ["cost", "pain"]})
    _run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    assert message["custom"]["data"]["topics"] == ["contraindications"]


@pytest.mark.parametrize("channel", ["twilio", "facebook"])
def test_on_a_messaging_app_several_answers_fit_one_message(
    channel: str, knowledge: KnowledgeBase, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    three = ["side_effects", "contraindications", "effectiveness_hair"]
    _run(
        dispatcher, make_tracker("faq_side_effects", "x", channel=channel, reading={"topics": three}), domain
    )
    [message] = dispatcher.messages
    limit = load_settings().reply_limits[channel]
    assert len(message["text"]) <= limit and message["text"].endswith(knowledge.caveat)


# --- aftercare that knows when the treatment was (bot/aftercare.py) ---------------------------


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Now: 2026-06-17 at 03:00 UTC (a Wednesday), in whatever zone the action asks for."""
    instant = datetime(2026, 6, 17, 3, 0, tzinfo=timezone.utc)
    monkeypatch.setattr("actions.answer.now_in", lambda zone: instant.astimezone(zone))
    return instant


def _aftercare(message: dict[str, Any]) -> list[dict[str, Any]]:
    return list(message["custom"]["data"]["aftercare"])


def test_the_widgets_time_zone_is_the_patients(
    frozen_clock: datetime,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
    domain: dict[str, Any],
) -> None:
    text = "I had it 3 hours ago, can I wash my hair now?"
    tracker = make_tracker("faq_washing_hair", text, "socketio", metadata={"tz": "Asia/Tokyo"})
    events = _run(dispatcher, tracker, domain)
    [message] = dispatcher.messages
    rules = default_aftercare()
    assert _aftercare(message) == [
        {
            "activity": "washing_hair",
            "wait_hours": 24,
            "treated_at": "2026-06-17T09:00:00+09:00",
            "ends_at": "2026-06-18T09:00:00+09:00",
            "passed": False,
        }
    ]
    expected = rules.says["not_passed"].format(
        hours="24", activity="washing your hair", ends=rules.when["tomorrow"].format(time="9:00 am")
    )
    assert message["text"].startswith(expected) and message["text"].endswith(default_knowledge_base().caveat)
    saved = [e["value"] for e in events if e["name"] == TREATMENT_TIME_SLOT]
    assert saved and saved[0]["earliest"].startswith("2026-06-17T00:00:00")


@pytest.mark.parametrize("metadata", [None, {"tz": "Mars/Olympus_Mons"}, {"tz": 5}])
def test_without_a_time_zone_the_clinics_is_used(
    frozen_clock: datetime,
    make_tracker: MakeTracker,
    domain: dict[str, Any],
    metadata: dict[str, Any] | None,
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("faq_exercise", "had it 12 hours ago, gym ok?", "rest", metadata=metadata)
    _run(dispatcher, tracker, domain)
    [entry] = _aftercare(dispatcher.messages[0])
    offset = frozen_clock.astimezone(default_clinic().zone).isoformat()[-6:]
    assert entry["treated_at"].endswith(offset) and entry["passed"] is False


def test_the_time_is_asked_once_after_the_general_answer(
    frozen_clock: datetime, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    rules, knowledge = default_aftercare(), default_knowledge_base()
    dispatcher = CollectingDispatcher()
    events = _run(dispatcher, make_tracker("faq_exercise", "when can I go back to the gym?"), domain)
    [message] = dispatcher.messages
    assert message["text"].startswith(knowledge.topic("exercise").full_answer + "\n" + rules.says["ask_time"])
    assert {"event": "slot", "timestamp": None, "name": ASKED_TIME_SLOT, "value": True} in events
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("faq_exercise", "and running?", slots={ASKED_TIME_SLOT: True})
    _run(dispatcher, tracker, domain)
    assert rules.says["ask_time"] not in dispatcher.messages[0]["text"]


def test_a_time_told_earlier_in_the_conversation_is_used(
    frozen_clock: datetime, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    told = {"earliest": "2026-06-14T03:00:00+00:00", "latest": "2026-06-14T03:00:00+00:00", "expression": "x"}
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("faq_exercise", "can I go running now?", slots={TREATMENT_TIME_SLOT: told})
    _run(dispatcher, tracker, domain)
    [entry] = _aftercare(dispatcher.messages[0])
    assert entry["passed"] is True and entry["ends_at"].startswith("2026-06-1")


def test_side_effects_that_last_too_long_point_to_the_clinic(
    frozen_clock: datetime, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    text = "my scalp is still swollen and bruised two weeks later, is that normal?"
    _run(dispatcher, make_tracker("faq_side_effects", text), domain)
    [message] = dispatcher.messages
    assert default_clinic().details["clinic_phone"] in message["text"]
    assert message["text"].startswith(default_aftercare().says["lasting"].split("{")[0])
    assert message["text"].endswith(default_knowledge_base().caveat)


# --- the same in Spanish: the conversation's language reads the time and writes the lines ---


def _in_spanish(tracker: Tracker) -> Tracker:
    """The tracker with its latest message read as Spanish (components/language_reader.py)."""
    tracker.latest_message[LANGUAGE_KEY] = {"language": "es", "detected": "es", "sure": True}
    return tracker


def test_a_spanish_patient_gets_the_verdict_in_spanish(
    frozen_clock: datetime,
    dispatcher: CollectingDispatcher,
    make_tracker: MakeTracker,
    domain: dict[str, Any],
) -> None:
    text = "me la hice ayer a las 4, ¿ya me puedo lavar el pelo?"
    tracker = make_tracker("faq_washing_hair", text, "socketio", metadata={"tz": "Europe/Madrid"})
    events = _run(dispatcher, _in_spanish(tracker), domain)
    [message] = dispatcher.messages
    rules = default_aftercare().in_language("es")
    # Now is Wednesday at 05:00 in Madrid: the 24 hours from Tuesday at 16:00 end today at 16:00.
    expected = rules.says["not_passed"].format(
        hours="24", activity="lavarse el cabello", ends=rules.when["today"].format(time="16:00")
    )
    assert expected == (
        "Las 24 horas que la guía aconseja esperar antes de lavarse el cabello terminan hoy a las 16:00, "
        "así que todavía no."
    )
    spanish = default_knowledge_base().in_language("es")
    assert message["text"].startswith(expected + "\n" + spanish.topic("washing_hair").answer)
    assert message["text"].endswith(spanish.caveat)
    [entry] = _aftercare(message)
    assert entry["treated_at"] == "2026-06-16T16:00:00+02:00" and entry["passed"] is False
    saved = [e["value"] for e in events if e["name"] == TREATMENT_TIME_SLOT]
    assert saved and saved[0]["earliest"] == "2026-06-16T14:00:00+00:00"


def test_a_future_appointment_is_written_with_its_day_in_spanish(
    frozen_clock: datetime, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    text = "mi cita es el viernes a las 10, ¿cuándo puedo volver al gimnasio?"
    tracker = make_tracker("faq_exercise", text, "socketio", metadata={"tz": "America/Mexico_City"})
    _run(dispatcher, _in_spanish(tracker), domain)
    [message] = dispatcher.messages
    rules = default_aftercare().in_language("es")
    # Now is Tuesday 16 June at 21:00 in Mexico City.
    expected = rules.says["future"].format(
        treated="el viernes 19 de junio a las 10:00",
        hours="48",
        activity="hacer ejercicio intenso",
        ends="el domingo 21 de junio a las 10:00",
    )
    assert message["text"].startswith(expected)
    [entry] = _aftercare(message)
    assert (
        entry["treated_at"] == "2026-06-19T10:00:00-06:00" and entry["ends_at"] == "2026-06-21T10:00:00-06:00"
    )


def test_the_time_is_asked_in_spanish(
    frozen_clock: datetime, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    tracker = _in_spanish(make_tracker("faq_exercise", "¿cuándo puedo volver al gimnasio?"))
    _run(dispatcher, tracker, domain)
    spanish = default_knowledge_base().in_language("es")
    asked = default_aftercare().in_language("es").says["ask_time"]
    assert dispatcher.messages[0]["text"].startswith(spanish.topic("exercise").full_answer + "\n" + asked)


def test_side_effects_that_last_too_long_point_to_the_clinic_in_spanish(
    frozen_clock: datetime, make_tracker: MakeTracker, domain: dict[str, Any]
) -> None:
    dispatcher = CollectingDispatcher()
    text = "sigo hinchada después de dos semanas, ¿es normal?"
    _run(dispatcher, _in_spanish(make_tracker("faq_side_effects", text)), domain)
    [message] = dispatcher.messages
    notice = default_aftercare().in_language("es").says["lasting"].format(**default_clinic().details_in("es"))
    assert message["text"].startswith(notice)
    assert default_clinic().details_in("es")["opening_hours"] in message["text"]
    assert message["text"].endswith(default_knowledge_base().in_language("es").caveat)
