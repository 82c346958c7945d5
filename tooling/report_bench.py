"""``make bench-report``: the clinic's report over a generated store of 100,000 conversations
(SQLite), timed. A benchmark, not a test: it prints the figures.

Each generated conversation has its serialised conversation row (as the Rasa server keeps
it) and 1 to 5 recorded turns spread over the last 30 days, with the mix of outcomes,
channels, topics and feedback a clinic might see. The report then reads the store as
``make report`` does, through SQL on the records, never loading a conversation.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot.activity import answer_id, conversation_key
from bot.knowledge import default_knowledge_base

DAY = 86400.0
CHANNELS = ("socketio", "rest", "twilio", "telegram", "facebook")
OUTCOMES = (
    ("intent", 70),
    ("retrieval", 6),
    ("did_you_mean", 6),
    ("no_match", 4),
    ("out_of_scope", 8),
    ("safety", 1),
    ("other", 5),
)


def generate(url: str, conversations: int, seed: int = 7, now: float | None = None) -> int:
    """Fill the store at ``url`` with ``conversations`` generated conversations; the turns made."""
    from rasa_server import activity
    from rasa_server.stores import ConversationTable

    now = time.time() if now is None else now
    rng = random.Random(seed)  # noqa: S311 (generated test data, not secrets)
    topics = sorted(default_knowledge_base().topics)
    names, weights = zip(*OUTCOMES, strict=True)
    table = ConversationTable(sa.engine.make_url(url))
    turns: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for number in range(conversations):
        sender = f"bench-{number}"
        key = conversation_key(sender)
        start = now - rng.random() * 30 * DAY
        channel = rng.choice(CHANNELS)
        for index in range(rng.randint(1, 5)):
            at = start + 60 * index
            outcome = rng.choices(names, weights)[0]
            topic = rng.choice(topics) if outcome in ("intent", "retrieval") else None
            if outcome == "out_of_scope":
                topic = "out_of_scope"
            if outcome == "safety":
                topic = "emergency"
            message = f"{number:08x}{index:08x}"
            answered = answer_id(message) if outcome in ("intent", "retrieval") else None
            review = {"did_you_mean": "did_you_mean", "no_match": "no_match", "out_of_scope": "out_of_scope"}
            turns.append(
                {
                    "conversation": key,
                    "message_id": message,
                    "at": at,
                    "channel": channel,
                    "kind": "question",
                    "text": f"generated question {number} {index}",
                    "intent": f"faq_{topic}" if answered else None,
                    "confidence": rng.random(),
                    "route": {"no_match": "fallback", "did_you_mean": "retrieval"}.get(outcome, "intent"),
                    "outcome": outcome,
                    "topic": topic,
                    "topics": json.dumps([topic] if answered else []),
                    "guesses": json.dumps(rng.sample(topics, 3)),
                    "answer_id": answered,
                    "review": review.get(outcome),
                }
            )
            if answered and rng.random() < 0.1:
                helpful = rng.random() < 0.8
                feedback.append(
                    {
                        "conversation": key,
                        "answer_id": answered,
                        "at": at + 30,
                        "helpful": helpful,
                        "topic": topic,
                        "route": "intent",
                        "channel": channel,
                    }
                )
        rows.append({"sender_id": sender, "tracker": json.dumps({"events": []}), "updated_at": start})
    with table.engine.begin() as connection:
        connection.execute(table.table.insert(), rows)
        connection.execute(activity.TURNS.insert(), turns)
        if feedback:
            connection.execute(activity.FEEDBACK.insert(), feedback)
    return len(turns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tooling.report_bench", description=__doc__)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from tooling.report import build_report

    with tempfile.TemporaryDirectory(prefix="meso-report-bench-") as directory:
        url = f"sqlite:///{Path(directory) / 'conversations.db'}"
        started = time.perf_counter()
        made = generate(url, args.conversations)
        generated = time.perf_counter() - started
        size = (Path(directory) / "conversations.db").stat().st_size / 1e6
        print(
            f"Generated {args.conversations:,} conversations, {made:,} turns ({size:.0f} MB) "
            f"in {generated:.1f} s."
        )
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            report = build_report(url, "30d")
            timings.append(time.perf_counter() - started)
        print(
            f"make report over them: {min(timings):.2f} s best, {max(timings):.2f} s worst of {args.repeat} "
            f"({report['messages']:,} messages, {report['conversations']:,} conversations, "
            f"review queue {report['review_queue']['total']:,})."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
