"""The embedded default: an event store in one SQLite file (WAL, ``synchronous=FULL``).

Every append runs in one ``BEGIN IMMEDIATE`` transaction, which takes the database's
write lock, checks the idempotency key, moves the transaction's row in the current-state
table from the expected version to the new one (the optimistic check: one primary-key
update), and inserts the transition's events, the snapshot and the key together;
``UNIQUE(tx_id, version, seq)`` makes a second writer from the same version fail even if it
got past the check. Opening a file whose schema is current only reads; older files are
migrated in one transaction under the write lock. SQL is parametrised and payloads are
stored as JSON text; times in the current-state table are UTC ISO 8601 text with
microseconds, so that text order is time order. Every :class:`sqlite3.Error` reaches the
caller as a :class:`StoreError` saying what to do.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, final

from .._errors import ConcurrencyConflict, CorruptHistory, StoreError
from .._events import Event, Stream
from .._messages import operation_zh
from .._sensitive import check_text, unstorable
from ._base import (
    INSERT_COLUMNS,
    LAYOUTS,
    MIGRATE_1_TO_2,
    READ_COLUMNS,
    SCHEMA_VERSION,
    Append,
    Deadline,
    DeadlineChanges,
    EventStore,
    Head,
    KeyRecord,
    Latest,
    Query,
    Recorded,
    Snapshot,
    Summary,
    check_append,
    check_deadline_changes,
    check_due_query,
    check_key_use,
    check_newest,
    check_query,
    check_read,
    decode_cursor,
    event_rows,
    head_texts,
    json_text,
    layout_version,
    projection_texts,
    put_head_texts,
    recorded_from_row,
)

__all__ = ["SQLiteStore"]

# Schema version 3. The events table's INTEGER PRIMARY KEY is the rowid: positions are
# never reused because events are never deleted, so AUTOINCREMENT (a sqlite_sequence
# write per commit) is not needed, and the event id is derived (tx_id:version:seq), so its
# key is the UNIQUE index. The current-state table and the durable projections are
# WITHOUT ROWID tables (their primary key is the table: one b-tree less to write).
_EVENTS = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY,
    tx_id TEXT NOT NULL,
    flow TEXT NOT NULL,
    flow_version INTEGER NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    trigger TEXT NOT NULL,
    stream TEXT NOT NULL,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    actor TEXT,
    causation_id TEXT,
    correlation_id TEXT,
    UNIQUE (tx_id, version, seq)
)"""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
{_EVENTS.strip()};
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    tx_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    trigger TEXT NOT NULL DEFAULT '',
    fingerprint TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS checkpoints (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
"""

# What schema version 3 adds to the tables above (a migrated file keeps its own
# idempotency and checkpoints tables). Each index is written by every append, so there
# are only those a query needs (WAL bytes per commit, benchmarks/bench_store.py): no
# events_by_stream (reading by stream walks the positions after the checkpoint, which a
# tailing reader reads anyway) and no transactions(updated_at) (find merges one page
# per state instead); events_by_actor is partial, so an event without actor costs nothing.
_SCHEMA_3 = """
CREATE INDEX IF NOT EXISTS events_by_actor ON events (actor, tx_id) WHERE actor IS NOT NULL;
CREATE TABLE IF NOT EXISTS transactions (
    tx_id TEXT PRIMARY KEY,
    flow TEXT NOT NULL,
    flow_version INTEGER NOT NULL,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    summary TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS transactions_by_state ON transactions (state, updated_at, tx_id);
CREATE INDEX IF NOT EXISTS transactions_by_flow
    ON transactions (flow, state, updated_at, tx_id);
CREATE TABLE IF NOT EXISTS snapshots (
    tx_id TEXT PRIMARY KEY,
    flow_version INTEGER NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS projection_rows (
    projection TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (projection, kind, key)
) WITHOUT ROWID;
"""

# The deadlines of timed transitions: one row per armed (transaction, trigger), written
# and deleted by the appends that arm and disarm it; found due by the due_at index (UTC
# text with microseconds, so text order is time order). A table of its own beside schema
# version 3, created when a store is opened without it: an older ecomflow ignores it.
_DEADLINES = """
CREATE TABLE IF NOT EXISTS deadlines (
    tx_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    due_at TEXT NOT NULL,
    armed_version INTEGER NOT NULL,
    flow TEXT NOT NULL,
    claimed_by TEXT,
    claimed_until TEXT,
    PRIMARY KEY (tx_id, trigger)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deadlines_by_due ON deadlines (due_at);
"""
_DEADLINE_COLUMNS = "tx_id, trigger, due_at, armed_version, flow"

# Schema version 2 -> 3: the events table is rebuilt (no event_id, no AUTOINCREMENT; the
# new columns: flow version 1, no actor, causation or correlation), keeping positions.
_MIGRATE_2_TO_3 = (
    "ALTER TABLE events RENAME TO events_v2",
    _EVENTS,
    "INSERT INTO events (position, tx_id, flow, flow_version, version, seq, trigger, "
    "stream, name, data, occurred_at) SELECT position, tx_id, flow, 1, version, seq, "
    "trigger, stream, name, data, occurred_at FROM events_v2 ORDER BY position",
    "DROP TABLE events_v2",
)

_COLUMNS = READ_COLUMNS
_INSERT = f"INSERT INTO events ({INSERT_COLUMNS}) VALUES ({', '.join('?' * 13)})"
_SUMMARY_COLUMNS = "tx_id, flow, flow_version, state, version, created_at, updated_at, summary"
_UPSERT_SNAPSHOT = (
    "INSERT INTO snapshots (tx_id, flow_version, version, data) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (tx_id) DO UPDATE SET flow_version = excluded.flow_version, "
    "version = excluded.version, data = excluded.data"
)

P = ParamSpec("P")
R = TypeVar("R")


def _row_to_recorded(row: Sequence[Any]) -> Recorded:
    return recorded_from_row(row, json.loads, datetime.fromisoformat)


def _snapshot(tx_id: str, row: Sequence[Any]) -> Snapshot:
    """Return the :class:`Snapshot` a row of the snapshots table holds."""
    version, flow_version, text = row
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"it is a {type(data).__name__}, not a JSON object")
    except ValueError as error:
        raise CorruptHistory(
            f"The snapshot of transaction {tx_id!r} does not parse ({error}); delete its "
            "row in the snapshots table and the transaction loads from its events.",
            zh=f"交易 {tx_id!r} 的快照无法解析（{error}）；删除 snapshots 表中它的行，"
            "交易即从其事件加载。",
            tx_id=tx_id,
            position="snapshot",
        ) from None
    return Snapshot(int(version), int(flow_version), data)


def _write_deadlines(db: sqlite3.Connection, tx_id: str, changes: DeadlineChanges) -> None:
    """Delete the rows of ``changes.disarm``, write ``changes.arm`` (caller's transaction)."""
    db.executemany(
        "DELETE FROM deadlines WHERE tx_id = ? AND trigger = ?",
        [(tx_id, name) for name in changes.disarm],
    )
    db.executemany(
        f"INSERT OR REPLACE INTO deadlines ({_DEADLINE_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
        [(tx_id, d.trigger, _utc(d.due_at), d.armed_version, d.flow) for d in changes.arm],
    )


def _utc(when: datetime) -> str:
    """Return ``when`` as the current-state table stores it: UTC, microseconds, ISO 8601.

    One format for every row, so that comparing the text compares the times.
    """
    if when.tzinfo is not timezone.utc:  # the default clock's times need no conversion
        when = when.astimezone(timezone.utc)
    return when.isoformat(timespec="microseconds")


def _summary(row: Sequence[Any]) -> Summary:
    """Return the :class:`Summary` a row of the current-state table holds."""
    tx_id, flow, flow_version, state, version, created, updated, summary = row
    try:
        data = json.loads(summary)
        if not isinstance(data, dict):
            raise ValueError(f"its summary is a {type(data).__name__}, not a JSON object")
        created_at, updated_at = datetime.fromisoformat(created), datetime.fromisoformat(updated)
    except (ValueError, TypeError) as error:
        raise CorruptHistory(
            f"The current-state row of transaction {tx_id!r} does not parse ({error}); "
            "rebuild it with Repository.reindex().",
            zh=f"交易 {tx_id!r} 的当前状态行无法解析（{error}）；请用 Repository.reindex() 重建。",
            tx_id=str(tx_id),
            position="current state",
        ) from None
    return Summary(
        tx_id, flow, int(flow_version), state, int(version), created_at, updated_at, data
    )


# What to do about a SQLite error, by the words in its message: (words, English, Chinese).
_HINTS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (
        ("readonly", "read-only"),
        "the file or its folder is read-only; ecomflow writes the file and the -wal and "
        "-shm files beside it, so make both writable or copy the file somewhere writable",
        "文件或其文件夹是只读的；ecomflow 会写入该文件及其旁边的 -wal 和 -shm 文件，"
        "请让它们可写，或把文件复制到可写的位置",
    ),
    (
        ("not a database", "malformed"),
        "the file is not an ecomflow SQLite store (or is damaged); choose another file",
        "该文件不是 ecomflow 的 SQLite 存储（或已损坏）；请换一个文件",
    ),
    (
        ("locked", "busy"),
        "another connection held the write lock longer than the busy timeout; "
        "try again, or find the process that keeps a write transaction open",
        "另一个连接持有写锁的时间超过了忙等待时限；请重试，或找出一直开着写事务的进程",
    ),
    (
        ("unable to open",),
        "check that the folder exists and can be written",
        "请检查文件夹存在且可写",
    ),
)


def _hint(message: str) -> tuple[str, str]:
    """Return what to do about a SQLite error message, in English and in Chinese."""
    text = message.lower()
    for words, en, zh in _HINTS:
        if any(word in text for word in words):
            return en, zh
    return "check the file and its folder", "请检查该文件及其文件夹"


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
                hint, hint_zh = _hint(str(error))
                raise StoreError(
                    f"Cannot {what} SQLite store {path!r}: {error}; {hint}.",
                    zh=f"无法{operation_zh(what)} SQLite 存储 {path!r}：{error}；{hint_zh}。",
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
            f"{folder!r}; let this user enter the folder and write in it.",
            zh=f"无法打开 SQLite 存储 {path!r}：其文件夹 {folder!r} {error.strerror or error}；"
            "请让当前用户可以进入并写入该文件夹。",
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
            raise StoreError(
                f"synchronous must be 'FULL' or 'NORMAL' (got {synchronous!r}).",
                zh=f"synchronous 必须是 'FULL' 或 'NORMAL'（收到 {synchronous!r}）。",
            )
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
                f"Cannot open SQLite store {self.path!r}: it is a folder; name a file.",
                zh=f"无法打开 SQLite 存储 {self.path!r}：它是文件夹；请指定一个文件。",
            )
        if not folder_is_dir:
            raise StoreError(
                f"Cannot open SQLite store {self.path!r}: its folder {str(folder)!r} "
                "does not exist; create it first.",
                zh=f"无法打开 SQLite 存储 {self.path!r}：其文件夹 {str(folder)!r} 不存在；"
                "请先创建。",
            )
        read_only = exists and not os.access(where, os.W_OK)
        if read_only or not os.access(folder, os.W_OK | os.X_OK):
            which = "file" if read_only else f"folder {str(folder)!r}"
            raise StoreError(
                f"Cannot open SQLite store {self.path!r}: the {which} is read-only; "
                "ecomflow writes the file and the -wal and -shm files beside it, so make "
                "both writable or copy the file somewhere writable.",
                zh=f"无法打开 SQLite 存储 {self.path!r}：{which} 是只读的；ecomflow 会写入该"
                "文件及其旁边的 -wal 和 -shm 文件，请让它们可写，或把文件复制到可写的位置。",
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
            timed = _has_deadlines(db)
        if version == SCHEMA_VERSION and timed:
            return  # current: opening needed no write lock
        if version == 0:
            self._use_wal(db)
        with _Transaction(db):
            version = self._layout(db)  # again, under the write lock
            _run(db, _DEADLINES)  # if not there yet (an older ecomflow made the file)
            if version == SCHEMA_VERSION:
                return  # another process migrated it meanwhile
            if version == 0:
                _run(db, _SCHEMA)
                _run(db, _SCHEMA_3)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                return
            if version == 1:
                for statement in MIGRATE_1_TO_2:
                    db.execute(statement)
            for statement in _MIGRATE_2_TO_3:
                db.execute(statement)
            _run(db, _SCHEMA_3)
            _fill_transactions(db)
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
        head: Head | None = None,
    ) -> None:
        """Append one transaction's next events atomically (see :class:`EventStore`)."""
        write = self._prepare(flow, events, expected_version, idempotency_key, fingerprint, head)
        db = self._connection()
        try:
            with _Transaction(db):
                write(db)
        except sqlite3.IntegrityError as error:
            raise ConcurrencyConflict(
                f"Another writer appended to transaction {events[0].tx_id!r} first ({error}).",
                zh=f"另一个写入者先向交易 {events[0].tx_id!r} 追加了事件（{error}）。",
            ) from None

    @_sqlite_errors("append to")
    def append_batch(self, appends: Sequence[Append]) -> list[ConcurrencyConflict | None]:
        """Append each of ``appends`` in one database transaction, each in a savepoint.

        One commit (one flush to disk) for them all; a stale expected version rolls back
        only its own append, whose :class:`ConcurrencyConflict` is returned in its place.
        """
        writes = [
            (
                append.events[0].tx_id,
                self._prepare(
                    append.flow, append.events, append.expected_version, None, "", append.head
                ),
            )
            for append in appends
        ]
        results: list[ConcurrencyConflict | None] = []
        db = self._connection()
        with _Transaction(db):
            for tx_id, write in writes:
                db.execute("SAVEPOINT append")
                try:
                    write(db)
                except (ConcurrencyConflict, sqlite3.IntegrityError) as error:
                    db.execute("ROLLBACK TO append")
                    results.append(
                        error
                        if isinstance(error, ConcurrencyConflict)
                        else ConcurrencyConflict(
                            f"Another writer appended to transaction {tx_id!r} first ({error})."
                        )
                    )
                else:
                    results.append(None)
                db.execute("RELEASE append")
        return results

    def _prepare(
        self,
        flow: str,
        events: Sequence[Event],
        expected_version: int,
        idempotency_key: str | None,
        fingerprint: str,
        head: Head | None,
    ) -> Callable[[sqlite3.Connection], None]:
        """Check an append and encode its rows; return what writes it in a transaction."""
        last = check_append(flow, events, expected_version, idempotency_key)
        tx_id, trigger = events[0].tx_id, events[-1].trigger
        summary, snapshot = head_texts(tx_id, head)
        changes = None if head is None else head.deadlines
        if changes is not None:
            check_deadline_changes(tx_id, changes)
        rows = event_rows(flow, events, json_text, datetime.isoformat)
        state = "" if head is None else head.state
        flow_version = events[-1].flow_version if head is None else head.flow_version
        updated = _utc(events[-1].occurred_at)
        created = updated if len(events) == 1 else _utc(events[0].occurred_at)
        expected = expected_version

        def write(db: sqlite3.Connection) -> None:
            # the statements of one append, in the caller's transaction
            if idempotency_key is not None:
                used = self._key(db, idempotency_key)
                if used is not None:
                    raise check_key_use(idempotency_key, used, tx_id, trigger, fingerprint)
            # The optimistic check: one primary-key write on the current-state row.
            if expected_version == -1:
                moved = db.execute(
                    f"INSERT INTO transactions ({_SUMMARY_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tx_id) DO NOTHING",
                    (tx_id, flow, flow_version, state, last, created, updated, summary),
                ).rowcount
            else:
                moved = db.execute(
                    "UPDATE transactions SET flow_version = ?, state = ?, version = ?, "
                    "updated_at = ?, summary = ? WHERE tx_id = ? AND version = ? AND flow = ?",
                    (flow_version, state, last, updated, summary, tx_id, expected, flow),
                ).rowcount
            if moved != 1:
                newest = db.execute(
                    "SELECT version, flow FROM transactions WHERE tx_id = ?", (tx_id,)
                ).fetchone()
                check_newest(tx_id, flow, expected_version, newest)
                raise StoreError(  # pragma: no cover - check_newest raised
                    f"Cannot append to transaction {tx_id!r}: its current-state row did "
                    "not move; try again."
                )
            db.executemany(_INSERT, rows)
            if snapshot is not None:
                assert head is not None  # head_texts gives a snapshot only from a head
                db.execute(_UPSERT_SNAPSHOT, (tx_id, head.flow_version, last, snapshot))
            if idempotency_key is not None:
                db.execute(
                    "INSERT INTO idempotency (key, tx_id, version, trigger, fingerprint) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (idempotency_key, tx_id, last, trigger, fingerprint),
                )
            if changes:
                assert changes is not None
                _write_deadlines(db, tx_id, changes)

        return write

    @_sqlite_errors("write to")
    def put_head(self, tx_id: str, version: int, head: Head) -> bool:
        """Write ``tx_id``'s current-state row from ``head`` if it is at ``version``."""
        summary, snapshot = put_head_texts(tx_id, version, head)
        changes = head.deadlines
        if changes is not None:
            check_deadline_changes(tx_id, changes)
        db = self._connection()
        with _Transaction(db):
            moved = db.execute(
                "UPDATE transactions SET flow_version = ?, state = ?, summary = ? "
                "WHERE tx_id = ? AND version = ?",
                (head.flow_version, head.state, summary, tx_id, version),
            ).rowcount
            if moved == 1 and snapshot is not None:
                db.execute(_UPSERT_SNAPSHOT, (tx_id, head.flow_version, version, snapshot))
            if moved == 1 and changes:
                _write_deadlines(db, tx_id, changes)
        return moved == 1

    @_sqlite_errors("save a projection in")
    def save_projection(
        self,
        projection: str,
        expected: int,
        position: int,
        changes: Mapping[tuple[str, str], Mapping[str, Any] | None],
    ) -> None:
        """Write a durable projection's changes and checkpoint at once (see EventStore)."""
        rows = projection_texts(projection, changes)
        db = self._connection()
        with _Transaction(db):
            row = db.execute(
                "SELECT position FROM checkpoints WHERE consumer = ?", (projection,)
            ).fetchone()
            stored = 0 if row is None else int(row[0])
            if stored != expected:
                raise ConcurrencyConflict(
                    f"Projection {projection!r} is at position {stored}, not {expected} as "
                    "expected: another process moved it; load it again.",
                    zh=f"投影 {projection!r} 处于位置 {stored}，而不是预期的 {expected}："
                    "另一个进程移动了它；请重新加载。",
                )
            db.executemany(
                "DELETE FROM projection_rows WHERE projection = ? AND kind = ? AND key = ?",
                [(projection, kind, key) for kind, key, value in rows if value is None],
            )
            db.executemany(
                "INSERT INTO projection_rows (projection, kind, key, value) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (projection, kind, key) DO UPDATE SET value = excluded.value",
                [(projection, kind, key, value) for kind, key, value in rows if value is not None],
            )
            db.execute(
                "INSERT INTO checkpoints (consumer, position) VALUES (?, ?) "
                "ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
                (projection, position),
            )

    @_sqlite_errors("reset a projection in")
    def reset_projection(self, projection: str) -> None:
        """Delete ``projection``'s rows and checkpoint."""
        if unstorable(projection):
            return
        db = self._connection()
        with _Transaction(db):
            db.execute("DELETE FROM projection_rows WHERE projection = ?", (projection,))
            db.execute("DELETE FROM checkpoints WHERE consumer = ?", (projection,))

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

    # -- deadlines --------------------------------------------------------------------------

    @_sqlite_errors("read from")
    def deadlines(self, tx_id: str | None = None) -> list[Deadline]:
        """Return the armed deadlines (of ``tx_id`` only, when given), soonest first."""
        if tx_id is not None and unstorable(tx_id):
            return []
        where, params = ("WHERE tx_id = ?", (tx_id,)) if tx_id is not None else ("", ())
        rows = (
            self._connection()
            .execute(
                f"SELECT {_DEADLINE_COLUMNS} FROM deadlines {where} "
                "ORDER BY due_at, tx_id, trigger",
                params,
            )
            .fetchall()
        )
        return [_deadline(row) for row in rows]

    @_sqlite_errors("read due deadlines from")
    def due_deadlines(
        self,
        now: datetime,
        limit: int = 100,
        *,
        owner: str | None = None,
        lease: float = 0.0,
    ) -> list[Deadline]:
        """Return up to ``limit`` deadlines due at ``now``, soonest first (see EventStore).

        A range seek on ``deadlines_by_due``; with an ``owner`` the rows are claimed in
        the same statement (``UPDATE … RETURNING``) under the write lock.
        """
        check_due_query(now, limit, owner, lease)
        at = _utc(now)
        db = self._connection()
        if owner is None:
            rows = db.execute(
                f"SELECT {_DEADLINE_COLUMNS} FROM deadlines WHERE due_at <= ? "
                "ORDER BY due_at LIMIT ?",
                (at, limit),
            ).fetchall()
        else:
            until = _utc(now + timedelta(seconds=lease))
            with _Transaction(db):
                rows = db.execute(
                    "UPDATE deadlines SET claimed_by = ?, claimed_until = ? "
                    "WHERE (tx_id, trigger) IN (SELECT tx_id, trigger FROM deadlines "
                    "WHERE due_at <= ? AND (claimed_until IS NULL OR claimed_until <= ? "
                    "OR claimed_by = ?) ORDER BY due_at LIMIT ?) "
                    f"RETURNING {_DEADLINE_COLUMNS}",
                    (owner, until, at, at, owner, limit),
                ).fetchall()
        found = [_deadline(row) for row in rows]
        return sorted(found, key=lambda d: (d.due_at, d.tx_id, d.trigger))

    @_sqlite_errors("write to")
    def drop_deadline(self, deadline: Deadline) -> bool:
        """Delete ``deadline``'s row if it is still armed at its version."""
        if unstorable(deadline.tx_id) or unstorable(deadline.trigger):
            return False
        db = self._connection()
        with _Transaction(db):
            gone = db.execute(
                "DELETE FROM deadlines WHERE tx_id = ? AND trigger = ? AND armed_version = ?",
                (deadline.tx_id, deadline.trigger, deadline.armed_version),
            ).rowcount
        return bool(gone == 1)

    @_sqlite_errors("write to")
    def release_deadline(self, deadline: Deadline, owner: str) -> bool:
        """End ``owner``'s claim on ``deadline``'s row now; return whether it held one."""
        if unstorable(deadline.tx_id) or unstorable(deadline.trigger) or unstorable(owner):
            return False
        db = self._connection()
        with _Transaction(db):
            freed = db.execute(
                "UPDATE deadlines SET claimed_by = NULL, claimed_until = NULL "
                "WHERE tx_id = ? AND trigger = ? AND claimed_by = ?",
                (deadline.tx_id, deadline.trigger, owner),
            ).rowcount
        return bool(freed == 1)

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

    @_sqlite_errors("load from")
    def load_latest(self, tx_id: str) -> Latest:
        """Return ``tx_id``'s newest snapshot and the events after it; KeyError if unknown."""
        if unstorable(tx_id):
            raise KeyError(tx_id)
        db = self._connection()
        with _Transaction(db, "BEGIN"):  # one snapshot of the database: they agree
            head = db.execute("SELECT flow FROM transactions WHERE tx_id = ?", (tx_id,)).fetchone()
            if head is None:
                raise KeyError(tx_id)
            saved = db.execute(
                "SELECT version, flow_version, data FROM snapshots WHERE tx_id = ?", (tx_id,)
            ).fetchone()
            after = -1 if saved is None else int(saved[0])
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE tx_id = ? AND version > ? "
                "ORDER BY version, seq",
                (tx_id, after),
            ).fetchall()
        snapshot = None if saved is None else _snapshot(tx_id, saved)
        return Latest(head[0], snapshot, [_row_to_recorded(row).event for row in rows])

    @_sqlite_errors("find in")
    def find(self, query: Query) -> list[Summary]:
        """Return one page of transactions matching ``query`` (index seeks, see EventStore).

        A state's page is one seek on ``(state, updated_at, tx_id)`` (or on ``(flow, state,
        updated_at, tx_id)``); a state with states inside it, or a query without a state,
        is one such page per state stored, merged, so that no query sorts or scans the
        table, and no third index on ``(updated_at, tx_id)`` is written with each append.
        """
        check_query(query)
        texts = (query.flow, query.state, query.actor, query.after)
        if any(text is not None and unstorable(text) for text in texts):
            return []  # no store holds such a string
        db = self._connection()
        with _Transaction(db, "BEGIN"):  # every page from one snapshot of the database
            states = [query.state] if query.state is not None else []
            if query.state != "":
                states += self._states(db, query.flow, query.state)
            pages = [self._page(db, query, state) for state in states]
        rows = list(heapq.merge(*pages, key=lambda row: (row[6], row[0])))
        return [_summary(row) for row in rows[: query.limit]]

    @staticmethod
    def _states(db: sqlite3.Connection, flow: str | None, state: str | None) -> list[str]:
        """Return the states stored inside ``state`` (every state when ``None``) of ``flow``.

        One index seek per state found (``MIN`` above the last one), not a scan.
        """
        where, params = [], []
        if flow is not None:
            where.append("flow = ?")
            params.append(flow)
        if state is not None:  # "a.b" and "a.c" lie between "a." and "a/"
            where.append("state < ?")
            params.append(f"{state}/")
        found: list[str] = []
        low, above = ("", ">=") if state is None else (f"{state}.", ">=")
        while True:
            clause = " AND ".join([*where, f"state {above} ?"])
            row = db.execute(
                f"SELECT MIN(state) FROM transactions WHERE {clause}", (*params, low)
            ).fetchone()
            if row is None or row[0] is None:
                return found
            found.append(row[0])
            low, above = row[0], ">"

    @staticmethod
    def _page(db: sqlite3.Connection, query: Query, state: str) -> list[tuple[Any, ...]]:
        """Return up to ``query.limit`` raw rows in ``state``, in order."""
        where = ["state = ?"]
        params: list[object] = [state]
        if query.flow is not None:
            where.append("flow = ?")
            params.append(query.flow)
        if query.updated_after is not None:
            where.append("updated_at > ?")
            params.append(_utc(query.updated_after))
        if query.updated_before is not None:
            where.append("updated_at < ?")
            params.append(_utc(query.updated_before))
        if query.after is not None:
            when, tx_id = decode_cursor(query.after)
            where.append("(updated_at, tx_id) > (?, ?)")
            params.extend((_utc(when), tx_id))
        if query.actor is not None:
            where.append(
                "EXISTS (SELECT 1 FROM events AS e WHERE e.actor = ? AND e.tx_id = t.tx_id)"
            )
            params.append(query.actor)
        return db.execute(
            f"SELECT {_SUMMARY_COLUMNS} FROM transactions AS t WHERE {' AND '.join(where)} "
            "ORDER BY updated_at, tx_id LIMIT ?",
            (*params, query.limit),
        ).fetchall()

    @_sqlite_errors("read from")
    def projection_rows(
        self, projection: str, kind: str, key: str | None = None
    ) -> dict[str, Mapping[str, Any]]:
        """Return ``projection``'s rows of ``kind`` by key (only ``key``'s when given)."""
        if any(unstorable(text) for text in (projection, kind, key or "")):
            return {}
        sql = "SELECT key, value FROM projection_rows WHERE projection = ? AND kind = ?"
        params: tuple[str, ...] = (projection, kind)
        if key is not None:
            sql, params = f"{sql} AND key = ?", (*params, key)
        rows = self._connection().execute(f"{sql} ORDER BY key", params).fetchall()
        return {found: json.loads(value) for found, value in rows}

    @_sqlite_errors("read from")
    def version(self, tx_id: str) -> int:
        """Return the stored version of ``tx_id`` (``-1`` if none)."""
        if unstorable(tx_id):
            return -1
        row = (
            self._connection()
            .execute("SELECT version FROM transactions WHERE tx_id = ?", (tx_id,))
            .fetchone()
        )
        return -1 if row is None else int(row[0])

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
        wanted = check_read(after, streams, limit)
        if wanted is not None and not wanted:
            return []
        db = self._connection()
        if wanted is None:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
                (after, limit),
            ).fetchall()
        else:
            names = sorted(stream.value for stream in wanted)
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


def _has_deadlines(db: sqlite3.Connection) -> bool:
    """Whether the file has the deadlines table."""
    return bool(db.execute("PRAGMA table_info(deadlines)").fetchall())


def _deadline(row: Sequence[Any]) -> Deadline:
    """Return the :class:`Deadline` a row of the deadlines table holds."""
    tx_id, trigger, due_at, armed_version, flow = row
    return Deadline(tx_id, trigger, datetime.fromisoformat(due_at), int(armed_version), flow)


def _run(db: sqlite3.Connection, script: str) -> None:
    """Run each statement of ``script`` (no ``executescript``: it would commit first)."""
    for statement in script.strip().split(";\n"):
        if statement.strip():
            db.execute(statement)


def _fill_transactions(db: sqlite3.Connection) -> None:
    """Write the current-state table of a migrated store from its events.

    Each transaction's flow, flow version and version come from its newest event, its
    created and updated times from its first and newest; the state is ``""`` (the store
    does not know it: :meth:`Repository.reindex` fills it in). SQLite returns the other
    columns of the row that holds the ``MIN``/``MAX`` of a lone aggregate.
    """
    first = {
        tx_id: occurred
        for tx_id, _, occurred in db.execute(
            "SELECT tx_id, MIN(position), occurred_at FROM events GROUP BY tx_id"
        )
    }
    rows = [
        (tx_id, flow, flow_version, "", version, _stored_utc(first[tx_id]), _stored_utc(last))
        for tx_id, _, flow, flow_version, version, last in db.execute(
            "SELECT tx_id, MAX(position), flow, flow_version, version, occurred_at "
            "FROM events GROUP BY tx_id"
        )
    ]
    db.executemany(
        f"INSERT INTO transactions ({_SUMMARY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, '{{}}')",
        rows,
    )


def _stored_utc(text: str) -> str:
    """Return an event's stored time as the current-state table keeps it (UTC)."""
    try:
        return _utc(datetime.fromisoformat(text))
    except (ValueError, TypeError):
        raise StoreError(
            f"Cannot migrate the store: an event's time {text!r} is not an ISO 8601 "
            "timestamp; restore the file from a backup."
        ) from None


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
