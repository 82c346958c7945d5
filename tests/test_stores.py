"""Conversations and locks that every worker process shares (bot/stores.py)."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.lock_store import LockStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.stores import ConversationStore, ConversationTable, SQLiteLockStore, conversations_url


def _issue(path: str, count: int, queue: multiprocessing.Queue) -> None:
    store = SQLiteLockStore(path=Path(path))
    queue.put([store.issue_ticket("patient-1") for _ in range(count)])


def test_processes_sharing_the_lock_file_never_get_the_same_ticket(tmp_path: Path) -> None:
    path = tmp_path / "locks.db"
    SQLiteLockStore(path=path)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_issue, args=(str(path), 40, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    tickets = [ticket for _ in workers for ticket in queue.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(tickets) == list(range(160))


def test_a_second_message_of_a_conversation_waits_for_the_first(tmp_path: Path) -> None:
    first_worker, second_worker = (
        SQLiteLockStore(path=tmp_path / "l.db"),
        SQLiteLockStore(path=tmp_path / "l.db"),
    )
    order: list[str] = []

    async def handle(store: LockStore, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        async with store.lock("patient-1", wait_time_in_seconds=0.05):
            order.append(f"{name} starts")
            await asyncio.sleep(0.2)
            order.append(f"{name} ends")

    async def both() -> None:
        await asyncio.gather(handle(first_worker, "first", 0), handle(second_worker, "second", 0.05))

    asyncio.run(both())
    assert order == ["first starts", "first ends", "second starts", "second ends"]
    assert first_worker.get_lock("patient-1") is None  # nobody waits: the lock is gone


def test_conversations_persist_in_the_embedded_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CONVERSATIONS_DB_URL", raising=False)
    assert conversations_url().database == str(tmp_path / "data" / "conversations.db")
    domain = Domain.empty()
    events = [
        ActionExecuted("action_listen"),
        UserUttered("how much does it cost?", {"name": "faq_cost", "confidence": 0.9}),
        BotUttered("It varies by clinic."),
        ActionExecuted("action_listen"),
    ]
    asyncio.run(ConversationStore(domain).save(DialogueStateTracker.from_events("patient-1", events)))

    tracker = asyncio.run(ConversationStore(domain).retrieve("patient-1"))  # as another process would
    assert tracker is not None
    assert [e.text for e in tracker.events if isinstance(e, (UserUttered, BotUttered))] == [
        "how much does it cost?",
        "It varies by clinic.",
    ]
    mode = sqlite3.connect(tmp_path / "data" / "conversations.db").execute("PRAGMA journal_mode").fetchone()
    assert mode == ("wal",)


def test_a_conversation_is_read_with_one_query_and_only_its_last_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CONVERSATIONS_DB_URL", raising=False)
    store = ConversationStore(Domain.empty())
    session = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
    events = [*session, UserUttered("first visit"), *session, UserUttered("second visit")]
    asyncio.run(store.save(DialogueStateTracker.from_events("patient-1", events)))
    statements: list[str] = []
    sa.event.listen(
        store.store.engine, "before_cursor_execute", lambda *args: statements.append(args[2])
    )

    def texts(tracker: DialogueStateTracker | None) -> list[str | None]:
        assert tracker is not None
        return [e.text for e in tracker.events if isinstance(e, UserUttered)]

    assert texts(asyncio.run(store.retrieve("patient-1"))) == ["second visit"]
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    assert texts(asyncio.run(store.retrieve_full_tracker("patient-1"))) == ["first visit", "second visit"]
    assert asyncio.run(store.retrieve("nobody")) is None
    assert len(statements) == 3


def test_another_database_is_chosen_by_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVERSATIONS_DB_URL", "postgresql://rasa:secret@db.internal:5433/conversations")
    url = conversations_url()
    assert (url.drivername, url.host, url.port, url.database) == (
        "postgresql",
        "db.internal",
        5433,
        "conversations",
    )


def test_each_conversation_is_one_row_updated_in_place(tmp_path: Path) -> None:
    table = ConversationTable(sa.engine.make_url(f"sqlite:///{tmp_path / 'c.db'}"))
    assert "patient-1" not in table and len(table) == 0
    table["patient-1"] = '{"events": []}'
    table["patient-1"] = '{"events": [1]}'
    table["patient-2"] = '{"events": [2]}'
    assert table["patient-1"] == '{"events": [1]}' and "patient-1" in table
    assert sorted(table) == ["patient-1", "patient-2"] and len(table) == 2
    del table["patient-1"]
    assert list(table) == ["patient-2"]
    with pytest.raises(KeyError):
        table["patient-1"]
    with pytest.raises(KeyError):
        del table["patient-1"]


def _create_table(path: str, start: Any) -> None:
    start.wait()
    ConversationTable(sa.engine.make_url(f"sqlite:///{path}"))


def test_worker_processes_starting_together_both_get_the_table(tmp_path: Path) -> None:
    for attempt in range(5):  # the race is narrow: try it several times on a new file
        path = tmp_path / f"c{attempt}.db"
        context = multiprocessing.get_context("fork")
        start = context.Barrier(4)
        workers = [context.Process(target=_create_table, args=(str(path), start)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
