"""Benchmark: ecomflow's event stores against raw drivers and the eventsourcing library.

Run with ``python benchmarks/bench_store.py`` after ``pip install -e '.[test,bench]'``.
Prints one table; asserts nothing. Every writer appends the same shape: one transition =
two events = one commit, on a fresh file in a temporary folder, WAL, the same
``synchronous`` setting. PostgreSQL rows run when a server answers at $ECOMFLOW_TEST_PG.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ecomflow import FLOWS, Event
from ecomflow.store import PostgresStore, Repository, SQLiteStore
from ecomflow.store._sqlite import _SCHEMA

COMMITS = 300
BATCH = 100  # transitions in one batched append
PG = os.environ.get("ECOMFLOW_TEST_PG", "postgresql://127.0.0.1:5432/test")


def counter_events(tx_id: str, transitions: int) -> list[list[Event]]:
    """Per version, the events of a counter-like transaction (two events a transition)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.toy import COUNTER

    tx = COUNTER.start(tx_id)
    for _ in range(transitions):
        tx.fire("bump")
    by_version: dict[int, list[Event]] = {}
    for event in tx.events:
        by_version.setdefault(event.version, []).append(event)
    return [by_version[v] for v in sorted(by_version)]


def rate(count: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return count / (time.perf_counter() - start)


def ecomflow_sqlite(folder: str, synchronous: str) -> float:
    store = SQLiteStore(Path(folder) / f"eco-{synchronous}.db", synchronous=synchronous)
    versions = counter_events("T", COMMITS)
    store.append("counter", versions[0], -1)

    def go() -> None:
        for version, events in enumerate(versions[1:], start=1):
            store.append("counter", events, version - 1)

    result = rate(COMMITS, go)
    store.close()
    return result


def raw_sqlite(folder: str, synchronous: str, batch: int = 1) -> float:
    db = sqlite3.connect(Path(folder) / f"raw-{synchronous}-{batch}.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    for statement in _SCHEMA.strip().split(";\n"):
        if statement.strip():
            db.execute(statement)
    rows = [
        (
            f"T:{v}:{s}",
            "T",
            "counter",
            v,
            s,
            "bump",
            "money",
            "bumped",
            json.dumps({"by": "anyone"}),
            "2026-11-24T00:00:00+00:00",
        )
        for v in range(1, COMMITS * batch + 1)
        for s in range(2)
    ]
    sql = (
        "INSERT INTO events (event_id, tx_id, flow, version, seq, trigger, stream, name, "
        "data, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )

    def go() -> None:
        step = 2 * batch
        for start in range(0, len(rows), step):
            db.execute("BEGIN IMMEDIATE")
            db.executemany(sql, rows[start : start + step])
            db.execute("COMMIT")

    result = rate(COMMITS, go)
    db.close()
    return result


def ecomflow_batched(folder: str) -> float:
    store = SQLiteStore(Path(folder) / "eco-batched.db")
    versions = counter_events("B", COMMITS * BATCH)
    store.append("counter", versions[0], -1)

    def go() -> None:
        for commit in range(COMMITS):
            first = 1 + commit * BATCH
            batch = [e for events in versions[first : first + BATCH] for e in events]
            store.append("counter", batch, first - 1)

    result = rate(COMMITS, go)
    store.close()
    return result


def eventsourcing_sqlite(folder: str) -> float | None:
    try:
        from eventsourcing.persistence import StoredEvent
        from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
    except ImportError:
        return None
    datastore = SQLiteDatastore(str(Path(folder) / "es.db"))
    recorder = SQLiteApplicationRecorder(datastore)
    recorder.create_table()
    originator = uuid.uuid4()
    state = json.dumps({"by": "anyone"}).encode()

    def go() -> None:
        for version in range(1, COMMITS + 1):
            recorder.insert_events(
                [
                    StoredEvent(originator, 2 * version, "bump", state),
                    StoredEvent(originator, 2 * version + 1, "echo", state),
                ]
            )

    return rate(COMMITS, go)


def replay_rate(folder: str) -> tuple[float, float]:
    """Events/s for Flow.replay alone, and for Repository.load (SQLite read + replay)."""
    from ecomflow._demos import DEMOS

    store = SQLiteStore(Path(folder) / "replay.db", synchronous="NORMAL")
    repo = Repository(store, FLOWS)
    start, steps = DEMOS["direct-sale"]
    assert isinstance(start, dict)
    ids = [f"R-{n}" for n in range(200)]
    for tx_id in ids:
        tx = repo.start("direct-sale", tx_id, **start)
        for trigger, payload in steps:
            tx.fire(trigger, **payload)
        repo.save(tx)
    histories = [store.load(tx_id)[1] for tx_id in ids]
    count = sum(len(h) for h in histories)
    flow = FLOWS["direct-sale"]
    pure = rate(count, lambda: [flow.replay(h) for h in histories] and None)
    loaded = rate(count, lambda: [repo.load(tx_id) for tx_id in ids] and None)
    store.close()
    return pure, loaded


def _pg_worker(kind: str, dsn: str, tx_id: str, count: int, out: multiprocessing.Queue) -> None:
    versions = counter_events(tx_id, count)
    if kind == "ecomflow":
        store = PostgresStore(dsn)
        store.append("counter", versions[0], -1)
        start = time.perf_counter()
        for version, events in enumerate(versions[1:], start=1):
            store.append("counter", events, version - 1)
        out.put(time.perf_counter() - start)
        store.close()
        return
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(dsn) as db:
        start = time.perf_counter()
        for version, events in enumerate(versions[1:], start=1):
            with db.transaction(), db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO events (event_id, tx_id, flow, version, seq, trigger, stream, "
                    "name, data, occurred_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            f"{e.event_id}:raw",
                            f"{tx_id}:raw",
                            "counter",
                            e.version,
                            e.seq,
                            e.trigger,
                            e.stream.value,
                            e.name,
                            Jsonb(dict(e.data)),
                            e.occurred_at,
                        )
                        for e in events
                    ],
                )
            del version
        out.put(time.perf_counter() - start)


def postgres(processes: int, kind: str) -> float | None:
    try:
        import psycopg

        psycopg.connect(PG, connect_timeout=3).close()
    except Exception:  # no server: the rows are skipped
        return None
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    dsn = f"{PG}{'&' if '?' in PG else '?'}options=-csearch_path%3D{schema}"
    PostgresStore(dsn).close()  # creates the schema's tables
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    count = COMMITS // processes
    workers = [
        context.Process(target=_pg_worker, args=(kind, dsn, f"P{n}", count, out))
        for n in range(processes)
    ]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    with psycopg.connect(PG, autocommit=True) as admin:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
    return count * processes / elapsed


def main() -> None:
    """Run every measurement and print the table."""
    with tempfile.TemporaryDirectory() as folder:
        rows: list[tuple[str, float | None, str]] = []
        for sync in ("FULL", "NORMAL"):
            eco, raw = ecomflow_sqlite(folder, sync), raw_sqlite(folder, sync)
            rows.append(
                (
                    f"ecomflow SQLite append, synchronous={sync}",
                    eco,
                    f"{eco / raw:.0%} of raw sqlite3",
                )
            )
            rows.append((f"raw sqlite3 insert+commit, synchronous={sync}", raw, ""))
        es = eventsourcing_sqlite(folder)
        eco_full = rows[0][1]
        assert eco_full is not None
        rows.append(
            (
                "eventsourcing SQLite recorder (WAL, FULL)",
                es,
                "" if es is None else f"ecomflow is {eco_full / es:.1f}x",
            )
        )
        batched, raw_batched = ecomflow_batched(folder), raw_sqlite(folder, "FULL", BATCH)
        rows.append(
            (
                f"ecomflow batched append ({BATCH} transitions)",
                batched,
                f"{batched / raw_batched:.0%} of raw executemany",
            )
        )
        rows.append((f"raw sqlite3 executemany ({BATCH} transitions)", raw_batched, ""))
        for processes in (1, 4):
            eco_pg, raw_pg = postgres(processes, "ecomflow"), postgres(processes, "raw")
            note = "" if not (eco_pg and raw_pg) else f"{eco_pg / raw_pg:.0%} of raw psycopg"
            rows.append((f"ecomflow PostgreSQL append, {processes} process(es)", eco_pg, note))
            rows.append((f"raw psycopg insert+commit, {processes} process(es)", raw_pg, ""))
        pure, loaded = replay_rate(folder)
    print(f"Durable appends: one transition (two events) per commit; {COMMITS} commits each")
    print(f"{'writer':52} {'commits/s':>10}  note")
    for name, value, note in rows:
        shown = "skipped" if value is None else f"{value:,.0f}"
        print(f"{name:52} {shown:>10}  {note}")
    print()
    print(f"{'replay (direct sale, 200 transactions)':52} {'events/s':>10}")
    print(f"{'Flow.replay':52} {pure:>10,.0f}")
    print(f"{'Repository.load (SQLite read + replay)':52} {loaded:>10,.0f}")


if __name__ == "__main__":
    main()
