"""PostgreSQL store, schema version 3 (issue 11): current-state table, find, snapshots,
durable projection rows, schema option, no global append lock, connection pool."""

import multiprocessing
import os
import signal
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from ecomflow import ConcurrencyConflict, Event, StoreError, Stream
from ecomflow.store import MemoryStore, PostgresStore, open_store
from ecomflow.store._base import Head, Query
from ecomflow.store._postgres import _APPEND_LOCK
from tests.sqlite_old import PG_V2_SCHEMA
from tests.toy import COUNTER

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)


def _events(tx_id, first, count, *, at=T0, actor=None, flow_version=1):
    """One event per version from ``first``, an hour apart from ``at``."""
    return [
        Event(
            tx_id,
            version,
            0,
            "begin" if version == 0 else "step",
            Stream.INFORMATION,
            "stepped",
            {"n": version},
            at + timedelta(hours=version - first),
            actor,
            f"cmd-{tx_id}-{version}",
            f"corr-{tx_id}",
            flow_version,
        )
        for version in range(first, first + count)
    ]


def _fill(store):
    """The same transactions in every store: flows, states inside states, actors, times."""
    plan = [
        ("T-1", "sale", "pending", 3, None),
        ("T-2", "sale", "performance", 1, "buyer"),
        ("T-3", "sale", "performance.delivery", 2, "seller"),
        ("T-4", "b2b", "performance.payment", 1, "buyer"),
        ("T-5", "b2b", "", 2, None),
        ("T-6", "sale", "performanceX", 1, None),
        ("T-7", "sale", "pending", 2, "buyer"),
    ]
    for i, (tx_id, flow, state, count, actor) in enumerate(plan):
        at = T0 + timedelta(minutes=i)
        events = _events(tx_id, 0, count, at=at, actor=actor)
        head = None if state == "" else Head(state, 1, {"total": str(i)}, None)
        store.append(flow, events, -1, head=head)


QUERIES = [
    Query(),
    Query(limit=2),
    Query(flow="sale"),
    Query(state="pending"),
    Query(state="performance"),
    Query(state="performance.delivery"),
    Query(state=""),
    Query(flow="b2b", state="performance"),
    Query(actor="buyer"),
    Query(actor="nobody"),
    Query(updated_after=T0 + timedelta(hours=1, minutes=1)),
    Query(updated_before=T0 + timedelta(hours=1)),
    Query(updated_after=T0, updated_before=T0 + timedelta(hours=2), flow="sale"),
]


@pytest.mark.parametrize("query", QUERIES, ids=repr)
def test_find_answers_what_the_memory_store_answers(pg_dsn, query):
    memory = MemoryStore()
    _fill(memory)
    with PostgresStore(pg_dsn) as store:
        _fill(store)
        expected = memory.find(query)
        found = store.find(query)
        assert found == expected
        assert found or query.actor == "nobody"


def test_find_pages_with_the_keyset_cursor_and_misses_nothing(pg_dsn):
    with PostgresStore(pg_dsn) as store:
        _fill(store)
        everything = [row.tx_id for row in store.find(Query())]
        pages, after = [], None
        while True:
            page = store.find(Query(limit=2, after=after))
            if not page:
                break
            pages.append([row.tx_id for row in page])
            after = page[-1].cursor
        assert [tx for page in pages for tx in page] == everything
        assert len(pages) == 4 and len(everything) == 7


def test_an_append_records_the_head_the_snapshot_and_the_summary_atomically(pg_dsn):
    with PostgresStore(pg_dsn) as store:
        store.append("sale", _events("S-1", 0, 3), -1, head=Head("a", 2, {"total": "9"}))
        store.append(
            "sale",
            _events("S-1", 3, 2, at=T0 + timedelta(hours=3)),
            2,
            head=Head("b", 2, {"total": "10"}, {"ctx": 1}),
        )
        [row] = store.find(Query())
        assert (row.state, row.flow_version, row.version, dict(row.summary)) == (
            "b",
            2,
            4,
            {"total": "10"},
        )
        assert row.created_at == T0 and row.updated_at == T0 + timedelta(hours=4)
        latest = store.load_latest("S-1")
        assert latest.flow == "sale" and latest.events == []
        assert (latest.snapshot.version, latest.snapshot.flow_version) == (4, 2)
        assert dict(latest.snapshot.data) == {"ctx": 1}
        store.append("sale", _events("S-1", 5, 1, at=T0 + timedelta(hours=5)), 4)
        latest = store.load_latest("S-1")
        assert [e.version for e in latest.events] == [5]
        [row] = store.find(Query())
        assert (row.state, row.flow_version, row.version) == ("", 1, 5)  # no head: unknown
        # the metadata comes back as written
        _, events = store.load("S-1")
        assert events == _events("S-1", 0, 3) + _events(
            "S-1", 3, 2, at=T0 + timedelta(hours=3)
        ) + _events("S-1", 5, 1, at=T0 + timedelta(hours=5))
        with pytest.raises(KeyError):
            store.load_latest("nope")


def test_a_stale_append_changes_no_table(pg_dsn):
    with PostgresStore(pg_dsn) as store:
        store.append("sale", _events("S-1", 0, 2), -1, head=Head("a", 1, {}, {"s": 1}))
        before = (store.find(Query()), store.load_latest("S-1"), store.read())
        for expected in (0, -1, 5):
            with pytest.raises(ConcurrencyConflict):
                store.append(
                    "sale",
                    _events("S-1", expected + 1, 1),
                    expected,
                    head=Head("z", 9, {"x": 1}, {"s": 2}),
                    idempotency_key=f"k{expected}",
                )
        with pytest.raises(StoreError, match="belongs to flow 'sale'"):
            store.append("b2b", _events("S-1", 2, 1), 1, head=Head("z"))
        assert (store.find(Query()), store.load_latest("S-1"), store.read()) == before
        assert all(store.find_idempotency_key(f"k{v}") is None for v in (0, -1, 5))


def test_find_by_state_is_an_index_scan_on_a_large_table(pg_dsn):
    with PostgresStore(pg_dsn) as store:
        with psycopg.connect(pg_dsn, autocommit=True) as raw:
            raw.execute(
                "INSERT INTO transactions SELECT 'X-' || i, CASE WHEN i % 2 = 0 THEN 'sale' "
                "ELSE 'b2b' END, 1, (ARRAY['pending','performance.delivery','done'])[i % 3 + 1], "
                "1, now(), now() - (i || ' seconds')::interval, '{}' "
                "FROM generate_series(1, 50000) i"
            )
            raw.execute("ANALYZE transactions")
        seen = []
        real = store._query

        def spy(sql, params):
            seen.append((sql, params))
            return real(sql, params)

        store._query = spy
        page = store.find(Query(state="pending", limit=50))
        assert len(page) == 50
        store.find(Query(flow="sale", state="performance", limit=50, after=page[-1].cursor))
        store.find(Query(limit=50))
        with psycopg.connect(pg_dsn) as raw:
            for sql, params in seen:
                plan = "\n".join(r[0] for r in raw.execute("EXPLAIN " + sql, params))
                assert "Seq Scan" not in plan, plan
                assert "Index" in plan, plan


# -- durable projections ----------------------------------------------------------------------


def test_projection_rows_and_checkpoint_move_together(pg_dsn):
    with PostgresStore(pg_dsn) as store:
        store.save_projection(
            "ledger", 0, 3, {("balance", "A"): {"v": "1"}, ("balance", "B"): {"v": "2"}}
        )
        store.save_projection("ledger", 3, 5, {("balance", "A"): None, ("posting", "1"): {"x": 1}})
        assert store.projection_rows("ledger", "balance") == {"B": {"v": "2"}}
        assert store.projection_rows("ledger", "posting", "1") == {"1": {"x": 1}}
        assert store.checkpoint("ledger") == 5
        for stale in (0, 3, 7):
            with pytest.raises(ConcurrencyConflict, match="at position 5, not"):
                store.save_projection("ledger", stale, 9, {("balance", "C"): {"v": "3"}})
        assert store.projection_rows("ledger", "balance") == {"B": {"v": "2"}}
        assert store.checkpoint("ledger") == 5
        store.reset_projection("ledger")
        assert store.projection_rows("ledger", "balance") == {} and store.checkpoint("ledger") == 0
        store.save_projection("ledger", 0, 1, {})
        assert store.checkpoint("ledger") == 1


def test_two_projectors_racing_from_zero_cannot_both_win(pg_dsn):
    with PostgresStore(pg_dsn) as one, PostgresStore(pg_dsn) as two:
        barrier, outcomes = threading.Barrier(2), []

        def run(store, name):
            barrier.wait()
            try:
                store.save_projection("p", 0, 4, {("k", name): {"by": name}})
                outcomes.append(name)
            except ConcurrencyConflict:
                outcomes.append("conflict")

        threads = [threading.Thread(target=run, args=(s, n)) for s, n in ((one, "a"), (two, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes)[1] == "conflict" or sorted(outcomes)[0] == "conflict"
        winner = next(o for o in outcomes if o != "conflict")
        assert one.projection_rows("p", "k") == {winner: {"by": winner}}


# -- the schema ----------------------------------------------------------------------------


@pytest.fixture
def plain_dsn(pg_dsn):
    """A DSN with the test's own schema as search_path, and that schema's name."""
    return pg_dsn


def _drop(dsn, schema):
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(
            psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                psycopg.sql.Identifier(schema)
            )
        )


def test_a_schema_of_its_own_is_created_and_used(pg_dsn):
    schema = f"Shop Store {uuid.uuid4().hex[:8]}"  # needs quoting
    try:
        with PostgresStore(pg_dsn, schema=schema) as store:
            store.append("sale", _events("S-1", 0, 2), -1, head=Head("a"))
        with psycopg.connect(pg_dsn) as raw:
            tables = {
                r[0]
                for r in raw.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (schema,),
                )
            }
            assert {"events", "transactions", "snapshots", "projection_rows"} <= tables
            here = raw.execute("SELECT to_regclass('events')").fetchone()[0]
            assert here is None  # nothing in the connection's own schema
        quoted = schema.replace(" ", "+")
        url = f"{pg_dsn}&schema={quoted}&pool_size=2"
        with open_store(url, create=False) as store:
            assert store.schema == schema and store.version("S-1") == 1
        with pytest.raises(StoreError, match="No store .*schema 'other'"):
            open_store(f"{pg_dsn}&schema=other", create=False)
    finally:
        _drop(pg_dsn, schema)


def test_a_database_with_a_foreign_events_table_names_the_schema_option(pg_dsn):
    with psycopg.connect(pg_dsn, autocommit=True) as raw:
        raw.execute("CREATE TABLE events (id serial primary key, body text)")
    with pytest.raises(StoreError, match=r"did not create \(events\).*\?schema=ecomflow") as info:
        PostgresStore(pg_dsn)
    assert not isinstance(info.value.__cause__, psycopg.Error)
    schema = f"ecomflow_{uuid.uuid4().hex[:8]}"
    try:
        with PostgresStore(pg_dsn, schema=schema) as store:
            store.append("sale", _events("S-1", 0, 1), -1)
            assert store.version("S-1") == 0
        with psycopg.connect(pg_dsn) as raw:
            assert raw.execute("SELECT count(*) FROM events").fetchone() == (0,)  # theirs
    finally:
        _drop(pg_dsn, schema)


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b"])
def test_a_bad_schema_name_is_refused(pg_dsn, bad):
    with pytest.raises(StoreError):
        PostgresStore(pg_dsn, schema=bad)


# -- migration ---------------------------------------------------------------------------


def _old_store(dsn, version):
    """Write the tables ecomflow of schema ``version`` (1 or 2) wrote, with two transactions."""
    with psycopg.connect(dsn, autocommit=True) as raw:
        for sql in PG_V2_SCHEMA:
            raw.execute(sql)
        raw.execute("INSERT INTO schema_version VALUES (%s)", (version,))
        for tx_id, count in (("O-1", 3), ("O-2", 1)):
            for v in range(count):
                raw.execute(
                    "INSERT INTO events (event_id, tx_id, flow, version, seq, trigger, stream, "
                    "name, data, occurred_at) VALUES (%s, %s, 'sale', %s, 0, 'step', "
                    "'information', 'stepped', %s, %s)",
                    (
                        f"{tx_id}:{v}:0",
                        tx_id,
                        v,
                        psycopg.types.json.Jsonb({"n": v}),
                        T0 + timedelta(hours=v),
                    ),
                )
        raw.execute("INSERT INTO idempotency VALUES ('k1', 'O-1', 2, 'step', 'fp')")
        raw.execute("INSERT INTO checkpoints VALUES ('ledger', 3)")
        if version == 1:
            raw.execute("ALTER TABLE idempotency DROP COLUMN trigger")
            raw.execute("ALTER TABLE idempotency DROP COLUMN fingerprint")


@pytest.mark.parametrize("version", [1, 2])
def test_an_old_store_is_migrated_to_version_3_by_two_openers_at_once(pg_dsn, version):
    _old_store(pg_dsn, version)
    barrier, errors, stores = threading.Barrier(2), [], []

    def opener():
        barrier.wait()
        try:
            stores.append(PostgresStore(pg_dsn))
        except Exception as error:  # pragma: no cover - the failure shown below
            errors.append(error)

    threads = [threading.Thread(target=opener) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = stores[0]
    try:
        flow, events = store.load("O-1")
        assert flow == "sale" and [e.version for e in events] == [0, 1, 2]
        assert all(e.flow_version == 1 and e.actor is None for e in events)
        rows = {row.tx_id: row for row in store.find(Query())}
        assert (rows["O-1"].state, rows["O-1"].version) == ("", 2)
        assert rows["O-1"].created_at == T0 and rows["O-1"].updated_at == T0 + timedelta(hours=2)
        assert rows["O-2"].version == 0
        assert store.find_idempotency_key("k1").version == 2
        assert store.checkpoint("ledger") == 3
        assert [r.position for r in store.read()] == [1, 2, 3, 4]
        store.append("sale", _events("O-1", 3, 1), 2, head=Head("c"))
        assert store.read()[-1].position == 5  # the sequence goes on after the old positions
    finally:
        for s in stores:
            s.close()
    with psycopg.connect(pg_dsn) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(3,)]


# -- no global lock: gap-free readers ------------------------------------------------------


class _PauseAfterInsert:
    """A connection that stops after its INSERT of events (lock released, not committed)."""

    def __init__(self, real, inserted, go):
        self._real, self._inserted, self._go = real, inserted, go

    def __getattr__(self, name):
        return getattr(self._real, name)

    def execute(self, sql, *args):
        result = self._real.execute(sql, *args)
        if "pg_advisory_unlock" in sql:
            self._inserted.set()
            assert self._go.wait(30)
        return result


def _until(condition, seconds=10):
    """Wait for the cluster's oldest running transaction to move on (other sessions)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_a_reader_never_skips_an_earlier_position_that_commits_late(pg_dsn):
    with (
        PostgresStore(pg_dsn) as slow,
        PostgresStore(pg_dsn) as fast,
        PostgresStore(pg_dsn) as reader,
    ):
        slow.append("sale", _events("A-0", 0, 1), -1)
        assert _until(lambda: len(reader.read()) == 1)
        inserted, go = threading.Event(), threading.Event()
        slow._local.db = None
        errors = []

        def writer_a():
            slow._local.db = _PauseAfterInsert(slow._connection(), inserted, go)
            try:
                slow.append("sale", _events("A-1", 0, 1), -1)
            except Exception as error:  # pragma: no cover - shown by the assert below
                errors.append(error)

        thread = threading.Thread(target=writer_a)
        thread.start()
        try:
            assert inserted.wait(30)  # A holds position 2, uncommitted, lock released
            fast.append("sale", _events("B-1", 0, 1), -1)  # B takes position 3, commits
            assert fast.load("B-1")[1]  # committed and visible to plain reads
            seen = reader.read()
            assert [r.event.tx_id for r in seen] == ["A-0"]  # not B's without A's
        finally:
            go.set()
            thread.join(30)
        assert errors == []
        assert _until(lambda: len(reader.read()) == 3)
        assert [(r.position, r.event.tx_id) for r in reader.read()] == [
            (1, "A-0"),
            (2, "A-1"),
            (3, "B-1"),
        ]


def test_appends_do_not_wait_for_each_others_commit(pg_dsn):
    """A writer paused after its INSERT (before COMMIT) does not stop another's append."""
    with PostgresStore(pg_dsn) as slow, PostgresStore(pg_dsn) as fast:
        inserted, go = threading.Event(), threading.Event()

        def writer_a():
            slow._local.db = _PauseAfterInsert(slow._connection(), inserted, go)
            slow.append("sale", _events("A-1", 0, 1), -1)

        thread = threading.Thread(target=writer_a)
        thread.start()
        try:
            assert inserted.wait(30)
            with psycopg.connect(pg_dsn) as raw:  # the append lock is free
                assert raw.execute(
                    "SELECT pg_try_advisory_lock(%s)", (_APPEND_LOCK,)
                ).fetchone() == (True,)
            fast.append("sale", _events("B-1", 0, 2), -1, head=Head("b"))
            assert fast.version("B-1") == 1
        finally:
            go.set()
            thread.join(30)
        assert slow.version("A-1") == 0


def test_a_failed_insert_releases_the_append_lock(pg_dsn):
    with PostgresStore(pg_dsn) as store, PostgresStore(pg_dsn) as other:
        store.append("sale", _events("S-1", 0, 2), -1)
        # A stale current-state row lets the INSERT run into the unique key.
        with psycopg.connect(pg_dsn, autocommit=True) as raw:
            raw.execute("UPDATE transactions SET version = 0 WHERE tx_id = 'S-1'")
        with pytest.raises(ConcurrencyConflict, match="Another writer appended"):
            store.append("sale", _events("S-1", 1, 1), 0)
        other.append("sale", _events("S-2", 0, 1), -1)  # would hang if the lock were held
        with psycopg.connect(pg_dsn) as raw:
            assert raw.execute("SELECT pg_try_advisory_lock(%s)", (_APPEND_LOCK,)).fetchone() == (
                True,
            )


# -- the pool --------------------------------------------------------------------------------


def test_sixteen_threads_append_through_a_pool_of_four(pg_dsn):
    with PostgresStore(pg_dsn, pool_size=4) as store:
        errors = []

        def work(n):
            try:
                tx_id = f"P-{n}"
                store.append("sale", _events(tx_id, 0, 1), -1, head=Head("a"))
                for v in range(1, 10):
                    store.append("sale", _events(tx_id, v, 1), v - 1, head=Head(f"s{v}"))
            except Exception as error:  # pragma: no cover - shown by the assert below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        rows = store.find(Query(limit=100))
        assert len(rows) == 16 and {(r.version, r.state) for r in rows} == {(9, "s9")}
        assert len(store.read(limit=1000)) == 160
        assert store._pool.get_stats()["pool_size"] <= 4


def test_a_pool_replaces_a_session_the_server_dropped(pg_dsn):
    with PostgresStore(pg_dsn, pool_size=1) as store:
        store.append("sale", _events("S-1", 0, 1), -1)
        db = store._pool.getconn()
        pid = db.info.backend_pid
        store._pool.putconn(db)
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        store.append("sale", _events("S-1", 1, 1), 0)
        assert store.version("S-1") == 1
        db = store._pool.getconn()
        assert db.info.backend_pid != pid
        store._pool.putconn(db)


# -- reliability: processes racing and killed ---------------------------------------------------


def _head_of(events):
    tx = COUNTER.replay(events)
    return tx, Head(
        tx.state, 1, {"n": tx.version}, {"v": tx.version} if tx.version % 3 == 0 else None
    )


def _bumper(dsn, tx_ids, rounds, results):
    store = PostgresStore(dsn)
    won = conflicts = 0
    for _ in range(rounds):
        for tx_id in tx_ids:
            _, events = store.load(tx_id)
            tx = COUNTER.replay(events)
            before = len(tx.events)
            tx.fire("bump")
            new = tx.events[before:]
            try:
                store.append("counter", new, tx.version - 1, head=_head_of(tx.events)[1])
                won += 1
            except ConcurrencyConflict:
                conflicts += 1
    store.close()
    results.put((won, conflicts))


def _check_against_events(store, tx_ids):
    """The current-state rows and snapshots agree with the events recomputed from scratch."""
    rows = {row.tx_id: row for row in store.find(Query(limit=1000))}
    for tx_id in tx_ids:
        _, events = store.load(tx_id)
        tx, head = _head_of(events)
        row = rows[tx_id]
        assert (row.version, row.state, dict(row.summary)) == (
            tx.version,
            head.state,
            {"n": tx.version},
        )
        assert row.updated_at == events[-1].occurred_at and row.created_at == events[0].occurred_at
        latest = store.load_latest(tx_id)
        if latest.snapshot is not None:
            assert latest.snapshot.version % 3 == 0 and dict(latest.snapshot.data) == {
                "v": latest.snapshot.version
            }
        assert [e.version for e in latest.events] == [
            e.version
            for e in events
            if latest.snapshot is None or e.version > latest.snapshot.version
        ]
    # Positions may skip numbers a conflicting INSERT took, but never an event.
    logged = store.read(limit=100_000)
    positions = [r.position for r in logged]
    assert positions == sorted(set(positions))
    assert len(logged) == sum(len(store.load(t)[1]) for t in tx_ids)


def test_eight_processes_racing_keep_every_table_in_step(pg_dsn):
    tx_ids = ["R-1", "R-2"]
    with PostgresStore(pg_dsn) as store:
        for tx_id in tx_ids:
            events = list(COUNTER.start(tx_id).events)
            store.append("counter", events, -1, head=_head_of(events)[1])
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [
        context.Process(target=_bumper, args=(pg_dsn, tx_ids, 12, results)) for _ in range(8)
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    won = sum(o[0] for o in outcomes)
    assert sum(o[1] for o in outcomes) > 0, "the race never happened"
    with PostgresStore(pg_dsn) as store:
        assert sum(store.version(t) for t in tx_ids) == won
        _check_against_events(store, tx_ids)


def _forever(dsn):
    store = PostgresStore(dsn)
    while True:
        _, events = store.load("K-1")
        tx = COUNTER.replay(events)
        before = len(tx.events)
        tx.fire("bump")
        store.append("counter", tx.events[before:], tx.version - 1, head=_head_of(tx.events)[1])


def test_killed_writers_leave_every_table_in_step(pg_dsn):
    with PostgresStore(pg_dsn) as store:
        events = list(COUNTER.start("K-1").events)
        store.append("counter", events, -1, head=_head_of(events)[1])
        context = multiprocessing.get_context("fork")
        for _ in range(3):
            child = context.Process(target=_forever, args=(pg_dsn,))
            child.start()
            start = store.version("K-1")
            assert _until(lambda start=start: store.version("K-1") >= start + 10, 30)
            os.kill(child.pid, signal.SIGKILL)
            child.join(30)
            _check_against_events(store, ["K-1"])


def test_positions_and_the_transaction_id_are_assigned_under_the_append_lock(pg_dsn):
    """An append waiting for the lock has taken no position and has no transaction id yet:
    position order is the order of the writing transactions' ids."""
    with PostgresStore(pg_dsn) as store, psycopg.connect(pg_dsn, autocommit=True) as holder:
        store.append("sale", _events("A-1", 0, 1), -1)
        holder.execute("SELECT pg_advisory_lock(%s)", (_APPEND_LOCK,))
        thread = threading.Thread(target=store.append, args=("sale", _events("B-1", 0, 2), -1))
        thread.start()
        try:
            waiting = "SELECT backend_xid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'WITH locked AS%%'"
            assert _until(lambda: holder.execute(waiting).fetchall() != [])
            assert holder.execute(waiting).fetchall() == [(None,)]  # no xid yet
            assert holder.execute("SELECT last_value FROM events_position_seq").fetchone() == (1,)
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (_APPEND_LOCK,))
            thread.join(30)
        rows = holder.execute(
            "SELECT position, tx_id, txid::text::bigint FROM events ORDER BY position"
        ).fetchall()
        assert [r[:2] for r in rows] == [(1, "A-1"), (2, "B-1"), (3, "B-1")]
        assert rows[0][2] < rows[1][2] == rows[2][2]


def test_a_lost_commit_still_in_progress_is_not_waited_for_forever(pg_dsn, monkeypatch):
    """Whether a lost COMMIT landed is asked of the server; a transaction that stays in
    progress past the bound gives StoreUnavailable saying so, not a guess."""
    from ecomflow import StoreUnavailable
    from ecomflow.store import _postgres

    monkeypatch.setattr(_postgres, "LANDED_TIMEOUT", 0.3)
    with PostgresStore(pg_dsn) as store, psycopg.connect(pg_dsn) as other:
        other.execute("CREATE TEMP TABLE t (x int)")  # gives it a transaction id
        xid = other.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
        with psycopg.connect(pg_dsn) as db:
            with pytest.raises(StoreUnavailable, match=f"transaction {xid} was still in progress"):
                store._outcome(db, xid)
            other.commit()
            assert store._outcome(db, xid) == "committed"


@pytest.mark.parametrize(
    ("option", "problem"),
    [("schema=", "empty"), ("pool_size=0", "pool_size='0'"), ("pool_size=x", "pool_size='x'")],
)
def test_bad_url_options_are_refused_before_connecting(option, problem):
    with pytest.raises(StoreError, match=problem):
        open_store(f"postgresql://127.0.0.1:1/test?{option}")


def test_url_options_are_ecomflows_and_the_rest_goes_to_psycopg():
    from ecomflow.store import _postgres_options

    assert _postgres_options("postgresql://u@h:5/db?sslmode=disable&schema=Shop+1&pool_size=3") == (
        "postgresql://u@h:5/db?sslmode=disable",
        "Shop 1",
        3,
    )
    assert _postgres_options("postgres://h/db") == ("postgres://h/db", None, None)


@pytest.mark.parametrize("state", ["a_b", "a%", "a_", "a\\", "a_b.c", "ab"])
def test_a_state_with_like_wildcards_matches_only_itself_and_its_inner_states(pg_dsn, state):
    memory = MemoryStore()
    with PostgresStore(pg_dsn) as store:
        for target in (memory, store):
            for n, stored in enumerate(["a_b.c", "axb.c", "a\\.x", "ab", "a%.z"]):
                target.append("sale", _events(f"W-{n}", 0, 1), -1, head=Head(stored))
        assert store.find(Query(state=state)) == memory.find(Query(state=state))


@pytest.mark.parametrize("landed", [False, True], ids=["lost-before-commit", "lost-after-commit"])
def test_a_pool_checks_a_lost_commit_on_another_connection(pg_dsn, landed):
    """With a pool of one, the lost connection goes back to the pool before the store
    looks, on a new one, whether the append landed: neither a hang nor a double write."""
    with PostgresStore(pg_dsn, pool_size=1) as store:
        store.append("sale", _events("S-1", 0, 1), -1, head=Head("a"))
        db = store._pool.getconn()
        real_commit, commits = db.commit, []

        def commit():
            commits.append(1)
            if landed:
                real_commit()
                db.close()  # the acknowledgement is lost with the session
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            with psycopg.connect(pg_dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (db.info.backend_pid,))
            return real_commit()  # fails: the session is gone, nothing was committed

        db.commit = commit
        store._pool.putconn(db)
        store.append("sale", _events("S-1", 1, 1), 0, head=Head("b"), idempotency_key="k")
        assert commits == [1]
        assert [e.version for e in store.load("S-1")[1]] == [0, 1]
        assert [(r.state, r.version) for r in store.find(Query())] == [("b", 1)]
        assert store.find_idempotency_key("k").version == 1


def test_an_append_of_more_events_than_one_statement_has_parameters_for(pg_dsn):
    """5,000 events of 13 columns are 65,000 values: past PostgreSQL's 65,535 parameters."""
    when = datetime(2026, 11, 25, tzinfo=timezone.utc)
    events = [
        Event("BIG-1", 0, seq, "start", Stream.INFORMATION, "noted", {"n": seq}, when)
        for seq in range(5_100)
    ]
    with PostgresStore(pg_dsn) as store:
        store.append("toy", events, -1, head=Head("open"))
        flow, loaded = store.load("BIG-1")
        assert (flow, len(loaded), loaded[-1].data["n"]) == ("toy", 5_100, 5_099)
        assert [r.event.seq for r in store.read(after=0, limit=10_000)] == list(range(5_100))
