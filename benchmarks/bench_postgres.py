"""Benchmark: ecomflow's PostgreSQL store with 1, 2 and 4 writer processes, against raw psycopg.

Run with ``python benchmarks/bench_postgres.py [--commits N] [--rounds R]`` after
``pip install -e '.[test]'``, with a server at $ECOMFLOW_TEST_PG (default
postgresql://127.0.0.1:5432/test). Each writer process appends to a transaction of its
own, one transition (two events) per commit, as a Repository does (with the current-state
head); raw psycopg does the same two INSERTs into the same table, one COMMIT each, with the
same durability (the server's synchronous_commit). The kinds and process counts are run
in interleaved rounds on fresh schemas; medians are printed, wall and client CPU time side
by side, each goal beside its figure. A third kind, "global-lock", is ecomflow with a lock
held to COMMIT as before issue 11, for comparison. Then a contended run: 4 processes firing
on 3 shared transactions, reloading on conflict; lost and duplicated transitions are
counted from the table. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.toy import COUNTER

from ecomflow import ConcurrencyConflict, Event
from ecomflow.store import PostgresStore
from ecomflow.store._base import INSERT_COLUMNS, Head, Query, event_rows, json_text
from ecomflow.store._postgres import _APPEND_LOCK

PG = os.environ.get("ECOMFLOW_TEST_PG", "postgresql://127.0.0.1:5432/test")
PROCESSES = (1, 2, 4)
KINDS = ("ecomflow", "global-lock", "raw")


def counter_events(tx_id: str, transitions: int) -> list[list[Event]]:
    """Per version, the events of a counter transaction (two events a transition)."""
    tx = COUNTER.start(tx_id)
    for _ in range(transitions):
        tx.fire("bump")
    by_version: dict[int, list[Event]] = {}
    for event in tx.events:
        by_version.setdefault(event.version, []).append(event)
    return [by_version[v] for v in sorted(by_version)]


def _schema() -> tuple[str, str]:
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    PostgresStore(PG, schema=name).close()  # the tables
    return name, f"{PG}{'&' if '?' in PG else '?'}options=-csearch_path%3D{name}"


def _drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {name} CASCADE")


def _writer(kind: str, dsn: str, tx_id: str, count: int, go: Any, out: Any) -> None:
    """Append ``count`` transitions to ``tx_id``; report (wall, cpu) from the common start."""
    versions = counter_events(tx_id, count)
    if kind == "global-lock":  # the design before issue 11, for comparison
        real = PostgresStore._insert

        def serialised(self: PostgresStore, db: Any, rows: Any) -> str:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_APPEND_LOCK + 1,))  # to COMMIT
            return real(self, db, rows)

        PostgresStore._insert = serialised  # type: ignore[method-assign]  # this process only
    if kind in ("ecomflow", "global-lock"):
        store = PostgresStore(dsn)
        store.append("counter", versions[0], -1, head=Head("counting"))
        go.wait()
        wall, cpu = time.perf_counter(), time.process_time()
        for version, events in enumerate(versions[1:], start=1):
            store.append("counter", events, version - 1, head=Head("counting"))
        out.put((time.perf_counter() - wall, time.process_time() - cpu))
        store.close()
        return
    import psycopg
    from psycopg.types.json import Jsonb

    rows = [
        event_rows("counter", events, lambda d: Jsonb(d, dumps=json_text), lambda t: t)
        for events in versions
    ]
    row = f"({', '.join(['%s'] * 13)})"
    with psycopg.connect(dsn) as db:
        go.wait()
        wall, cpu = time.perf_counter(), time.process_time()
        for batch in rows[1:]:  # one multi-row INSERT and one COMMIT, as ecomflow's append
            db.execute(
                f"INSERT INTO events ({INSERT_COLUMNS}) VALUES {', '.join([row] * len(batch))}",
                [value for values in batch for value in values],
            )
            db.commit()
        out.put((time.perf_counter() - wall, time.process_time() - cpu))


def run(kind: str, processes: int, commits: int) -> tuple[float, float]:
    """Return (commits per second, client CPU ms per commit) for one run."""
    name, dsn = _schema()
    try:
        context = multiprocessing.get_context("fork")
        go, out = context.Event(), context.Queue()
        workers = [
            context.Process(target=_writer, args=(kind, dsn, f"P{n}", commits, go, out))
            for n in range(processes)
        ]
        for worker in workers:
            worker.start()
        time.sleep(0.5)  # let every writer connect and write its first version
        go.set()
        results = [out.get(timeout=600) for _ in workers]
        for worker in workers:
            worker.join()
        wall = max(w for w, _ in results)
        cpu = sum(c for _, c in results)
        total = commits * processes
        return total / wall, cpu / total * 1000
    finally:
        _drop(name)


def _firer(dsn: str, tx_ids: list[str], rounds: int, out: Any) -> None:
    store = PostgresStore(dsn)
    won: list[tuple[str, int]] = []
    conflicts = 0
    for _ in range(rounds):
        for tx_id in tx_ids:
            while True:
                _, events = store.load(tx_id)
                tx = COUNTER.replay(events)
                before = len(tx.events)
                tx.fire("bump")
                try:
                    store.append("counter", tx.events[before:], tx.version - 1, head=Head(tx.state))
                except ConcurrencyConflict:
                    conflicts += 1
                    continue
                won.append((tx_id, tx.version))
                break
    store.close()
    out.put((won, conflicts))


def contended(processes: int = 4, rounds: int = 40) -> tuple[int, int, int, int]:
    """Return (acknowledged, conflicts, lost, duplicated) counted from the table."""
    import psycopg

    name, dsn = _schema()
    try:
        tx_ids = ["S-1", "S-2", "S-3"]
        with PostgresStore(dsn) as store:
            for tx_id in tx_ids:
                store.append("counter", list(COUNTER.start(tx_id).events), -1)
        context = multiprocessing.get_context("fork")
        out = context.Queue()
        workers = [
            context.Process(target=_firer, args=(dsn, tx_ids, rounds, out))
            for _ in range(processes)
        ]
        for worker in workers:
            worker.start()
        results = [out.get(timeout=600) for _ in workers]
        for worker in workers:
            worker.join()
        acknowledged = {ack for won, _ in results for ack in won}
        count = sum(len(won) for won, _ in results)
        with psycopg.connect(dsn) as db:
            stored = set(
                db.execute(
                    "SELECT DISTINCT tx_id, version FROM events WHERE version > 0"
                ).fetchall()
            )
            duplicated = db.execute(
                "SELECT count(*) FROM (SELECT tx_id, version FROM events WHERE name = 'bumped' "
                "GROUP BY tx_id, version HAVING count(*) > 1) d"
            ).fetchone()[0]
        lost = len(acknowledged - stored) + (count - len(acknowledged))
        return count, sum(c for _, c in results), lost, int(duplicated) + len(stored - acknowledged)
    finally:
        _drop(name)


def find_ms(sizes: list[int], repeats: int = 300) -> dict[int, float]:
    """Return, by store size, the median ms of a find by state (a page of 50).

    Every size is filled first, then the finds alternate between the sizes, so that the
    machine's load falls on all of them alike.
    """
    import psycopg

    made = {size: _schema() for size in sizes}
    try:
        for size, (_, dsn) in made.items():
            with psycopg.connect(dsn, autocommit=True) as db:
                db.execute(
                    "INSERT INTO transactions SELECT 'X-' || i, CASE WHEN i %% 2 = 0 "
                    "THEN 'sale' ELSE 'b2b' END, 1, (ARRAY['pending', 'performance.delivery', "
                    "'done'])[i %% 3 + 1], 1, now(), now() - (i || ' seconds')::interval, '{}' "
                    "FROM generate_series(1, %s) i",
                    (size,),
                )
                db.execute("VACUUM ANALYZE transactions")
        stores = {size: PostgresStore(dsn) for size, (_, dsn) in made.items()}
        queries = [Query(state="pending", limit=50), Query(flow="sale", state="performance")]
        times: dict[int, list[float]] = {size: [] for size in sizes}
        for n in range(repeats):
            for size, store in stores.items():
                start = time.perf_counter()
                store.find(queries[n % 2])
                times[size].append((time.perf_counter() - start) * 1000)
        for store in stores.values():
            store.close()
        return {size: statistics.median(values) for size, values in times.items()}
    finally:
        for name, _ in made.values():
            _drop(name)


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=400, help="commits per process")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--find", type=int, nargs="*", default=[10_000, 1_000_000], help="store sizes for find"
    )
    args = parser.parse_args()
    try:
        import psycopg

        psycopg.connect(PG, connect_timeout=3).close()
    except Exception as error:
        raise SystemExit(f"No PostgreSQL server at {PG}: {error}") from None
    figures: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for processes in PROCESSES:
            for kind in KINDS:
                figures.setdefault((kind, processes), []).append(run(kind, processes, args.commits))
    median = {
        key: (
            statistics.median(r for r, _ in values),
            statistics.median(c for _, c in values),
        )
        for key, values in figures.items()
    }
    print(
        f"PostgreSQL at {PG}, {os.cpu_count()} CPUs, {args.commits} commits per process, "
        f"{args.rounds} interleaved rounds, medians"
    )
    print(f"{'writer':<44}{'commits/s':>11}{'client CPU ms/commit':>22}  goal")
    one = median[("ecomflow", 1)][0]
    for processes in PROCESSES:
        for kind in KINDS:
            rate, cpu = median[(kind, processes)]
            goal = ""
            if kind == "ecomflow" and processes == 4:  # the goals
                raw = median[("raw", 4)][0]
                goal = (
                    f"{rate / one:.2f}x one process (goal >= 2x); "
                    f"{rate / raw:.0%} of raw psycopg (goal >= 80%)"
                )
            elif kind != "raw" and processes > 1:
                base = median[(kind, 1)][0]
                goal = f"{rate / base:.2f}x one process"
            what = {
                "ecomflow": "ecomflow append",
                "global-lock": "ecomflow, lock to COMMIT (old)",
                "raw": "raw psycopg",
            }[kind]
            label = f"{what}, {processes} process(es)"
            print(f"{label:<44}{rate:>11.0f}{cpu:>22.3f}  {goal}")
    sizes = sorted(args.find)
    if sizes:
        found = find_ms(sizes)
        for size in sizes:
            ms = found[size]
            print(
                f"find by state, a page of 50, {size:,} transactions: {ms:.3f} ms "
                f"({ms / found[sizes[0]]:.2f}x the smallest; goal <= 2x)"
            )
    count, conflicts, lost, duplicated = contended()
    print(
        f"contended: 4 processes on 3 shared transactions: {count} acknowledged, "
        f"{conflicts} conflicts retried, {lost} lost (goal 0), {duplicated} duplicated (goal 0)"
    )


if __name__ == "__main__":
    main()
