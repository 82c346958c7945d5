"""The real bot over REST: action server and Rasa server started as `make run` starts them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered

from bot.activity import OUTCOMES, conversation_key
from bot.aftercare import default_aftercare
from bot.clinic import default_clinic
from bot.knowledge import KnowledgeBase
from channels.rest import conversation_id
from rasa_server import activity
from rasa_server.stores import ConversationStore, ConversationTable, conversations_url
from tests.services import outside_address, reachable
from tooling.servers import DEFAULT_MODEL, BotAddress, free_port, running_bot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


ADMIN_TOKEN = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def bot(log_dir: Path) -> Iterator[BotAddress]:
    """The bot as `make run` starts it, with the operator page on (ADMIN_TOKEN)."""
    if not DEFAULT_MODEL.exists():
        pytest.fail(f"no trained model at {DEFAULT_MODEL}: run `make train` (make test does)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADMIN_TOKEN", ADMIN_TOKEN)
        address = BotAddress(rasa_port=free_port(), action_port=free_port())
        with running_bot(address, log_dir=log_dir):
            yield address


def ask(bot: BotAddress, text: str, sender: str | None = None) -> list[dict[str, Any]]:
    response = requests.post(
        bot.rest_url, json={"sender": sender or f"patient-{uuid.uuid4()}", "message": text}, timeout=30
    )
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()
    return messages


def _metadata(messages: list[dict[str, Any]]) -> dict[str, Any]:
    [custom] = [m["custom"] for m in messages if "custom" in m]
    data: dict[str, Any] = custom["data"]
    return data


def test_each_topic_asked_in_a_patients_words(bot: BotAddress, knowledge: KnowledgeBase) -> None:
    wrong = {}
    for topic in knowledge.topics.values():
        messages = ask(bot, topic.question)
        [text] = [m["text"] for m in messages if "text" in m]
        metadata = _metadata(messages)
        if metadata["topic"] != topic.id:
            wrong[topic.question] = metadata["topic"]
            continue
        # An aftercare topic's answer also says what it worked out: asked without a time, nothing.
        aftercare = metadata.pop("aftercare", [])
        covered = [a.id for a in default_aftercare().activities if a.topic == topic.id]
        assert [(e["activity"], e["passed"], e["ends_at"]) for e in aftercare] == [
            (a, None, None) for a in covered
        ]
        feedback = metadata.pop("feedback")
        answer = metadata.pop("answer_id")
        assert feedback == {
            "helpful": f'/feedback_helpful{{"answer":"{answer}"}}',
            "not_helpful": f'/feedback_not_helpful{{"answer":"{answer}"}}',
        }
        assert metadata == {
            "topic": topic.id,
            "route": "intent",
            "sources": list(topic.sources),
            "topics": [topic.id],
        }
        assert text.startswith(topic.answer) and text.endswith(knowledge.caveat)
    assert wrong == {}


def test_answers_continue_within_one_conversation(bot: BotAddress, knowledge: KnowledgeBase) -> None:
    sender = f"patient-{uuid.uuid4()}"
    greeting = ask(bot, "hello", sender)
    assert _metadata(greeting) == {"topic": "small_talk", "route": "intent", "sources": []}
    assert _texts(greeting) == [knowledge.replies.greet]
    assert (
        _metadata(ask(bot, "can I go to the gym the day after my scalp injections?", sender))["topic"]
        == "exercise"
    )
    assert _metadata(ask(bot, "and when can I wash my hair?", sender))["topic"] == "washing_hair"


def test_out_of_scope_gets_no_faq_answer(bot: BotAddress, knowledge: KnowledgeBase) -> None:
    messages = ask(bot, "what's the capital of France?")
    assert _metadata(messages) == {"topic": "out_of_scope", "route": "intent", "sources": []}
    assert all(knowledge.caveat not in m.get("text", "") for m in messages)
    [with_buttons] = [m for m in messages if "buttons" in m]
    assert [b["payload"] for b in with_buttons["buttons"]] == [
        f"/faq_{topic}" for topic in knowledge.replies.suggested_topics
    ]


def test_a_button_payload_answers_its_topic(bot: BotAddress, knowledge: KnowledgeBase) -> None:
    messages = ask(bot, "/faq_side_effects")
    assert _metadata(messages)["topic"] == "side_effects"


def test_unsure_wording_is_answered_through_retrieval(bot: BotAddress, knowledge: KnowledgeBase) -> None:
    # Which short wording the classifier leaves unsure and retrieval answers depends on the
    # trained model: re-check it after changing the NLU data.
    messages = ask(bot, "someone at work had meso")
    metadata = _metadata(messages)
    assert set(metadata.pop("feedback")) == {"helpful", "not_helpful"} and metadata.pop("answer_id")
    assert metadata == {
        "topic": "what_is",
        "route": "retrieval",
        "sources": list(knowledge.topic("what_is").sources),
        "topics": ["what_is"],
    }
    [text] = [m["text"] for m in messages if "text" in m]
    assert text.endswith(knowledge.caveat)


def test_did_you_mean_buttons_work_over_rest(bot: BotAddress, knowledge: KnowledgeBase) -> None:
    sender = f"patient-{uuid.uuid4()}"
    messages = ask(bot, "meso pls", sender)
    metadata = _metadata(messages)
    assert metadata["route"] == "retrieval" and metadata["topic"] is None
    [offer] = [m for m in messages if "buttons" in m]
    assert offer["text"] == knowledge.replies.did_you_mean
    titles = {knowledge.topic(topic).title: topic for topic in metadata["candidates"]}
    assert [b["title"] for b in offer["buttons"]] == [*titles, knowledge.replies.none_of_these]
    first = offer["buttons"][0]
    assert _metadata(ask(bot, first["payload"], sender))["topic"] == titles[first["title"]]
    last = offer["buttons"][-1]
    assert _metadata(ask(bot, last["payload"], sender)) == {"topic": None, "route": "fallback", "sources": []}


def test_no_match_is_honest(bot: BotAddress, knowledge: KnowledgeBase) -> None:
    # Which vague text the classifier leaves unsure depends on the trained model: re-check
    # it (and the story "nothing close enough") after changing the NLU data.
    messages = ask(bot, "and then what")
    assert _metadata(messages) == {"topic": None, "route": "fallback", "sources": []}
    texts = [m["text"] for m in messages if "text" in m]
    assert texts == [knowledge.replies.no_match]


def test_a_red_flag_gets_only_the_urgent_reply(bot: BotAddress, knowledge: KnowledgeBase) -> None:
    messages = ask(bot, "how much is a session? my lips are swelling up and I can't breathe properly")
    metadata = _metadata(messages)
    assert metadata["topic"] == "emergency" and metadata["route"] == "safety"
    assert {"allergic_reaction", "breathing"} <= set(metadata["red_flags"])
    [text] = [m["text"] for m in messages if "text" in m]
    assert text.startswith(knowledge.replies.emergency.split(".")[0])
    assert knowledge.caveat not in text and knowledge.topic("cost").answer not in text


def test_the_caveat_still_follows_answers_after_a_safety_turn(
    bot: BotAddress, knowledge: KnowledgeBase
) -> None:
    sender = f"patient-{uuid.uuid4()}"
    assert (
        _metadata(ask(bot, "my face went numb and droopy after the injections", sender))["route"] == "safety"
    )
    messages = ask(bot, "ok, and how much does mesotherapy cost?", sender)
    assert _metadata(messages)["topic"] == "cost"
    [text] = [m["text"] for m in messages if "text" in m]
    assert text.startswith(knowledge.topic("cost").answer) and text.endswith(knowledge.caveat)


def test_a_personal_question_gets_the_notice_and_the_general_answer(
    bot: BotAddress, knowledge: KnowledgeBase
) -> None:
    messages = ask(bot, "I'm on blood thinners, can I have mesotherapy?")
    metadata = _metadata(messages)
    assert metadata["topic"] == "contraindications" and metadata["personal_advice"] is True
    [text] = [m["text"] for m in messages if "text" in m]
    assert text.startswith(knowledge.replies.personal_advice) and text.endswith(knowledge.caveat)


def test_asking_for_a_person_gets_the_clinics_details(bot: BotAddress) -> None:
    messages = ask(bot, "can I speak to someone at the clinic?")
    assert _metadata(messages)["topic"] == "handoff"
    [text] = [m["text"] for m in messages if "text" in m]
    assert default_clinic().details["clinic_phone"] in text


def test_concurrent_conversations_stay_whole_across_the_worker_processes(
    bot: BotAddress, log_dir: Path
) -> None:
    log = (log_dir / "rasa-server.log").read_text()
    workers = os.cpu_count() or 1
    assert workers >= 2, "this test needs a machine with at least 2 cores"
    # the bot counts as started only once every worker listens (rasa_server/workers.py)
    assert log.count("Rasa server is up and running") == workers
    assert f"All {workers} worker processes are listening." in log
    # the sentence embedding was loaded once, before the workers were forked (rasa_server/preload.py)
    assert log.count("once, before the workers start: they share it.") == 1
    questions = ["hello", "how much does it cost?", "does it hurt?", "can I wash my hair after?", "thanks"]
    senders = [f"patient-{uuid.uuid4()}" for _ in range(8)]

    def conversation(sender: str) -> list[int]:
        return [len(ask(bot, text, sender)) for text in questions]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(conversation, senders))
    assert all(all(count >= 1 for count in counts) for counts in replies)

    store = ConversationStore(Domain.empty())  # the database the servers share (BOT_DATA_DIR)
    for sender in senders:
        tracker = asyncio.run(store.retrieve(conversation_id(sender)))
        assert tracker is not None
        said = [type(e).__name__ for e in tracker.events if isinstance(e, (UserUttered, BotUttered))]
        asked = [e.text for e in tracker.events if isinstance(e, UserUttered)]
        assert asked == questions
        # every message answered before the next was taken: user, then at least one bot message
        assert said[0] == "UserUttered" and "UserUttered UserUttered" not in " ".join(said)
        assert said[-1] == "BotUttered"


def test_by_default_neither_server_listens_beyond_this_machine(bot: BotAddress) -> None:
    """``make run`` binds loopback (BIND_ADDRESS, default 127.0.0.1): REST, the widget and the
    action server answer on this machine, and not at its network address."""
    outside = outside_address()
    assert reachable("127.0.0.1", bot.rasa_port) and reachable("127.0.0.1", bot.action_port)
    assert not reachable(outside, bot.rasa_port) and not reachable(outside, bot.action_port)


def test_a_follow_up_is_read_in_the_light_of_the_topic_just_answered(
    bot: BotAddress, knowledge: KnowledgeBase
) -> None:
    sender = f"patient-{uuid.uuid4()}"
    assert (
        _metadata(ask(bot, "am I allowed a coffee before the appointment?", sender))["topic"]
        == "coffee_alcohol"
    )
    followed = ask(bot, "what about after?", sender)
    assert _metadata(followed)["topic"] == "coffee_alcohol"
    [text] = [m["text"] for m in followed if "text" in m]
    assert text.endswith(knowledge.caveat)
    alone = _metadata(ask(bot, "what about after?"))  # a new conversation: nothing to follow
    assert alone["topic"] != "coffee_alcohol"


def test_several_questions_in_one_message_are_each_answered_with_one_caveat(
    bot: BotAddress, knowledge: KnowledgeBase
) -> None:
    messages = ask(bot, "does it hurt and how much does it cost?")
    metadata = _metadata(messages)
    assert metadata["topics"] == ["pain", "cost"] and metadata["topic"] == "pain"
    [text] = [m["text"] for m in messages if "text" in m]
    pain, cost = knowledge.topic("pain"), knowledge.topic("cost")
    assert text.index(pain.answer) < text.index(cost.answer) < text.index(knowledge.caveat)
    assert text.count(knowledge.caveat) == 1


def test_after_an_emergency_there_is_no_topic_to_follow_up(bot: BotAddress) -> None:
    sender = f"patient-{uuid.uuid4()}"
    assert (
        _metadata(ask(bot, "am I allowed a coffee before the appointment?", sender))["topic"]
        == "coffee_alcohol"
    )
    urgent = _metadata(ask(bot, "what about after? my lips are swelling up and I can't breathe", sender))
    assert urgent["route"] == "safety"
    assert _metadata(ask(bot, "what about after?", sender))["topic"] != "coffee_alcohol"


# --- aftercare that knows when the treatment was (bot/aftercare.py) ---------------------------


def _ask_with(bot: BotAddress, text: str, metadata: dict[str, Any], sender: str) -> list[dict[str, Any]]:
    body = {"sender": sender, "message": text, "metadata": metadata}
    response = requests.post(bot.rest_url, json=body, timeout=30)
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()
    return messages


def test_aftercare_is_worked_out_in_the_time_zone_the_client_sends(bot: BotAddress) -> None:
    before = datetime.now(timezone.utc)
    messages = _ask_with(
        bot, "I had it 3 hours ago, can I wash my hair now?", {"tz": "Asia/Kolkata"}, f"p-{uuid.uuid4()}"
    )
    after = datetime.now(timezone.utc)
    data = _metadata(messages)
    assert data["topic"] == "washing_hair"
    [entry] = data["aftercare"]
    treated, ends = datetime.fromisoformat(entry["treated_at"]), datetime.fromisoformat(entry["ends_at"])
    assert entry["treated_at"].endswith("+05:30") and entry["passed"] is False
    assert (
        before - timedelta(hours=3, seconds=1) <= treated <= after - timedelta(hours=3) + timedelta(seconds=1)
    )
    assert ends - treated == timedelta(hours=24)


def test_the_bot_asks_when_and_the_next_message_answers_it(bot: BotAddress) -> None:
    rules, sender = default_aftercare(), f"p-{uuid.uuid4()}"
    first = ask(bot, "when can I go back to the gym after meso?", sender)
    [text] = [m["text"] for m in first if "text" in m]
    assert rules.says["ask_time"] in text
    second = ask(bot, "I had it 12 hours ago", sender)
    data = _metadata(second)
    assert data["topic"] == "exercise"
    [entry] = data["aftercare"]
    assert entry["passed"] is False and entry["treated_at"] is not None
    [text] = [m["text"] for m in second if "text" in m]
    assert rules.says["ask_time"] not in text


@pytest.mark.parametrize(
    "text", ["I had it 300 years ago, can I wash my hair?", "in -5 hours can I wash my hair"]
)
def test_a_nonsense_time_gets_the_general_answer(bot: BotAddress, text: str) -> None:
    data = _metadata(ask(bot, text))
    assert data["topic"] == "washing_hair"
    assert [e["passed"] for e in data["aftercare"]] == [None]


def test_a_red_flag_with_a_time_is_escalated(bot: BotAddress) -> None:
    sender = f"p-{uuid.uuid4()}"
    ask(bot, "can I wash my hair after meso?", sender)
    data = _metadata(ask(bot, "I had it yesterday and now my lips are swelling", sender))
    assert data["route"] == "safety" and data["topic"] == "emergency"


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages if "text" in m]


def _recorded(sender: str) -> dict[str, Any]:
    """What the clinic's records hold for one REST conversation: its review queue and feedback."""
    key = conversation_key(conversation_id(sender))
    table = ConversationTable(conversations_url())
    with table.engine.connect() as connection:
        queue = activity.review_queue(connection, time.time() - 3600, conversation=key)
        feedback = connection.execute(
            sa.select(activity.FEEDBACK.c.helpful, activity.FEEDBACK.c.topic).where(
                activity.FEEDBACK.c.conversation == key
            )
        ).all()
    return {
        "queue": [(item.reason, item.text) for item in queue],
        "feedback": [tuple(row) for row in feedback],
    }


def test_feedback_is_answered_recorded_once_and_what_failed_waits_for_review(
    bot: BotAddress, knowledge: KnowledgeBase
) -> None:
    sender = f"patient-{uuid.uuid4()}"
    assert _metadata(ask(bot, "and then what", sender))["route"] == "fallback"  # no match
    assert _metadata(ask(bot, "what is the capital of France?", sender))["topic"] == "out_of_scope"
    answer = _metadata(ask(bot, "how much does mesotherapy cost?", sender))
    assert answer["topic"] == "cost"
    sorry = ask(bot, answer["feedback"]["not_helpful"], sender)
    [text] = _texts(sorry)
    assert text.startswith(knowledge.replies.feedback_sorry.split("{")[0].strip())
    assert [b["title"] for m in sorry for b in m.get("buttons", [])] == [
        knowledge.topic(t).title for t in knowledge.replies.suggested_topics
    ]
    assert _texts(ask(bot, answer["feedback"]["helpful"], sender)) == [knowledge.replies.feedback_repeated]
    forged = '/feedback_helpful{"answer":"0000000000000000"}'
    assert _texts(ask(bot, forged, sender)) == [knowledge.replies.feedback_unknown]
    # The conversation goes on after feedback: the topic just discussed is still there.
    assert _metadata(ask(bot, "and would insurance cover that?", sender))["topic"] == "cost"
    recorded = _recorded(sender)
    assert recorded["feedback"] == [(False, "cost")]  # counted once, on the answer's topic
    shown = requests.get(
        f"{bot.rasa_url}/admin/report.json", params={"token": ADMIN_TOKEN}, timeout=30
    ).json()
    assert shown["feedback"]["by_topic"]["cost"]["not_helpful"] >= 1  # and shown on the operator page
    assert recorded["queue"] == [
        ("no_match", "and then what"),
        ("out_of_scope", "what is the capital of France?"),
        ("not_helpful", "how much does mesotherapy cost?"),
    ]


def test_the_operator_page_needs_the_admin_token(bot: BotAddress) -> None:
    page = f"{bot.rasa_url}/admin/"
    assert requests.get(page, timeout=10).status_code == 401
    assert requests.get(page, params={"token": "not-the-token-at-all"}, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer " + secrets.token_urlsafe(24)}
    assert requests.get(f"{bot.rasa_url}/admin/report.json", headers=wrong, timeout=10).status_code == 401
    shown = requests.get(page, params={"token": ADMIN_TOKEN}, timeout=30)
    assert shown.status_code == 200 and "<svg" in shown.text
    figures = requests.get(
        f"{bot.rasa_url}/admin/report.json", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    ).json()
    assert figures["messages"] >= 1 and set(figures["by_route"]) <= set(OUTCOMES)
    export = requests.get(f"{bot.rasa_url}/admin/review.yml", params={"token": ADMIN_TOKEN}, timeout=30)
    assert export.status_code == 200 and export.text.startswith("# The review queue")
    bad = requests.get(page, params={"token": ADMIN_TOKEN, "since": "last tuesday"}, timeout=10)
    assert bad.status_code == 400 and "SINCE" in bad.json()["error"]


def test_a_spanish_conversation_is_answered_in_spanish(bot: BotAddress, knowledge: KnowledgeBase) -> None:
    spanish = knowledge.in_language("es")
    sender = f"patient-{uuid.uuid4()}"
    messages = ask(bot, "¿cuánto cuesta la mesoterapia?", sender)
    assert _metadata(messages)["topic"] == "cost"
    [text] = _texts(messages)
    assert text.startswith(spanish.topic("cost").answer) and text.endswith(spanish.caveat)
    assert "Fuentes:" in text
    # The conversation goes on in Spanish.
    follow = ask(bot, "¿lo cubre el seguro médico?", sender)
    assert _metadata(follow)["topic"] == "cost" and _texts(follow)[0].endswith(spanish.caveat)
    # A clear switch to English is answered in English.
    switched = ask(bot, "sorry, in English please: does it hurt?", sender)
    assert _metadata(switched)["topic"] == "pain" and _texts(switched)[0].endswith(knowledge.caveat)


def test_a_message_in_another_language_is_told_which_languages_the_bot_speaks(
    bot: BotAddress, knowledge: KnowledgeBase
) -> None:
    messages = ask(bot, "Bonjour, combien coûte une séance de mésothérapie pour les cheveux ?")
    [text] = _texts(messages)
    assert text == "\n".join(knowledge.in_language(code).replies.other_language for code in ("en", "es"))
    assert _metadata(messages)["topic"] == "other_language"


def test_a_spanish_red_flag_gets_the_urgent_reply_in_spanish(
    bot: BotAddress, knowledge: KnowledgeBase
) -> None:
    messages = ask(bot, "me hice mesoterapia ayer y ahora me cuesta respirar y se me hinchan los labios")
    metadata = _metadata(messages)
    assert (metadata["topic"], metadata["route"]) == ("emergency", "safety")
    [text] = _texts(messages)
    spanish = knowledge.in_language("es").replies.emergency.format(**default_clinic().details_in("es"))
    assert text == spanish
