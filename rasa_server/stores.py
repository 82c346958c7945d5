"""Where conversations and their locks are kept, so that several server processes can share them.

The Rasa server answers with several worker processes (``SANIC_WORKERS``, one per core by
default): any of them may take a patient's next message, so the conversation cannot live
in one process's memory.

- ``ConversationStore`` keeps each conversation as one row, in the database named by
  ``CONVERSATIONS_DB_URL`` (an SQLAlchemy URL, e.g. ``postgresql://user:pw@host/db``) or, by
  default, an SQLite file ``conversations.db`` in ``BOT_DATA_DIR`` (default ``var/``). SQLite
  runs in WAL mode with a busy timeout, so the workers read while one writes.
- ``SQLiteLockStore`` keeps Rasa's per-conversation ticket locks in ``locks.db`` beside it, so
  that two messages of one conversation are handled in order even by different workers.
- ``SharedLockStore`` (what endpoints.yml names) is that SQLite store, or Rasa's Redis lock
  store when ``LOCK_STORE_URL`` names a Redis server: the locks of several Rasa servers on
  several machines (docs/deployment.md).

Neither store ever falls back to memory. Rasa wraps a tracker store in its
``FailSafeTrackerStore``, which answers "no such conversation" when the database cannot be
read and keeps the conversation in one process's memory when it cannot be written: the
patient's history silently lost. ``rasa_server.faults`` removes that wrapper; here an unreachable
database or Redis raises ``StoreUnavailable``, logged with what could not be reached, and
the channels tell the caller (docs/deployment.md, "What a fault does to a patient").

Conversations whose last message is older than ``CONVERSATION_RETENTION_DAYS`` (default 30)
are deleted: when a Rasa server starts, then at most once an hour while it saves
conversations, and by ``python -m tooling purge``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
import sqlalchemy as sa
import ujson
from rasa.core.brokers.broker import EventBroker
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore, RedisLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.conversation import Dialogue
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, get_trackers_for_conversation_sessions
from rasa.utils.endpoints import EndpointConfig

from bot.settings import PROJECT_DIR, load_settings
from rasa_server import activity

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 10.0
# How long a Redis command may take before the lock store counts Redis as unreachable.
REDIS_TIMEOUT_SECONDS = 5.0
# How often a Rasa server deletes the conversations past their retention.
PURGE_INTERVAL_SECONDS = 3600.0
SECONDS_PER_DAY = 86400.0


class StoreUnavailable(RuntimeError):
    """The conversation database or the lock store cannot be reached: the message was
    neither answered from nor saved to it. The text names what could not be reached."""


def _unreachable_database(error: BaseException) -> bool:
    return isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError)) or (
        isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated
    )


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


class ConversationTable(MutableMapping[str, str]):
    """Serialised conversations by sender id, in one database table (any SQLAlchemy database)."""

    def __init__(self, url: sa.engine.URL) -> None:
        if url.get_backend_name() == "sqlite":
            # Connections kept open (SQLAlchemy 1.4 would open and close one per use, and
            # SQLite removes its write-ahead log whenever the last one closes), each set up once.
            # A pooled connection serves one checkout at a time but any thread: the server's
            # event loop and the operator page's worker threads (sqlite3 would refuse a
            # connection opened in another thread).
            self.engine = sa.create_engine(
                url,
                poolclass=sa.pool.QueuePool,
                pool_size=4,
                connect_args={"check_same_thread": False},
            )
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
        metadata = sa.MetaData()
        self.table = sa.Table(
            "conversations",
            metadata,
            sa.Column("sender_id", sa.String(255), primary_key=True),
            sa.Column("tracker", sa.Text, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False, index=True),
        )
        # The statements of every message, built once (their values are parameters).
        sender = self.table.c.sender_id == sa.bindparam("sender")
        self._read = sa.select(self.table.c.tracker).where(sender)
        self._update = (
            self.table.update()
            .where(sender)
            .values(tracker=sa.bindparam("new_tracker"), updated_at=sa.bindparam("new_updated_at"))
        )
        self._insert = self.table.insert()
        # Where, for errors and logs: the URL without its password.
        self.where = url.render_as_string(hide_password=True)
        with self.reachable():
            _while_starting_together(lambda: metadata.create_all(self.engine))
            _while_starting_together(lambda: activity.create_tables(self.engine))

    @contextlib.contextmanager
    def reachable(self) -> Iterator[None]:
        """Turn the database's "cannot connect" errors into ``StoreUnavailable``, logged."""
        try:
            yield
        except sa.exc.DBAPIError as error:
            if not _unreachable_database(error):
                raise
            reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
            logger.error("The conversation database %s cannot be used: %s", self.where, reason)
            raise StoreUnavailable(f"the conversation database cannot be reached ({reason})") from error

    def __getitem__(self, sender_id: str) -> str:
        with self.reachable(), self.engine.connect() as connection:
            row = connection.execute(self._read, {"sender": sender_id}).first()
        if row is None:
            raise KeyError(sender_id)
        return str(row[0])

    def get(self, sender_id: str, default: str | None = None) -> str | None:  # type: ignore[override]
        """One query (``Mapping.get`` would ask ``__getitem__``, which is one too)."""
        try:
            return self[sender_id]
        except KeyError:
            return default

    def __contains__(self, sender_id: object) -> bool:
        with self.reachable(), self.engine.connect() as connection:
            found = connection.execute(
                sa.select(self.table.c.sender_id).where(self.table.c.sender_id == sender_id)
            ).first()
        return found is not None

    def __setitem__(self, sender_id: str, tracker: str) -> None:
        with self.reachable(), self.engine.begin() as connection:
            self._write(connection, sender_id, tracker)

    def _write(self, connection: sa.engine.Connection, sender_id: str, tracker: str) -> None:
        now = time.time()
        updated = connection.execute(
            self._update, {"sender": sender_id, "new_tracker": tracker, "new_updated_at": now}
        ).rowcount
        if not updated:
            connection.execute(self._insert, {"sender_id": sender_id, "tracker": tracker, "updated_at": now})

    def save(self, sender_id: str, tracker: str, latest: list[dict[str, Any]]) -> None:
        """Write the conversation and, for a turn the bot replied to (``latest``, its events),
        the clinic's record of it, in one transaction. When the record fails, the
        conversation is written alone and the failure logged: the patient's reply never
        depends on the clinic's record. A database that cannot be reached fails that second
        write too, with ``StoreUnavailable``, as any write does."""
        if latest:
            try:
                with self.reachable(), self.engine.begin() as connection:
                    self._write(connection, sender_id, tracker)
                    activity.record(connection, sender_id, latest)
                return
            except (StoreUnavailable, sa.exc.SQLAlchemyError):
                logger.exception(
                    "The conversation and the clinic's record of its latest message could not be "
                    "written together; writing the conversation alone, without the record"
                )
        self[sender_id] = tracker

    def __delitem__(self, sender_id: str) -> None:
        with self.reachable(), self.engine.begin() as connection:
            if not connection.execute(
                self.table.delete().where(self.table.c.sender_id == sender_id)
            ).rowcount:
                raise KeyError(sender_id)

    def __iter__(self) -> Iterator[str]:
        with self.reachable(), self.engine.connect() as connection:
            senders = [str(row[0]) for row in connection.execute(sa.select(self.table.c.sender_id))]
        return iter(senders)

    def __len__(self) -> int:
        with self.reachable(), self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one())

    def delete_older_than(self, cutoff: float) -> int:
        """Delete the conversations whose last message came before ``cutoff`` (a Unix
        time), and the clinic's records of messages before it; how many conversations were
        deleted."""
        with self.reachable(), self.engine.begin() as connection:
            activity.delete_older_than(connection, cutoff)
            return int(
                connection.execute(self.table.delete().where(self.table.c.updated_at < cutoff)).rowcount
            )


class ConversationStore(InMemoryTrackerStore):
    """Rasa's in-memory tracker store with its dictionary replaced by a database table.

    Each conversation is one row holding the serialised tracker, the form Rasa's Redis store
    keeps: one indexed read and one write per message. (Rasa's SQL tracker store keeps a row
    per event and spent about a quarter of the server's busy time reading, counting and
    writing them: `make bench` profile.)
    """

    def __init__(
        self, domain: Domain | None = None, event_broker: EventBroker | None = None, **_: Any
    ) -> None:
        super().__init__(domain or Domain.empty(), event_broker)
        self.store = ConversationTable(conversations_url())
        self.retention_days = load_settings().retention_days
        self._next_purge = 0.0
        # What the purge on start-up deleted (for ``python -m tooling purge``).
        self.purged_at_start = self.purge_if_due()

    def purge(self, now: float | None = None) -> int:
        """Delete the conversations past their retention (``CONVERSATION_RETENTION_DAYS``);
        how many were deleted."""
        now = time.time() if now is None else now
        deleted = self.store.delete_older_than(now - self.retention_days * SECONDS_PER_DAY)
        if deleted:
            logger.info(
                "Deleted %d conversation(s) with no message in the last %d days.",
                deleted,
                self.retention_days,
            )
        return deleted

    def purge_if_due(self) -> int:
        """``purge`` when this process has not in the last ``PURGE_INTERVAL_SECONDS``; how
        many were deleted."""
        if time.monotonic() < self._next_purge:
            return 0
        self._next_purge = time.monotonic() + PURGE_INTERVAL_SECONDS
        return self.purge()

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's own (events to the broker, the serialised tracker to the table), with the
        clinic's record of the latest turn written in the same transaction."""
        self.purge_if_due()
        await self.stream_events(tracker)
        self.store.save(tracker.sender_id, self.serialise_tracker(tracker), _latest_turn(tracker))

    @staticmethod
    def serialise_tracker(tracker: DialogueStateTracker) -> str:
        """Rasa's own JSON text of the conversation, written by ujson (a dependency of Rasa's
        and Sanic's) instead of the json module: a nine-message conversation is about 34 KB,
        and ujson writes it in about a third of the time (0.2 against 0.55 ms) and reads it
        in about two thirds. Any JSON reader reads what it writes."""
        return str(ujson.dumps(tracker.as_dialogue().as_dict(), escape_forward_slashes=False))

    def deserialise_tracker(self, sender_id: str, serialised_tracker: str | bytes) -> DialogueStateTracker:
        """Rasa's own, reading the JSON with ujson."""
        tracker = self.init_tracker(sender_id)
        tracker.recreate_from_dialogue(Dialogue.from_parameters(ujson.loads(serialised_tracker)))
        return tracker

    async def _retrieve(self, sender_id: str, fetch_all_sessions: bool) -> DialogueStateTracker | None:
        """Rasa's own, reading the row once (it asks ``in`` and then reads: two queries)."""
        serialised = self.store.get(sender_id)
        tracker = self.deserialise_tracker(sender_id, serialised) if serialised is not None else None
        if tracker is None or fetch_all_sessions:
            return tracker
        sessions = get_trackers_for_conversation_sessions(tracker)
        return sessions[-1] if len(sessions) > 1 else tracker


def _latest_turn(tracker: DialogueStateTracker) -> list[dict[str, Any]]:
    """The events of the patient's latest message and the replies to it, once the bot has
    replied (Rasa saves a conversation before its actions run and again after)."""
    latest: list[dict[str, Any]] = []
    for event in reversed(tracker.events):
        latest.append(event.as_dict())
        if isinstance(event, UserUttered):
            break
    else:
        return []
    latest.reverse()
    return latest if any(e.get("event") == BotUttered.type_name for e in latest) else []


def _while_starting_together(set_up: Callable[[], object]) -> None:
    """Run ``set_up`` (create a table, switch on WAL), retrying while other processes do the same.

    Worker processes start together: one may create the table between another's check and
    its CREATE, and switching a new file to WAL needs the file to itself, which SQLite
    refuses at once ("database is locked") rather than waiting. Any other error, or the
    same one for longer than the busy timeout, is raised.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            set_up()
            return
        except (sa.exc.OperationalError, sqlite3.OperationalError) as error:
            passing = "already exists" in str(error) or "database is locked" in str(error)
            if not passing or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


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
        _while_starting_together(self._create_table)
        super().__init__()

    def _create_table(self) -> None:
        with self._transaction() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS locks (conversation_id TEXT PRIMARY KEY, lock TEXT)"
            )

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

    @staticmethod
    def _delete(connection: sqlite3.Connection, conversation_id: str) -> bool:
        deleted = connection.execute("DELETE FROM locks WHERE conversation_id = ?", (conversation_id,))
        return deleted.rowcount > 0

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        return self._read(self._connect(), conversation_id)

    def delete_lock(self, conversation_id: str) -> None:
        with self._transaction() as connection:
            deleted = self._delete(connection, conversation_id)
        self._log_deletion(conversation_id, deleted)

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
                self._delete(connection, conversation_id)


class SharedLockStore(LockStore):
    """The lock store endpoints.yml names: Rasa's Redis lock store when ``LOCK_STORE_URL``
    is set (``redis://[user:password@]host[:port][/db]``; several Rasa servers), else
    ``SQLiteLockStore`` (the worker processes of one machine).

    Every call goes to that store; Redis or SQLite being unreachable raises
    ``StoreUnavailable`` (Rasa would raise a bare ``ConnectionError`` or a ``LockError``
    that hides it), and the next call tries again, so the bot recovers by itself.
    """

    def __init__(self, endpoint_config: EndpointConfig | None = None) -> None:
        url = load_settings().lock_store_url
        self.backend: LockStore
        if url:
            self.where = redis_address(url)
            self.backend = redis_lock_store(url)
            try:
                self.backend.red.ping()
            except redis.exceptions.RedisError as error:
                logger.error(
                    "The lock store (Redis at %s) cannot be reached: %s. Messages are refused "
                    "until it answers.",
                    self.where,
                    error,
                )
        else:
            self.backend = SQLiteLockStore(endpoint_config)
            self.where = str(self.backend.path)
        super().__init__()

    @contextlib.contextmanager
    def reachable(self) -> Iterator[None]:
        try:
            yield
        except (redis.exceptions.RedisError, sqlite3.OperationalError, LockError) as error:
            # Rasa's LockError hides the Redis or SQLite error as its cause or context.
            cause = (error.__cause__ or error.__context__) if isinstance(error, LockError) else error
            if not isinstance(cause, (redis.exceptions.RedisError, sqlite3.OperationalError)):
                raise
            logger.error("The lock store %s cannot be used: %s", self.where, cause)
            raise StoreUnavailable(f"the lock store cannot be reached ({cause})") from error

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        with self.reachable():
            return self.backend.get_lock(conversation_id)

    def delete_lock(self, conversation_id: str) -> None:
        with self.reachable():
            self.backend.delete_lock(conversation_id)

    def save_lock(self, lock: TicketLock) -> None:
        with self.reachable():
            self.backend.save_lock(lock)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self.reachable():
            return int(self.backend.issue_ticket(conversation_id, lock_lifetime))

    def update_lock(self, conversation_id: str) -> None:
        with self.reachable():
            self.backend.update_lock(conversation_id)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        with self.reachable():
            self.backend.finish_serving(conversation_id, ticket_number)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        with self.reachable():
            self.backend.cleanup(conversation_id, ticket_number)


def redis_address(url: str) -> str:
    """``url`` without its user name and password, for logs and errors."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            f"LOCK_STORE_URL must start with redis://, rediss:// or unix://, not {url.split(':')[0]!r}"
        )
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def redis_lock_store(url: str) -> RedisLockStore:
    """Rasa's Redis lock store on the server ``url`` names (every option a redis URL has)."""
    redis_address(url)  # checks the scheme
    store = RedisLockStore()  # Rasa's client to localhost, replaced below before any command
    store.red = redis.StrictRedis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    return store
