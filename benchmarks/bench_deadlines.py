"""Benchmark: what deadlines cost a commit, how fast a worker fires them, how they are found.

Run with ``python benchmarks/bench_deadlines.py [arm] [fire] [index] [postgres]`` (all
but postgres by default; ``postgres`` needs ``ECOMFLOW_BENCH_PG``, a DSN whose database
may be written to). Prints the issue's goal beside each figure; asserts nothing.

- **arm**: the direct sale through a SQLite repository (``synchronous=FULL``, WAL, a
  fresh file), once as it is (``fill_order`` arms the unpaid-order deadline,
  ``choose_payment`` re-arms it, ``approve_payment`` disarms it) and once with the same
  flow minus its timed transition: same commits, same durability; medians of
  interleaved rounds, per commit.
- **fire**: N due deadlines on a SQLite file (``synchronous=FULL``, or ``$SYNC``, printed),
  one worker with a fresh repository (nothing cached): deadlines fired per second, the
  median of 3 runs.
- **index**: 100,000 armed deadlines (rows written directly, due over the next year):
  the query plan of the due query, and its time against counting every row.
- **postgres**: fire on PostgreSQL with 1 and 2 worker processes; the index plan there.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from ecomflow import FLOWS, FlowDefinition, Money, utc_now
from ecomflow._flow import Flow
from ecomflow.flows import direct_sale
from ecomflow.store import DeadlineWorker, PostgresStore, Repository, SQLiteStore
from ecomflow.testing import ManualClock

ORDER = {
    "customer_name": "Li Lei",
    "address": "Beijing",
    "goods_name": "tea",
    "quantity": 1,
    "specification": "tin",
    "unit_price": Money("88.00", "CNY"),
}
ROUNDS = 10
ORDERS = 60  # per round: 4 commits each
FIRE = 2000
ARMED = 100_000


def untimed() -> Flow[Any]:
    """Return the direct sale without its timed transition (and its ``expired`` state)."""
    definition = direct_sale.DEFINITION
    refusals = {
        trigger: {state: why for state, why in reasons.items() if state != "expired"}
        for trigger, reasons in definition.refusals.items()
    }
    plain: FlowDefinition = attrs.evolve(
        definition,
        states=[s for s in definition.states if s.name != "expired"],
        transitions=[t for t in definition.transitions if not t.timed],
        refusals=refusals,
    )
    return Flow(plain)


def _orders(flow: Flow[Any], folder: Path, tag: str) -> tuple[float, float]:
    """Wall and CPU seconds per commit for ORDERS orders of 4 commits, on a fresh FULL file."""
    store = SQLiteStore(folder / f"{tag}.db")
    repo = Repository(store, {"direct-sale": flow})
    start, cpu = time.perf_counter(), time.process_time()
    for n in range(ORDERS):
        tx_id = f"{tag}-{n}"
        repo.start("direct-sale", tx_id, merchant="Tea House")
        repo.execute(tx_id, "fill_order", **ORDER)
        repo.execute(tx_id, "choose_payment", method="credit_card", card_last4="4242")
        repo.execute(tx_id, "approve_payment", amount=Money("88.00", "CNY"), reference="A")
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    store.close()
    return elapsed / (ORDERS * 4), used / (ORDERS * 4)


def bench_arm() -> None:
    plain, timed = untimed(), Flow(direct_sale.DEFINITION)  # both without typed methods
    samples: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as folder:
        for r in range(ROUNDS):
            order = [("without", plain), ("with", timed)]
            for name, flow in order if r % 2 else order[::-1]:  # ABBA: drift hits both
                samples[name].append(_orders(flow, Path(folder), f"{name}{r}"))
    print("arm: a direct sale through SQLite (FULL), 4 commits per order, 3 touch deadlines")
    for index, what in ((0, "wall"), (1, "CPU")):
        without, with_ = (statistics.median(x[index] for x in samples[k]) for k in samples)
        extra = (with_ / without - 1) * 100
        print(
            f"  {what:>4} per commit: without a timed transition {without * 1e3:7.3f} ms, "
            f"with the deadline armed {with_ * 1e3:7.3f} ms: {extra:+.1f}%  (goal: <= +10%)"
        )
    tx = timed.start("C-1", merchant="Tea House")
    tx.fire("fill_order", **ORDER)
    timers, new = timed._timers, tx.events[1:]
    assert timers is not None
    count = 20_000
    start = time.perf_counter()
    for _ in range(count):
        timers.changes("browsing", new, tx.context, tx.id)
    each = (time.perf_counter() - start) / count
    print(f"  computing what an append arms (Timers.changes): {each * 1e6:.1f} µs")


def _arm_due(store: SQLiteStore | PostgresStore, count: int, prefix: str) -> None:
    """Arm ``count`` deadlines already due (an hour ago), through a repository."""
    clock = ManualClock(utc_now() - timedelta(hours=2))
    repo = Repository(store, FLOWS, clock=clock)
    for n in range(count):
        tx = direct_sale.FLOW.start(f"{prefix}-{n:06d}", clock=clock, merchant="Tea House")
        tx.fill_order(**ORDER)
        repo.add(tx)


def _fire_once(folder: Path, run: int, sync: str) -> tuple[int, int, float]:
    """Arm FIRE due deadlines in a fresh file; fire them with one worker; (fired, left, s)."""
    path = folder / f"fire{run}.db"
    setup = SQLiteStore(path, synchronous="NORMAL")
    _arm_due(setup, FIRE, "F")
    setup.close()
    store = SQLiteStore(path, synchronous=sync)
    worker = DeadlineWorker(Repository(store, FLOWS), batch=100)
    start = time.perf_counter()
    fired = worker.run_due()
    elapsed = time.perf_counter() - start
    left = len(store.deadlines())
    store.close()
    return fired, left, elapsed


def bench_fire(runs: int = 3) -> None:
    sync = os.environ.get("SYNC", "FULL").upper()  # the durability the worker commits with
    with tempfile.TemporaryDirectory() as folder:
        results = [_fire_once(Path(folder), run, sync) for run in range(runs)]
    fired, left = results[-1][0], results[-1][1]
    rate = statistics.median(r[0] / r[2] for r in results)
    elapsed = statistics.median(r[2] for r in results)
    print(f"fire: {FIRE} due deadlines, SQLite ({sync}), one worker, nothing cached")
    print(
        f"  fired {fired} ({left} left) in {elapsed:.2f} s: {rate:,.0f} per second "
        f"(median of {runs} runs)"
    )
    print("  (goal: >= 1,000 per second)")


def _insert_armed(db: object, count: int, mark: str) -> None:
    base = datetime.now(timezone.utc)
    rows = [
        (
            f"I-{n:07d}",
            "expire",
            base + timedelta(seconds=(n * 7919) % (365 * 86400)),
            1,
            "direct-sale",
        )
        for n in range(count)
    ]
    if mark == "?":
        text = [(*r[:2], r[2].isoformat(timespec="microseconds"), *r[3:]) for r in rows]
        db.executemany(  # type: ignore[attr-defined]
            "INSERT INTO deadlines (tx_id, trigger, due_at, armed_version, flow) "
            "VALUES (?, ?, ?, ?, ?)",
            text,
        )
    else:
        with db.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.executemany(
                "INSERT INTO deadlines (tx_id, trigger, due_at, armed_version, flow) "
                "VALUES (%s, %s, %s, %s, %s)",
                rows,
            )


def bench_index() -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "index.db", synchronous="NORMAL")
        db = store._connection()
        db.execute("BEGIN")
        _insert_armed(db, ARMED, "?")
        db.execute("COMMIT")
        db.execute("ANALYZE")
        now = datetime.now(timezone.utc) + timedelta(days=1)
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT tx_id FROM deadlines WHERE due_at <= ? "
            "ORDER BY due_at LIMIT 100",
            (now.isoformat(),),
        ).fetchall()
        seek = _best(lambda: store.due_deadlines(now, 100))
        scan = _best(lambda: db.execute("SELECT count(*) FROM deadlines").fetchone())
        due = len(store.due_deadlines(now, 10_000))
        store.close()
    print(f"index: {ARMED:,} armed deadlines in SQLite, {due} due in the next day")
    print(f"  plan: {' / '.join(str(row[-1]) for row in plan)}")
    print(
        f"  due_deadlines(now, 100): {seek * 1e3:.2f} ms; counting every row: {scan * 1e3:.2f} ms"
    )
    print("  (goal: found by an index, not a scan)")


def _best(fn: object, times: int = 5) -> float:
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def _pg_worker(
    dsn: str,
    schema: str,
    name: str,
    ready: Any,
    go: Any,
    result: Any,
) -> None:
    store = PostgresStore(dsn, schema=schema)
    worker = DeadlineWorker(Repository(store, FLOWS), batch=50, name=name)
    ready.put(name)
    go.wait()
    start = time.perf_counter()
    fired = worker.run_due()
    result.put((fired, start, time.perf_counter()))
    store.close()


def bench_postgres() -> None:
    dsn = os.environ.get("ECOMFLOW_BENCH_PG")
    if not dsn:
        print("postgres: set ECOMFLOW_BENCH_PG to a DSN to measure PostgreSQL")
        return
    import psycopg

    for workers in (1, 2):
        schema = f"bench_deadlines_{os.getpid()}_{workers}"
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        setup = PostgresStore(dsn, schema=schema)
        _arm_due(setup, FIRE, "P")
        setup.close()
        ready: Any = multiprocessing.Queue()
        result: Any = multiprocessing.Queue()
        go = multiprocessing.Event()
        processes = [
            multiprocessing.Process(
                target=_pg_worker, args=(dsn, schema, f"w{i}", ready, go, result)
            )
            for i in range(workers)
        ]
        for process in processes:
            process.start()
        for _ in processes:
            ready.get()  # imported and connected: time the firing only
        go.set()
        runs = [result.get() for _ in processes]
        for process in processes:
            process.join()
        fired = sum(run[0] for run in runs)
        elapsed = max(run[2] for run in runs) - min(run[1] for run in runs)
        print(
            f"postgres fire: {FIRE} due deadlines, {workers} worker process(es): fired {fired} "
            f"in {elapsed:.2f} s: {fired / elapsed:,.0f} per second"
        )
        if workers == 1:
            with psycopg.connect(dsn, autocommit=True) as db:
                db.execute(f"SET search_path TO {schema}")
                _insert_armed(db, ARMED, "%s")
                db.execute("ANALYZE deadlines")
                plan = db.execute(
                    "EXPLAIN SELECT tx_id FROM deadlines WHERE due_at <= now() + interval '1 day' "
                    "ORDER BY due_at LIMIT 100"
                ).fetchall()
            print(f"postgres index: {ARMED:,} armed; plan: {' / '.join(r[0] for r in plan)}")
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


SECTIONS = {"arm": bench_arm, "fire": bench_fire, "index": bench_index, "postgres": bench_postgres}

if __name__ == "__main__":
    wanted = sys.argv[1:] or ["arm", "fire", "index"]
    for section in wanted:
        SECTIONS[section]()
