"""``make report`` and ``make review``: the clinic's view of its patients' conversations,
read from the conversation store the Rasa server writes (rasa_server/activity.py).

- ``python -m tooling report --since 30d`` writes ``results/report.json`` and
  ``results/report.html`` (bot/report.py);
- ``python -m tooling review --since 30d [--mark-reviewed]`` writes the review queue as
  Rasa NLU YAML (``results/review.yml``) and can mark what it wrote as reviewed.

The store is ``CONVERSATIONS_DB_URL`` (SQLite ``var/conversations.db`` by default), or
``--db``. A store that cannot be reached, or a ``--since`` that makes no sense, is an
error with a reason and exit status 1 or 2; an empty store is a report of zeros.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from bot.knowledge import default_knowledge_base
from bot.report import parse_since, report_html, review_yaml
from bot.settings import PROJECT_DIR

RESULTS = PROJECT_DIR / "results"


def _table(db: str | None) -> Any:
    """The store's tables (created when missing), or exit 1 with the reason."""
    import sqlalchemy as sa

    from rasa_server.stores import ConversationTable, StoreUnavailable, conversations_url

    try:
        return ConversationTable(sa.engine.make_url(db) if db else conversations_url())
    except StoreUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from error
    except sa.exc.ArgumentError as error:
        print(f"error: --db is not a database URL: {error}", file=sys.stderr)
        raise SystemExit(2) from error


def _since(text: str, now: float) -> float:
    try:
        return parse_since(text, now)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from error


def build_report(db: str | None, since_text: str, now: float | None = None) -> dict[str, Any]:
    from rasa_server import activity

    now = time.time() if now is None else now
    since = _since(since_text, now)
    table = _table(db)
    with table.reachable(), table.engine.connect() as connection:
        figures = activity.summary(connection, since)
    return {"since": since, "until": now, "store": table.where, **figures}


def report(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    figures = build_report(args.db, args.since)
    titles = {t.id: t.title for t in default_knowledge_base().topics.values()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    (out / "report.html").write_text(report_html(figures, titles), encoding="utf-8")
    print(
        f"{figures['messages']} patient messages in {figures['conversations']} conversations since "
        f"{args.since} ({figures['store']}); review queue {figures['review_queue']['total']}. "
        f"Wrote {out / 'report.json'} and {out / 'report.html'} in {time.perf_counter() - started:.1f} s."
    )
    return 0


def review(args: argparse.Namespace) -> int:
    from rasa_server import activity

    since = _since(args.since, time.time())
    table = _table(args.db)
    with table.reachable(), table.engine.begin() as connection:
        items = activity.review_queue(connection, since)
        text = review_yaml([item.__dict__ for item in items], default_knowledge_base().topics)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        marked = activity.mark_reviewed(connection, [item.id for item in items]) if args.mark_reviewed else 0
    print(
        f"Wrote {len(items)} message(s) waiting for review to {out}"
        + (
            f"; marked {marked} as reviewed."
            if args.mark_reviewed
            else " (not marked reviewed: --mark-reviewed)."
        )
    )
    return 0


def add_commands(commands: Any) -> None:
    made = commands.add_parser("report", help="the clinic's report: results/report.json and report.html")
    made.add_argument("--since", default="30d", help="30d, 12h, 2w or a date (2026-11-01); default 30d")
    made.add_argument("--db", default=None, help="a conversation store's URL instead of CONVERSATIONS_DB_URL")
    made.add_argument("--out", default=str(RESULTS))
    made.set_defaults(run=report)
    queue = commands.add_parser("review", help="the review queue as Rasa NLU YAML (results/review.yml)")
    queue.add_argument("--since", default="30d")
    queue.add_argument("--db", default=None)
    queue.add_argument("--out", default=str(RESULTS / "review.yml"))
    queue.add_argument("--mark-reviewed", action="store_true", help="mark the exported messages as reviewed")
    queue.set_defaults(run=review)
