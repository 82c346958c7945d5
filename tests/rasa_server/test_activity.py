"""The clinic's records in the conversation store (rasa_server/activity.py) and the report
and review queue read from them (tooling/report.py), on SQLite and on PostgreSQL, with a
store of known contents."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from bot.activity import answer_id, feedback_facts, judge_feedback
from rasa_server import activity
from rasa_server.stores import ConversationTable
from tests.bot.test_activity import bot, feedback, user
from tests.services import Postgres
from tooling.cli import main

NOW = time.time()
DAY = 86400.0


def _conversations() -> dict[str, list[list[dict[str, Any]]]]:
    """Each conversation as its turns' events, in the order the Rasa server saves them."""
    first = answer_id("cost-question-000")
    facts = {"answer": first, "helpful": False, "status": "counted", "topic": "cost", "route": "intent"}
    again = {**facts, "helpful": True, "status": "repeated"}
    return {
        "rest:alice": [
            [
                user("cost-question-000", "how much is it? mail me at a@b.com", "faq_cost", NOW - 2 * DAY),
                bot(topic="cost", route="intent", topics=["cost"], answer_id=first),
            ],
            [
                feedback("fb-1", first, False, NOW - 2 * DAY + 60),
                bot(topic="feedback", route="intent", feedback=facts),
            ],
            [
                feedback("fb-2", first, True, NOW - 2 * DAY + 90),
                bot(topic="feedback", route="intent", feedback=again),
            ],
            [
                user("oos-1", "who won the match", "out_of_scope", NOW - DAY),
                bot(topic="out_of_scope", route="intent"),
            ],
        ],
        "telegram:bob": [
            [
                user("pain-1", "does it hurt", "faq_pain", NOW - DAY, "telegram"),
                bot(topic="pain", route="intent", topics=["pain"], answer_id="pain-1"),
            ],
            [
                user("none-1", "blorp blorp", "nlu_fallback", NOW - DAY, "telegram"),
                bot(topic=None, route="fallback"),
            ],
            [
                user("sos-1", "I can't breathe", "emergency", NOW - DAY, "telegram"),
                bot(topic="emergency", route="safety"),
            ],
        ],
        "rest:old": [
            [
                user("old-1", "does it hurt", "faq_pain", NOW - 60 * DAY),
                bot(topic="pain", route="intent", topics=["pain"]),
            ],
        ],
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'conversations.db'}"
        return
    postgres = Postgres(tmp_path / "pg")
    with postgres.running():
        yield postgres.url


@pytest.fixture
def filled(store_url: str) -> ConversationTable:
    table = ConversationTable(sa.engine.make_url(store_url))
    for sender, saved in _conversations().items():
        for events in saved:
            table.save(sender, "{}", events)
            table.save(sender, "{}", events)  # Rasa saves a conversation more than once a turn
    return table


def test_the_report_counts_a_store_of_known_contents(filled: ConversationTable) -> None:
    with filled.engine.connect() as connection:
        report = activity.summary(connection, NOW - 30 * DAY)
    assert (report["conversations"], report["messages"], report["escalations"]) == (2, 5, 1)
    assert report["by_topic"] == {"cost": 1, "out_of_scope": 1, "pain": 1, "none": 1, "emergency": 1}
    assert report["by_route"] == {"intent": 2, "out_of_scope": 1, "no_match": 1, "safety": 1}
    assert report["by_channel"] == {"rest": 2, "telegram": 3}
    assert report["feedback"]["helpful"] == 0 and report["feedback"]["not_helpful"] == 1
    assert report["feedback"]["by_topic"] == {"cost": {"helpful": 0, "not_helpful": 1}}
    assert report["review_queue"] == {
        "total": 3,
        "by_reason": {"not_helpful": 1, "out_of_scope": 1, "no_match": 1},
    }
    assert sum(day["messages"] for day in report["per_day"]) == 5


def test_the_review_queue_is_redacted_and_can_be_marked_reviewed(filled: ConversationTable) -> None:
    with filled.engine.begin() as connection:
        queue = activity.review_queue(connection, NOW - 30 * DAY)
        assert sorted(item.reason for item in queue) == ["no_match", "not_helpful", "out_of_scope"]
        assert all("a@b.com" not in item.text for item in queue) and any("[email]" in i.text for i in queue)
        assert all("breathe" not in item.text for item in queue)  # emergencies never enter it
        assert activity.mark_reviewed(connection, [queue[0].id]) == 1
        assert activity.mark_reviewed(connection, [queue[0].id]) == 0
        assert len(activity.review_queue(connection, NOW - 30 * DAY)) == 2


def test_retention_forgets_old_records(filled: ConversationTable) -> None:
    filled.delete_older_than(NOW - 30 * DAY)
    with filled.engine.connect() as connection:
        assert activity.summary(connection, 0.0)["messages"] == 5


def test_make_report_and_make_review_write_their_files(
    filled: ConversationTable, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results"
    assert main(["report", "--db", store_url, "--since", "30d", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    for key in (
        "conversations",
        "messages",
        "by_topic",
        "by_route",
        "by_channel",
        "escalations",
        "feedback",
        "review_queue",
    ):
        assert key in report
    assert report["messages"] == 5 and report["feedback"]["not_helpful"] == 1
    page = (out / "report.html").read_text()
    assert (
        "<svg" in page and "Cost" in page and "<script" not in page and "http" not in page.split("<body>")[1]
    )
    review = out / "review.yml"
    assert main(["review", "--db", store_url, "--since", "30d", "--out", str(review), "--mark-reviewed"]) == 0
    nlu = yaml.safe_load(review.read_text())
    examples = {
        e["text"]: (block["intent"], e["metadata"]["reason"])
        for block in nlu["nlu"]
        for e in block["examples"]
    }
    assert examples == {
        "how much is it? mail me at [email]": ("faq_cost", "not_helpful"),
        "who won the match": ("out_of_scope", "out_of_scope"),
        "blorp blorp": ("out_of_scope", "no_match"),
    }
    assert main(["review", "--db", store_url, "--since", "30d", "--out", str(review)]) == 0
    assert yaml.safe_load(review.read_text())["nlu"] == []  # all marked reviewed


@pytest.mark.parametrize("since", ["yesterday", "0d", "-3d", "2999-01-01", "30x"])
def test_a_since_that_makes_no_sense_is_refused_with_a_reason(
    since: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["report", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--since", since, "--out", str(tmp_path)])
    assert stop.value.code == 2 and "SINCE" in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


def test_an_empty_store_is_a_report_of_zeros(tmp_path: Path) -> None:
    assert main(["report", "--db", f"sqlite:///{tmp_path / 'empty.db'}", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert (
        report["messages"] == 0
        and report["review_queue"]["total"] == 0
        and "No data yet" in (tmp_path / "report.html").read_text()
    )


def test_an_unreachable_postgresql_is_an_error_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["report", "--db", "postgresql://meso@127.0.0.1:9/none", "--out", str(tmp_path)])
    assert stop.value.code == 1 and "cannot be reached" in capsys.readouterr().err


def test_the_action_and_the_records_agree_on_feedback() -> None:
    saved = _conversations()["rest:alice"]
    judged = judge_feedback([event for turn in saved for event in turn])
    recorded = [turn[1]["metadata"]["reply"]["feedback"] for turn in saved[1:3]]
    assert [feedback_facts(f) for f in judged] == recorded


def test_a_turn_and_its_record_are_written_in_one_transaction(tmp_path: Path) -> None:
    table = ConversationTable(sa.engine.make_url(f"sqlite:///{tmp_path / 'conversations.db'}"))
    commits: list[int] = []
    sa.event.listen(table.engine, "commit", lambda connection: commits.append(1))
    sender, [events, *_] = next(iter(_conversations().items()))
    table.save(sender, '{"events": []}', events)
    assert len(commits) == 1
    assert table[sender] == '{"events": []}'
    with table.engine.connect() as connection:
        assert activity.summary(connection, NOW - 30 * DAY)["messages"] == 1


def test_a_record_that_fails_leaves_the_conversation_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    table = ConversationTable(sa.engine.make_url(f"sqlite:///{tmp_path / 'conversations.db'}"))

    def failing(connection: sa.engine.Connection, sender_id: str, events: Any) -> int:
        raise sa.exc.OperationalError("INSERT INTO turns", {}, Exception("disk I/O error"))

    monkeypatch.setattr(activity, "record", failing)
    sender, [events, *_] = next(iter(_conversations().items()))
    table.save(sender, '{"events": [1]}', events)
    assert table[sender] == '{"events": [1]}'
    assert "writing the conversation alone, without the record" in caplog.text
    with table.engine.connect() as connection:
        assert activity.summary(connection, NOW - 30 * DAY)["messages"] == 0
