"""An event store in PostgreSQL, through psycopg 3 (``pip install 'ecomflow[postgres]'``).

The same table as the SQLite store, with ``data`` as JSONB. Each append runs in one
transaction that first takes a transaction-scoped advisory lock, so positions commit
in order and a reader tailing by position never skips an event that commits late;
``UNIQUE (tx_id, version, seq)`` still makes two writers from one version impossible.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any, final

from .._errors import ConcurrencyConflict, StoreError
from .._events import Event, Stream
from ._base import EventStore, Recorded, check_batch, conflict, event_rows

__all__ = ["PostgresStore"]

SCHEMA_VERSION = 1
_APPEND_LOCK = 0x6563_6F6D  # "ecom": the advisory lock that orders appends

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS events (
        position BIGSERIAL PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        tx_id TEXT NOT NULL,
        flow TEXT NOT NULL,
        version INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        trigger TEXT NOT NULL,
        stream TEXT NOT NULL,
        name TEXT NOT NULL,
        data JSONB NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        UNIQUE (tx_id, version, seq)
    )""",
    "CREATE INDEX IF NOT EXISTS events_by_stream ON events (stream, position)",
    """CREATE TABLE IF NOT EXISTS idempotency (
        key TEXT PRIMARY KEY, tx_id TEXT NOT NULL, version INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS checkpoints (
        consumer TEXT PRIMARY KEY, position BIGINT NOT NULL
    )""",
]
_COLUMNS = "position, flow, tx_id, version, seq, trigger, stream, name, data, occurred_at"


def _recorded(row: Sequence[Any]) -> Recorded:
    position, flow, tx_id, version, seq, trigger, stream, name, data, occurred_at = row
    event = Event(tx_id, version, seq, trigger, Stream(stream), name, data, occurred_at)
    return Recorded(int(position), flow, event)


@final
class PostgresStore(EventStore):
    """An event store in the PostgreSQL database at ``dsn``; one connection per thread."""

    def __init__(self, dsn: str) -> None:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - depends on the installation
            raise StoreError(
                "PostgreSQL needs psycopg 3: pip install 'ecomflow[postgres]'."
            ) from None
        self._psycopg = psycopg
        self.dsn = dsn
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._migrate()

    def _connection(self) -> Any:
        db = getattr(self._local, "db", None)
        if db is None or db.closed:
            try:
                db = self._psycopg.connect(self.dsn)
            except self._psycopg.Error as error:
                raise StoreError(f"Cannot open PostgreSQL store: {error}".strip() + ".") from None
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def _migrate(self) -> None:
        db = self._connection()
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK,))
            for statement in _SCHEMA:
                db.execute(statement)
            row = db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise StoreError(
                    f"The PostgreSQL store has schema version {row[0]}; this ecomflow knows up "
                    f"to {SCHEMA_VERSION}. Upgrade ecomflow."
                )

    def close(self) -> None:
        """Close the connections of every thread."""
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()

    def append(
        self,
        flow: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        idempotency_key: str | None = None,
    ) -> None:
        """Append one transaction's next events atomically (see :class:`EventStore`)."""
        from psycopg.types.json import Jsonb

        last = check_batch(flow, events, expected_version)
        rows = event_rows(flow, events, Jsonb, lambda time: time)  # psycopg adapts datetimes
        tx_id = events[0].tx_id
        db = self._connection()
        try:
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK,))
                # One index seek on (tx_id, version, seq): the newest version and its flow.
                row = db.execute(
                    "SELECT version, flow FROM events WHERE tx_id = %s "
                    "ORDER BY version DESC, seq DESC LIMIT 1",
                    (tx_id,),
                ).fetchone()
                actual = -1 if row is None else row[0]
                if actual != expected_version:
                    raise conflict(tx_id, expected_version, actual)
                if row is not None and row[1] != flow:
                    raise StoreError(f"Transaction {tx_id!r} belongs to flow {row[1]!r}.")
                with db.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO events (event_id, tx_id, flow, version, seq, trigger, "
                        "stream, name, data, occurred_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        rows,
                    )
                if idempotency_key is not None:
                    db.execute(
                        "INSERT INTO idempotency (key, tx_id, version) VALUES (%s, %s, %s)",
                        (idempotency_key, tx_id, last),
                    )
        except self._psycopg.errors.UniqueViolation as error:
            raise ConcurrencyConflict(
                f"Another writer appended to transaction {tx_id!r} first ({error})."
            ) from None
        except self._psycopg.OperationalError as error:
            raise StoreError(f"Cannot append to the PostgreSQL store: {error}.") from None

    def load(self, tx_id: str) -> tuple[str, list[Event]]:
        """Return ``(flow, events)`` of ``tx_id``; KeyError if unknown."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM events WHERE tx_id = %s ORDER BY version, seq", (tx_id,)
        )
        if not rows:
            raise KeyError(tx_id)
        recorded = [_recorded(row) for row in rows]
        return recorded[0].flow, [r.event for r in recorded]

    def version(self, tx_id: str) -> int:
        """Return the stored version of ``tx_id`` (``-1`` if none)."""
        rows = self._query("SELECT MAX(version) FROM events WHERE tx_id = %s", (tx_id,))
        return -1 if rows[0][0] is None else int(rows[0][0])

    def find_idempotency_key(self, key: str) -> tuple[str, int] | None:
        """Return ``(tx_id, version)`` recorded with ``key``, or ``None``."""
        rows = self._query("SELECT tx_id, version FROM idempotency WHERE key = %s", (key,))
        return None if not rows else (rows[0][0], int(rows[0][1]))

    def read(
        self, after: int = 0, streams: Iterable[Stream] | None = None, limit: int = 1000
    ) -> list[Recorded]:
        """Return up to ``limit`` events after position ``after``."""
        if streams is None:
            rows = self._query(
                f"SELECT {_COLUMNS} FROM events WHERE position > %s ORDER BY position LIMIT %s",
                (after, limit),
            )
        else:
            names = sorted({Stream(s).value for s in streams})
            rows = self._query(
                f"SELECT {_COLUMNS} FROM events WHERE position > %s AND stream = ANY(%s) "
                "ORDER BY position LIMIT %s",
                (after, names, limit),
            )
        return [_recorded(row) for row in rows]

    def checkpoint(self, consumer: str) -> int:
        """Return the last position ``consumer`` processed (``0`` at first)."""
        rows = self._query("SELECT position FROM checkpoints WHERE consumer = %s", (consumer,))
        return 0 if not rows else int(rows[0][0])

    def save_checkpoint(self, consumer: str, position: int) -> None:
        """Record ``consumer``'s position."""
        db = self._connection()
        with db.transaction():
            db.execute(
                "INSERT INTO checkpoints (consumer, position) VALUES (%s, %s) "
                "ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
                (consumer, position),
            )

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        db = self._connection()
        with db.transaction():
            rows: list[Any] = db.execute(sql, params).fetchall()
        return rows
