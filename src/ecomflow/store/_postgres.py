"""An event store in PostgreSQL, through psycopg 3 (``pip install 'ecomflow[postgres]'``).

The same table as the SQLite store, with ``data`` as JSONB. Each append runs in one
transaction that first takes a transaction-scoped advisory lock, so positions commit
in order and a reader tailing by position never skips an event that commits late;
``UNIQUE (tx_id, version, seq)`` still makes two writers from one version impossible.
The idempotency key is checked and recorded in that same transaction. A session the
server drops is replaced and the operation retried once where that is safe, then
:class:`StoreUnavailable`; every other driver error is a :class:`StoreError`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, final

from .._errors import ConcurrencyConflict, StoreError, StoreUnavailable
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

__all__ = ["PostgresStore"]

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
        key TEXT PRIMARY KEY, tx_id TEXT NOT NULL, version INTEGER NOT NULL,
        trigger TEXT NOT NULL, fingerprint TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS checkpoints (
        consumer TEXT PRIMARY KEY, position BIGINT NOT NULL
    )""",
]
_COLUMNS = "position, flow, tx_id, version, seq, trigger, stream, name, data, occurred_at"

T = TypeVar("T")


def _recorded(row: Sequence[Any]) -> Recorded:
    return recorded_from_row(row)


@final
class PostgresStore(EventStore):
    """An event store in the PostgreSQL database at ``dsn``; one connection per thread.

    Every operation runs in one database transaction through one method, which turns
    driver errors into :class:`StoreError`. When the server drops the session, the
    operation is retried once on a new connection where that is safe (a read, or a write
    that certainly did not commit; after a failed COMMIT the store looks whether the
    events are there), then :class:`StoreUnavailable` is raised.
    """

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
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- connections and the one way to run SQL -------------------------------------------

    def _connection(self) -> Any:
        db = getattr(self._local, "db", None)
        if db is None or db.closed or db.broken:
            if db is not None:
                self._forget(db)
            try:
                db = self._psycopg.connect(self.dsn)
            except self._psycopg.Error as error:
                raise StoreUnavailable(
                    f"Cannot connect to PostgreSQL store: {_text(error)}; check that the "
                    "server runs and the DSN is right."
                ) from None
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def _forget(self, db: Any) -> None:
        """Close and drop a connection whose session is gone."""
        with contextlib.suppress(Exception):
            db.close()
        with self._lock:
            if db in self._all:
                self._all.remove(db)
        if getattr(self._local, "db", None) is db:
            self._local.db = None

    @staticmethod
    def _rollback(db: Any) -> None:
        try:
            if not db.closed:
                db.rollback()
        except Exception:
            pass

    def _run(
        self,
        what: str,
        work: Callable[[Any], T],
        *,
        committed: Callable[[Any], bool] | None = None,
    ) -> T:
        """Run ``work(connection)`` in one database transaction and commit it.

        The one place driver errors are translated. Our own errors raised by ``work`` roll
        back and pass through. A lost session before COMMIT rolled the transaction back,
        so ``work`` runs once more on a new connection; after a failed COMMIT, which may
        or may not have landed, ``committed`` (given for writes that must not land twice)
        decides on a new connection whether it did. ``what`` names the operation.
        """
        psycopg = self._psycopg
        for attempt in (1, 2):
            db = self._connection()
            try:
                result = work(db)
            except psycopg.Error as error:
                if db.closed or db.broken:
                    self._forget(db)
                    if attempt == 1:
                        continue
                    raise self._unavailable(what, error) from None
                self._rollback(db)
                raise StoreError(f"Cannot {what} PostgreSQL store: {_text(error)}.") from None
            except BaseException:
                self._rollback(db)
                raise
            try:
                db.commit()
            except psycopg.Error as error:
                if not (db.closed or db.broken):
                    self._rollback(db)
                    raise StoreError(f"Cannot {what} PostgreSQL store: {_text(error)}.") from None
                self._forget(db)
                if committed is not None:
                    try:
                        landed = self._run("check what was written to", committed)
                    except StoreUnavailable as unknown:
                        raise StoreUnavailable(
                            f"Cannot {what} PostgreSQL store: the session was lost during "
                            f"COMMIT ({_text(error)}), so it may have been written, and the "
                            f"store could not look ({unknown}). Reload before trying again."
                        ) from None
                    if landed:
                        return result
                if attempt == 1:
                    continue
                raise self._unavailable(what, error) from None
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _unavailable(what: str, error: Exception) -> StoreUnavailable:
        return StoreUnavailable(
            f"Cannot {what} PostgreSQL store: the server dropped the session twice "
            f"({_text(error)}); nothing was written. Check the server and try again."
        )

    def _migrate(self) -> None:
        def current(db: Any) -> int:
            # One snapshot for the columns and the version, which are read by separate
            # statements: another process may migrate the store between them.
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            return self._layout(db)

        if self._run("open", current) == SCHEMA_VERSION:
            return

        def create(db: Any) -> None:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK,))
            version = self._layout(db)  # again, under the lock
            if version == 0:
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
            elif version == 1:
                for statement in MIGRATE_1_TO_2:
                    db.execute(statement)
                db.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))

        self._run("create the tables of", create)

    @staticmethod
    def _layout(db: Any) -> int:
        """Return the schema version in the current schema (``0`` when empty), reading only."""
        names = list(LAYOUTS[SCHEMA_VERSION])
        tables: dict[str, tuple[str, ...]] = {}
        for table, column in db.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ANY(%s) "
            "ORDER BY table_name, ordinal_position",
            (names,),
        ).fetchall():
            tables[table] = (*tables.get(table, ()), column)
        return layout_version(
            "the PostgreSQL store",
            tables,
            lambda: db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0],
        )

    def close(self) -> None:
        """Close the connections of every thread."""
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()

    # -- writing --------------------------------------------------------------------------

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
        from psycopg.types.json import Jsonb

        last = check_append(flow, events, expected_version, idempotency_key)
        rows = event_rows(  # psycopg adapts datetimes
            flow, events, lambda data: Jsonb(data, dumps=json_text), lambda time: time
        )
        tx_id, trigger = events[0].tx_id, events[-1].trigger
        unique = self._psycopg.errors.UniqueViolation

        def write(db: Any) -> None:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK,))
            if idempotency_key is not None:
                used = self._key(db, idempotency_key)
                if used is not None:
                    raise check_key_use(idempotency_key, used, tx_id, trigger, fingerprint)
            # One index seek on (tx_id, version, seq): the newest version and its flow.
            row = db.execute(
                "SELECT version, flow FROM events WHERE tx_id = %s "
                "ORDER BY version DESC, seq DESC LIMIT 1",
                (tx_id,),
            ).fetchone()
            check_newest(tx_id, flow, expected_version, row)
            try:
                with db.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO events (event_id, tx_id, flow, version, seq, trigger, "
                        "stream, name, data, occurred_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        rows,
                    )
                if idempotency_key is not None:
                    db.execute(
                        "INSERT INTO idempotency (key, tx_id, version, trigger, fingerprint) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        (idempotency_key, tx_id, last, trigger, fingerprint),
                    )
            except unique as error:
                raise ConcurrencyConflict(
                    f"Another writer appended to transaction {tx_id!r} first ({_text(error)})."
                ) from None

        def landed(db: Any) -> bool:
            """Whether these very events (and key) are stored: the COMMIT went through.

            The lost session's transaction holds the append lock until the server has
            committed or rolled it back; taking the lock waits for that, so the answer
            is final (without it a late COMMIT reads as "not landed", and the retry
            reports its own events as a ConcurrencyConflict).
            """
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK,))
            stored = db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE tx_id = %s AND version > %s "
                "AND version <= %s ORDER BY version, seq",
                (tx_id, expected_version, last),
            ).fetchall()
            if [_same(_recorded(row).event) for row in stored] != [_same(e) for e in events]:
                return False
            if idempotency_key is None:
                return True
            return self._key(db, idempotency_key) == KeyRecord(tx_id, last, trigger, fingerprint)

        self._run("append to", write, committed=landed)

    def save_checkpoint(self, consumer: str, position: int) -> None:
        """Record ``consumer``'s position."""
        check_text(consumer, "checkpoint name")
        self._run(
            "save a checkpoint in",
            lambda db: db.execute(
                "INSERT INTO checkpoints (consumer, position) VALUES (%s, %s) "
                "ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
                (consumer, position),
            ),
        )

    # -- reading --------------------------------------------------------------------------

    def load(self, tx_id: str) -> tuple[str, list[Event]]:
        """Return ``(flow, events)`` of ``tx_id``; KeyError if unknown."""
        if unstorable(tx_id):  # PostgreSQL text cannot hold it, and no store keeps one
            raise KeyError(tx_id)
        rows = self._query(
            f"SELECT {_COLUMNS} FROM events WHERE tx_id = %s ORDER BY version, seq", (tx_id,)
        )
        if not rows:
            raise KeyError(tx_id)
        recorded = [_recorded(row) for row in rows]
        return recorded[0].flow, [r.event for r in recorded]

    def version(self, tx_id: str) -> int:
        """Return the stored version of ``tx_id`` (``-1`` if none)."""
        if unstorable(tx_id):
            return -1
        rows = self._query("SELECT MAX(version) FROM events WHERE tx_id = %s", (tx_id,))
        return -1 if rows[0][0] is None else int(rows[0][0])

    def find_idempotency_key(self, key: str) -> KeyRecord | None:
        """Return what ``key`` was first used for, or ``None``."""
        if unstorable(key):
            return None
        return self._run("read from", lambda db: self._key(db, key))

    @staticmethod
    def _key(db: Any, key: str) -> KeyRecord | None:
        row = db.execute(
            "SELECT tx_id, version, trigger, fingerprint FROM idempotency WHERE key = %s",
            (key,),
        ).fetchone()
        return None if row is None else KeyRecord(row[0], int(row[1]), row[2], row[3])

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
        if unstorable(consumer):
            return 0
        rows = self._query("SELECT position FROM checkpoints WHERE consumer = %s", (consumer,))
        return 0 if not rows else int(rows[0][0])

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        rows: list[Any] = self._run("read from", lambda db: db.execute(sql, params).fetchall())
        return rows


def _same(event: Event) -> tuple[object, ...]:
    """Return what makes two events the same, whatever mapping type holds their data."""
    return (
        event.event_id,
        event.trigger,
        event.stream,
        event.name,
        json_text(event.data),
        event.occurred_at,
    )


def _text(error: BaseException) -> str:
    """Return a driver error's message on one line, without a trailing period."""
    return " ".join(str(error).split()).rstrip(".") or type(error).__name__
