"""Only ecomflow's own errors leave a store: locks, files that cannot be a store, lost
PostgreSQL sessions, old schemas (migrated) and any other driver error."""

import multiprocessing
import os
import shutil
import sqlite3
import tempfile

import attrs
import pytest

from ecomflow import (
    FLOWS,
    ConcurrencyConflict,
    IdempotencyMismatch,
    Money,
    StoreError,
    StoreUnavailable,
)
from ecomflow.store import PostgresStore, Repository, SQLiteStore
from tests.sqlite_old import downgrade, downgrade_postgres
from tests.test_store_trust import APPROVAL, card_sale
from tests.toy import COUNTER

FLOWS_HERE = {**FLOWS, "counter": COUNTER}


def _counter(store, tx_id="C-1", bumps=1):
    events = list(COUNTER.start(tx_id).events)
    store.append("counter", events, -1)
    tx = COUNTER.replay(events)
    for _ in range(bumps):
        before = len(tx.events)
        tx.fire("bump")
        store.append("counter", tx.events[before:], tx.version - 1)
    return tx


# -- SQLite: opening -----------------------------------------------------------------------


def test_a_current_sqlite_store_opens_while_another_connection_holds_the_write_lock(tmp_path):
    path = tmp_path / "shop.db"
    with SQLiteStore(path) as store:
        _counter(store)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with SQLiteStore(path, timeout=0.5) as store:  # opening only reads
            assert store.version("C-1") == 1
            assert [e.name for e in store.load("C-1")[1]][-2:] == ["bumped", "echo"]
            tx = COUNTER.replay(store.load("C-1")[1])
            tx.fire("bump")
            with pytest.raises(StoreError, match="busy timeout") as info:
                store.append("counter", tx.events[-2:], 1)  # a write waits, then says why
            assert not isinstance(info.value, ConcurrencyConflict)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with SQLiteStore(path) as store:
        assert store.version("C-1") == 1


def test_a_file_that_is_not_a_database_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"shopping list: tea, cups, a kettle\n" * 200)
    with pytest.raises(StoreError, match="not an ecomflow SQLite store .*choose another file"):
        SQLiteStore(path)
    assert path.read_bytes().startswith(b"shopping list")


def test_a_folder_or_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(StoreError, match="it is a folder"):
        SQLiteStore(tmp_path)
    with pytest.raises(StoreError, match="does not exist; create it first"):
        SQLiteStore(tmp_path / "nowhere" / "shop.db")


def _open_as_nobody(path, results):
    """In a child process: drop root's rights if we have them, then open the store."""
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)
    try:
        with SQLiteStore(path) as store:
            results.put(("opened", store.version("C-1")))
    except StoreError as error:
        results.put(("StoreError", str(error)))
    except Exception as error:  # anything else is what this test is about
        results.put((type(error).__module__ + "." + type(error).__qualname__, str(error)))


@pytest.mark.parametrize("read_only", ["file", "folder"])
def test_a_read_only_file_or_folder_is_refused_with_what_to_do(read_only):
    folder = tempfile.mkdtemp(prefix="ecomflow-ro-", dir="/tmp")
    try:
        path = os.path.join(folder, "shop.db")
        with SQLiteStore(path) as store:
            _counter(store)
        for name in os.listdir(folder):
            os.chmod(os.path.join(folder, name), 0o444 if read_only == "file" else 0o666)
        os.chmod(folder, 0o777 if read_only == "file" else 0o555)
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        child = context.Process(target=_open_as_nobody, args=(path, results))
        child.start()
        kind, message = results.get(timeout=30)
        child.join(timeout=30)
        assert kind == "StoreError", (kind, message)
        assert f"the {read_only}" in message and "is read-only" in message
        assert "make both writable or copy the file somewhere writable" in message
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(folder)


V1_SQLITE = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE events (
    position INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
    tx_id TEXT NOT NULL, flow TEXT NOT NULL, version INTEGER NOT NULL, seq INTEGER NOT NULL,
    trigger TEXT NOT NULL, stream TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
    UNIQUE (tx_id, version, seq)
);
CREATE TABLE idempotency (key TEXT PRIMARY KEY, tx_id TEXT NOT NULL, version INTEGER NOT NULL);
CREATE TABLE checkpoints (consumer TEXT PRIMARY KEY, position INTEGER NOT NULL);
"""


def test_an_older_table_layout_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "old.db"
    raw = sqlite3.connect(path)
    raw.executescript(V1_SQLITE)  # version 1, but its events table lacks occurred_at
    raw.close()
    with pytest.raises(StoreError, match="not the layout of ecomflow schema version 1") as info:
        SQLiteStore(path)
    assert "events(position, event_id" in str(info.value)
    assert "export its events and open a new store" in str(info.value)


SHOP_EVENTS = "CREATE TABLE events (id INTEGER PRIMARY KEY, title TEXT, starts_on TEXT)"


def test_a_shops_own_events_table_in_sqlite_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "shop.db"
    raw = sqlite3.connect(path)
    raw.execute(SHOP_EVENTS)
    raw.execute("INSERT INTO events (title) VALUES ('spring sale')")
    raw.commit()
    with pytest.raises(StoreError, match="tables that ecomflow did not create") as info:
        SQLiteStore(path)
    assert "events(id, title, starts_on)" in str(info.value)
    assert raw.execute("SELECT title FROM events").fetchall() == [("spring sale",)]
    tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"events"}  # nothing was created beside it
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # nor changed
    raw.close()


def test_a_shops_own_events_table_in_postgresql_is_refused(pg_dsn):
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as raw:
        raw.execute(SHOP_EVENTS.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"))
        with pytest.raises(StoreError, match="tables that ecomflow did not create"):
            PostgresStore(pg_dsn)
        names = raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        assert names == [("events",)]


# -- schema version 1 is migrated -----------------------------------------------------------


def _downgrade(location):
    """Turn a current store into what ecomflow with schema version 1 wrote.

    ``location`` is the SQLite file's path, or the PostgreSQL DSN (a ``str``): the
    tables are rebuilt with the old DDL, keeping events, keys and checkpoints.
    """
    if isinstance(location, str):
        downgrade_postgres(location, 1)
    else:
        downgrade(location, 1)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_store_of_schema_version_1_is_migrated_and_its_keys_still_work(
    backend, tmp_path, request
):
    if backend == "sqlite":
        path = tmp_path / "v1.db"

        def make():
            return SQLiteStore(path)

        def columns():
            raw = sqlite3.connect(path)
            found = [row[1] for row in raw.execute("PRAGMA table_info(idempotency)")]
            raw.close()
            return found

    else:
        import psycopg

        dsn = request.getfixturevalue("pg_dsn")

        def make():
            return PostgresStore(dsn)

        def columns():
            with psycopg.connect(dsn) as raw:
                rows = raw.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "current_schema() AND table_name = 'idempotency' ORDER BY ordinal_position"
                ).fetchall()
            return [row[0] for row in rows]

    with make() as store:
        repo = Repository(store, FLOWS_HERE)
        card_sale(repo, "A-1")
        first = repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **APPROVAL)
    _downgrade(path if backend == "sqlite" else dsn)
    assert columns() == ["key", "tx_id", "version"]
    # What schema version 1 kept of the first outcome: no causation or correlation.
    first = tuple(attrs.evolve(e, causation_id=None, correlation_id=None) for e in first)
    with make() as store:
        assert columns() == ["key", "tx_id", "version", "trigger", "fingerprint"]
        recorded = store.find_idempotency_key("gw-1")
        assert (recorded.tx_id, recorded.version, recorded.trigger, recorded.fingerprint) == (
            "A-1",
            3,
            "approve_payment",
            "",
        )
        repo = Repository(store, FLOWS_HERE)
        assert repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **APPROVAL) == first
        other = {**APPROVAL, "amount": Money("11", "CNY")}
        with pytest.raises(IdempotencyMismatch, match="a different payload"):
            repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **other)
        assert store.version("A-1") == 3
    with make() as store:  # and the next opening finds it current
        assert store.find_idempotency_key("gw-1").trigger == "approve_payment"


# -- any other driver error -----------------------------------------------------------------

CALLS = {
    "load": lambda s: s.load("C-1"),
    "read": lambda s: s.read(),
    "version": lambda s: s.version("C-1"),
    "find_idempotency_key": lambda s: s.find_idempotency_key("k"),
    "checkpoint": lambda s: s.checkpoint("ledger"),
    "save_checkpoint": lambda s: s.save_checkpoint("ledger", 1),
    "append": lambda s: s.append("counter", list(COUNTER.start("C-2").events), -1),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_any_other_sqlite_error_is_a_store_error(tmp_path, call):
    path = tmp_path / "shop.db"
    with SQLiteStore(path) as store:
        _counter(store)
        raw = sqlite3.connect(path)
        raw.executescript(
            "DROP TABLE events; DROP TABLE idempotency; DROP TABLE checkpoints; "
            "DROP TABLE transactions;"
        )
        raw.close()
        with pytest.raises(StoreError, match="SQLite store .*no such table") as info:
            CALLS[call](store)
        assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("call", sorted(CALLS))
def test_any_other_postgres_error_is_a_store_error(pg_dsn, call):
    import psycopg

    with PostgresStore(pg_dsn) as store:
        _counter(store)
        with psycopg.connect(pg_dsn, autocommit=True) as raw:
            raw.execute("DROP TABLE events, idempotency, checkpoints, transactions")
        with pytest.raises(StoreError, match="PostgreSQL store: .*does not exist") as info:
            CALLS[call](store)
        assert not isinstance(info.value, StoreUnavailable)
        assert info.value.__suppress_context__


# -- PostgreSQL: a lost session ---------------------------------------------------------------


def _terminate(pg_dsn, store):
    import psycopg

    pid = store._connection().info.backend_pid
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    return pid


@pytest.mark.parametrize("call", ["load", "read", "version", "checkpoint", "append", "save"])
def test_a_dropped_postgres_session_is_reconnected_once(pg_dsn, call):
    with PostgresStore(pg_dsn) as store:
        tx = _counter(store)
        old = _terminate(pg_dsn, store)
        if call == "append":
            before = len(tx.events)
            tx.fire("bump")
            store.append("counter", tx.events[before:], 1)
            assert store.version("C-1") == 2
        elif call == "save":
            store.save_checkpoint("ledger", 4)
            assert store.checkpoint("ledger") == 4
        else:
            assert getattr(store, call)(*(() if call == "read" else ("C-1",))) is not None
        assert store._connection().info.backend_pid != old


def test_a_postgres_store_that_cannot_reconnect_is_unavailable(pg_dsn):
    with PostgresStore(pg_dsn) as store:
        tx = _counter(store)
        store.dsn = "postgresql://127.0.0.1:1/test?connect_timeout=2"  # the server is gone
        _terminate(pg_dsn, store)
        with pytest.raises(StoreUnavailable, match="Cannot connect to PostgreSQL store"):
            store.load("C-1")
        before = len(tx.events)
        tx.fire("bump")
        with pytest.raises(StoreUnavailable):
            store.append("counter", tx.events[before:], 1)
    with PostgresStore(pg_dsn) as store:
        assert store.version("C-1") == 1


@pytest.mark.parametrize("landed", [False, True], ids=["lost-before-commit", "lost-after-commit"])
def test_a_failed_commit_is_checked_not_guessed(pg_dsn, landed):
    """COMMIT failing with the session is ambiguous: the store looks whether it landed."""
    import psycopg

    with PostgresStore(pg_dsn) as store:
        tx = _counter(store)
        db = store._connection()
        real_commit, commits = db.commit, []

        def commit():
            commits.append(1)
            if len(commits) > 1:
                return real_commit()
            if landed:
                real_commit()
                db.close()  # the acknowledgement is lost with the session
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            _terminate(pg_dsn, store)
            return real_commit()  # fails: the session is gone, nothing was committed

        db.commit = commit
        before = len(tx.events)
        tx.fire("bump")
        store.append("counter", tx.events[before:], 1)  # neither an error nor twice
        _, events = store.load("C-1")
        assert [e.version for e in events] == [0, 1, 1, 2, 2]
        assert commits == [1]  # the patched connection was dropped after its failed COMMIT
        assert store._connection() is not db
