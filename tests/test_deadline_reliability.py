"""Deadlines survive SIGKILL: 1,000 armed, a worker killed 30+ times, each fired exactly once.

Against a real SQLite file and the real PostgreSQL. The worker runs in a child process
(forked from this one, so that it starts at once; it opens its own connections) and is
killed with SIGKILL at seeded random moments while it fires; between kills this process
moves some transactions on, racing it. At the end every deadline has fired exactly once
(counted in the events), none before it was due, none for a transaction that had moved
on, and no row is left.
"""

import contextlib
import os
import random
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest

from ecomflow import FLOWS, Money, TransitionNotAllowed, utc_now
from ecomflow.flows import direct_sale
from ecomflow.store import DeadlineWorker, PostgresStore, Repository, SQLiteStore
from ecomflow.testing import ManualClock

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")

N = 1000
KILLS = 32
SEED = 20261126
ORDER = {
    "customer_name": "Li Lei",
    "address": "Beijing",
    "goods_name": "tea",
    "quantity": 1,
    "specification": "tin",
    "unit_price": Money("88.00", "CNY"),
}


def _worker_child(open_store, name: str) -> None:
    """In the forked child: run a worker on a new connection until killed."""
    try:
        store = open_store()
        worker = DeadlineWorker(Repository(store, FLOWS), name=name, batch=25, lease=0.5)
        worker.run(poll=0.01)
    finally:
        os._exit(0)  # never return into pytest, never close the parent's sockets


def _fork_worker(open_store, name: str) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        _worker_child(open_store, name)
    return pid


def _arm(store, rng: random.Random, start: datetime) -> dict[str, datetime]:
    """Arm N deadlines, due from 5 minutes ago to 4 seconds from now; return them by id."""
    due: dict[str, datetime] = {}
    clock = ManualClock(start)
    repo = Repository(store, FLOWS, clock=clock)
    for n in range(N):
        offset = rng.uniform(-300, 4) if n % 10 else rng.uniform(0.5, 4)
        clock.now = start + timedelta(seconds=offset) - direct_sale.PAY_WITHIN
        tx = direct_sale.FLOW.start(f"R-{n:04d}", clock=clock, merchant="Tea House")
        tx.fill_order(**ORDER)
        repo.add(tx)
        due[tx.id] = clock.now + direct_sale.PAY_WITHIN
    return due


def _torture(open_store, close_store, stale_row, open_setup_store) -> None:
    rng = random.Random(SEED)
    start = utc_now()
    store = open_setup_store()  # the setup's commits need not reach the disk one by one
    due = _arm(store, rng, start)
    ids = sorted(due)
    assert len(store.deadlines()) == N
    # Moved on before any worker runs: 100 cancelled (their rows go with the append) and,
    # for 30 of them, a row left behind as an older process might have (it must be dropped).
    before = rng.sample(ids, 100)
    repo = Repository(store, FLOWS)
    for tx_id in before:
        repo.execute(tx_id, "cancel", reason="changed my mind")
    for tx_id in before[:30]:
        stale_row(store, tx_id, due[tx_id])
    racing = rng.sample(sorted(set(ids) - set(before)), 60)
    close_store(store)

    kills = 0
    while kills < KILLS:
        pid = _fork_worker(open_store, f"worker-{kills}")
        time.sleep(rng.uniform(0.02, 0.25))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        kills += 1
        if racing and kills % 4 == 0:  # the shop moves some on while workers fire
            store = open_store()
            repo = Repository(store, FLOWS)
            for tx_id in racing[:8]:
                with contextlib.suppress(TransitionNotAllowed):  # the worker closed it first
                    repo.execute(tx_id, "cancel", reason="found it cheaper")
            racing = racing[8:]
            close_store(store)
    assert kills >= 30

    # After the last kill, a worker restarts and finishes what is left.
    time.sleep(max(0.0, (max(due.values()) - utc_now()).total_seconds()) + 0.05)
    store = open_store()
    finisher = DeadlineWorker(Repository(store, FLOWS), name="finisher", lease=0.5)
    deadline = time.monotonic() + 20
    while store.deadlines() and time.monotonic() < deadline:
        finisher.run_due()
        time.sleep(0.1)  # rows still claimed by a killed worker free up within the lease
    assert store.deadlines() == []

    fired_total = 0
    for tx_id in ids:
        _, events = store.load(tx_id)
        expired = [e for e in events if e.name == "order_expired"]
        cancelled = [e for e in events if e.name == "order_cancelled"]
        assert len(expired) <= 1, f"{tx_id} expired {len(expired)} times"
        if tx_id in before:
            assert not expired, f"{tx_id} was cancelled before, yet it expired"
            continue
        assert len(expired) + len(cancelled) == 1, f"{tx_id}: {[e.name for e in events]}"
        for event in expired:
            fired_total += 1
            assert event.occurred_at >= due[tx_id], f"{tx_id} fired early"
            assert event.actor == "clock"
    assert fired_total >= N - 100 - 60
    close_store(store)


def test_sigkilled_sqlite_workers_fire_each_deadline_exactly_once(tmp_path):
    path = tmp_path / "shop.db"

    def stale_row(store, tx_id, due):
        db = store._connection()
        db.execute(
            "INSERT INTO deadlines (tx_id, trigger, due_at, armed_version, flow) "
            "VALUES (?, 'expire', ?, 1, 'direct-sale')",
            (tx_id, due.astimezone(timezone.utc).isoformat(timespec="microseconds")),
        )

    _torture(
        lambda: SQLiteStore(path),
        lambda store: store.close(),
        stale_row,
        lambda: SQLiteStore(path, synchronous="NORMAL"),
    )


def test_sigkilled_postgres_workers_fire_each_deadline_exactly_once(pg_dsn):
    def stale_row(store, tx_id, due):
        store._run(
            "write to",
            lambda db: db.execute(
                "INSERT INTO deadlines (tx_id, trigger, due_at, armed_version, flow) "
                "VALUES (%s, 'expire', %s, 1, 'direct-sale')",
                (tx_id, due),
            ),
        )

    fast = f"{pg_dsn}%20-csynchronous_commit%3Doff"  # the setup's session only
    _torture(
        lambda: PostgresStore(pg_dsn),
        lambda store: store.close(),
        stale_row,
        lambda: PostgresStore(fast),
    )
