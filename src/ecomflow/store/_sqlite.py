"""The embedded default: an event store in one SQLite file (WAL, ``synchronous=FULL``).

Every append runs in one ``BEGIN IMMEDIATE`` transaction, which takes the database's
write lock, checks the expected version and inserts the transition's events together;
``UNIQUE(tx_id, version, seq)`` makes a second writer from the same version fail even if
it got past the check. SQL is parametrised and payloads are stored as JSON text.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, final

from .._errors import ConcurrencyConflict, StoreError
from .._events import Event, Stream
from ._base import EventStore, Recorded, check_batch, conflict, event_rows

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    tx_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    stream TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    UNIQUE (tx_id, version, seq)
);
CREATE INDEX IF NOT EXISTS events_by_stream ON events (stream, position);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    tx_id TEXT NOT NULL,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""

_COLUMNS = "position, flow, tx_id, version, seq, trigger, stream, name, data, occurred_at"


def _json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _row_to_recorded(row: Sequence[Any]) -> Recorded:
    position, flow, tx_id, version, seq, trigger, stream, name, data, occurred_at = row
    event = Event(
        tx_id,
        version,
        seq,
        trigger,
        Stream(stream),
        name,
        json.loads(data),
        datetime.fromisoformat(occurred_at),
    )
    return Recorded(position, flow, event)


@final
class SQLiteStore(EventStore):
    """An event store in the SQLite file at ``path`` (created, with its schema, on first use).

    ``synchronous`` is ``"FULL"`` (the default: an acknowledged append survives a power
    loss) or ``"NORMAL"`` (faster; survives a crash of the process, not of the machine).
    One connection per thread; any number of processes may share the file.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", timeout: float = 30) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise StoreError(f"synchronous must be 'FULL' or 'NORMAL' (got {synchronous!r}).")
        self.path = str(path)
        self.synchronous = synchronous
        self._timeout = timeout
        self._local = threading.local()
        self._migrate()

    # -- connections ----------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            except sqlite3.Error as error:
                raise StoreError(f"Cannot open SQLite store {self.path!r}: {error}.") from None
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    def _migrate(self) -> None:
        db = self._connection()
        with _Transaction(db):
            for statement in _SCHEMA.strip().split(";\n"):
                if statement.strip():
                    db.execute(statement)
            row = db.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise StoreError(
                    f"SQLite store {self.path!r} has schema version {row[0]}; this ecomflow "
                    f"knows up to {SCHEMA_VERSION}. Upgrade ecomflow."
                )

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- writing --------------------------------------------------------------------------

    def append(
        self,
        flow: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        idempotency_key: str | None = None,
    ) -> None:
        """Append one transaction's next events atomically (see :class:`EventStore`)."""
        last = check_batch(flow, events, expected_version)
        rows = event_rows(flow, events, _json, datetime.isoformat)
        tx_id = events[0].tx_id
        db = self._connection()
        try:
            with _Transaction(db):
                # One index seek on (tx_id, version, seq): the newest version and its flow.
                row = db.execute(
                    "SELECT version, flow FROM events WHERE tx_id = ? "
                    "ORDER BY version DESC, seq DESC LIMIT 1",
                    (tx_id,),
                ).fetchone()
                actual = -1 if row is None else row[0]
                if actual != expected_version:
                    raise conflict(tx_id, expected_version, actual)
                if row is not None and row[1] != flow:
                    raise StoreError(f"Transaction {tx_id!r} belongs to flow {row[1]!r}.")
                db.executemany(
                    "INSERT INTO events (event_id, tx_id, flow, version, seq, trigger, stream, "
                    "name, data, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                if idempotency_key is not None:
                    db.execute(
                        "INSERT INTO idempotency (key, tx_id, version) VALUES (?, ?, ?)",
                        (idempotency_key, tx_id, last),
                    )
        except sqlite3.IntegrityError as error:
            raise ConcurrencyConflict(
                f"Another writer appended to transaction {tx_id!r} first ({error})."
            ) from None
        except sqlite3.OperationalError as error:
            raise StoreError(f"Cannot append to SQLite store {self.path!r}: {error}.") from None

    def save_checkpoint(self, consumer: str, position: int) -> None:
        """Record ``consumer``'s position."""
        db = self._connection()
        with _Transaction(db):
            db.execute(
                "INSERT INTO checkpoints (consumer, position) VALUES (?, ?) "
                "ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
                (consumer, position),
            )

    # -- reading --------------------------------------------------------------------------

    def load(self, tx_id: str) -> tuple[str, list[Event]]:
        """Return ``(flow, events)`` of ``tx_id``; KeyError if unknown."""
        rows = (
            self._connection()
            .execute(
                f"SELECT {_COLUMNS} FROM events WHERE tx_id = ? ORDER BY version, seq", (tx_id,)
            )
            .fetchall()
        )
        if not rows:
            raise KeyError(tx_id)
        recorded = [_row_to_recorded(row) for row in rows]
        return recorded[0].flow, [r.event for r in recorded]

    def version(self, tx_id: str) -> int:
        """Return the stored version of ``tx_id`` (``-1`` if none)."""
        row = (
            self._connection()
            .execute("SELECT MAX(version) FROM events WHERE tx_id = ?", (tx_id,))
            .fetchone()
        )
        return -1 if row[0] is None else int(row[0])

    def find_idempotency_key(self, key: str) -> tuple[str, int] | None:
        """Return ``(tx_id, version)`` recorded with ``key``, or ``None``."""
        row = (
            self._connection()
            .execute("SELECT tx_id, version FROM idempotency WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else (row[0], int(row[1]))

    def read(
        self, after: int = 0, streams: Iterable[Stream] | None = None, limit: int = 1000
    ) -> list[Recorded]:
        """Return up to ``limit`` events after position ``after``."""
        db = self._connection()
        if streams is None:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
                (after, limit),
            ).fetchall()
        else:
            names = sorted({Stream(s).value for s in streams})
            marks = ", ".join("?" for _ in names)
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE position > ? AND stream IN ({marks}) "
                "ORDER BY position LIMIT ?",
                (after, *names, limit),
            ).fetchall()
        return [_row_to_recorded(row) for row in rows]

    def checkpoint(self, consumer: str) -> int:
        """Return the last position ``consumer`` processed (``0`` at first)."""
        row = (
            self._connection()
            .execute("SELECT position FROM checkpoints WHERE consumer = ?", (consumer,))
            .fetchone()
        )
        return 0 if row is None else int(row[0])


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind is not None else "COMMIT")
