"""Review of issue 10's store part: races the first round of tests did not pin."""

import json
import multiprocessing
import os
import shutil
import sqlite3
import tempfile
import threading
import time

import attrs
import psycopg
import pytest

from ecomflow import (
    FLOWS,
    IdempotencyMismatch,
    InvalidPayload,
    Money,
    StoreError,
    StoreUnavailable,
)
from ecomflow.store import PostgresStore, Repository, SQLiteStore, open_store
from tests.test_store_errors import _counter, _downgrade
from tests.test_store_trust import card_sale
from tests.toy import COUNTER


class _LaggingSession:
    """A connection whose COMMIT reaches the server but whose acknowledgement is late.

    The client sees the session drop while the server is still committing: the COMMIT
    lands a moment after the client gave up on it.
    """

    def __init__(self, real, delay):
        self._real, self._delay, self.broken, self.closed = real, delay, False, False
        self.committer = None

    def __getattr__(self, name):
        return getattr(self._real, name)

    def commit(self):
        def late():
            time.sleep(self._delay)
            self._real.commit()
            self._real.close()

        self.committer = threading.Thread(target=late)
        self.committer.start()
        self.broken = True
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    def close(self):
        pass  # the old session goes on until its COMMIT is through


def test_a_commit_that_lands_after_the_client_gave_up_is_not_reported_as_a_conflict(pg_dsn):
    with PostgresStore(pg_dsn) as store:
        tx = _counter(store)
        lagging = _LaggingSession(store._connection(), delay=0.5)
        store._local.db = lagging
        before = len(tx.events)
        tx.fire("bump")
        # The append landed; the store must say so, not raise ConcurrencyConflict (a
        # Repository would then fire the command again and apply it twice).
        store.append("counter", tx.events[before:], 1)
        lagging.committer.join(timeout=10)
        assert [e.version for e in store.load("C-1")[1]] == [0, 1, 1, 2, 2]


class _Hooked:
    """A connection that runs ``hook`` once, right after the first statement holding ``after``."""

    def __init__(self, real, after, hook):
        self._real, self._after, self._hook = real, after, hook

    def __getattr__(self, name):
        return getattr(self._real, name)

    def execute(self, sql, *args):
        result = self._real.execute(sql, *args)
        if self._hook is not None and self._after in sql:
            hook, self._hook = self._hook, None
            hook()
        return result


def _open_while_another_migrates(monkeypatch, cls, after, make, location):
    """Open a store of schema version 1 while another process migrates it to 3 between
    the opener's reads of the table layout and of the schema version."""
    with make() as store:
        _counter(store)
    _downgrade(location)
    real = cls._connection
    hooks = [lambda: make().close()]  # the other process: opens, so migrates, the store

    def connection(self):
        db = real(self)
        if hooks:
            return _Hooked(db, after, hooks.pop())
        return db

    monkeypatch.setattr(cls, "_connection", connection)
    with make() as store:  # no "not the layout of ecomflow schema version 2"
        assert not hooks and store.version("C-1") == 1
        assert store.find_idempotency_key("none") is None


def test_a_sqlite_store_opened_while_another_process_migrates_it_opens(tmp_path, monkeypatch):
    path = tmp_path / "v1.db"
    _open_while_another_migrates(
        monkeypatch, SQLiteStore, "table_info(idempotency)", lambda: SQLiteStore(path), path
    )


def test_a_postgres_store_opened_while_another_process_migrates_it_opens(pg_dsn, monkeypatch):
    _open_while_another_migrates(
        monkeypatch, PostgresStore, "information_schema", lambda: PostgresStore(pg_dsn), pg_dsn
    )


def test_a_new_sqlite_store_opens_while_another_process_creates_it_too(tmp_path):
    """Two processes creating one store at once: while one holds the new file's write
    lock, the other's switch to WAL fails at once with "database is locked" (SQLite
    does not wait there) or silently keeps the old journal mode; it must wait, as for
    any write lock, and the store must end up in WAL."""
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("ROLLBACK"))
    release.start()
    try:
        with SQLiteStore(path, timeout=5) as store:
            _counter(store)
            assert store.version("C-1") == 1
        release.join()
        fresh = sqlite3.connect(path)
        assert fresh.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        fresh.close()
    finally:
        release.cancel()
        other.close()


LONE_SURROGATE = json.loads('"Li \\ud800"')  # valid JSON, not valid Unicode text


def test_a_lone_surrogate_is_refused_like_a_nul_byte_by_every_store(store):
    repo = Repository(store, {**FLOWS, "counter": COUNTER})
    repo.start("direct-sale", "A-1", merchant="Tea House")
    fill = dict(address="Beijing", goods_name="tea", quantity=1, specification="tin")
    with pytest.raises(InvalidPayload, match="customer_name.*lone surrogate"):
        repo.execute(
            "A-1", "fill_order", customer_name=LONE_SURROGATE, unit_price=Money("1", "CNY"), **fill
        )
    with pytest.raises(InvalidPayload, match="transaction to start given holds a lone surrogate"):
        repo.start("direct-sale", "A-\ud800", merchant="Tea House")
    with pytest.raises(InvalidPayload, match="idempotency key"):
        repo.execute("A-1", "cancel", idempotency_key="k-\ud800")
    with pytest.raises(InvalidPayload, match="checkpoint name"):
        store.save_checkpoint("ledger-\ud800", 1)
    event = attrs.evolve(COUNTER.start("C-1").events[0], data={"owner": LONE_SURROGATE})
    with pytest.raises(InvalidPayload, match="'owner'"):
        store.append("counter", [event], -1)
    assert store.version("A-1") == 0 and len(store.read()) == 1
    # looked up, such a value finds nothing, as a NUL byte does
    with pytest.raises(KeyError):
        store.load("A-\ud800")
    assert store.version("A-\ud800") == -1
    assert store.find_idempotency_key("k-\ud800") is None
    assert store.checkpoint("ledger-\ud800") == 0


def _open_in_a_folder_we_cannot_enter(path, create, results):
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)
    try:
        open_store(f"sqlite:///{path}", create=create).close()
        results.put(("opened", ""))
    except StoreError as error:
        results.put(("StoreError", str(error)))
    except Exception as error:  # a raw error is what this test is about
        results.put((type(error).__module__ + "." + type(error).__qualname__, str(error)))


@pytest.mark.parametrize("create", [True, False], ids=["create", "existing-only"])
def test_a_store_in_a_folder_we_may_not_enter_is_a_store_error(create):
    folder = tempfile.mkdtemp(prefix="ecomflow-private-", dir="/tmp")
    private = os.path.join(folder, "private")
    os.mkdir(private)
    try:
        os.chmod(folder, 0o777)
        os.chmod(private, 0o000)
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        path = os.path.join(private, "shop.db")
        child = context.Process(
            target=_open_in_a_folder_we_cannot_enter, args=(path, create, results)
        )
        child.start()
        kind, message = results.get(timeout=30)
        child.join(timeout=30)
        assert kind == "StoreError", (kind, message)
        assert "Permission denied" in message and repr(private) in message
    finally:
        os.chmod(private, 0o755)
        shutil.rmtree(folder)


def test_an_append_whose_commit_cannot_be_checked_does_not_claim_nothing_was_written(pg_dsn):
    """COMMIT lost with the session, and the server unreachable when the store looks
    whether it landed: the append may well be stored, so the error must not say that
    nothing was written (a caller would send the command again and apply it twice)."""
    with PostgresStore(pg_dsn) as store:
        tx = _counter(store)
        db = store._connection()
        real_commit = db.commit

        def commit():
            real_commit()  # it landed
            db.close()
            store.dsn = "postgresql://127.0.0.1:1/test?connect_timeout=2"  # the server is gone
            raise psycopg.OperationalError("server closed the connection unexpectedly")

        db.commit = commit
        before = len(tx.events)
        tx.fire("bump")
        with pytest.raises(StoreUnavailable) as info:
            store.append("counter", tx.events[before:], 1)
        assert "nothing was written" not in str(info.value)
        assert "may have been written" in str(info.value)
        store.dsn = pg_dsn
        assert store.version("C-1") == 2


def test_a_key_written_by_a_schema_1_process_after_the_migration_still_replays(tmp_path):
    """A rolling upgrade: a process still running the schema-1 code writes its key
    with the 3-column INSERT it knows, after another process migrated the file; the
    key's trigger is then '' and the repository must read it from the events."""
    path = tmp_path / "shop.db"
    approval = {"amount": Money("10", "CNY"), "reference": "AUTH-1"}
    SQLiteStore(path).close()
    _downgrade(path)  # a store of schema version 1 ...
    with SQLiteStore(path) as store:  # ... that a new process migrates
        repo = Repository(store, FLOWS)
        card_sale(repo, "A-1")
        first = repo.execute("A-1", "approve_payment", **approval)  # as the old process did
        raw = sqlite3.connect(path)
        raw.execute("INSERT INTO idempotency (key, tx_id, version) VALUES ('gw-1', 'A-1', 3)")
        raw.commit()
        raw.close()
        assert repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **approval) == first
        with pytest.raises(IdempotencyMismatch, match="not for trigger 'dispatch'"):
            repo.execute("A-1", "dispatch", idempotency_key="gw-1")
        other = {**approval, "amount": Money("11", "CNY")}
        with pytest.raises(IdempotencyMismatch, match="a different payload"):
            repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **other)
        assert store.version("A-1") == 3
