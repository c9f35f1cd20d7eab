"""Issue 11, SQLite's part: schema version 3 in a real file.

The current-state table written with each append, snapshots, ``load_latest``, ``find``
(index seeks, proven with EXPLAIN QUERY PLAN; the same answers as the MemoryStore),
durable projection rows, and the migration of files written by schema versions 1 and 2.
"""

import multiprocessing
import sqlite3
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from ecomflow import (
    ConcurrencyConflict,
    Event,
    IdempotencyMismatch,
    InvalidPayload,
    StoreError,
    Stream,
)
from ecomflow.store import MemoryStore, SQLiteStore
from ecomflow.store._base import LAYOUTS, Head, Query
from tests.sqlite_old import downgrade

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
CST = timezone(timedelta(hours=8))


def ev(tx_id, version, seq=0, *, at=None, actor=None, flow_version=1, name="bumped"):
    """One event of a counter-like transaction, at ``T0 + version`` minutes by default."""
    return Event(
        tx_id,
        version,
        seq,
        "bump" if version else "begin",
        Stream.MONEY if seq else Stream.INFORMATION,
        name,
        {"by": version, "seq": seq},
        at if at is not None else T0 + timedelta(minutes=version),
        actor,
        f"cmd-{tx_id}-{version}" if actor else None,
        f"corr-{tx_id}" if actor else None,
        flow_version,
    )


def rows(path, sql, params=()):
    raw = sqlite3.connect(path)
    try:
        return raw.execute(sql, params).fetchall()
    finally:
        raw.close()


def counts(path):
    """How many rows each table holds: what a refused append must leave as it was."""
    return {
        table: rows(path, f"SELECT COUNT(*) FROM {table}")[0][0]
        for table in ("events", "transactions", "snapshots", "idempotency", "checkpoints")
    }


@pytest.fixture
def path(tmp_path):
    return tmp_path / "shop.db"


# -- the layout ----------------------------------------------------------------------------


def test_a_new_file_has_the_v3_layout_without_duplicate_keys(path):
    SQLiteStore(path).close()
    for table, columns in LAYOUTS[3].items():
        assert tuple(r[1] for r in rows(path, f"PRAGMA table_info({table})")) == columns
    tables = {r[0] for r in rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "sqlite_sequence" not in tables  # no AUTOINCREMENT: one write less per commit
    ddl = rows(path, "SELECT sql FROM sqlite_master WHERE name = 'events'")[0][0]
    assert "event_id" not in ddl and "AUTOINCREMENT" not in ddl
    indexes = {r[1]: r for r in rows(path, "PRAGMA index_list(events)")}
    unique = [r for r in indexes.values() if r[2] == 1]
    assert len(unique) == 1  # UNIQUE(tx_id, version, seq) and nothing repeating it
    assert [r[2] for r in rows(path, f"PRAGMA index_info({unique[0][1]})")] == [
        "tx_id",
        "version",
        "seq",
    ]
    assert indexes["events_by_actor"][4] == 1  # partial: WHERE actor IS NOT NULL
    assert rows(path, "SELECT version FROM schema_version") == [(3,)]


# -- the current-state table and snapshots, written with the append -----------------------


def test_an_append_writes_the_current_state_row_in_utc(path):
    with SQLiteStore(path) as store:
        store.append("counter", [ev("T-1", 0, at=datetime(2026, 11, 24, 16, 0, tzinfo=CST))], -1)
        assert rows(path, "SELECT * FROM transactions") == [
            (
                "T-1",
                "counter",
                1,
                "",
                0,
                "2026-11-24T08:00:00.000000+00:00",
                "2026-11-24T08:00:00.000000+00:00",
                "{}",
            )
        ]
        head = Head("a.b", flow_version=2, summary={"total": "9.50", "buyer": "Li"})
        store.append("counter", [ev("T-1", 1), ev("T-1", 1, 1, flow_version=2)], 0, head=head)
        (row,) = store.find(Query())
        assert (row.tx_id, row.flow, row.flow_version, row.state, row.version) == (
            "T-1",
            "counter",
            2,
            "a.b",
            1,
        )
        assert row.created_at == T0 and row.updated_at == T0 + timedelta(minutes=1)
        assert row.summary == {"total": "9.50", "buyer": "Li"}
        assert store.version("T-1") == 1
        # without a head: state unknown, the events' flow version
        store.append("counter", [ev("T-1", 2, flow_version=3)], 1)
        (row,) = store.find(Query())
        assert (row.state, row.flow_version, row.version, row.summary) == ("", 3, 2, {})
        assert rows(path, "SELECT COUNT(*) FROM snapshots") == [(0,)]


def test_load_latest_reads_the_snapshot_and_only_the_events_after_it(path):
    with SQLiteStore(path) as store:
        with pytest.raises(KeyError):
            store.load_latest("T-1")
        store.append("counter", [ev("T-1", 0)], -1, head=Head("a"))
        latest = store.load_latest("T-1")
        assert (latest.flow, latest.snapshot, latest.events) == ("counter", None, [ev("T-1", 0)])
        snap = {"state": "b", "context": {"total": 3}}
        store.append(
            "counter",
            [ev("T-1", 1), ev("T-1", 1, 1)],
            0,
            head=Head("b", flow_version=2, snapshot=snap),
        )
        store.append("counter", [ev("T-1", 2)], 1, head=Head("b", flow_version=2))
        latest = store.load_latest("T-1")
        assert latest.snapshot.version == 1 and latest.snapshot.flow_version == 2
        assert latest.snapshot.data == snap
        assert latest.events == [ev("T-1", 2)]
        store.append("counter", [ev("T-1", 3)], 2, head=Head("b", snapshot={"state": "c"}))
        latest = store.load_latest("T-1")  # replaced, not added
        assert (latest.snapshot.version, latest.snapshot.data, latest.events) == (
            3,
            {"state": "c"},
            [],
        )
        assert rows(path, "SELECT tx_id, version FROM snapshots") == [("T-1", 3)]
        assert store.load("T-1")[1][-1] == ev("T-1", 3)  # load still reads every event


def test_a_stale_or_foreign_append_is_refused_and_changes_no_table(path):
    with SQLiteStore(path) as store:
        store.append("counter", [ev("T-1", 0)], -1, head=Head("a"), idempotency_key="k0")
        store.append("counter", [ev("T-1", 1)], 0, head=Head("b", snapshot={"s": 1}))
        before = counts(path)
        current = rows(path, "SELECT * FROM transactions")
        with pytest.raises(ConcurrencyConflict, match="'T-1' is at version 1, not 0"):
            store.append("counter", [ev("T-1", 1)], 0, head=Head("z"))
        with pytest.raises(ConcurrencyConflict, match="'T-1' is at version 1, not -1"):
            store.append("counter", [ev("T-1", 0)], -1, head=Head("z"))
        with pytest.raises(StoreError, match="belongs to flow 'counter'"):
            store.append("other", [ev("T-1", 2)], 1, head=Head("z"))
        with pytest.raises(IdempotencyMismatch):
            store.append("counter", [ev("T-1", 2)], 1, idempotency_key="k0")
        assert counts(path) == before
        assert rows(path, "SELECT * FROM transactions") == current


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (Head("a", summary={"total": object()}), "summary of transaction 'T-1': it is not JSON"),
        (Head("a", snapshot={"when": {1, 2}.__iter__()}), "snapshot of transaction 'T-1'"),
        (Head("a", summary={"pan": "4111 1111 1111 1111"}), "'pan' looks like a full card"),
        (Head("a", snapshot={"x": "a\x00b"}), "snapshot of transaction 'T-1': its field 'x'"),
    ],
)
def test_a_head_that_cannot_be_stored_is_refused_and_nothing_is_written(path, head, message):
    with SQLiteStore(path) as store:
        store.append("counter", [ev("T-1", 0)], -1, head=Head("a"))
        before, current = counts(path), rows(path, "SELECT * FROM transactions")
        with pytest.raises(InvalidPayload, match=message):
            store.append("counter", [ev("T-1", 1)], 0, head=head, idempotency_key="k1")
        assert counts(path) == before
        assert rows(path, "SELECT * FROM transactions") == current
        assert store.find_idempotency_key("k1") is None
        store.append("counter", [ev("T-1", 1)], 0, head=Head("b"), idempotency_key="k1")
        assert store.version("T-1") == 1


def test_a_write_failing_at_the_last_step_rolls_back_the_whole_append(path):
    """The snapshot is written after the events and the current-state row: a failure
    there (here a trigger of the test's own) must leave nothing of the append behind."""
    with SQLiteStore(path) as store:
        store.append("counter", [ev("T-1", 0)], -1, head=Head("a"))
        raw = sqlite3.connect(path)
        raw.execute(
            "CREATE TRIGGER no_snapshots BEFORE INSERT ON snapshots "
            "BEGIN SELECT RAISE(ABORT, 'the disk said no'); END"
        )
        raw.commit()
        raw.close()
        before, current = counts(path), rows(path, "SELECT * FROM transactions")
        with pytest.raises(StoreError, match="the disk said no"):
            store.append(
                "counter",
                [ev("T-1", 1), ev("T-1", 1, 1)],
                0,
                head=Head("b", snapshot={"s": 1}),
                idempotency_key="k1",
            )
        assert counts(path) == before
        assert rows(path, "SELECT * FROM transactions") == current
        assert store.load("T-1")[1] == [ev("T-1", 0)]
        store.append("counter", [ev("T-1", 1)], 0, head=Head("b"), idempotency_key="k1")
        assert store.version("T-1") == 1


# -- find: the same answers as the reference store, by index seeks ------------------------


def fill(store):
    """Transactions of two flows in nested states, by several actors, in several zones."""
    states = ["pending", "performance", "performance.delivery", "performance.payment", ""]
    for n in range(40):
        tx_id = f"T-{n:02d}"
        flow = "sale" if n % 3 else "b2b"
        zone = CST if n % 2 else timezone.utc
        at = (T0 + timedelta(seconds=(n * 7919) % 97)).astimezone(zone)
        store.append(flow, [ev(tx_id, 0, at=at, actor="buyer" if n % 4 == 0 else None)], -1)
        if n % 5:
            store.append(
                flow,
                [ev(tx_id, 1, at=at + timedelta(seconds=n % 7), actor=f"clerk-{n % 2}")],
                0,
                head=Head(states[n % len(states)], summary={"n": n}),
            )


QUERIES = [
    Query(),
    Query(limit=7),
    Query(state="performance"),
    Query(state="performance", limit=3),
    Query(state="performance.delivery"),
    Query(state=""),
    Query(state="perf"),
    Query(flow="sale"),
    Query(flow="b2b", limit=4),
    Query(flow="sale", state="performance"),
    Query(flow="nope"),
    Query(actor="buyer"),
    Query(actor="clerk-1", state="performance"),
    Query(actor="nobody"),
    Query(updated_after=T0 + timedelta(seconds=30)),
    Query(updated_before=(T0 + timedelta(seconds=50)).astimezone(CST), state="pending"),
    Query(updated_after=T0 + timedelta(seconds=10), updated_before=T0 + timedelta(seconds=60)),
]


@pytest.mark.parametrize("query", QUERIES, ids=repr)
def test_find_pages_through_the_same_rows_as_the_memory_store(path, query):
    memory = MemoryStore()
    fill(memory)
    with SQLiteStore(path) as store:
        fill(store)
        mine, theirs = store.find(query), memory.find(query)
        assert mine == theirs
        # and page by page, by cursor, to the end
        seen, after = [], None
        while True:
            page = store.find(_with(query, after))
            assert page == memory.find(_with(query, after))
            if not page:
                break
            seen.extend(page)
            after = page[-1].cursor
        everything = memory.find(_with(query, None, limit=10_000))
        assert seen == everything


def _with(query, after, limit=None):
    return attrs.evolve(query, after=after, limit=query.limit if limit is None else limit)


def test_find_refuses_a_bad_query_and_finds_nothing_for_unstorable_text(path):
    with SQLiteStore(path) as store:
        fill(store)
        with pytest.raises(InvalidPayload, match="limit must be an int"):
            store.find(Query(limit=0))
        with pytest.raises(InvalidPayload, match="aware datetime"):
            store.find(Query(updated_after=datetime(2026, 1, 1)))
        with pytest.raises(InvalidPayload, match="it is not a cursor"):
            store.find(Query(after="yesterday"))
        assert store.find(Query(state="a\x00")) == []
        assert store.find(Query(flow="\ud800")) == []


def _plans(store, query):
    """Run ``find`` and return the query plan of every SELECT it ran on transactions."""
    db = store._connection()
    ran = []
    db.set_trace_callback(ran.append)
    try:
        store.find(query)
    finally:
        db.set_trace_callback(None)
    plans = []
    for sql in ran:
        if sql.startswith("SELECT") and "FROM transactions" in sql:
            plans.append([row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")])
    assert plans
    return plans


@pytest.mark.parametrize(
    "query",
    [
        Query(state="pending"),
        Query(state="performance"),
        Query(flow="sale", state="performance"),
        Query(flow="sale"),
        Query(),
        Query(state="pending", after="2026-11-24T08:00:30+00:00|T-05"),
        Query(updated_after=T0),
    ],
    ids=repr,
)
def test_find_is_an_index_seek_not_a_scan_or_a_sort(path, query):
    with SQLiteStore(path) as store:
        fill(store)
        for plan in _plans(store, query):
            text = " / ".join(plan)
            assert "USING" in text and "INDEX" in text, text
            assert "TEMP B-TREE" not in text, text  # no sort of what it found
            assert not any(step.startswith("SCAN") and "INDEX" not in step for step in plan), text


# -- durable projection rows --------------------------------------------------------------


def test_projection_rows_and_checkpoint_are_saved_together(path):
    with SQLiteStore(path) as store:
        store.save_projection(
            "ledger", 0, 5, {("balance", "cash"): {"amount": "10.00"}, ("posting", "1"): {"n": 1}}
        )
        assert store.checkpoint("ledger") == 5
        assert store.projection_rows("ledger", "balance") == {"cash": {"amount": "10.00"}}
        with pytest.raises(ConcurrencyConflict, match="'ledger' is at position 5, not 0"):
            store.save_projection("ledger", 0, 9, {("balance", "cash"): {"amount": "99"}})
        with pytest.raises(InvalidPayload, match="not JSON data"):
            store.save_projection("ledger", 5, 9, {("balance", "cash"): {"amount": object()}})
        assert store.projection_rows("ledger", "balance", "cash") == {"cash": {"amount": "10.00"}}
        assert store.checkpoint("ledger") == 5
        store.save_projection(
            "ledger", 5, 8, {("balance", "cash"): {"amount": "4"}, ("posting", "1"): None}
        )
        assert store.projection_rows("ledger", "balance") == {"cash": {"amount": "4"}}
        assert store.projection_rows("ledger", "posting") == {}
        store.save_projection("inbox", 0, 1, {("balance", "cash"): {"other": True}})
        store.reset_projection("ledger")
        assert store.checkpoint("ledger") == 0
        assert store.projection_rows("ledger", "balance") == {}
        assert store.projection_rows("inbox", "balance") == {"cash": {"other": True}}
    with SQLiteStore(path) as again:  # durable: another process sees them
        assert again.checkpoint("inbox") == 1


# -- migration of files written by schema versions 1 and 2 --------------------------------


def _old_file(path, version):
    with SQLiteStore(path) as store:
        store.append("counter", [ev("T-1", 0, at=T0.astimezone(CST))], -1, idempotency_key="k0")
        store.append("counter", [ev("T-2", 0)], -1)
        store.append("counter", [ev("T-1", 1), ev("T-1", 1, 1)], 0, idempotency_key="k1")
        store.append("other", [ev("T-3", 0)], -1)
        store.append("counter", [ev("T-2", 1, at=T0 + timedelta(hours=1))], 0)
        store.save_checkpoint("ledger", 3)
        expected = store.read()
    downgrade(path, version)
    assert rows(path, "SELECT version FROM schema_version") == [(version,)]
    assert "event_id" in [r[1] for r in rows(path, "PRAGMA table_info(events)")]
    return expected


@pytest.mark.parametrize("version", [1, 2])
def test_an_old_file_opens_as_version_3_with_everything_kept(path, version):
    expected = _old_file(path, version)
    with SQLiteStore(path) as store:
        assert store.read() == expected  # same positions, same events
        for table, columns in LAYOUTS[3].items():
            assert tuple(r[1] for r in rows(path, f"PRAGMA table_info({table})")) == columns
        assert rows(path, "SELECT version FROM schema_version") == [(3,)]
        assert rows(path, "SELECT DISTINCT flow_version FROM events") == [(1,)]
        assert rows(path, "SELECT COUNT(*) FROM events WHERE actor IS NOT NULL") == [(0,)]
        assert rows(path, "SELECT * FROM transactions ORDER BY tx_id") == [
            (
                "T-1",
                "counter",
                1,
                "",
                1,
                "2026-11-24T08:00:00.000000+00:00",
                "2026-11-24T08:01:00.000000+00:00",
                "{}",
            ),
            (
                "T-2",
                "counter",
                1,
                "",
                1,
                "2026-11-24T08:00:00.000000+00:00",
                "2026-11-24T09:00:00.000000+00:00",
                "{}",
            ),
            (
                "T-3",
                "other",
                1,
                "",
                0,
                "2026-11-24T08:00:00.000000+00:00",
                "2026-11-24T08:00:00.000000+00:00",
                "{}",
            ),
        ]
        assert store.checkpoint("ledger") == 3
        key = store.find_idempotency_key("k1")
        assert (key.tx_id, key.version) == ("T-1", 1)
        assert key.trigger == "bump"  # version 1 kept no trigger: read from the events
        assert [s.tx_id for s in store.find(Query(state=""))] == ["T-3", "T-1", "T-2"]
        # and it goes on: the next append moves the row, a stale one conflicts
        store.append("counter", [ev("T-1", 2)], 1, head=Head("b"))
        with pytest.raises(ConcurrencyConflict):
            store.append("counter", [ev("T-2", 1)], 0)
        assert store.read(after=expected[-1].position)[0].position == expected[-1].position + 1
    with SQLiteStore(path) as again:  # the next opening finds it current
        assert again.version("T-1") == 2


def _open_and_report(path, out):
    try:
        with SQLiteStore(path) as store:
            out.put(("ok", [r.position for r in store.read()], store.version("T-2")))
    except Exception as error:  # reported to the test, which fails on it
        out.put(("error", repr(error), None))


def test_two_processes_opening_one_old_file_at_once_both_open_it(path):
    expected = _old_file(path, 2)
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    workers = [context.Process(target=_open_and_report, args=(path, out)) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    positions = [r.position for r in expected]
    assert results == [("ok", positions, 1)] * len(workers)
    assert rows(path, "SELECT version FROM schema_version") == [(3,)]
    assert rows(path, "SELECT COUNT(*) FROM transactions") == [(3,)]
