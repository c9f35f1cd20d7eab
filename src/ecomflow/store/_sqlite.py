"""The embedded default: an event store in one SQLite file (WAL, ``synchronous=FULL``).

Every append runs in one ``BEGIN IMMEDIATE`` transaction, which takes the database's
write lock, checks the idempotency key and the expected version and inserts the
transition's events and the key together; ``UNIQUE(tx_id, version, seq)`` makes a second
writer from the same version fail even if it got past the check. Opening a file whose
schema is current only reads. SQL is parametrised and payloads are stored as JSON text.
Every :class:`sqlite3.Error` reaches the caller as a :class:`StoreError` saying what to do.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, final

from .._errors import ConcurrencyConflict, StoreError
from .._events import Event, Stream
from .._sensitive import check_text, unstorable
from ._base import (
    LAYOUTS,
    MIGRATE_1_TO_2,
    SCHEMA_VERSION,
    EventStore,
    KeyRecord,
    Recorded,
    check_append,
    check_key_use,
    check_newest,
    event_rows,
    json_text,
    layout_version,
    recorded_from_row,
)

__all__ = ["SQLiteStore"]

"""Version 2 records each idempotency key's trigger and payload fingerprint."""

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
    version INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    fingerprint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""

_COLUMNS = "position, flow, tx_id, version, seq, trigger, stream, name, data, occurred_at"

P = ParamSpec("P")
R = TypeVar("R")


def _row_to_recorded(row: Sequence[Any]) -> Recorded:
    return recorded_from_row(row, json.loads, datetime.fromisoformat)


def _hint(message: str) -> str:
    """Return what to do about a SQLite error message."""
    text = message.lower()
    if "readonly" in text or "read-only" in text:
        return (
            "the file or its folder is read-only; ecomflow writes the file and the -wal and "
            "-shm files beside it, so make both writable or copy the file somewhere writable"
        )
    if "not a database" in text or "malformed" in text:
        return "the file is not an ecomflow SQLite store (or is damaged); choose another file"
    if "locked" in text or "busy" in text:
        return (
            "another connection held the write lock longer than the busy timeout; "
            "try again, or find the process that keeps a write transaction open"
        )
    if "unable to open" in text:
        return "check that the folder exists and can be written"
    return "check the file and its folder"


def _sqlite_errors(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn any :class:`sqlite3.Error` a store method lets out into a :class:`StoreError`.

    The one place raw driver errors are translated; ``what`` names the operation.
    """

    def wrap(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(*args, **kwargs)
            except sqlite3.Error as error:
                store = args[0]
                path = getattr(store, "path", "?")
                raise StoreError(
                    f"Cannot {what} SQLite store {path!r}: {error}; {_hint(str(error))}."
                ) from None

        return wrapper

    return wrap


@contextlib.contextmanager
def _path_errors(path: str) -> Iterator[None]:
    """Turn an :class:`OSError` from looking at ``path`` into a :class:`StoreError`.

    Python raises one when this user may not enter the store's folder.
    """
    try:
        yield
    except OSError as error:
        folder = str(Path(path).parent)
        raise StoreError(
            f"Cannot open SQLite store {path!r}: {error.strerror or error} for its folder "
            f"{folder!r}; let this user enter the folder and write in it."
        ) from None


def sqlite_file_exists(path: str) -> bool:
    """Return whether a file is at ``path``; :class:`StoreError` when that cannot be known."""
    with _path_errors(path):
        return Path(path).exists()
    raise AssertionError("unreachable")  # pragma: no cover - _path_errors raises


@final
class SQLiteStore(EventStore):
    """An event store in the SQLite file at ``path`` (created, with its schema, on first use).

    ``synchronous`` is ``"FULL"`` (the default: an acknowledged append survives a power
    loss) or ``"NORMAL"`` (faster; survives a crash of the process, not of the machine).
    One connection per thread; any number of processes may share the file. Opening a
    file whose schema is current only reads; a waiting writer waits up to ``timeout``
    seconds for another's write lock. Every driver error reaches the caller as a
    :class:`StoreError` saying what to do.
    """

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", timeout: float = 30) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise StoreError(f"synchronous must be 'FULL' or 'NORMAL' (got {synchronous!r}).")
        self.path = str(path)
        self.synchronous = synchronous
        self._timeout = timeout
        self._local = threading.local()
        self._check_path()
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- opening --------------------------------------------------------------------------

    def _check_path(self) -> None:
        where = Path(self.path)
        folder = where.parent
        with _path_errors(self.path):
            is_dir, folder_is_dir, exists = where.is_dir(), folder.is_dir(), where.exists()
        if is_dir:
            raise StoreError(
                f"Cannot open SQLite store {self.path!r}: it is a folder; name a file."
            )
        if not folder_is_dir:
            raise StoreError(
                f"Cannot open SQLite store {self.path!r}: its folder {str(folder)!r} "
                "does not exist; create it first."
            )
        read_only = exists and not os.access(where, os.W_OK)
        if read_only or not os.access(folder, os.W_OK | os.X_OK):
            which = "file" if read_only else f"folder {str(folder)!r}"
            raise StoreError(
                f"Cannot open SQLite store {self.path!r}: the {which} is read-only; "
                "ecomflow writes the file and the -wal and -shm files beside it, so make "
                "both writable or copy the file somewhere writable."
            )

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            try:
                # WAL is a property of the file, set once when the store is created.
                db.execute(f"PRAGMA synchronous={self.synchronous}")
                db.execute("PRAGMA foreign_keys=ON")
            except BaseException:
                db.close()
                raise
            self._local.db = db
        return db

    def _layout(self, db: sqlite3.Connection) -> int:
        """Return the schema version of the file (``0`` when empty), only reading.

        Raises :class:`StoreError` for a newer version or tables ecomflow did not make.
        """
        tables: dict[str, tuple[str, ...]] = {}
        for table in LAYOUTS[SCHEMA_VERSION]:
            columns = tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
            if columns:
                tables[table] = columns
        return layout_version(
            f"SQLite store {self.path!r}",
            tables,
            lambda: db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0],
        )

    @_sqlite_errors("open")
    def _migrate(self) -> None:
        db = self._connection()
        with _Transaction(db, "BEGIN"):  # one snapshot of the layout, and no write lock
            version = self._layout(db)
        if version == SCHEMA_VERSION:
            return  # current: opening needed no write lock
        if version == 0:
            self._use_wal(db)
        with _Transaction(db):
            version = self._layout(db)  # again, under the write lock
            if version == 0:
                for statement in _SCHEMA.strip().split(";\n"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif version == 1:
                for statement in MIGRATE_1_TO_2:
                    if statement.strip():
                        db.execute(statement)
                db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    def _use_wal(self, db: sqlite3.Connection) -> None:
        """Switch a new file to WAL, outside a transaction as SQLite wants.

        The switch needs the file to itself: while another process reads it (one
        creating the same store at once, say), SQLite neither waits for it nor always
        says so: it raises "database is locked" or keeps the old journal mode. So try
        again until the busy timeout.
        """
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                row = db.execute("PRAGMA journal_mode=WAL").fetchone()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
            else:
                if row is not None and str(row[0]).lower() == "wal":
                    return
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"Cannot create SQLite store {self.path!r}: it could not be switched to "
                        f"WAL (the journal mode stayed {row[0] if row else None!r}); another "
                        "connection kept it busy longer than the busy timeout, or its "
                        "filesystem has no shared memory for WAL: try again, or use a local disk."
                    )
            time.sleep(0.01)

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- writing --------------------------------------------------------------------------

    @_sqlite_errors("append to")
    def append(
        self,
        flow: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> None:
        """Append one transaction's next events atomically (see :class:`EventStore`)."""
        last = check_append(flow, events, expected_version, idempotency_key)
        rows = event_rows(flow, events, json_text, datetime.isoformat)
        tx_id, trigger = events[0].tx_id, events[-1].trigger
        db = self._connection()
        try:
            with _Transaction(db):
                if idempotency_key is not None:
                    used = self._key(db, idempotency_key)
                    if used is not None:
                        raise check_key_use(idempotency_key, used, tx_id, trigger, fingerprint)
                # One index seek on (tx_id, version, seq): the newest version and its flow.
                row = db.execute(
                    "SELECT version, flow FROM events WHERE tx_id = ? "
                    "ORDER BY version DESC, seq DESC LIMIT 1",
                    (tx_id,),
                ).fetchone()
                check_newest(tx_id, flow, expected_version, row)
                db.executemany(
                    "INSERT INTO events (event_id, tx_id, flow, version, seq, trigger, stream, "
                    "name, data, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                if idempotency_key is not None:
                    db.execute(
                        "INSERT INTO idempotency (key, tx_id, version, trigger, fingerprint) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (idempotency_key, tx_id, last, trigger, fingerprint),
                    )
        except sqlite3.IntegrityError as error:
            raise ConcurrencyConflict(
                f"Another writer appended to transaction {tx_id!r} first ({error})."
            ) from None

    @_sqlite_errors("save a checkpoint in")
    def save_checkpoint(self, consumer: str, position: int) -> None:
        """Record ``consumer``'s position."""
        check_text(consumer, "checkpoint name")
        db = self._connection()
        with _Transaction(db):
            db.execute(
                "INSERT INTO checkpoints (consumer, position) VALUES (?, ?) "
                "ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
                (consumer, position),
            )

    # -- reading --------------------------------------------------------------------------

    @_sqlite_errors("load from")
    def load(self, tx_id: str) -> tuple[str, list[Event]]:
        """Return ``(flow, events)`` of ``tx_id``; KeyError if unknown."""
        if unstorable(tx_id):  # the driver cannot encode it, and no store keeps one
            raise KeyError(tx_id)
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

    @_sqlite_errors("read from")
    def version(self, tx_id: str) -> int:
        """Return the stored version of ``tx_id`` (``-1`` if none)."""
        if unstorable(tx_id):
            return -1
        row = (
            self._connection()
            .execute("SELECT MAX(version) FROM events WHERE tx_id = ?", (tx_id,))
            .fetchone()
        )
        return -1 if row[0] is None else int(row[0])

    @_sqlite_errors("read from")
    def find_idempotency_key(self, key: str) -> KeyRecord | None:
        """Return what ``key`` was first used for, or ``None``."""
        if unstorable(key):
            return None
        return self._key(self._connection(), key)

    @staticmethod
    def _key(db: sqlite3.Connection, key: str) -> KeyRecord | None:
        row = db.execute(
            "SELECT tx_id, version, trigger, fingerprint FROM idempotency WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else KeyRecord(row[0], int(row[1]), row[2], row[3])

    @_sqlite_errors("read from")
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

    @_sqlite_errors("read from")
    def checkpoint(self, consumer: str) -> int:
        """Return the last position ``consumer`` processed (``0`` at first)."""
        if unstorable(consumer):
            return 0
        row = (
            self._connection()
            .execute("SELECT position FROM checkpoints WHERE consumer = ?", (consumer,))
            .fetchone()
        )
        return 0 if row is None else int(row[0])


class _Transaction:
    """``BEGIN IMMEDIATE`` (or ``begin``) … ``COMMIT``, or ``ROLLBACK`` on any error."""

    def __init__(self, db: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> None:
        self.db = db
        self.begin = begin

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute(self.begin)
        return self.db

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            try:
                self.db.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        # SQLite may have rolled back already (after SQLITE_FULL, say); never mask the error.
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
