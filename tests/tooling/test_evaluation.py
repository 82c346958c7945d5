"""Judging the bot's replies and retrieval's rankings (tooling/evaluation.py), on made-up outcomes
whose right figures are counted by hand."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from bot.retrieval import Candidate, Thresholds
from tooling.evaluation import (
    EMERGENCY,
    OUT_OF_SCOPE,
    Outcome,
    Question,
    QuestionFileError,
    decision_metrics,
    is_right,
    load_questions,
    ranking_metrics,
    read_reply,
    summarize,
)

TOPICS = ("cost", "pain", "washing_hair")


def test_a_question_file_is_read_and_its_problems_named(tmp_path: Path) -> None:
    path = tmp_path / "questions.yml"
    path.write_text(
        "questions:\n"
        "  - {text: how much is it, expect: cost}\n"
        "  - {text: does it sting or cost much, expect: [pain, cost], personal: false}\n"
        "  - {text: my throat is closing, expect: emergency}\n",
        encoding="utf-8",
    )
    questions = load_questions(path, TOPICS)
    assert [q.kind for q in questions] == ["topic", "topic", EMERGENCY]
    assert questions[1].expect == ("pain", "cost") and questions[1].personal is False
    path.write_text("questions:\n  - {text: hi, expect: astrology}\n", encoding="utf-8")
    with pytest.raises(QuestionFileError, match="question 1 expects unknown astrology"):
        load_questions(path, TOPICS)
    path.write_text("questions: []\n", encoding="utf-8")
    with pytest.raises(QuestionFileError, match="non-empty 'questions' list"):
        load_questions(path, TOPICS)


def test_what_counts_as_right() -> None:
    emergency, out, topic = (
        Question("x", (EMERGENCY,)),
        Question("y", (OUT_OF_SCOPE,)),
        Question("z", ("cost",)),
    )
    assert is_right(emergency, EMERGENCY, "safety") and not is_right(emergency, EMERGENCY, "intent")
    assert is_right(out, OUT_OF_SCOPE, "intent") and is_right(out, None, "fallback")
    assert not is_right(out, "cost", "intent")  # answering an out-of-scope question is wrong
    assert is_right(topic, "cost", "retrieval") and not is_right(topic, "pain", "intent")


def test_a_rest_reply_is_read_for_its_topic_route_and_text() -> None:
    messages: list[dict[str, Any]] = [
        {"recipient_id": "p", "text": "It depends."},
        {"recipient_id": "p", "text": "Evidence is limited."},
        {"recipient_id": "p", "custom": {"data": {"topic": "cost", "route": "intent"}}},
    ]
    assert read_reply(messages) == ("cost", "intent", "It depends. Evidence is limited.")
    assert read_reply([]) == (None, None, "")


def _outcome(question: Question, topic: str | None, route: str | None) -> Outcome:
    return Outcome(question, topic, route, "said", is_right(question, topic, route))


def test_a_summary_counts_each_kind_of_question_on_its_own() -> None:
    outcomes = [
        _outcome(Question("a", ("cost",)), "cost", "intent"),
        _outcome(Question("b", ("pain",)), "cost", "intent"),
        _outcome(Question("c", ("pain",)), "pain", "retrieval"),
        _outcome(Question("d", (OUT_OF_SCOPE,)), None, "fallback"),
        _outcome(Question("e", (OUT_OF_SCOPE,)), EMERGENCY, "safety"),  # a false alarm
        _outcome(Question("f", (EMERGENCY,)), EMERGENCY, "safety"),
    ]
    summary = summarize(outcomes)
    assert summary.total == 6 and summary.accuracy == pytest.approx(4 / 6)
    assert summary.topic_accuracy == pytest.approx(2 / 3)
    assert summary.out_of_scope_rejection == 0.5 and summary.emergency_recall == 1.0
    assert summary.false_alarm_rate == pytest.approx(1 / 5)
    assert summary.routes == {"intent": 2, "retrieval": 1, "fallback": 1, "safety": 2}
    assert summary.per_topic == {"cost": 1.0, "pain": 0.5, OUT_OF_SCOPE: 0.5, EMERGENCY: 1.0}
    assert [m["text"] for m in summary.misanswered] == ["b", "e"]
    assert math.isnan(summary.personal_notice_rate)  # no question was judged for it


def _ranking(*topics_and_scores: tuple[str, float]) -> list[Candidate]:
    return [Candidate(topic, score, f"a {topic} question") for topic, score in topics_and_scores]


def test_ranking_metrics_are_precision_at_1_and_mean_reciprocal_rank() -> None:
    questions = [Question("a", ("cost",)), Question("b", ("pain",)), Question("c", ("washing_hair",))]
    questions.append(Question("d", (OUT_OF_SCOPE,)))  # not ranked
    rankings = [
        _ranking(("cost", 0.9), ("pain", 0.5)),
        _ranking(("cost", 0.8), ("pain", 0.7)),
        _ranking(("cost", 0.6), ("pain", 0.5)),
        _ranking(("cost", 0.4)),
    ]
    metrics = ranking_metrics(questions, rankings)
    assert metrics.precision_at_1 == pytest.approx(1 / 3)
    assert metrics.mrr == pytest.approx((1 + 1 / 2 + 0) / 3)


def test_decisions_are_scored_by_utility() -> None:
    questions = [Question("a", ("cost",)), Question("b", ("pain",)), Question("c", ("cost",))]
    questions.append(Question("d", (OUT_OF_SCOPE,)))
    rankings = [
        _ranking(("cost", 0.9), ("pain", 0.3)),  # answered right: +1
        _ranking(("cost", 0.9), ("pain", 0.2)),  # answered wrong: -1
        _ranking(("pain", 0.58), ("cost", 0.57)),  # a did-you-mean holding cost: +0.5
        _ranking(("pain", 0.2)),  # out of scope, rejected: +1
    ]
    metrics = decision_metrics(questions, rankings, Thresholds(answer=0.6, suggest=0.5, margin=0.04))
    assert (metrics.answered_right, metrics.answered_wrong) == (pytest.approx(1 / 3), pytest.approx(1 / 3))
    assert metrics.clarified_right == pytest.approx(1 / 3) and metrics.out_of_scope_rejection == 1.0
    assert metrics.utility == pytest.approx((1 - 1 + 0.5 + 1) / 4)
