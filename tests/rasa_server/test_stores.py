"""Conversations and locks that every worker process shares (rasa_server/stores.py)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.lock_store import LockStore, RedisLockStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.settings import load_settings
from rasa_server.stores import (
    ConversationStore,
    ConversationTable,
    SharedLockStore,
    SQLiteLockStore,
    StoreUnavailable,
    conversations_url,
    redis_address,
    redis_lock_store,
)
from tests.services import Redis, save_conversation_at
from tooling.servers import free_port


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


IN_ORDER = ["first starts", "first ends", "second starts", "second ends"]


def _two_messages_of_one_conversation(first: LockStore, second: LockStore, conversation: str) -> list[str]:
    """Two messages of ``conversation`` handled at once, each through its own lock store (two
    workers or two servers): the order in which their handling started and ended."""
    order: list[str] = []

    async def handle(store: LockStore, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        async with store.lock(conversation, wait_time_in_seconds=0.05):
            order.append(f"{name} starts")
            await asyncio.sleep(0.2)
            order.append(f"{name} ends")

    async def both() -> None:
        await asyncio.gather(handle(first, "first", 0), handle(second, "second", 0.05))

    asyncio.run(both())
    return order


def test_a_second_message_of_a_conversation_waits_for_the_first(tmp_path: Path) -> None:
    first_worker, second_worker = (
        SQLiteLockStore(path=tmp_path / "l.db"),
        SQLiteLockStore(path=tmp_path / "l.db"),
    )
    assert _two_messages_of_one_conversation(first_worker, second_worker, "patient-1") == IN_ORDER
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


def test_a_conversation_is_read_with_one_query_and_only_its_last_session(embedded_database: Path) -> None:
    store = ConversationStore(Domain.empty())
    session = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
    events = [*session, UserUttered("first visit"), *session, UserUttered("second visit")]
    asyncio.run(store.save(DialogueStateTracker.from_events("patient-1", events)))
    statements: list[str] = []
    sa.event.listen(store.store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

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


def test_the_embedded_database_is_read_from_any_thread(tmp_path: Path) -> None:
    # The operator page reads it in a worker thread (asyncio.to_thread), another one each
    # time; the server's event loop writes it: a pooled connection serves them all in turn.
    table = ConversationTable(sa.engine.make_url(f"sqlite:///{tmp_path / 'c.db'}"))
    table["patient-1"] = '{"events": []}'  # a connection opened in this thread, back in the pool

    def read() -> list[str]:
        with table.engine.connect() as connection:
            return [row[0] for row in connection.execute(sa.select(table.table.c.sender_id))]

    with ThreadPoolExecutor(max_workers=1) as first, ThreadPoolExecutor(max_workers=1) as second:
        assert first.submit(read).result() == ["patient-1"]
        assert second.submit(read).result() == ["patient-1"]
    assert table["patient-1"] == '{"events": []}'


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


def test_conversations_past_their_retention_are_deleted(
    embedded_database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONVERSATION_RETENTION_DAYS", "30")
    load_settings.cache_clear()
    try:
        store = ConversationStore(Domain.empty())
    finally:
        load_settings.cache_clear()
    now = time.time()
    save_conversation_at(store, "last-message-31-days-ago", now - 31 * 86400)
    save_conversation_at(store, "last-message-29-days-ago", now - 29 * 86400)
    assert store.purge(now) == 1
    assert sorted(store.store) == ["last-message-29-days-ago"]
    assert asyncio.run(store.retrieve("last-message-31-days-ago")) is None


def test_a_server_purges_when_it_starts_and_then_at_most_hourly(embedded_database: Path) -> None:
    first = ConversationStore(Domain.empty())
    save_conversation_at(first, "old", time.time() - 400 * 86400)
    assert "old" in first.store
    second = ConversationStore(Domain.empty())  # a server starting: purges at once
    assert "old" not in second.store
    save_conversation_at(second, "old-again", time.time() - 400 * 86400)
    asyncio.run(second.save(DialogueStateTracker.from_events("new", [UserUttered("hi")])))
    assert "old-again" in second.store  # not due yet: the last purge was a moment ago
    second._next_purge = 0.0  # an hour later
    asyncio.run(second.save(DialogueStateTracker.from_events("new", [UserUttered("hi")])))
    assert "old-again" not in second.store and "new" in second.store


def test_an_unreachable_database_is_an_error_never_an_empty_conversation() -> None:
    port = free_port()  # nobody listens there
    with pytest.raises(StoreUnavailable, match="the conversation database cannot be reached"):
        ConversationTable(sa.engine.make_url(f"postgresql://meso:secret@127.0.0.1:{port}/meso"))


def test_the_lock_store_is_sqlite_unless_a_redis_url_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LOCK_STORE_URL", raising=False)
    load_settings.cache_clear()
    try:
        assert isinstance(SharedLockStore().backend, SQLiteLockStore)
        port = free_port()
        monkeypatch.setenv("LOCK_STORE_URL", f"redis://:hunter2@127.0.0.1:{port}/3")
        load_settings.cache_clear()
        shared = SharedLockStore()  # Redis is not running: logged, not fatal
    finally:
        load_settings.cache_clear()
    assert isinstance(shared.backend, RedisLockStore)
    assert shared.where == f"redis://127.0.0.1:{port}/3"  # no password in logs
    with pytest.raises(StoreUnavailable, match="the lock store cannot be reached"):
        asyncio.run(_lock_once(shared))


async def _lock_once(store: LockStore) -> None:
    async with store.lock("patient-1"):
        pass


def test_a_lock_store_url_must_be_redis() -> None:
    with pytest.raises(ValueError, match="LOCK_STORE_URL must start with redis://"):
        redis_address("http://127.0.0.1:6379")


def test_locks_in_a_real_redis_keep_one_conversations_messages_in_order(tmp_path: Path) -> None:
    with Redis(tmp_path).running() as server:
        assert isinstance(server, Redis)
        stores = [redis_lock_store(server.url), redis_lock_store(server.url)]  # two Rasa servers
        tickets = [store.issue_ticket("patient-1") for store in stores for _ in range(3)]
        assert tickets == list(range(6))
        stores[1].delete_lock("patient-1")
        assert _two_messages_of_one_conversation(stores[0], stores[1], "patient-2") == IN_ORDER


def test_a_conversation_is_stored_as_rasas_own_json_and_read_back_exactly(embedded_database: Path) -> None:
    store = ConversationStore(Domain.empty())
    events = [
        ActionExecuted("action_listen", timestamp=1764950400.123456),
        UserUttered(
            "¿cuánto cuesta? 💉 https://clinic.example/precios",
            {"name": "faq_cost", "confidence": 0.30000000000000004},
            metadata={"previous_topic": None, "ranking": [0.1, 1e-7]},
        ),
        BotUttered("Depende de la clínica / del médico.", {"custom": {"topics": ["cost"], "score": 0.5}}),
        ActionExecuted("action_listen"),
    ]
    tracker = DialogueStateTracker.from_events("patient-1", events)
    serialised = store.serialise_tracker(tracker)
    assert json.loads(serialised) == json.loads(json.dumps(tracker.as_dialogue().as_dict()))  # Rasa's own
    asyncio.run(store.save(tracker))
    read = asyncio.run(store.retrieve_full_tracker("patient-1"))
    assert read is not None and list(read.events) == list(tracker.events)
    assert [e.as_dict() for e in read.events] == [e.as_dict() for e in tracker.events]
