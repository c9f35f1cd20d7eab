"""Issue 11, after the merge: put_head and reindex on every store, the head's refusals,
and what the review of the store layer found (each pinned here before its fix)."""

import time
from datetime import datetime, timedelta, timezone

import pytest

from ecomflow import FLOWS, InvalidPayload
from ecomflow.store import PostgresStore, Repository, SQLiteStore
from ecomflow.store._base import Head, Query, Snapshot
from tests.sqlite_old import downgrade, downgrade_postgres
from tests.test_repository_find import DEAL, ORDER
from tests.toy import COUNTER

CARD = "4111 1111 1111 1111"


class Clock:
    """A clock that moves one minute per reading (times in UTC+8, as a shop's would be)."""

    def __init__(self):
        self.now = datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=8)))

    def __call__(self):
        self.now += timedelta(minutes=1)
        return self.now


def _counter(store, tx_id="C-1"):
    """Store a counter transaction at version 1 with a head; return its events."""
    tx = COUNTER.start(tx_id)
    store.append("counter", list(tx.events), -1, head=Head("counting", summary={"n": 0}))
    before = len(tx.events)
    tx.fire("bump")
    store.append("counter", list(tx.events[before:]), 0, head=Head("counting", summary={"n": 1}))
    return tx


def _row(store, tx_id):
    (row,) = [r for r in store.find(Query(limit=10_000)) if r.tx_id == tx_id]
    return row


# -- put_head: every store ------------------------------------------------------------------


def test_put_head_writes_the_row_only_at_the_version_given_in_every_store(store):
    _counter(store)
    before = _row(store, "C-1")
    assert before.version == 1
    assert store.put_head("C-1", 0, Head("elsewhere")) is False  # moved on
    assert store.put_head("C-1", 2, Head("elsewhere")) is False  # not there yet
    assert store.put_head("nobody", 0, Head("elsewhere")) is False
    with pytest.raises(InvalidPayload, match="transaction id.*NUL"):
        store.put_head("C-\x00", 0, Head("elsewhere"))
    assert _row(store, "C-1") == before
    assert store.put_head("C-1", 1, Head("done", flow_version=2, summary={"n": "one"})) is True
    after = _row(store, "C-1")
    assert (after.state, after.flow_version, after.version, dict(after.summary)) == (
        "done",
        2,
        1,
        {"n": "one"},
    )
    # no event is written: the times and the log stay
    assert (after.created_at, after.updated_at) == (before.created_at, before.updated_at)
    assert [e.event_id for e in store.load("C-1")[1]] == ["C-1:0:0", "C-1:1:0", "C-1:1:1"]
    assert [r.tx_id for r in store.find(Query(state="done"))] == ["C-1"]
    assert store.find(Query(state="counting")) == []


def test_put_head_replaces_the_snapshot_when_the_head_has_one_in_every_store(store):
    _counter(store)
    assert store.load_latest("C-1").snapshot is None
    assert store.put_head("C-1", 1, Head("counting", 1, {"n": 1}, snapshot={"count": 1}))
    latest = store.load_latest("C-1")
    assert latest.snapshot == Snapshot(1, 1, {"count": 1})
    assert latest.events == []
    # a head without a snapshot leaves the snapshot as it is
    assert store.put_head("C-1", 1, Head("counting", 1, {"n": 1}))
    assert store.load_latest("C-1").snapshot == Snapshot(1, 1, {"count": 1})


@pytest.mark.parametrize(
    ("head", "problem"),
    [
        (Head("s", summary={"holder": CARD}), "summary.*'holder'.*card number"),
        (Head("s", summary={"note": "a\x00b"}), "summary.*'note'.*NUL"),
        (Head("s", summary={"when": object()}), "summary.*not JSON data"),
        (Head("s", snapshot={"pan": CARD}), "snapshot.*'pan'.*card number"),
        (Head("s", snapshot={"x": object()}), "snapshot.*not JSON data"),
    ],
    ids=["card-in-summary", "nul-in-summary", "object-in-summary", "card", "object"],
)
def test_put_head_refuses_what_an_append_refuses_and_changes_nothing(store, head, problem):
    _counter(store)
    before = _row(store, "C-1")
    with pytest.raises(InvalidPayload, match=problem):
        store.put_head("C-1", 1, head)
    assert _row(store, "C-1") == before
    assert store.load_latest("C-1").snapshot is None


# -- the head of an append: the same refusals in every store ---------------------------------


@pytest.mark.parametrize(
    ("head", "problem"),
    [
        (Head("s", summary={"holder": CARD}), "summary.*'holder'.*card number"),
        (Head("s", summary={"note": "a\x00b"}), "summary.*'note'.*NUL"),
        (Head("s", summary={"when": object()}), "summary.*not JSON data"),
        (Head("s", snapshot={"pan": {"full": CARD}}), "snapshot.*card number"),
        (Head("s", snapshot={"note": "\x00"}), "snapshot.*NUL"),
        (Head("s", snapshot={"x": object()}), "snapshot.*not JSON data"),
    ],
    ids=["card-in-summary", "nul-in-summary", "object-in-summary", "card", "nul", "object"],
)
def test_an_append_whose_head_cannot_be_stored_is_refused_by_every_store(store, head, problem):
    tx = COUNTER.start("C-1")
    named = problem.replace(".*", " of transaction 'C-1'.*", 1)  # "the summary of ..."
    with pytest.raises(InvalidPayload, match=named):
        store.append("counter", list(tx.events), -1, head=head)
    # (counted by transaction: a PostgreSQL reader by position lags while any
    # transaction in the cluster is open, which other test runs may hold)
    assert store.version("C-1") == -1
    with pytest.raises(KeyError):
        store.load("C-1")
    assert store.find(Query()) == []
    # and on a transaction that exists: nothing moves
    _counter(store, "C-2")
    before = _row(store, "C-2")
    tx = COUNTER.start("C-2")
    tx.fire("bump")
    tx.fire("bump")
    with pytest.raises(InvalidPayload, match=problem):
        store.append("counter", list(tx.events[3:]), 1, head=head)
    assert store.version("C-2") == 1 and len(store.load("C-2")[1]) == 3
    assert _row(store, "C-2") == before and store.load_latest("C-2").snapshot is None


# -- reindex after a real migration from schema version 2 ------------------------------------


def _shop(repo):
    """Transactions of two flows in several states, some with an actor."""
    for number in range(1, 5):
        repo.start("direct-sale", f"D-{number}", merchant="Tea House")
    for number in (2, 3, 4):
        repo.execute(f"D-{number}", "fill_order", actor="li", **ORDER)
    repo.execute("D-4", "cancel", reason="changed my mind")
    repo.start("b2b", "B-1", buyer="Suzhou Textile Mill", seller="Xinjiang Cotton Co-op")
    repo.execute("B-1", "prepare", by="buyer", note="market research")
    repo.execute("B-1", "offer", by="seller", **DEAL)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_reindex_after_a_real_migration_from_schema_2_fills_every_state(backend, tmp_path, request):
    if backend == "sqlite":
        path = tmp_path / "v2.db"

        def make():
            return SQLiteStore(path)

        def old():
            downgrade(path, 2)

    else:
        dsn = request.getfixturevalue("pg_dsn")

        def make():
            return PostgresStore(dsn)

        def old():
            downgrade_postgres(dsn, 2)

    with make() as store:
        _shop(Repository(store, FLOWS, clock=Clock()))
        expected = store.find(Query())
    assert len(expected) == 5 and {row.state for row in expected} > {"browsing", "cancelled"}
    old()  # the tables of schema version 2, as an older ecomflow wrote them
    with make() as store:  # migrated: every state unknown
        rows = store.find(Query())
        assert [(r.tx_id, r.state, r.version) for r in rows] == [
            (r.tx_id, "", r.version) for r in expected
        ]
        repo = Repository(store, FLOWS)
        assert repo.reindex() == 5
        assert store.find(Query()) == expected  # state, flow version, summary and times
        assert [r.tx_id for r in repo.find(state="order_filled")] == ["D-2", "D-3"]
        assert [r.tx_id for r in repo.find(state="browsing")] == ["D-1"]
        assert list(repo.find(state="")) == []
        assert repo.reindex() == 0  # safe to run again
        repo.execute("D-1", "fill_order", **ORDER)  # and the store goes on
        assert [r.tx_id for r in repo.find(state="order_filled")] == ["D-2", "D-3", "D-1"]


# -- exports -----------------------------------------------------------------------------------


def test_the_store_types_a_user_meets_are_exported_from_ecomflow_store():
    import ecomflow.projections
    import ecomflow.store
    from ecomflow.store import _base, _consumer, _repository

    for name, home in [
        ("Head", _base),
        ("Summary", _base),
        ("Query", _base),
        ("Snapshot", _base),
        ("Latest", _base),
        ("Page", _repository),
        ("Projector", _consumer),
        ("DurableProjection", _consumer),
    ]:
        assert name in ecomflow.store.__all__, name
        assert getattr(ecomflow.store, name) is getattr(home, name)
    assert ecomflow.store.Projector is ecomflow.projections.Projector


# -- review: the three stores answer odd input the same way ------------------------------------


@pytest.mark.parametrize("field", ["flow", "state", "actor"])
@pytest.mark.parametrize("text", ["a\x00", "a\ud800"], ids=["nul", "surrogate"])
def test_find_by_a_string_no_store_can_hold_finds_nothing_in_every_store(store, field, text):
    _counter(store)
    assert store.find(Query(**{field: text})) == []


@pytest.mark.parametrize("tx_id", ["a\x00", "a\ud800"], ids=["nul", "surrogate"])
def test_a_cursor_naming_an_impossible_transaction_is_refused_by_every_store(store, tx_id):
    _counter(store)
    with pytest.raises(InvalidPayload, match="not a cursor"):
        store.find(Query(after=f"2026-01-01T00:00:00+00:00|{tx_id}"))


@pytest.mark.parametrize("limit", [0, -1, 1.5, "10", True])
def test_reading_with_a_limit_below_one_is_refused_by_every_store(store, limit):
    _counter(store)
    with pytest.raises(InvalidPayload, match="limit"):
        store.read(limit=limit)


def test_streams_are_read_by_name_or_member_and_unknown_ones_refused_by_every_store(store):
    from ecomflow import Stream

    tx = _counter(store)
    money = [e.event_id for e in tx.events if e.stream is Stream.MONEY]

    def ids(records):
        return [r.event.event_id for r in records]

    def read(streams):  # PostgreSQL readers may lag behind other sessions' transactions
        deadline = time.monotonic() + 10
        while not (found := store.read(streams=streams)) and time.monotonic() < deadline:
            time.sleep(0.02)
        return found

    assert ids(read([Stream.MONEY])) == money
    assert ids(read(["money"])) == money  # by name too, as the database stores do
    assert store.read(streams=[]) == []
    for wrong, problem in [("money", "a list"), (["nope"], "'nope'"), ([3], "3")]:
        with pytest.raises(InvalidPayload, match=problem):
            store.read(streams=wrong)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({("k\x00", "x"): {"a": 1}}, "kind.*NUL"),
        ({("k", "x\x00"): {"a": 1}}, "key.*NUL"),
        ({("k", CARD): {"a": 1}}, "key.*card number"),
        ({("k", "x"): {"a": CARD}}, "'a'.*card number"),
        ({("k", "x"): {"a": "\x00"}}, "'a'.*NUL"),
        ({("k", "x"): {"a": object()}}, "not JSON data"),
    ],
    ids=["nul-kind", "nul-key", "card-key", "card-value", "nul-value", "object"],
)
def test_a_projection_row_no_store_may_hold_is_refused_by_every_store(store, changes, problem):
    store.save_projection("p", 0, 5, {("k", "ok"): {"a": 1}})
    with pytest.raises(InvalidPayload, match=problem):
        store.save_projection("p", 5, 6, {("k", "fine"): {"a": 2}, **changes})
    assert store.checkpoint("p") == 5  # nothing was saved
    assert store.projection_rows("p", "k") == {"ok": {"a": 1}}


def test_projection_rows_come_back_as_json_data_in_every_store(store):
    store.save_projection("p", 0, 1, {("k", "x"): {"when": (1, 2), "n": 1}})
    assert store.projection_rows("p", "k") == {"x": {"n": 1, "when": [1, 2]}}


# -- review: the PostgreSQL reader rule and the store's own connections ------------------------


@pytest.mark.parametrize("pool_size", [None, 2])
def test_a_postgres_reader_is_held_back_only_while_its_own_stores_writer_is_open(pg_dsn, pool_size):
    """The xmin rule with one store object: a thread of the same store paused after its
    INSERT holds the store's other readers back (gap-free), and they go on as soon as it
    commits; a thread that just appended reads its own events (it never waits on itself)."""
    import threading

    from tests.test_postgres_v3 import _events, _PauseAfterInsert, _until

    with PostgresStore(pg_dsn, pool_size=pool_size) as store:
        store.append("sale", _events("A-0", 0, 1), -1)
        assert _until(lambda: len(store.read()) == 1)  # the writer's own thread: no self-stall
        inserted, go, errors = threading.Event(), threading.Event(), []
        real = store._acquire

        def writer():
            db = real()
            if pool_size is None:
                store._local.db = _PauseAfterInsert(db, inserted, go)
            else:
                paused = _PauseAfterInsert(db, inserted, go)
                store._acquire = lambda: paused  # this call only: restored below
            try:
                store.append("sale", _events("A-1", 0, 1), -1)
            except Exception as error:  # pragma: no cover - shown by the assert below
                errors.append(error)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            assert inserted.wait(30)
            if pool_size is not None:
                store._acquire = real
            store.append("sale", _events("B-1", 0, 1), -1)  # a later position, committed
            assert [r.event.tx_id for r in store.read()] == ["A-0"]  # held back, no gap
        finally:
            go.set()
            thread.join(30)
        assert errors == []
        assert _until(lambda: len(store.read()) == 3)  # and not forever
        assert [r.event.tx_id for r in store.read()] == ["A-0", "A-1", "B-1"]


# -- review: a durable projection killed mid-run agrees with a rebuild ----------------------


class _Bumps:
    """A durable projection: money events per transaction (one row each)."""

    def __init__(self):
        from ecomflow import Stream

        self.streams = frozenset({Stream.MONEY})
        self.counts, self._changed = {}, set()

    def apply(self, event):
        self.counts[event.tx_id] = self.counts.get(event.tx_id, 0) + 1
        self._changed.add(event.tx_id)

    def changes(self):
        changed = {("count", tx): {"n": self.counts[tx]} for tx in sorted(self._changed)}
        self._changed.clear()
        return changed

    def restore(self, rows):
        self.counts = {tx: row["n"] for tx, row in rows("count").items()}

    def clear(self):
        self.counts, self._changed = {}, set()


def _project_forever(url):
    from ecomflow.store import Projector, open_store

    projector = Projector(open_store(url), _Bumps(), name="bumps", batch=1)
    while True:
        projector.run()


def test_a_durable_projection_killed_mid_run_agrees_with_a_rebuild(location):
    import multiprocessing
    import os
    import signal

    from ecomflow.store import Projector, open_store

    store = open_store(location)
    repo = Repository(store, {"counter": COUNTER})
    for n in range(3):
        repo.start("counter", f"K-{n}")
    context = multiprocessing.get_context("fork")
    kills = 0
    for _ in range(3):  # run, append meanwhile, kill; three times
        child = context.Process(target=_project_forever, args=(location,))
        child.start()
        for _ in range(15):
            for n in range(3):
                repo.execute(f"K-{n}", "bump")
        time.sleep(0.2)
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        kills += 1
    resumed, fresh = _Bumps(), _Bumps()
    on_restart = Projector(store, resumed, name="bumps")  # resumes from the stored rows
    rebuild = Projector(store, fresh, name="fresh")  # from position 0
    expected = {f"K-{n}": 45 for n in range(3)}
    deadline = time.monotonic() + 20  # PostgreSQL readers may wait for other sessions
    while time.monotonic() < deadline:
        on_restart.run()
        rebuild.run()
        if resumed.counts == fresh.counts == expected:
            break
        time.sleep(0.05)
    assert kills == 3
    assert resumed.counts == fresh.counts == {f"K-{n}": 45 for n in range(3)}
    assert store.projection_rows("bumps", "count") == {f"K-{n}": {"n": 45} for n in range(3)}
    store.close()


@pytest.mark.parametrize(
    ("version", "head", "problem"),
    [("1", Head("x"), "version"), (True, Head("x"), "version"), (1, {"state": "x"}, "Head")],
    ids=["str-version", "bool-version", "dict-head"],
)
def test_put_head_refuses_a_version_or_head_of_the_wrong_type_in_every_store(
    store, version, head, problem
):
    _counter(store)
    before = _row(store, "C-1")
    with pytest.raises(InvalidPayload, match=problem):
        store.put_head("C-1", version, head)
    assert _row(store, "C-1") == before


def test_an_append_with_a_head_that_is_not_a_head_is_refused_by_every_store(store):
    tx = COUNTER.start("C-1")
    with pytest.raises(InvalidPayload, match="Head"):
        store.append("counter", list(tx.events), -1, head={"state": "open"})
    assert store.version("C-1") == -1
