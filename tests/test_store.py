"""The event stores (memory and a real SQLite file) and the repository over them."""

import json
import multiprocessing
import os
import signal
import sqlite3
import time

import pytest

from ecomflow import (
    FLOWS,
    ConcurrencyConflict,
    Event,
    InvalidPayload,
    Money,
    StoreError,
    Stream,
    TransitionNotAllowed,
)
from ecomflow.store import MemoryStore, PostgresStore, Repository, SQLiteStore, open_store
from tests.toy import COUNTER

FLOWS_HERE = {**FLOWS, "counter": COUNTER}


def events_of(tx_id="T-1", bumps=2):
    tx = COUNTER.start(tx_id)
    for _ in range(bumps):
        tx.fire("bump")
    return list(tx.events)


def test_append_load_and_read_by_position(store):
    events = events_of()
    store.append("counter", events[:1], -1)
    store.append("counter", events[1:3], 0)
    store.append("counter", events[3:], 1)
    assert store.load("T-1") == ("counter", events)
    assert store.version("T-1") == 2 and store.version("nope") == -1
    everything = store.read()
    assert [r.position for r in everything] == [1, 2, 3, 4, 5]
    assert [r.event for r in everything] == events
    money = store.read(after=2, streams=[Stream.MONEY])
    assert [(r.position, r.event.name) for r in money] == [(4, "bumped")]
    assert store.read(after=1, limit=2)[-1].position == 3
    with pytest.raises(KeyError):
        store.load("nope")


def test_a_stale_version_conflicts_and_writes_nothing(store):
    events = events_of()
    store.append("counter", events[:1], -1)
    store.append("counter", events[1:3], 0)
    with pytest.raises(ConcurrencyConflict, match="'T-1' is at version 1, not 0"):
        store.append("counter", events[1:3], 0)
    with pytest.raises(ConcurrencyConflict):
        store.append("counter", events[:1], -1)
    assert len(store.read()) == 3


@pytest.mark.parametrize(
    ("batch", "expected", "message"),
    [
        ([], -1, "no events given"),
        ("gap", 0, "does not follow version 0"),
        ("mixed", -1, "with events of transaction"),
        ("card", -1, "'note' looks like a full card number"),
    ],
)
def test_a_bad_batch_writes_nothing(store, batch, expected, message):
    events = events_of()
    if batch == "gap":
        store.append("counter", events[:1], -1)
        batch = events[3:]
    elif batch == "mixed":
        batch = [events[0], events_of("T-2")[0]]
    elif batch == "card":
        batch = [
            Event(
                "T-9",
                0,
                0,
                "begin",
                Stream.INFORMATION,
                "x",
                {"note": "4111 1111 1111 1111"},
                events[0].occurred_at,
            )
        ]
    before = len(store.read())
    error = InvalidPayload if message.startswith("'note'") else StoreError
    with pytest.raises(error, match=message):
        store.append("counter", batch, expected)
    assert len(store.read()) == before


def test_checkpoints(store):
    assert store.checkpoint("ledger") == 0
    store.save_checkpoint("ledger", 7)
    store.save_checkpoint("ledger", 9)
    assert store.checkpoint("ledger") == 9 and store.checkpoint("other") == 0


def test_sqlite_survives_reopening_and_stores_json_only(tmp_path):
    path = tmp_path / "shop.db"
    repo = Repository(SQLiteStore(path), FLOWS_HERE)
    tx = repo.start("direct-sale", "A-1", merchant="Tea House")
    repo.execute(
        "A-1",
        "fill_order",
        customer_name="Li",
        address="Beijing",
        goods_name="tea",
        quantity=2,
        specification="tin",
        unit_price=Money("19.90", "CNY"),
    )
    repo.store.save_checkpoint("ledger", 2)
    repo.store.close()
    again = SQLiteStore(path)
    assert again.checkpoint("ledger") == 2
    reloaded = Repository(again, FLOWS_HERE).load("A-1")
    assert reloaded.state == "order_filled" and reloaded.context.total == Money("39.80", "CNY")
    assert reloaded.events[0] == tx.events[0]
    raw = sqlite3.connect(path)
    (journal,) = raw.execute("PRAGMA journal_mode").fetchone()
    assert journal == "wal"
    assert raw.execute("SELECT version FROM schema_version").fetchall() == [(3,)]
    for (data,) in raw.execute("SELECT data FROM events"):
        assert isinstance(json.loads(data), dict)


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "shop.db"
    SQLiteStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE schema_version SET version = 99")
    raw.commit()
    with pytest.raises(StoreError, match="schema version 99; this ecomflow knows up to 3"):
        SQLiteStore(path)


def test_open_store_by_url_and_environment(tmp_path, monkeypatch):
    assert isinstance(open_store("memory://"), MemoryStore)
    store = open_store(f"sqlite:///{tmp_path}/a.db?synchronous=normal")
    assert isinstance(store, SQLiteStore) and store.synchronous == "NORMAL"
    monkeypatch.setenv("ECOMFLOW_DB", f"sqlite:///{tmp_path}/b.db")
    assert open_store().path == f"{tmp_path}/b.db"
    with pytest.raises(StoreError, match="Cannot open store 'redis://x'"):
        open_store("redis://x")
    with pytest.raises(StoreError, match="synchronous must be 'FULL' or 'NORMAL'"):
        open_store(f"sqlite:///{tmp_path}/c.db?synchronous=off")


def test_open_store_for_postgresql(pg_dsn):
    with open_store(pg_dsn) as store:
        assert isinstance(store, PostgresStore) and store.version("nope") == -1


def test_repository_refuses_a_stale_copy(store):
    repo = Repository(store, FLOWS_HERE)
    repo.start("counter", "C-1")
    first, second = repo.load("C-1"), repo.load("C-1")
    first.fire("bump")
    repo.save(first)
    second.fire("bump")
    with pytest.raises(ConcurrencyConflict):
        repo.save(second)
    assert store.version("C-1") == 1
    with pytest.raises(StoreError, match="not loaded or started through this repository"):
        repo.save(COUNTER.start("C-2"))


def test_execute_reloads_and_checks_guards_again_after_a_conflict(store):
    repo = Repository(store, FLOWS_HERE)
    repo.start("counter", "C-1")
    rival = repo.load("C-1")
    original_load = repo.load
    calls = []

    def load_then_rival_shuts(tx_id):
        tx = original_load(tx_id)
        if not calls:  # the first attempt loses the race to a rival that shuts the counter
            rival.fire("shut")
            repo.save(rival)
        calls.append(tx_id)
        return tx

    repo.load = load_then_rival_shuts
    with pytest.raises(TransitionNotAllowed, match="in state 'shut'"):
        repo.execute("C-1", "bump")
    assert len(calls) == 2  # it reloaded, and the state machine refused the second try
    assert store.version("C-1") == 1


def test_an_idempotent_command_applies_once(store):
    repo = Repository(store, FLOWS_HERE)
    repo.start("direct-sale", "A-1", merchant="Tea House")
    repo.execute(
        "A-1",
        "fill_order",
        customer_name="Li",
        address="Beijing",
        goods_name="tea",
        quantity=1,
        specification="tin",
        unit_price=Money("10", "CNY"),
    )
    repo.execute("A-1", "choose_payment", method="credit_card")
    callback = {"amount": Money("10", "CNY"), "reference": "AUTH-1"}
    first = repo.execute("A-1", "approve_payment", idempotency_key="gw-77", **callback)
    again = repo.execute("A-1", "approve_payment", idempotency_key="gw-77", **callback)
    assert again == first and store.version("A-1") == 3
    with pytest.raises(TransitionNotAllowed):
        repo.execute("A-1", "decline_payment", reason="x")  # the state moved on
    recorded = store.find_idempotency_key("gw-77")
    assert (recorded.tx_id, recorded.version, recorded.trigger) == ("A-1", 3, "approve_payment")
    assert len(recorded.fingerprint) == 64


# -- several processes on one SQLite file -------------------------------------------------


def _racer(url, tx_ids, rounds, results):
    repo = Repository(open_store(url), FLOWS_HERE)
    acknowledged, conflicts = [], 0
    for _ in range(rounds):
        for tx_id in tx_ids:
            try:
                events = repo.execute(tx_id, "bump", retries=0, by=str(os.getpid()))
            except ConcurrencyConflict:
                conflicts += 1
            else:
                acknowledged.append((tx_id, events[0].version, os.getpid()))
    repo.store.close()
    results.put((acknowledged, conflicts))


@pytest.mark.parametrize("processes", [4, 8])
def test_racing_processes_never_both_win_the_same_version(location, processes):
    repo = Repository(open_store(location), FLOWS_HERE)
    tx_ids = ["R-1", "R-2", "R-3"]
    for tx_id in tx_ids:
        repo.start("counter", tx_id)
    repo.store.close()  # children must not inherit an open connection
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [
        context.Process(target=_racer, args=(location, tx_ids, 15, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    acknowledged = [ack for acks, _ in outcomes for ack in acks]
    conflicts = sum(count for _, count in outcomes)
    assert conflicts > 0, "the race never happened"
    store = open_store(location)
    for tx_id in tx_ids:
        _, events = store.load(tx_id)
        tx = COUNTER.replay(events)  # gapless, whole transitions
        won = sorted(version for t, version, _ in acknowledged if t == tx_id)
        assert won == list(range(1, tx.version + 1))  # each version won by exactly one writer
        by = {e.version: e.data["by"] for e in events if e.name == "bumped"}
        for t, version, pid in acknowledged:
            if t == tx_id:
                assert by[version] == str(pid)  # every acknowledged append is there, as written
    store.close()
    assert len(acknowledged) + conflicts == processes * 15 * len(tx_ids)


def _appender(url, pipe):
    repo = Repository(open_store(url), FLOWS_HERE)
    repo.start("counter", "K-1")
    pipe.send(0)
    while True:
        events = repo.execute("K-1", "bump")
        pipe.send(events[0].version)


def test_a_killed_writer_loses_nothing_it_acknowledged(location):
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_appender, args=(location, sender))
    child.start()
    acknowledged = []
    deadline = time.monotonic() + 60
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        if receiver.poll(1):
            acknowledged.append(receiver.recv())
    os.kill(child.pid, signal.SIGKILL)
    child.join(timeout=30)
    while receiver.poll(0.2):
        acknowledged.append(receiver.recv())
    assert len(acknowledged) >= 40
    store = open_store(location)
    _, events = store.load("K-1")
    tx = COUNTER.replay(events)  # opens cleanly; versions contiguous; no half transition
    assert tx.version >= max(acknowledged)
    assert all(len([e for e in events if e.version == v]) == 2 for v in range(1, tx.version + 1))
    store.close()
    if location.startswith("sqlite:///"):
        path = location[len("sqlite:///") :]
        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)
