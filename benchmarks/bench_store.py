"""Benchmark: ecomflow's event stores against raw drivers and the eventsourcing library.

Run with ``python benchmarks/bench_store.py [sqlite] [find] [replay]`` (all
sections by default) after ``pip install -e '.[test,bench]'``. Prints tables; asserts
nothing. SQLite writers append the same shape: one transition = two events = one commit,
on a fresh file in a temporary folder, WAL, ``synchronous=FULL``, in interleaved rounds
(medians, wall and CPU time side by side, the issue's goal beside each figure).
PostgreSQL is measured by ``benchmarks/bench_postgres.py`` (1, 2 and 4 writer processes
against raw psycopg on the schema-3 tables, the contended run, find on 10k and 1M
transactions); its old section here, which inserted into a schema-2 table, is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs

from ecomflow import FLOWS, Event
from ecomflow.store import Repository, SQLiteStore
from ecomflow.store._base import INSERT_COLUMNS, Head, Query, event_rows, json_text

COMMITS = 300


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


# -- SQLite: one commit per transition, synchronous=FULL for everyone -----------------------

ROUNDS = int(
    os.environ.get("BENCH_ROUNDS", "7")
)  # interleaved: each round runs every writer once, in a rotated order
HEAD = Head("counting", summary={"total": "10.00", "buyer": "Li"})
_ROW_DATA = json.dumps({"by": "anyone"})  # eventsourcing's state
_RAW_EVENTS = f"INSERT INTO events ({INSERT_COLUMNS}) VALUES ({', '.join('?' * 13)})"
_RAW_HEAD = (
    "INSERT INTO transactions (tx_id, flow, flow_version, state, version, created_at, "
    "updated_at, summary) VALUES (?, 'counter', 1, 'counting', ?, ?, ?, ?) "
    "ON CONFLICT (tx_id) DO UPDATE SET state = excluded.state, version = excluded.version, "
    "updated_at = excluded.updated_at, summary = excluded.summary "
    "WHERE transactions.version = excluded.version - 1"
)


@attrs.frozen
class Timing:
    """One writer's run: wall and CPU seconds for ``COMMITS`` commits."""

    wall: float
    cpu: float


class SQLiteWriter:
    """A writer of ``COMMITS`` one-transition commits into a fresh file of its own."""

    name = ""

    def setup(self, path: Path) -> None:
        """Create the file and anything the writer needs before the timed commits."""

    def commit(self, version: int) -> None:
        """Write transition ``version`` (1 to COMMITS) in one durable commit."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file."""


class EcomflowWriter(SQLiteWriter):
    name = "ecomflow SQLiteStore.append (+ current-state row)"

    def setup(self, path: Path) -> None:
        self.store = SQLiteStore(path, synchronous="FULL")
        self.versions = counter_events("T", COMMITS)
        self.store.append("counter", self.versions[0], -1, head=HEAD)

    def commit(self, version: int) -> None:
        self.store.append("counter", self.versions[version], version - 1, head=HEAD)

    def close(self) -> None:
        self.store.close()


class RawWriter(SQLiteWriter):
    """raw sqlite3: the same schema and rows; BEGIN IMMEDIATE, executemany, COMMIT."""

    name = "raw sqlite3, the same event rows"
    head = False

    def setup(self, path: Path) -> None:
        SQLiteStore(path).close()  # the same tables and indexes as ecomflow's
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA synchronous=FULL")
        versions = counter_events("T", COMMITS)  # ecomflow's rows, encoded beforehand
        self.rows = [event_rows("counter", e, json_text, datetime.isoformat) for e in versions]
        now = "2026-11-24T00:00:00.000000+00:00"
        self.db.executemany(_RAW_EVENTS, self.rows[0])
        self.db.execute(_RAW_HEAD, ("T", 0, now, now, "{}"))
        self.summary = json_text(HEAD.summary)

    def commit(self, version: int) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(_RAW_EVENTS, self.rows[version])
        if self.head:
            now = "2026-11-24T00:00:00.000000+00:00"
            self.db.execute(_RAW_HEAD, ("T", version, now, now, self.summary))
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


class RawHeadWriter(RawWriter):
    name = "raw sqlite3, the same rows + current-state upsert"
    head = True


class EventsourcingWriter(SQLiteWriter):
    name = "eventsourcing SQLiteApplicationRecorder"

    def setup(self, path: Path) -> None:
        from eventsourcing.persistence import StoredEvent
        from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

        self.stored = StoredEvent
        self.recorder = SQLiteApplicationRecorder(SQLiteDatastore(str(path)))
        self.recorder.create_table()
        self.originator = uuid.uuid4()
        self.state = _ROW_DATA.encode()
        self.recorder.insert_events([StoredEvent(self.originator, 1, "begin", self.state)])

    def commit(self, version: int) -> None:
        o, state = self.originator, self.state
        self.recorder.insert_events(
            [
                self.stored(o, 2 * version, "bump", state),
                self.stored(o, 2 * version + 1, "echo", state),
            ]
        )


def sqlite_writers() -> list[SQLiteWriter]:
    """Every SQLite writer compared; eventsourcing only when it is installed."""
    writers: list[SQLiteWriter] = [EcomflowWriter(), RawWriter(), RawHeadWriter()]
    try:
        import eventsourcing.sqlite  # noqa: F401
    except ImportError:
        print("eventsourcing is not installed (pip install -e '.[bench]'): its row is skipped")
    else:
        writers.append(EventsourcingWriter())
    return writers


def run_writer(writer: SQLiteWriter, folder: str) -> Timing:
    """Time ``COMMITS`` commits of ``writer`` on a fresh file in ``folder``."""
    where = Path(tempfile.mkdtemp(dir=folder))
    writer.setup(where / "store.db")
    wall, cpu = time.perf_counter(), time.process_time()
    for version in range(1, COMMITS + 1):
        writer.commit(version)
    timing = Timing(time.perf_counter() - wall, time.process_time() - cpu)
    writer.close()
    shutil.rmtree(where)
    return timing


def wal_bytes_per_commit(writer: SQLiteWriter, folder: str) -> float:
    """Bytes appended to the WAL per commit (frames: pages written, with headers).

    A reader holds a snapshot from before the first commit, so the WAL cannot restart
    and grows by exactly what each commit writes.
    """
    where = Path(tempfile.mkdtemp(dir=folder))
    path = where / "store.db"
    writer.setup(path)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    wal = Path(f"{path}-wal")
    before = wal.stat().st_size
    for version in range(1, COMMITS + 1):
        writer.commit(version)
    grown = wal.stat().st_size - before
    reader.close()
    writer.close()
    shutil.rmtree(where)
    return grown / COMMITS


def sqlite_commits(folder: str) -> None:
    """Print commits/s (wall and CPU), WAL bytes per commit and the goals beside them."""
    writers = sqlite_writers()
    timings: dict[str, list[Timing]] = {w.name: [] for w in writers}
    for round_ in range(ROUNDS):
        shift = round_ % len(writers)
        for writer in writers[shift:] + writers[:shift]:
            timings[writer.name].append(run_writer(writer, folder))
    wall = {n: COMMITS / statistics.median(t.wall for t in ts) for n, ts in timings.items()}
    cpu = {n: COMMITS / statistics.median(t.cpu for t in ts) for n, ts in timings.items()}
    wal = {w.name: wal_bytes_per_commit(w, folder) for w in writers}
    eco = EcomflowWriter.name
    print(
        f"SQLite, one transition (two events) per commit, WAL, synchronous=FULL for everyone; "
        f"{COMMITS} commits, median of {ROUNDS} interleaved rounds"
    )
    print(f"{'writer':52} {'wall c/s':>9} {'CPU c/s':>9} {'WAL/commit':>11}  goal")
    goals = {
        RawWriter.name: "ecomflow >= 85% of this",
        RawHeadWriter.name: "(the same work as ecomflow)",
        EventsourcingWriter.name: "ecomflow >= 1.0x this",
    }
    for name in timings:
        print(
            f"{name:52} {wall[name]:>9,.0f} {cpu[name]:>9,.0f} {wal[name] / 1024:>8.1f} KiB"
            f"  {goals.get(name, '')}"
        )
    for other, goal in ((RawWriter.name, 0.85), (RawHeadWriter.name, 0.85)):
        print(
            f"  ecomflow / {other}: wall {wall[eco] / wall[other]:.0%}, CPU "
            f"{cpu[eco] / cpu[other]:.0%} (goal >= {goal:.0%} of the raw event rows)"
        )
    if EventsourcingWriter.name in wall:
        es = EventsourcingWriter.name
        print(
            f"  ecomflow / eventsourcing: wall {wall[eco] / wall[es]:.2f}x, CPU "
            f"{cpu[eco] / cpu[es]:.2f}x (goal >= 1.0x)"
        )
    print()


# -- find: an index seek whose time does not grow with the store --------------------------

FIND_SIZES = (10_000, 1_000_000)
STATES = ("awaiting_payment", "performance.delivery", "performance.payment", "completed")


def build_find_store(path: Path, size: int) -> None:
    """Fill the current-state table with ``size`` transactions, quickly.

    Straight into the table with executemany (synchronous=OFF, one transaction), not
    through appends: find reads only this table (and events, for an actor), so its
    time depends on this table's size. Two flows, four states, one update a second.
    """
    SQLiteStore(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = (
        (
            f"T-{n:08d}",
            "b2b" if n % 5 == 0 else "direct-sale",
            1,
            STATES[n % len(STATES)],
            n % 13,
            (start + timedelta(seconds=n)).isoformat(timespec="microseconds"),
            (start + timedelta(seconds=n + 30 * (n % 7))).isoformat(timespec="microseconds"),
            '{"total": "10.00"}',
        )
        for n in range(size)
    )
    db.executemany("INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")
    db.close()


FIND_QUERIES = {
    "state=awaiting_payment": Query(state="awaiting_payment"),
    "flow + state": Query(flow="b2b", state="completed"),
    "state=performance (2 inside)": Query(state="performance"),
    "flow only": Query(flow="direct-sale"),
    "everything, page 2 by cursor": Query(limit=100),
}


def find_times(folder: str) -> None:
    """Print find's median time on 10k and 1M transactions and the ratio (goal <= 2x)."""
    medians: dict[int, dict[str, float]] = {}
    for size in FIND_SIZES:
        path = Path(folder) / f"find-{size}.db"
        started = time.perf_counter()
        build_find_store(path, size)
        built = time.perf_counter() - started
        store = SQLiteStore(path)
        medians[size] = {}
        for name, query in FIND_QUERIES.items():
            if name.startswith("everything"):
                query = Query(limit=100, after=store.find(query)[-1].cursor)
            store.find(query)  # warm the cache, as a running shop's is
            runs = []
            for _ in range(50):
                begun = time.perf_counter()
                found = store.find(query)
                runs.append(time.perf_counter() - begun)
            assert len(found) == 100, (name, len(found))
            medians[size][name] = statistics.median(runs)
        store.close()
        print(f"  ({size:,} transactions built in {built:.1f} s with executemany)")
    small, large = FIND_SIZES
    print(f"find (100 rows a page), median of 50: {small:,} vs {large:,} transactions")
    print(f"{'query':36} {f'{small:,}':>10} {f'{large:,}':>10}  ratio (goal <= 2x)")
    for name in FIND_QUERIES:
        a, b = medians[small][name], medians[large][name]
        print(f"{name:36} {a * 1000:>8.2f}ms {b * 1000:>8.2f}ms  {b / a:.2f}x")
    print()


def replay_rate(folder: str) -> tuple[float, float]:
    """Events/s for Flow.replay alone, and for Repository.load (SQLite read + replay)."""
    from ecomflow.flows import sample_of

    store = SQLiteStore(Path(folder) / "replay.db", synchronous="NORMAL")
    repo = Repository(store, FLOWS)
    sample = sample_of("direct-sale")
    start, steps = sample.start, sample.steps
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


SECTIONS = ("sqlite", "find", "replay")


def main() -> None:
    """Run the sections named on the command line (all by default) and print their tables."""
    wanted = [a for a in sys.argv[1:] if a in SECTIONS] or list(SECTIONS)
    with tempfile.TemporaryDirectory() as folder:
        if "sqlite" in wanted:
            sqlite_commits(folder)
        if "find" in wanted:
            find_times(folder)
        if "replay" in wanted:
            pure, loaded = replay_rate(folder)
            print(f"{'replay (direct sale, 200 transactions)':52} {'events/s':>10}")
            print(f"{'Flow.replay':52} {pure:>10,.0f}")
            print(f"{'Repository.load (SQLite read + replay)':52} {loaded:>10,.0f}")


if __name__ == "__main__":
    main()
