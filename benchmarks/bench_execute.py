"""Benchmark: ``Repository.execute`` at version 1, 100 and 10,000 (goal: v10k within 2x of v1).

Run with ``python benchmarks/bench_execute.py [--db URL] [--flow direct-sale]`` (default
``memory://``; ``sqlite:///path`` or ``postgresql://127.0.0.1/test``). Each
level has its own direct sale, moved to that version by declined payments; a command is
one ``choose_payment`` or ``decline_payment``. Rounds interleave the levels; each figure
is the median over rounds of the mean wall and CPU time of ``--commands`` executes.

- warm: one repository (its cache, checked by ``store.version``);
- cold: a new repository per command (the newest snapshot and the events after it);
- replay: a new repository with ``snapshot_every=0, cache_size=0`` (the whole history,
  as every command did before), for reference.

Prints a table; asserts nothing (timings on shared machines are noisy).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ecomflow import FLOWS, Flow, Money
from ecomflow.store import EventStore, Repository, open_store

LEVELS = (1, 100, 10_000)
ORDER = {
    "customer_name": "Li",
    "address": "Beijing",
    "goods_name": "tea",
    "quantity": 2,
    "specification": "tin",
    "unit_price": Money("30", "CNY"),
}


def counter_flow() -> Flow[Any]:
    """The test suite's counter: a context that stays the same size at any version."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.toy import COUNTER

    return COUNTER


class Scenario:
    """A flow, how to move one of its transactions to a version, and its next command."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.flows: Mapping[str, Flow[Any]] = (
            {"counter": counter_flow()} if name == "counter" else FLOWS
        )
        self._chosen: set[str] = set()  # direct sales whose payment method was just chosen

    def prepare(self, store: EventStore, tx_id: str, version: int, snapshots: bool) -> None:
        """Store a transaction at ``version`` (or one past it), saved every 500 versions.

        Saved in parts, as a shop's commands would have: one append of 10,000 versions
        would also pass PostgreSQL's limit of 65,535 parameters per statement.
        """
        repo = Repository(store, self.flows, snapshot_every=100 if snapshots else 0)
        if self.name == "counter":
            tx = repo.start("counter", tx_id)
            while tx.version < version:
                tx.fire("bump")
                if tx.version % 500 == 0:
                    repo.save(tx)
        else:
            tx = repo.start("direct-sale", tx_id, merchant="Tea House")
            tx.fire("fill_order", **ORDER)  # version 1
            while tx.version < version:  # the context keeps every decline: it grows
                tx.fire("choose_payment", method="credit_card", card_last4="1234")
                tx.fire("decline_payment", reason="insufficient funds")
                if tx.version % 500 == 1:
                    repo.save(tx)
        repo.save(tx)

    def command(self, repo: Repository, tx_id: str) -> None:
        """Run the transaction's next command."""
        if self.name == "counter":
            repo.execute(tx_id, "bump")
        elif tx_id in self._chosen:
            self._chosen.discard(tx_id)
            repo.execute(tx_id, "decline_payment", reason="no")
        else:
            self._chosen.add(tx_id)
            repo.execute(tx_id, "choose_payment", method="credit_card", card_last4="1234")


def timed(run: Callable[[], None], count: int) -> tuple[float, float]:
    """Return the mean wall and CPU milliseconds of ``count`` calls of ``run``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        run()
    return (
        (time.perf_counter() - wall) * 1000 / count,
        (time.process_time() - cpu) * 1000 / count,
    )


def main() -> None:
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", default="memory://", help="store URL (default memory://)")
    parser.add_argument("--flow", choices=("counter", "direct-sale"), default="counter")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--commands", type=int, default=20, help="executes per level per round")
    args = parser.parse_args()
    scenario = Scenario(args.flow)
    flows = scenario.flows
    store = open_store(args.db)
    warm = Repository(store, flows)
    run = uuid.uuid4().hex[:8]  # a database kept between runs holds the last run's ids
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for round_ in range(args.rounds):
        for level in LEVELS:
            tx_id, plain = f"bench-{run}-{level}-{round_}", f"plain-{run}-{level}-{round_}"
            scenario.prepare(store, tx_id, level, snapshots=True)  # fresh: the level holds
            scenario.prepare(store, plain, level, snapshots=False)
            warm.load(tx_id)  # the first load is a cold one: "cold" measures it
            modes: list[tuple[str, Callable[[], None], int]] = [
                ("warm", lambda t=tx_id: scenario.command(warm, t), args.commands),
                (
                    "cold",
                    lambda t=tx_id: scenario.command(Repository(store, flows), t),
                    args.commands,
                ),
                (
                    "replay",
                    lambda t=plain: scenario.command(
                        Repository(store, flows, snapshot_every=0, cache_size=0), t
                    ),
                    max(1, args.commands // 10),
                ),
            ]
            for mode, run, count in modes:
                results.setdefault((mode, level), []).append(timed(run, count))
    print(
        f"execute, {args.flow} flow, on {args.db}: {args.rounds} interleaved rounds, "
        "medians of per-command means"
    )
    print(f"{'mode':<8}{'version':>10}{'wall ms':>10}{'cpu ms':>10}{'x v1 (wall)':>13}")
    for mode in ("warm", "cold", "replay"):
        base = statistics.median(w for w, _ in results[(mode, 1)])
        for level in LEVELS:
            walls = [w for w, _ in results[(mode, level)]]
            cpus = [c for _, c in results[(mode, level)]]
            wall = statistics.median(walls)
            ratio = wall / base
            goal = ""
            if level == 10_000 and mode != "replay":
                goal = "  goal: v10k within 2x of v1: " + ("met" if ratio <= 2 else "NOT met")
            print(
                f"{mode:<8}{level:>10,}{wall:>10.3f}{statistics.median(cpus):>10.3f}"
                f"{ratio:>12.2f}x{goal}"
            )
    print("warm: one repository (cache); cold: a new repository per command (snapshot +")
    print("tail); replay: no snapshot, no cache (every command replays the whole history).")
    store.close()


if __name__ == "__main__":
    main()
