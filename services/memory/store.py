"""Durable storage of conversations and events: SQLite (WAL) or PostgreSQL.

Events are stored as their protobuf bytes next to the columns queries need.
An append is one transaction that takes the conversation's row lock, so
sequence numbers never collide and an idempotency key (unique per
conversation) is looked up and inserted atomically: a retried append returns
the stored event instead of a duplicate. Calls are synchronous; the service
runs them on its own threads.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    ttl DOUBLE PRECISION NOT NULL,
    labels TEXT NOT NULL,
    next_seq BIGINT NOT NULL,
    token_count BIGINT NOT NULL,
    event_count BIGINT NOT NULL,
    byte_count BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS conversations_by_tenant ON conversations (tenant, created, id);
CREATE TABLE IF NOT EXISTS events (
    conversation_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    type INTEGER NOT NULL,
    token_count INTEGER NOT NULL,
    idempotency_key TEXT,
    payload {blob} NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX IF NOT EXISTS events_by_type ON events (conversation_id, type, seq);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_key
    ON events (conversation_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
"""


class StorageUnavailable(Exception):
    """The database could not be reached or could not commit (busy, down, full)."""


SQLITE_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


@dataclass
class ConversationRow:
    id: str
    tenant: str
    created: float
    updated: float
    ttl: float  # seconds of retention after the last update; 0 = forever
    labels: dict[str, str] = field(default_factory=dict)
    next_seq: int = 1
    token_count: int = 0
    event_count: int = 0
    # Stored bytes of the events (counts against the tenant's storage quota).
    byte_count: int = 0

    @property
    def expires(self) -> float | None:
        return self.updated + self.ttl if self.ttl > 0 else None


@dataclass(frozen=True)
class NewEvent:
    """An event to append: its type, token count, key, and a function that
    gives its stored bytes once the sequence number is known."""

    type: int
    token_count: int
    idempotency_key: str | None
    build: Any  # Callable[[int], bytes]


_CONV_COLUMNS = (
    "id, tenant, created, updated, ttl, labels, next_seq, token_count, event_count, byte_count"
)


def _conversation(row: Sequence[Any]) -> ConversationRow:
    return ConversationRow(
        row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7], row[8], row[9]
    )


class Store:
    """SQL shared by both databases; subclasses give connections and dialect."""

    placeholder = "?"
    blob = "BLOB"
    lock_clause = ""

    def _sql(self, text: str) -> str:
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[Any]:
        raise NotImplementedError

    def initialize(self) -> None:
        with self._transaction(write=True) as db:
            for statement in SCHEMA.format(blob=self.blob).split(";"):
                if statement.strip():
                    db.execute(statement)
            self._migrate(db)

    def _migrate(self, db: Any) -> None:
        """Bring a database made by an older version up to the schema."""
        db.execute(
            "ALTER TABLE conversations ADD COLUMN IF NOT EXISTS "
            "byte_count BIGINT NOT NULL DEFAULT 0"
        )

    def usage(self, tenant: str) -> tuple[int, int]:
        """The tenant's conversations and their stored bytes."""
        with self._transaction(write=False) as db:
            count, total = db.execute(
                self._sql("SELECT COUNT(*), SUM(byte_count) FROM conversations WHERE tenant = ?"),
                (tenant,),
            ).fetchone()
        return int(count), int(total or 0)

    def create_conversation(self, row: ConversationRow) -> None:
        with self._transaction(write=True) as db:
            db.execute(
                self._sql(
                    f"INSERT INTO conversations ({_CONV_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
                ),
                (
                    row.id,
                    row.tenant,
                    row.created,
                    row.updated,
                    row.ttl,
                    json.dumps(row.labels),
                    row.next_seq,
                    row.token_count,
                    row.event_count,
                    row.byte_count,
                ),
            )

    def get_conversation(self, tenant: str, conversation_id: str) -> ConversationRow | None:
        with self._transaction(write=False) as db:
            found = db.execute(
                self._sql(f"SELECT {_CONV_COLUMNS} FROM conversations WHERE id = ? AND tenant = ?"),
                (conversation_id, tenant),
            ).fetchone()
        return _conversation(found) if found else None

    def list_conversations(self, tenant: str, offset: int, limit: int) -> list[ConversationRow]:
        with self._transaction(write=False) as db:
            rows = db.execute(
                self._sql(
                    f"SELECT {_CONV_COLUMNS} FROM conversations WHERE tenant = ? "
                    "ORDER BY created, id LIMIT ? OFFSET ?"
                ),
                (tenant, limit, offset),
            ).fetchall()
        return [_conversation(r) for r in rows]

    def delete_conversation(self, tenant: str, conversation_id: str) -> bool:
        with self._transaction(write=True) as db:
            gone = db.execute(
                self._sql("DELETE FROM conversations WHERE id = ? AND tenant = ?"),
                (conversation_id, tenant),
            ).rowcount
            if gone:
                db.execute(
                    self._sql("DELETE FROM events WHERE conversation_id = ?"), (conversation_id,)
                )
        return bool(gone)

    def append(
        self, tenant: str, conversation_id: str, events: Sequence[NewEvent], now: float
    ) -> list[bytes] | None:
        """Store events in order; a known idempotency key gives back the stored
        event. None when the conversation does not exist for this tenant."""
        with self._transaction(write=True) as db:
            found = db.execute(
                self._sql(
                    "SELECT next_seq FROM conversations WHERE id = ? AND tenant = ?"
                    + self.lock_clause
                ),
                (conversation_id, tenant),
            ).fetchone()
            if found is None:
                return None
            next_seq = found[0]
            stored: list[bytes] = []
            added_tokens = added_events = added_bytes = 0
            for event in events:
                if event.idempotency_key is not None:
                    existing = db.execute(
                        self._sql(
                            "SELECT payload FROM events "
                            "WHERE conversation_id = ? AND idempotency_key = ?"
                        ),
                        (conversation_id, event.idempotency_key),
                    ).fetchone()
                    if existing is not None:
                        stored.append(bytes(existing[0]))
                        continue
                payload = event.build(next_seq)
                db.execute(
                    self._sql(
                        "INSERT INTO events (conversation_id, seq, type, token_count, "
                        "idempotency_key, payload) "
                        "VALUES (?,?,?,?,?,?)"
                    ),
                    (
                        conversation_id,
                        next_seq,
                        event.type,
                        event.token_count,
                        event.idempotency_key,
                        payload,
                    ),
                )
                stored.append(payload)
                next_seq += 1
                added_tokens += event.token_count
                added_events += 1
                added_bytes += len(payload)
            db.execute(
                self._sql(
                    "UPDATE conversations SET next_seq = ?, updated = ?, "
                    "token_count = token_count + ?, event_count = event_count + ?, "
                    "byte_count = byte_count + ? WHERE id = ?"
                ),
                (next_seq, now, added_tokens, added_events, added_bytes, conversation_id),
            )
        return stored

    def sequences_of_type(self, conversation_id: str, event_type: int) -> list[int]:
        """Sequence numbers of one type of event, in order (served by an index)."""
        with self._transaction(write=False) as db:
            rows = db.execute(
                self._sql(
                    "SELECT seq FROM events WHERE conversation_id = ? AND type = ? ORDER BY seq"
                ),
                (conversation_id, event_type),
            ).fetchall()
        return [r[0] for r in rows]

    def payloads(self, conversation_id: str, seqs: Sequence[int]) -> dict[int, bytes]:
        """The stored bytes of some events, by sequence number."""
        found: dict[int, bytes] = {}
        with self._transaction(write=False) as db:
            for start in range(0, len(seqs), 500):
                chunk = list(seqs[start : start + 500])
                marks = ",".join("?" * len(chunk))
                for seq, payload in db.execute(
                    self._sql(
                        "SELECT seq, payload FROM events "
                        f"WHERE conversation_id = ? AND seq IN ({marks})"
                    ),
                    (conversation_id, *chunk),
                ):
                    found[seq] = bytes(payload)
        return found

    def list_events(
        self, conversation_id: str, after_seq: int, limit: int, types: Sequence[int]
    ) -> list[bytes]:
        where = "conversation_id = ? AND seq > ?"
        params: list[Any] = [conversation_id, after_seq]
        if types:
            where += f" AND type IN ({','.join('?' * len(types))})"
            params += list(types)
        with self._transaction(write=False) as db:
            rows = db.execute(
                self._sql(f"SELECT payload FROM events WHERE {where} ORDER BY seq LIMIT ?"),
                (*params, limit),
            ).fetchall()
        return [bytes(r[0]) for r in rows]

    def expire(self, now: float) -> int:
        """Delete conversations past their retention; return how many."""
        with self._transaction(write=True) as db:
            ids = [
                r[0]
                for r in db.execute(
                    self._sql("SELECT id FROM conversations WHERE ttl > 0 AND updated + ttl <= ?"),
                    (now,),
                ).fetchall()
            ]
            for conversation_id in ids:
                db.execute(
                    self._sql("DELETE FROM events WHERE conversation_id = ?"), (conversation_id,)
                )
                db.execute(self._sql("DELETE FROM conversations WHERE id = ?"), (conversation_id,))
        return len(ids)

    def close(self) -> None:
        pass


class SQLiteStore(Store):
    """One connection, used from one thread at a time, in WAL mode."""

    def __init__(self, path: Path, synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"sqlite_synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self.connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL loses nothing when a process dies (only on power loss); FULL
        # syncs every commit.
        self.connection.execute(f"PRAGMA synchronous={synchronous}")
        self._lock = threading.Lock()
        self.initialize()

    def _migrate(self, db: Any) -> None:
        columns = {row[1] for row in db.execute("PRAGMA table_info(conversations)")}
        if "byte_count" not in columns:
            db.execute("ALTER TABLE conversations ADD COLUMN byte_count BIGINT NOT NULL DEFAULT 0")

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[Any]:
        with self._lock:
            db = self.connection
            try:
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise StorageUnavailable(f"sqlite: {exc}") from exc

    def close(self) -> None:
        self.connection.close()


class PostgresStore(Store):
    """A connection per worker thread; appends lock the conversation row."""

    placeholder = "%s"
    blob = "BYTEA"
    lock_clause = " FOR UPDATE"

    def __init__(self, dsn: str) -> None:
        import psycopg

        self._errors = (psycopg.OperationalError, psycopg.InterfaceError)
        # Autocommit: transactions are the explicit `transaction()` blocks below.
        self._connect: Callable[[], Any] = lambda: psycopg.connect(
            dsn, autocommit=True, connect_timeout=10
        )
        self._local = threading.local()
        self._all: list[Any] = []
        self._all_lock = threading.Lock()
        self.initialize()

    def _connection(self, renew: bool = False) -> Any:
        connection = getattr(self._local, "connection", None)
        if renew or connection is None or connection.closed or connection.broken:
            if connection is not None:
                connection.close()
            connection = self._local.connection = self._connect()
            with self._all_lock:
                self._all = [c for c in self._all if not c.closed] + [connection]
        return connection

    def _begin(self, stack: contextlib.ExitStack) -> Any:
        """BEGIN on this thread's connection, renewing it once if it went stale.

        A connection idle through a database restart only learns it is dead
        at its next statement; nothing has run yet, so reconnecting is safe.
        """
        reused = getattr(self._local, "connection", None) is not None
        connection = self._connection()
        try:
            stack.enter_context(connection.transaction())
        except self._errors:
            if not reused:
                raise
            connection = self._connection(renew=True)
            stack.enter_context(connection.transaction())
        return connection

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[Any]:
        try:
            with contextlib.ExitStack() as stack:
                yield self._begin(stack)
        except self._errors as exc:
            # A broken connection is replaced on the next call.
            raise StorageUnavailable(f"postgresql: {exc}") from exc

    def close(self) -> None:
        with self._all_lock:
            for connection in self._all:
                connection.close()


def open_store(dsn: str, sqlite_synchronous: str = "NORMAL") -> Store:
    """`postgresql://...` for PostgreSQL; `sqlite:///path` or a path for SQLite."""
    if dsn.startswith(("postgresql://", "postgres://")):
        return PostgresStore(dsn)
    return SQLiteStore(Path(dsn.removeprefix("sqlite://")), sqlite_synchronous)
