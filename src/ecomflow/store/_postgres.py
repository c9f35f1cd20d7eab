"""An event store in PostgreSQL, through psycopg 3 (``pip install 'ecomflow[postgres]'``).

The tables of the SQLite store (schema version 3), with JSONB data and TIMESTAMPTZ
times, in the current schema or in a schema of their own (``schema=``). Appends take
no lock for their whole transaction: the key and the version are checked with plain
reads, a session advisory lock is held only around the INSERT of the events (so that
positions and the writing transaction ids, recorded per row in ``txid``, are assigned in
the same order) and released before the rest of the transaction and its COMMIT, so
commits of different writers overlap. Readers by position return only rows written by
transactions older than every transaction still running (``txid <
pg_snapshot_xmin(pg_current_snapshot())``), so a tailing reader never skips an event
that commits late. ``UNIQUE (tx_id, version, seq)`` and the current-state row (updated
only from the expected version) make two writers from one version impossible. A session
the server drops is replaced and the operation retried once where that is safe, then
:class:`StoreUnavailable`; every other driver error is a :class:`StoreError`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar, cast, final

from .._errors import ConcurrencyConflict, StoreError, StoreUnavailable
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
    conflict,
    decode_cursor,
    event_rows,
    head_texts,
    json_text,
    layout_version,
    projection_texts,
    put_head_texts,
    recorded_from_row,
)

__all__ = ["PostgresStore"]

_APPEND_LOCK = 0x6563_6F6D  # "ecom": the advisory lock that orders the events' INSERTs

LANDED_TIMEOUT = 30.0
"""Seconds to wait for a lost session's transaction to end before giving up on it."""

# The layouts PostgreSQL keeps: version 3's events also record the writing transaction.
PG_LAYOUTS: dict[int, dict[str, tuple[str, ...]]] = {
    **LAYOUTS,
    3: {**LAYOUTS[3], "events": (*LAYOUTS[3]["events"], "txid")},
}

_EVENTS = [
    # Identifiers and states compare byte by byte (COLLATE "C"): the order the memory
    # store's keyset uses, and prefix LIKE can use the indexes.
    """CREATE TABLE events (
        position BIGSERIAL PRIMARY KEY,
        tx_id TEXT COLLATE "C" NOT NULL,
        flow TEXT NOT NULL,
        flow_version INTEGER NOT NULL DEFAULT 1,
        version INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        trigger TEXT NOT NULL,
        stream TEXT NOT NULL,
        name TEXT NOT NULL,
        data JSONB NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        actor TEXT COLLATE "C",
        causation_id TEXT,
        correlation_id TEXT,
        txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        UNIQUE (tx_id, version, seq)
    )""",
    "CREATE INDEX events_by_stream ON events (stream, position)",
    "CREATE INDEX events_by_actor ON events (actor, tx_id) WHERE actor IS NOT NULL",
]
_TABLES_3 = [
    """CREATE TABLE transactions (
        tx_id TEXT COLLATE "C" PRIMARY KEY,
        flow TEXT COLLATE "C" NOT NULL,
        flow_version INTEGER NOT NULL,
        state TEXT COLLATE "C" NOT NULL,
        version INTEGER NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        summary JSONB NOT NULL
    )""",
    "CREATE INDEX transactions_by_state ON transactions (state, updated_at, tx_id)",
    "CREATE INDEX transactions_by_flow ON transactions (flow, state, updated_at, tx_id)",
    "CREATE INDEX transactions_by_update ON transactions (updated_at, tx_id)",
    """CREATE TABLE snapshots (
        tx_id TEXT COLLATE "C" PRIMARY KEY,
        flow_version INTEGER NOT NULL,
        version INTEGER NOT NULL,
        data JSONB NOT NULL
    )""",
    """CREATE TABLE projection_rows (
        projection TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        value JSONB NOT NULL,
        PRIMARY KEY (projection, kind, key)
    )""",
]
_SCHEMA = [
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    *_EVENTS,
    """CREATE TABLE idempotency (
        key TEXT PRIMARY KEY, tx_id TEXT NOT NULL, version INTEGER NOT NULL,
        trigger TEXT NOT NULL, fingerprint TEXT NOT NULL
    )""",
    "CREATE TABLE checkpoints (consumer TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    *_TABLES_3,
]
# The deadlines of timed transitions (see the SQLite store): a table beside schema
# version 3, created when a store is opened without it; found due by the due_at index.
_DEADLINES = [
    """CREATE TABLE IF NOT EXISTS deadlines (
        tx_id TEXT COLLATE "C" NOT NULL,
        trigger TEXT COLLATE "C" NOT NULL,
        due_at TIMESTAMPTZ NOT NULL,
        armed_version INTEGER NOT NULL,
        flow TEXT NOT NULL,
        claimed_by TEXT,
        claimed_until TIMESTAMPTZ,
        PRIMARY KEY (tx_id, trigger)
    )""",
    "CREATE INDEX IF NOT EXISTS deadlines_by_due ON deadlines (due_at)",
]
_DEADLINE_COLUMNS = "tx_id, trigger, due_at, armed_version, flow"
_DISARM = "disarmed AS (DELETE FROM deadlines WHERE tx_id = %s AND trigger = ANY(%s::text[]))"
_ARM = (
    "armed AS (INSERT INTO deadlines (tx_id, trigger, due_at, armed_version, flow) "
    "SELECT %s, a.trigger, a.due_at, a.armed_version, %s FROM unnest(%s::text[], "
    "%s::timestamptz[], %s::int[]) AS a (trigger, due_at, armed_version) "
    "ON CONFLICT (tx_id, trigger) DO UPDATE SET due_at = excluded.due_at, "
    "armed_version = excluded.armed_version, flow = excluded.flow, claimed_by = NULL, "
    "claimed_until = NULL)"
)


def _deadline_params(tx_id: str, flow: str, changes: DeadlineChanges) -> list[Any]:
    """Return the parameters of ``_DISARM`` then ``_ARM`` for ``changes``.

    A trigger re-armed is upserted by ``_ARM``, not deleted by ``_DISARM``.
    """
    armed = [d.trigger for d in changes.arm]
    return [
        tx_id,
        [t for t in changes.disarm if t not in armed],
        tx_id,
        flow,
        armed,
        [d.due_at for d in changes.arm],
        [d.armed_version for d in changes.arm],
    ]


_OLD = "position, tx_id, flow, version, seq, trigger, stream, name, data, occurred_at"
# Schema version 2 -> 3 (in the caller's transaction, under the lock): the events table
# is rebuilt without event_id and with the new columns (flow version 1, no metadata), the
# new tables are created and the current-state table is filled from the events, with the
# state unknown ("") until Repository.reindex() fills it in.
_MIGRATE_2_TO_3 = [
    f"CREATE TEMP TABLE ecomflow_events_2 ON COMMIT DROP AS SELECT {_OLD} FROM events",
    "DROP TABLE events",
    *_EVENTS,
    f"INSERT INTO events ({_OLD}) SELECT {_OLD} FROM ecomflow_events_2 ORDER BY position",
    "SELECT setval(pg_get_serial_sequence('events', 'position'), "
    "COALESCE(MAX(position), 0) + 1, false) FROM events",
    *_TABLES_3,
    """INSERT INTO transactions (tx_id, flow, flow_version, state, version, created_at,
            updated_at, summary)
        SELECT last.tx_id, last.flow, 1, '', last.version, first.occurred_at,
            last.occurred_at, '{}'::jsonb
        FROM (SELECT DISTINCT ON (tx_id) tx_id, flow, version, occurred_at FROM events
              ORDER BY tx_id, version DESC, seq DESC) AS last
        JOIN (SELECT DISTINCT ON (tx_id) tx_id, occurred_at FROM events
              ORDER BY tx_id, version, seq) AS first USING (tx_id)""",
]
_SUMMARY_COLUMNS = "tx_id, flow, flow_version, state, version, created_at, updated_at, summary"
# The events' columns as arrays, one parameter each whatever the batch's size (a VALUES
# list of 13 parameters per row stops at PostgreSQL's 65,535 parameters: ~5,000 events).
_EVENT_ARRAYS = (
    "unnest(%s::text[], %s::text[], %s::int[], %s::int[], %s::int[], %s::text[], "
    "%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::text[], "
    "%s::text[]) WITH ORDINALITY AS row (tx_id, flow, flow_version, version, seq, trigger, "
    "stream, name, data, occurred_at, actor, causation_id, correlation_id, n)"
)
_EVENT_SELECT = (
    "row.tx_id, row.flow, row.flow_version, row.version, row.seq, row.trigger, row.stream, "
    "row.name, row.data::jsonb, row.occurred_at, row.actor, row.causation_id, "
    "row.correlation_id"
)
_UPSERT_HEAD = (
    f"head AS (INSERT INTO transactions ({_SUMMARY_COLUMNS}) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT (tx_id) DO UPDATE "
    "SET flow_version = excluded.flow_version, state = excluded.state, "
    "version = excluded.version, updated_at = excluded.updated_at, "
    "summary = excluded.summary WHERE transactions.version = %s RETURNING 1)"
)
_UPSERT_SNAPSHOT = (
    "snapshot AS (INSERT INTO snapshots (tx_id, flow_version, version, data) "
    "VALUES (%s, %s, %s, %s::jsonb) ON CONFLICT (tx_id) DO UPDATE SET "
    "flow_version = excluded.flow_version, version = excluded.version, data = excluded.data)"
)
_INSERT_KEY = (
    "key AS (INSERT INTO idempotency (key, tx_id, version, trigger, fingerprint) "
    "VALUES (%s, %s, %s, %s, %s))"
)
# Only rows of transactions older than every one still running: gap-free by position.
_VISIBLE = "txid < pg_snapshot_xmin(pg_current_snapshot())"

T = TypeVar("T")


def _recorded(row: Sequence[Any]) -> Recorded:
    return recorded_from_row(row)


@final
class PostgresStore(EventStore):
    """An event store in the PostgreSQL database at ``dsn``.

    ``schema`` names the schema that holds the tables (created if missing; quoted, so
    any name works); ``None`` uses the connection's current schema (the first of its
    ``search_path``). Without ``pool_size`` each thread has a connection of its own;
    with it, threads share a :class:`psycopg_pool.ConnectionPool` of at most that many
    connections, checked before each use.

    Every operation runs in one database transaction through one method, which turns
    driver errors into :class:`StoreError`. When the server drops the session, the
    operation is retried once on a new connection where that is safe (a read, or a write
    that certainly did not commit; after a failed COMMIT the store asks the server how
    the lost transaction ended), then :class:`StoreUnavailable` is raised.
    """

    def __init__(
        self, dsn: str, *, schema: str | None = None, pool_size: int | None = None
    ) -> None:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - depends on the installation
            raise StoreError(
                "PostgreSQL needs psycopg 3: pip install 'ecomflow[postgres]'."
            ) from None
        if schema is not None and (
            not isinstance(schema, str) or not schema.strip() or "\x00" in schema
        ):
            raise StoreError(
                f"Cannot open PostgreSQL store in schema {schema!r}: name a schema (some "
                "text, without NUL bytes).",
                zh=f"无法在模式 {schema!r} 中打开 PostgreSQL 存储：请给出一个模式名（一段不含 NUL "
                "字节的文本）。",
            )
        if pool_size is not None and (type(pool_size) is not int or pool_size < 1):
            raise StoreError(
                f"Cannot open PostgreSQL store with pool_size={pool_size!r}: give a whole "
                "number of connections, at least 1.",
                zh=f"无法以 pool_size={pool_size!r} 打开 PostgreSQL 存储：请给出连接数，"
                "至少为 1 的整数。",
            )
        self._psycopg = psycopg
        self.dsn = dsn
        self.schema = schema
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._pool: Any = None
        try:
            if pool_size is not None:
                self._pool = self._open_pool(pool_size)
            self._migrate()
        except BaseException:
            self.close()
            raise

    # -- connections and the one way to run SQL -------------------------------------------

    def _open_pool(self, size: int) -> Any:
        try:
            from psycopg_pool import ConnectionPool
        except ImportError:  # pragma: no cover - depends on the installation
            raise StoreError(
                "A PostgreSQL connection pool needs psycopg_pool: pip install 'ecomflow[postgres]'."
            ) from None
        pool = ConnectionPool(
            self.dsn,
            min_size=1,
            max_size=size,
            open=True,
            configure=self._configure,
            check=ConnectionPool.check_connection,
            timeout=10.0,
            reconnect_timeout=10.0,
            name="ecomflow",
        )
        try:
            pool.wait(timeout=10.0)
        except self._psycopg.Error as error:
            pool.close()
            raise StoreUnavailable(
                f"Cannot connect to PostgreSQL store: {_text(error)}; check that the "
                "server runs and the DSN is right.",
                zh=f"无法连接 PostgreSQL 存储：{_text(error)}；请检查服务器在运行、DSN 正确。",
            ) from None
        return pool

    def _configure(self, db: Any) -> None:
        """Point a new connection at the store's schema (a committed SET)."""
        if self.schema is not None:
            from psycopg import sql

            db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            db.commit()

    def _connection(self) -> Any:
        """Return this thread's connection (without a pool), connecting when needed."""
        db = getattr(self._local, "db", None)
        if db is None or db.closed or db.broken:
            if db is not None:
                self._forget(db)
            db = None
            try:
                db = self._psycopg.connect(self.dsn)
                self._configure(db)
            except self._psycopg.Error as error:
                if db is not None:
                    db.close()
                raise StoreUnavailable(
                    f"Cannot connect to PostgreSQL store: {_text(error)}; check that the "
                    "server runs and the DSN is right.",
                    zh=f"无法连接 PostgreSQL 存储：{_text(error)}；请检查服务器在运行、DSN 正确。",
                ) from None
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def _acquire(self) -> Any:
        if self._pool is None:
            return self._connection()
        try:
            return self._pool.getconn()
        except self._psycopg.Error as error:
            raise StoreUnavailable(
                f"Cannot connect to PostgreSQL store: {_text(error)}; check that the "
                "server runs, the DSN is right and the pool is large enough.",
                zh=f"无法连接 PostgreSQL 存储：{_text(error)}；请检查服务器在运行、DSN 正确、"
                "连接池足够大。",
            ) from None

    def _release(self, db: Any) -> None:
        if self._pool is not None:
            with contextlib.suppress(Exception):
                self._pool.putconn(db)

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
        for attempt in (1, 2):
            db = self._acquire()
            held = [db]
            try:
                done, result = self._attempt(what, work, committed, db, held, attempt)
            finally:
                if held:
                    self._release(db)
            if done:
                return cast(T, result)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(
        self,
        what: str,
        work: Callable[[Any], T],
        committed: Callable[[Any], bool] | None,
        db: Any,
        held: list[Any],
        attempt: int,
    ) -> tuple[bool, Any]:
        """Run one attempt of :meth:`_run`: ``(True, result)``, or ``(False, None)`` to retry."""
        psycopg = self._psycopg

        def drop() -> None:
            self._forget(db)
            if held:
                held.clear()
                self._release(db)

        try:
            result = work(db)
        except psycopg.Error as error:
            if db.closed or db.broken:
                drop()
                if attempt == 1:
                    return False, None
                raise self._unavailable(what, error) from None
            self._rollback(db)
            raise StoreError(
                f"Cannot {what} PostgreSQL store: {_text(error)}.",
                zh=f"无法{operation_zh(what)} PostgreSQL 存储：{_text(error)}。",
            ) from None
        except BaseException:
            self._rollback(db)
            raise
        try:
            db.commit()
        except psycopg.Error as error:
            if not (db.closed or db.broken):
                self._rollback(db)
                raise StoreError(
                    f"Cannot {what} PostgreSQL store: {_text(error)}.",
                    zh=f"无法{operation_zh(what)} PostgreSQL 存储：{_text(error)}。",
                ) from None
            drop()
            if committed is not None:
                try:
                    landed = self._run("check what was written to", committed)
                except StoreUnavailable as unknown:
                    raise StoreUnavailable(
                        f"Cannot {what} PostgreSQL store: the session was lost during "
                        f"COMMIT ({_text(error)}), so it may have been written, and the "
                        f"store could not look ({unknown}). Reload before trying again.",
                        zh=f"无法{operation_zh(what)} PostgreSQL 存储：COMMIT 期间会话丢失"
                        f"（{_text(error)}），所以可能已经写入，而存储无法查看（{unknown}）。"
                        "请重新加载后再试。",
                    ) from None
                if landed:
                    return True, result
            if attempt == 1:
                return False, None
            raise self._unavailable(what, error) from None
        return True, result

    @staticmethod
    def _unavailable(what: str, error: Exception) -> StoreUnavailable:
        return StoreUnavailable(
            f"Cannot {what} PostgreSQL store: the server dropped the session twice "
            f"({_text(error)}); nothing was written. Check the server and try again.",
            zh=f"无法{operation_zh(what)} PostgreSQL 存储：服务器两次断开会话"
            f"（{_text(error)}）；没有写入任何内容。请检查服务器后再试。",
        )

    def _migrate(self) -> None:
        def current(db: Any) -> int:
            # One snapshot for the columns and the version, which are read by separate
            # statements: another process may migrate the store between them.
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            version = self._layout(db)
            timed = db.execute("SELECT to_regclass('deadlines')").fetchone()[0] is not None
            return version if timed else -1

        if self._run("open", current) == SCHEMA_VERSION:
            return

        def create(db: Any) -> None:
            # The lock older ecomflow processes take for every append: no append of
            # theirs runs while the tables change, and one process migrates at a time.
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK,))
            if self.schema is not None:
                from psycopg import sql

                db.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
            version = self._layout(db)  # again, under the lock
            if version == SCHEMA_VERSION:
                for statement in _DEADLINES:  # if an older ecomflow made the store
                    db.execute(statement)
                return
            if version == 0:
                for statement in (*_SCHEMA, *_DEADLINES):
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
                return
            if version == 1:
                for statement in MIGRATE_1_TO_2:
                    db.execute(statement)
            for statement in (*_MIGRATE_2_TO_3, *_DEADLINES):
                db.execute(statement)
            db.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))

        self._run("create the tables of", create)

    def _layout(self, db: Any) -> int:
        """Return the schema version in the store's schema (``0`` when empty), reading only."""
        names = list(LAYOUTS[SCHEMA_VERSION])
        schema = db.execute("SELECT COALESCE(%s, current_schema())", (self.schema,)).fetchone()[0]
        tables: dict[str, tuple[str, ...]] = {}
        for table, column in db.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = ANY(%s) "
            "ORDER BY table_name, ordinal_position",
            (schema, names),
        ).fetchall():
            tables[table] = (*tables.get(table, ()), column)
        if tables and "schema_version" not in tables:
            found = ", ".join(sorted(tables))
            raise StoreError(
                f"Cannot open the PostgreSQL store in schema {schema!r}: it already has "
                f"tables that ecomflow did not create ({found}). Give ecomflow a schema of "
                "its own: add ?schema=ecomflow to the URL (or pass "
                "PostgresStore(dsn, schema='ecomflow'))."
            )
        return layout_version(
            f"the PostgreSQL store in schema {schema!r}",
            tables,
            lambda: db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0],
            PG_LAYOUTS,
        )

    def close(self) -> None:
        """Close the connections of every thread, and the pool."""
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # -- writing --------------------------------------------------------------------------

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
        write, landed = self._prepare(
            flow, events, expected_version, idempotency_key, fingerprint, head
        )
        self._run("append to", write, committed=landed)

    def append_batch(self, appends: Sequence[Append]) -> list[ConcurrencyConflict | None]:
        """Append each of ``appends`` in one database transaction, each in a savepoint.

        One commit (one WAL flush) for them all; a stale expected version rolls back only
        its own append, whose :class:`ConcurrencyConflict` is returned in its place. If a
        conflict is found only by the unique key (another writer inserted the same
        version meanwhile), the whole batch is rolled back and appended one by one.
        """
        writes = [
            self._prepare(a.flow, a.events, a.expected_version, None, "", a.head)[0]
            for a in appends
        ]
        idle = self._psycopg.pq.TransactionStatus.IDLE

        def work(db: Any) -> list[ConcurrencyConflict | None]:
            results: list[ConcurrencyConflict | None] = []
            for write in writes:
                db.execute("SAVEPOINT append")
                try:
                    write(db)
                except ConcurrencyConflict as conflict:
                    if db.info.transaction_status == idle:  # rolled back whole: see below
                        raise _BatchBroken from None
                    db.execute("ROLLBACK TO SAVEPOINT append")
                    results.append(conflict)
                else:
                    results.append(None)
                db.execute("RELEASE SAVEPOINT append")
            return results

        try:
            # A COMMIT lost with the session is retried on a new connection: an append
            # that had landed is then refused by its expected version, never doubled.
            results: list[ConcurrencyConflict | None] = self._run("append to", work)
        except _BatchBroken:
            return super().append_batch(appends)
        return results

    def _prepare(
        self,
        flow: str,
        events: Sequence[Event],
        expected_version: int,
        idempotency_key: str | None,
        fingerprint: str,
        head: Head | None,
    ) -> tuple[Callable[[Any], None], Callable[[Any], bool]]:
        """Check an append and encode its rows; return ``(write, landed)`` for :meth:`_run`."""
        last = check_append(flow, events, expected_version, idempotency_key)
        rows = event_rows(flow, events, json_text, lambda time: time)  # psycopg adapts times
        tx_id, trigger = events[0].tx_id, events[-1].trigger
        summary, snapshot = head_texts(tx_id, head)  # refused before anything is written
        state = "" if head is None else head.state
        flow_version = events[-1].flow_version if head is None else head.flow_version
        changes = None if head is None else head.deadlines
        if changes is not None:
            check_deadline_changes(tx_id, changes)
        unique = self._psycopg.errors.UniqueViolation
        written: list[str] = []  # the xid of the transaction that inserted the events

        def write(db: Any) -> None:
            written.clear()
            # Reads first, in one statement: nothing before the INSERT below gives this
            # transaction an id. The key (if any), then the transaction's newest version.
            found = db.execute(
                "SELECT t.version, t.flow, k.tx_id, k.version, k.trigger, k.fingerprint "
                "FROM (SELECT 1) AS one LEFT JOIN transactions t ON t.tx_id = %s "
                "LEFT JOIN idempotency k ON k.key = %s",
                (tx_id, idempotency_key),
            ).fetchone()
            if idempotency_key is not None and found[2] is not None:
                used = KeyRecord(found[2], int(found[3]), found[4], found[5])
                raise check_key_use(idempotency_key, used, tx_id, trigger, fingerprint)
            newest = None if found[0] is None else (found[0], found[1])
            check_newest(tx_id, flow, expected_version, newest)
            try:
                written.append(self._insert(db, rows))
                # The other writes in one statement: the current-state row (only from the
                # expected version), the snapshot when one is due, the key.
                sql, params = (
                    [_UPSERT_HEAD],
                    [
                        tx_id,
                        flow,
                        flow_version,
                        state,
                        last,
                        events[0].occurred_at,
                        events[-1].occurred_at,
                        summary,
                        expected_version,
                    ],
                )
                if snapshot is not None:
                    sql.append(_UPSERT_SNAPSHOT)
                    params += [tx_id, flow_version, last, snapshot]
                if idempotency_key is not None:
                    sql.append(_INSERT_KEY)
                    params += [idempotency_key, tx_id, last, trigger, fingerprint]
                if changes:
                    assert changes is not None
                    sql += [_DISARM, _ARM]
                    params += _deadline_params(tx_id, flow, changes)
                changed = db.execute(
                    f"WITH {', '.join(sql)} SELECT count(*) FROM head", params
                ).fetchone()[0]
                if changed != 1:
                    raise conflict(tx_id, expected_version, self._version(db, tx_id))
            except unique as error:
                raise ConcurrencyConflict(
                    f"Another writer appended to transaction {tx_id!r} first ({_text(error)}).",
                    zh=f"另一个写入者先向交易 {tx_id!r} 追加了事件（{_text(error)}）。",
                ) from None

        def landed(db: Any) -> bool:
            """Whether these very events (and key) are stored: the COMMIT went through.

            The server knows how the lost session's transaction ended: wait (bounded)
            until it is no longer in progress, so that a late COMMIT is not read as "not
            landed" (the retry would then report its own events as a conflict).
            """
            if written:
                status = self._outcome(db, written[0])
                if status in ("committed", "aborted"):
                    return status == "committed"
            stored = db.execute(
                f"SELECT {READ_COLUMNS} FROM events WHERE tx_id = %s AND version > %s "
                "AND version <= %s ORDER BY version, seq",
                (tx_id, expected_version, last),
            ).fetchall()
            if [_same(_recorded(row).event) for row in stored] != [_same(e) for e in events]:
                return False
            if idempotency_key is None:
                return True
            return self._key(db, idempotency_key) == KeyRecord(tx_id, last, trigger, fingerprint)

        return write, landed

    def _insert(self, db: Any, rows: list[tuple[object, ...]]) -> str:
        """Insert the events' rows, the transaction's first write, under the append lock.

        The lock is a session lock held only for this INSERT: positions and transaction
        ids are assigned in one order, and the COMMIT that follows waits for nobody.
        Returns the transaction id (xid) that wrote the rows.
        """
        try:
            # One statement: the lock is taken before the first row is made (each row
            # joins it), so the positions and the transaction id are assigned under it,
            # in the events' order, and released once every row is in.
            xid: str = db.execute(
                f"WITH locked AS MATERIALIZED (SELECT pg_advisory_lock({_APPEND_LOCK})), "
                f"inserted AS (INSERT INTO events ({INSERT_COLUMNS}) SELECT {_EVENT_SELECT} "
                f"FROM locked, {_EVENT_ARRAYS} ORDER BY row.n RETURNING 1) "
                f"SELECT pg_current_xact_id()::text, pg_advisory_unlock({_APPEND_LOCK}) "
                "FROM (SELECT count(*) FROM inserted) AS done",
                [list(column) for column in zip(*rows, strict=True)],
            ).fetchone()[0]
        except BaseException:
            self._unlock(db)
            raise
        return xid

    def _unlock(self, db: Any) -> None:
        """Release the append lock after a failed INSERT; drop a session that can't."""
        if db.closed or db.broken:
            return  # the server released the lock with the session
        try:
            if db.info.transaction_status == self._psycopg.pq.TransactionStatus.INERROR:
                db.rollback()  # session locks outlive a rollback
            db.execute("SELECT pg_advisory_unlock_all()")  # no warning when not held
        except self._psycopg.Error:
            self._forget(db)  # closing the session releases the lock
            raise

    @staticmethod
    def _outcome(db: Any, xid: str) -> str | None:
        """Wait until transaction ``xid`` has ended; return its status (None if unknown)."""
        deadline = time.monotonic() + LANDED_TIMEOUT
        while True:
            status: str | None = db.execute("SELECT pg_xact_status(%s::xid8)", (xid,)).fetchone()[0]
            if status != "in progress":
                return status
            if time.monotonic() > deadline:
                raise StoreUnavailable(
                    f"The lost session's transaction {xid} was still in progress after "
                    f"{LANDED_TIMEOUT:.0f} s; whether it was written is not known yet."
                )
            time.sleep(0.02)

    @staticmethod
    def _version(db: Any, tx_id: str) -> int:
        row = db.execute("SELECT version FROM transactions WHERE tx_id = %s", (tx_id,)).fetchone()
        return -1 if row is None else int(row[0])

    def put_head(self, tx_id: str, version: int, head: Head) -> bool:
        """Write ``tx_id``'s current-state row from ``head`` if it is at ``version``.

        Safe to retry after a lost COMMIT: it writes the same values again.
        """
        summary, snapshot = put_head_texts(tx_id, version, head)
        changes = head.deadlines
        if changes is not None:
            check_deadline_changes(tx_id, changes)

        def write(db: Any) -> bool:
            row = db.execute(
                "UPDATE transactions SET flow_version = %s, state = %s, summary = %s::jsonb "
                "WHERE tx_id = %s AND version = %s RETURNING flow",
                (head.flow_version, head.state, summary, tx_id, version),
            ).fetchone()
            if row is not None and snapshot is not None:
                db.execute(
                    f"WITH {_UPSERT_SNAPSHOT} SELECT 1",
                    (tx_id, head.flow_version, version, snapshot),
                )
            if row is not None and changes:
                db.execute(
                    f"WITH {_DISARM}, {_ARM} SELECT 1", _deadline_params(tx_id, row[0], changes)
                )
            return row is not None

        return self._run("write to", write)

    # -- deadlines --------------------------------------------------------------------------

    def deadlines(self, tx_id: str | None = None) -> list[Deadline]:
        """Return the armed deadlines (of ``tx_id`` only, when given), soonest first."""
        if tx_id is not None and unstorable(tx_id):
            return []
        where, params = ("WHERE tx_id = %s", (tx_id,)) if tx_id is not None else ("", ())
        rows = self._query(
            f"SELECT {_DEADLINE_COLUMNS} FROM deadlines {where} ORDER BY due_at, tx_id, trigger",
            params,
        )
        return [_deadline(row) for row in rows]

    def due_deadlines(
        self,
        now: datetime,
        limit: int = 100,
        *,
        owner: str | None = None,
        lease: float = 0.0,
    ) -> list[Deadline]:
        """Return up to ``limit`` deadlines due at ``now``, soonest first (see EventStore).

        A range seek on ``deadlines_by_due``. With an ``owner`` the rows are claimed in
        one statement that locks them ``FOR UPDATE SKIP LOCKED``: two workers claiming at
        once get different rows, and neither waits for the other.
        """
        check_due_query(now, limit, owner, lease)
        if owner is None:
            rows = self._query(
                f"SELECT {_DEADLINE_COLUMNS} FROM deadlines WHERE due_at <= %s "
                "ORDER BY due_at LIMIT %s",
                (now, limit),
            )
        else:
            rows = self._run(
                "claim due deadlines in",
                lambda db: db.execute(
                    "UPDATE deadlines AS d SET claimed_by = %s, claimed_until = %s "
                    "FROM (SELECT tx_id, trigger FROM deadlines WHERE due_at <= %s AND "
                    "(claimed_until IS NULL OR claimed_until <= %s OR claimed_by = %s) "
                    "ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED) AS due "
                    "WHERE d.tx_id = due.tx_id AND d.trigger = due.trigger "
                    "RETURNING d.tx_id, d.trigger, d.due_at, d.armed_version, d.flow",
                    (owner, now + timedelta(seconds=lease), now, now, owner, limit),
                ).fetchall(),
            )
        found = [_deadline(row) for row in rows]
        return sorted(found, key=lambda d: (d.due_at, d.tx_id, d.trigger))

    def drop_deadline(self, deadline: Deadline) -> bool:
        """Delete ``deadline``'s row if it is still armed at its version."""
        if unstorable(deadline.tx_id) or unstorable(deadline.trigger):
            return False

        def write(db: Any) -> bool:
            gone = db.execute(
                "DELETE FROM deadlines WHERE tx_id = %s AND trigger = %s AND armed_version = %s",
                (deadline.tx_id, deadline.trigger, deadline.armed_version),
            ).rowcount
            return bool(gone == 1)

        return self._run("write to", write)

    def release_deadline(self, deadline: Deadline, owner: str) -> bool:
        """End ``owner``'s claim on ``deadline``'s row now; return whether it held one."""
        if unstorable(deadline.tx_id) or unstorable(deadline.trigger) or unstorable(owner):
            return False

        def write(db: Any) -> bool:
            freed = db.execute(
                "UPDATE deadlines SET claimed_by = NULL, claimed_until = NULL "
                "WHERE tx_id = %s AND trigger = %s AND claimed_by = %s",
                (deadline.tx_id, deadline.trigger, owner),
            ).rowcount
            return bool(freed == 1)

        return self._run("write to", write)

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

    def save_projection(
        self,
        projection: str,
        expected: int,
        position: int,
        changes: Mapping[tuple[str, str], Mapping[str, Any] | None],
    ) -> None:
        """Write a durable projection's changes and checkpoint at once (see EventStore)."""
        rows = projection_texts(projection, changes)  # refused before anything is written
        upserts = [(projection, kind, key, text) for kind, key, text in rows if text is not None]
        deletes = [(projection, kind, key) for kind, key, text in rows if text is None]

        def write(db: Any) -> None:
            # Moving the checkpoint first locks its row: a rival waits, then finds it moved.
            moved = db.execute(
                "UPDATE checkpoints SET position = %s WHERE consumer = %s AND position = %s",
                (position, projection, expected),
            ).rowcount
            if moved == 0 and expected == 0:
                moved = db.execute(
                    "INSERT INTO checkpoints (consumer, position) VALUES (%s, %s) "
                    "ON CONFLICT (consumer) DO NOTHING",
                    (projection, position),
                ).rowcount
            if moved != 1:
                row = db.execute(
                    "SELECT position FROM checkpoints WHERE consumer = %s", (projection,)
                ).fetchone()
                stored = 0 if row is None else int(row[0])
                raise ConcurrencyConflict(
                    f"Projection {projection!r} is at position {stored}, not {expected} as "
                    "expected: another process moved it; load it again."
                )
            with db.cursor() as cursor:
                if deletes:
                    cursor.executemany(
                        "DELETE FROM projection_rows WHERE projection = %s AND kind = %s "
                        "AND key = %s",
                        deletes,
                    )
                if upserts:
                    cursor.executemany(
                        "INSERT INTO projection_rows (projection, kind, key, value) "
                        "VALUES (%s, %s, %s, %s::jsonb) ON CONFLICT (projection, kind, key) "
                        "DO UPDATE SET value = excluded.value",
                        upserts,
                    )

        self._run("save a projection in", write)

    def reset_projection(self, projection: str) -> None:
        """Delete ``projection``'s rows and checkpoint."""
        if unstorable(projection):
            return

        def write(db: Any) -> None:
            db.execute("DELETE FROM projection_rows WHERE projection = %s", (projection,))
            db.execute("DELETE FROM checkpoints WHERE consumer = %s", (projection,))

        self._run("reset a projection in", write)

    # -- reading --------------------------------------------------------------------------

    def load(self, tx_id: str) -> tuple[str, list[Event]]:
        """Return ``(flow, events)`` of ``tx_id``; KeyError if unknown."""
        if unstorable(tx_id):  # PostgreSQL text cannot hold it, and no store keeps one
            raise KeyError(tx_id)
        rows = self._query(
            f"SELECT {READ_COLUMNS} FROM events WHERE tx_id = %s ORDER BY version, seq", (tx_id,)
        )
        if not rows:
            raise KeyError(tx_id)
        recorded = [_recorded(row) for row in rows]
        return recorded[0].flow, [r.event for r in recorded]

    def load_latest(self, tx_id: str) -> Latest:
        """Return ``tx_id``'s newest snapshot and the events after it; KeyError if unknown."""
        if unstorable(tx_id):
            raise KeyError(tx_id)

        def read(db: Any) -> Latest | None:
            # The snapshot first, then the events after it: events only ever grow, so
            # the second read holds at least every version after the snapshot.
            head = db.execute(
                "SELECT t.flow, s.version, s.flow_version, s.data FROM transactions t "
                "LEFT JOIN snapshots s ON s.tx_id = t.tx_id WHERE t.tx_id = %s",
                (tx_id,),
            ).fetchone()
            if head is None:
                return None
            flow, version, flow_version, data = head
            snapshot = None if version is None else Snapshot(int(version), int(flow_version), data)
            rows = db.execute(
                f"SELECT {READ_COLUMNS} FROM events WHERE tx_id = %s AND version > %s "
                "ORDER BY version, seq",
                (tx_id, -1 if snapshot is None else snapshot.version),
            ).fetchall()
            return Latest(flow, snapshot, [_recorded(row).event for row in rows])

        latest = self._run("read from", read)
        if latest is None:
            raise KeyError(tx_id)
        return latest

    def find(self, query: Query) -> list[Summary]:
        """Return one page of transactions matching ``query``: an index seek, keyset-paged."""
        check_query(query)
        if any(
            text is not None and unstorable(text) for text in (query.flow, query.state, query.actor)
        ):
            return []  # no store holds such a string (and PostgreSQL text cannot take it)
        where: list[str] = ["TRUE"]
        params: list[Any] = []
        if query.flow is not None:
            where.append("flow = %s")
            params.append(query.flow)
        if query.updated_after is not None:
            where.append("updated_at > %s")
            params.append(query.updated_after)
        if query.updated_before is not None:
            where.append("updated_at < %s")
            params.append(query.updated_before)
        if query.actor is not None:
            where.append("EXISTS (SELECT 1 FROM events e WHERE e.actor = %s AND e.tx_id = t.tx_id)")
            params.append(query.actor)
        if query.after is not None:
            where.append("(updated_at, tx_id) > (%s, %s)")
            params.extend(decode_cursor(query.after))
        order = f"ORDER BY updated_at, tx_id LIMIT {query.limit}"

        def branch(condition: str) -> str:
            return (
                f"(SELECT {_SUMMARY_COLUMNS} FROM transactions t WHERE "
                f"{' AND '.join([*where, condition])} {order})"
            )

        if query.state is None:
            sql, args = branch("TRUE"), params
        elif query.state == "":
            sql, args = branch("state = ''"), params
        else:
            # The state itself (an index seek in time order) and the states inside it
            # (a prefix range), merged.
            prefix = _like(query.state) + ".%"
            sql = f"{branch('state = %s')} UNION ALL {branch('state LIKE %s')} {order}"
            args = [*params, query.state, *params, prefix]
        rows = self._query(sql, args)
        return [
            Summary(tx, flow, int(fv), state, int(v), created, updated, summary)
            for tx, flow, fv, state, v, created, updated, summary in rows
        ]

    def projection_rows(
        self, projection: str, kind: str, key: str | None = None
    ) -> dict[str, Mapping[str, Any]]:
        """Return ``projection``'s rows of ``kind`` by key (only ``key``'s when given)."""
        if unstorable(projection) or unstorable(kind) or (key is not None and unstorable(key)):
            return {}
        sql = "SELECT key, value FROM projection_rows WHERE projection = %s AND kind = %s"
        params: list[Any] = [projection, kind]
        if key is not None:
            sql += " AND key = %s"
            params.append(key)
        return dict(self._query(sql + " ORDER BY key", params))

    def version(self, tx_id: str) -> int:
        """Return the stored version of ``tx_id`` (``-1`` if none)."""
        if unstorable(tx_id):
            return -1
        return self._run("read from", lambda db: self._version(db, tx_id))

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
        """Return up to ``limit`` events after position ``after``, never skipping one.

        Only events of transactions older than every transaction still running in the
        database are returned: an event that commits late at an earlier position is
        never passed over (a long transaction elsewhere holds readers back meanwhile).
        """
        wanted = check_read(after, streams, limit)
        if wanted is not None and not wanted:
            return []
        if wanted is None:
            rows = self._query(
                f"SELECT {READ_COLUMNS} FROM events WHERE position > %s AND {_VISIBLE} "
                "ORDER BY position LIMIT %s",
                (after, limit),
            )
        else:
            names = sorted(stream.value for stream in wanted)
            rows = self._query(
                f"SELECT {READ_COLUMNS} FROM events WHERE position > %s AND {_VISIBLE} "
                "AND stream = ANY(%s) ORDER BY position LIMIT %s",
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


class _BatchBroken(Exception):
    """A batch's transaction was rolled back whole (a unique-key conflict): append singly."""


def _deadline(row: Sequence[Any]) -> Deadline:
    """Return the :class:`Deadline` a row of the deadlines table holds."""
    tx_id, trigger, due_at, armed_version, flow = row
    return Deadline(tx_id, trigger, due_at.astimezone(timezone.utc), int(armed_version), flow)


def _like(text: str) -> str:
    """Return ``text`` as a LIKE pattern that matches only itself."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _same(event: Event) -> tuple[object, ...]:
    """Return what makes two events the same, whatever mapping type holds their data."""
    return (
        event.event_id,
        event.trigger,
        event.stream,
        event.name,
        json_text(event.data),
        event.occurred_at,
        event.actor,
        event.causation_id,
        event.correlation_id,
        event.flow_version,
    )


def _text(error: BaseException) -> str:
    """Return a driver error's message on one line, without a trailing period."""
    return " ".join(str(error).split()).rstrip(".") or type(error).__name__
