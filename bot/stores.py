"""Where conversations and their locks are kept, so that several server processes can share them.

The Rasa server answers with several worker processes (``SANIC_WORKERS``, one per core by
default): any of them may take a patient's next message, so the conversation cannot live
in one process's memory.

- ``ConversationStore`` is Rasa's SQL tracker store, configured from the environment:
  ``CONVERSATIONS_DB_URL`` (an SQLAlchemy URL, e.g. ``postgresql://user:pw@host/db``) or, by
  default, an SQLite file ``conversations.db`` in ``BOT_DATA_DIR`` (default ``var/``). SQLite
  runs in WAL mode with a busy timeout, so the workers read while one writes.
- ``SQLiteLockStore`` keeps Rasa's per-conversation ticket locks in ``locks.db`` beside it, so
  that two messages of one conversation are handled in order even by different workers.
  Rasa's Redis lock store does the same across machines (``lock_store: type: redis``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

from bot.settings import PROJECT_DIR

BUSY_TIMEOUT_SECONDS = 10.0


def data_dir() -> Path:
    """Where the embedded databases live (``BOT_DATA_DIR``, default ``var/``), created if needed."""
    directory = Path(os.environ.get("BOT_DATA_DIR") or PROJECT_DIR / "var")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def conversations_url() -> sa.engine.URL:
    configured = os.environ.get("CONVERSATIONS_DB_URL")
    if configured:
        return sa.engine.make_url(configured)
    return sa.engine.make_url(f"sqlite:///{data_dir() / 'conversations.db'}")


class ConversationStore(SQLTrackerStore):
    """Rasa's SQL tracker store on ``CONVERSATIONS_DB_URL``, or on the embedded SQLite file."""

    def __init__(self, domain: Domain | None = None, **kwargs: Any) -> None:
        kwargs.pop("host", None)  # the URL says where the database is
        url = conversations_url()
        super().__init__(
            domain=domain,
            dialect=url.drivername,
            host=url.host,
            port=url.port,
            db=url.database or "",
            username=url.username,
            password=url.password,
            query=dict(url.query) or None,
            **kwargs,
        )
        if url.get_backend_name() == "sqlite":
            # SQLAlchemy 1.4 opens (and closes) a new SQLite connection per session, and
            # SQLite checkpoints and removes its write-ahead log when the last one closes:
            # a pool that keeps the connections open, each set up once.
            first: sa.engine.Engine = self.engine  # type: ignore[has-type]
            first.dispose()
            engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=4)
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            self.engine = engine
            self.sessionmaker = sa.orm.session.sessionmaker(bind=engine)


def _sqlite_pragmas(connection: sqlite3.Connection, _: Any) -> None:
    connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")


class SQLiteLockStore(LockStore):
    """Rasa's ticket locks in an SQLite file that every process on the machine shares.

    Each change to a lock is one ``BEGIN IMMEDIATE`` transaction (read, change, write), so
    two processes never issue the same ticket. Connections are opened per process.
    """

    def __init__(self, endpoint_config: EndpointConfig | None = None, path: Path | None = None) -> None:
        configured = (endpoint_config.kwargs.get("path") if endpoint_config else None) or None
        self.path = Path(path or configured or data_dir() / "locks.db")
        self._pid = -1
        self._connection: sqlite3.Connection | None = None
        with self._transaction() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS locks (conversation_id TEXT PRIMARY KEY, lock TEXT)"
            )
        super().__init__()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None or self._pid != os.getpid():  # never share one across a fork
            self._connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = NORMAL")  # safe in WAL mode; no fsync per lock
            self._pid = os.getpid()
        return self._connection

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    @staticmethod
    def _read(connection: sqlite3.Connection, conversation_id: str) -> TicketLock | None:
        row = connection.execute(
            "SELECT lock FROM locks WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return TicketLock.from_dict(json.loads(row[0])) if row else None

    @staticmethod
    def _write(connection: sqlite3.Connection, lock: TicketLock) -> None:
        connection.execute(
            "INSERT OR REPLACE INTO locks (conversation_id, lock) VALUES (?, ?)",
            (lock.conversation_id, lock.dumps()),
        )

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        return self._read(self._connect(), conversation_id)

    def delete_lock(self, conversation_id: str) -> None:
        with self._transaction() as connection:
            deleted = connection.execute(
                "DELETE FROM locks WHERE conversation_id = ?", (conversation_id,)
            ).rowcount
        self._log_deletion(conversation_id, deleted > 0)

    def save_lock(self, lock: TicketLock) -> None:
        with self._transaction() as connection:
            self._write(connection, lock)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            with self._transaction() as connection:
                lock = self._read(connection, conversation_id) or self.create_lock(conversation_id)
                ticket = int(lock.issue_ticket(lock_lifetime))
                self._write(connection, lock)
        except sqlite3.Error as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error
        return ticket

    def update_lock(self, conversation_id: str) -> None:
        with self._transaction() as connection:
            lock = self._read(connection, conversation_id)
            if lock:
                lock.remove_expired_tickets()
                self._write(connection, lock)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        with self._transaction() as connection:
            lock = self._read(connection, conversation_id)
            if lock:
                lock.remove_ticket_for(ticket_number)
                self._write(connection, lock)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Finish the ticket, and remove the lock when nobody waits, in one transaction."""
        with self._transaction() as connection:
            lock = self._read(connection, conversation_id)
            if lock is None:
                return
            lock.remove_ticket_for(ticket_number)
            if lock.is_someone_waiting():
                self._write(connection, lock)
            else:
                connection.execute("DELETE FROM locks WHERE conversation_id = ?", (conversation_id,))
