"""The clinic's records of its patients' conversations, beside the conversations themselves:
one row per patient message (``turns``) and one per answer given feedback (``feedback``), in
the same database (``CONVERSATIONS_DB_URL``, SQLite by default, PostgreSQL when configured).

The Rasa server records each turn when it saves the conversation (``rasa_server/stores.py``):
the patient's message, contact details redacted, and the facts of the bot's reply
(``bot/activity.py``). The report (``make report``, ``/admin/``) and the review queue
(``make review``) read these rows with a few SQL queries: no conversation is loaded, so
100,000 of them are read in seconds (``make bench-report``). The rows are deleted with
their conversations, after ``CONVERSATION_RETENTION_DAYS``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.activity import KIND_QUESTION, REVIEW_NOT_HELPFUL, Turn, conversation_key, turns

metadata = sa.MetaData()
TURNS = sa.Table(
    "turns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation", sa.String(40), nullable=False, index=True),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("intent", sa.String(80)),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("route", sa.String(16)),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("topic", sa.String(80)),
    sa.Column("topics", sa.Text, nullable=False),  # JSON list
    sa.Column("guesses", sa.Text, nullable=False),  # JSON list
    sa.Column("answer_id", sa.String(40)),
    sa.Column("review", sa.String(16), index=True),
    sa.Column("reviewed_at", sa.Float),
    sa.UniqueConstraint("conversation", "message_id", name="turns_message"),
)
FEEDBACK = sa.Table(
    "feedback",
    metadata,
    sa.Column("conversation", sa.String(40), primary_key=True),
    sa.Column("answer_id", sa.String(40), primary_key=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("topic", sa.String(80)),
    sa.Column("route", sa.String(16)),
    sa.Column("channel", sa.String(40), nullable=False),
)


def create_tables(engine: sa.engine.Engine) -> None:
    metadata.create_all(engine)


# Each table's INSERT per database dialect, built once: a statement made anew for every
# message cost SQLAlchemy more to build and compile than the database took to run it.
_INSERTS: dict[tuple[str, str], Any] = {}


def _insert(engine: sa.engine.Engine, table: sa.Table) -> Any:
    """An INSERT that skips a row already there (a turn saved twice is recorded once); its
    values are passed as parameters when it is executed."""
    key = (engine.dialect.name, table.name)
    statement = _INSERTS.get(key)
    if statement is None:
        dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        statement = _INSERTS[key] = dialect.insert(table).on_conflict_do_nothing()
    return statement


def _row(conversation: str, turn: Turn) -> dict[str, Any]:
    return {
        "conversation": conversation,
        "message_id": turn.message_id,
        "at": turn.at,
        "channel": turn.channel,
        "kind": turn.kind,
        "text": turn.text,
        "intent": turn.intent,
        "confidence": turn.confidence,
        "route": turn.route,
        "outcome": turn.outcome,
        "topic": turn.topic,
        "topics": json.dumps(list(turn.topics)),
        "guesses": json.dumps(list(turn.guesses)),
        "answer_id": turn.answer_id,
        "review": turn.review,
    }


def record(connection: sa.engine.Connection, sender_id: str, events: Sequence[Mapping[str, Any]]) -> int:
    """Record the turns in ``events`` (the conversation's latest, as plain dicts) that are
    not recorded yet, and the feedback the bot counted; how many turns were new."""
    found = [t for t in turns(events) if t.message_id]
    if not found:
        return 0
    conversation = conversation_key(sender_id)
    engine = connection.engine
    added = 0
    for turn in found:
        added += connection.execute(_insert(engine, TURNS), _row(conversation, turn)).rowcount or 0
        feedback = turn.feedback
        if feedback is None or feedback.status != "counted":
            continue
        counted = connection.execute(
            _insert(engine, FEEDBACK),
            {
                "conversation": conversation,
                "answer_id": feedback.answer,
                "at": feedback.at,
                "helpful": feedback.helpful,
                "topic": feedback.topic,
                "route": feedback.route,
                "channel": turn.channel,
            },
        ).rowcount
        if counted and not feedback.helpful:
            connection.execute(
                TURNS.update()
                .where(TURNS.c.conversation == conversation, TURNS.c.answer_id == feedback.answer)
                .values(review=REVIEW_NOT_HELPFUL)
            )
    return added


def delete_older_than(connection: sa.engine.Connection, cutoff: float) -> None:
    """Forget the turns and feedback older than ``cutoff`` (a Unix time)."""
    connection.execute(TURNS.delete().where(TURNS.c.at < cutoff))
    connection.execute(FEEDBACK.delete().where(FEEDBACK.c.at < cutoff))


@dataclass(frozen=True)
class ReviewItem:
    id: int
    at: float
    channel: str
    reason: str
    text: str
    guesses: tuple[str, ...]
    topic: str | None


def review_queue(
    connection: sa.engine.Connection,
    since: float,
    include_reviewed: bool = False,
    conversation: str | None = None,
) -> list[ReviewItem]:
    """The turns waiting for review since ``since`` (of one conversation, by its key), oldest first."""
    query = sa.select(
        TURNS.c.id, TURNS.c.at, TURNS.c.channel, TURNS.c.review, TURNS.c.text, TURNS.c.guesses, TURNS.c.topic
    ).where(TURNS.c.review.isnot(None), TURNS.c.at >= since)
    if conversation is not None:
        query = query.where(TURNS.c.conversation == conversation)
    if not include_reviewed:
        query = query.where(TURNS.c.reviewed_at.is_(None))
    rows = connection.execute(query.order_by(TURNS.c.at, TURNS.c.id)).all()
    return [
        ReviewItem(
            int(r.id),
            float(r.at),
            str(r.channel),
            str(r.review),
            str(r.text),
            tuple(json.loads(r.guesses)),
            r.topic,
        )
        for r in rows
    ]


def mark_reviewed(connection: sa.engine.Connection, ids: Sequence[int], now: float | None = None) -> int:
    """Mark the queue's items ``ids`` reviewed; how many were marked."""
    if not ids:
        return 0
    when = time.time() if now is None else now
    return int(
        connection.execute(
            TURNS.update()
            .where(TURNS.c.id.in_(list(ids)), TURNS.c.reviewed_at.is_(None))
            .values(reviewed_at=when)
        ).rowcount
        or 0
    )


def _counts(connection: sa.engine.Connection, column: sa.Column[Any], since: float) -> dict[str, int]:
    rows = connection.execute(
        sa.select(column, sa.func.count())
        .where(TURNS.c.at >= since, TURNS.c.kind == KIND_QUESTION)
        .group_by(column)
    ).all()
    return {str(key) if key is not None else "none": int(count) for key, count in rows}


def summary(connection: sa.engine.Connection, since: float, day_seconds: float = 86400.0) -> dict[str, Any]:
    """The report's figures for the turns since ``since``: every figure one SQL query."""
    questions = sa.and_(TURNS.c.at >= since, TURNS.c.kind == KIND_QUESTION)
    conversations = connection.execute(
        sa.select(sa.func.count(sa.distinct(TURNS.c.conversation))).where(TURNS.c.at >= since)
    ).scalar_one()
    messages = connection.execute(sa.select(sa.func.count()).where(questions)).scalar_one()
    day = sa.cast(sa.func.floor(TURNS.c.at / day_seconds), sa.Integer)
    per_day = connection.execute(
        sa.select(day, sa.func.count()).where(questions).group_by(day).order_by(day)
    ).all()
    feedback_rows = connection.execute(
        sa.select(FEEDBACK.c.topic, FEEDBACK.c.helpful, sa.func.count())
        .where(FEEDBACK.c.at >= since)
        .group_by(FEEDBACK.c.topic, FEEDBACK.c.helpful)
    ).all()
    by_topic_feedback: dict[str, dict[str, int]] = {}
    for topic, helpful, count in feedback_rows:
        entry = by_topic_feedback.setdefault(str(topic), {"helpful": 0, "not_helpful": 0})
        entry["helpful" if helpful else "not_helpful"] += int(count)
    queue = connection.execute(
        sa.select(TURNS.c.review, sa.func.count())
        .where(TURNS.c.at >= since, TURNS.c.review.isnot(None), TURNS.c.reviewed_at.is_(None))
        .group_by(TURNS.c.review)
    ).all()
    escalations = connection.execute(
        sa.select(sa.func.count()).where(questions, TURNS.c.route == "safety")
    ).scalar_one()
    return {
        "conversations": int(conversations),
        "messages": int(messages),
        "per_day": [{"day": int(d) * day_seconds, "messages": int(n)} for d, n in per_day],
        "by_topic": _counts(connection, TURNS.c.topic, since),
        "by_route": _counts(connection, TURNS.c.outcome, since),
        "by_channel": _counts(connection, TURNS.c.channel, since),
        "escalations": int(escalations),
        "feedback": {
            "helpful": sum(v["helpful"] for v in by_topic_feedback.values()),
            "not_helpful": sum(v["not_helpful"] for v in by_topic_feedback.values()),
            "by_topic": by_topic_feedback,
        },
        "review_queue": {
            "total": sum(int(n) for _, n in queue),
            "by_reason": {str(r): int(n) for r, n in queue},
        },
    }
