"""Benchmark: a guarded direct sale on ecomflow against its peers, every figure beside its goal.

Run ``python benchmarks/bench_direct_sale.py`` (``pip install -e '.[bench]'`` for the
python-statemachine peer); ``--callgrind`` also counts instructions per transition under
``valgrind --tool=callgrind``, which stays stable on a shared machine where times do not.
Nothing here is asserted: ``tests/`` hold no timing assertions.

The work (issue 12, "Speed"): the garbage collector is on and ``--orders`` (2,000) orders
are alive at once. Every peer walks each order through the direct sale's happy path, six
guarded transitions (fill_order, choose_payment, approve_payment, dispatch, deliver,
settle), with the same payload values (:data:`PATH`). Orders are made before the clock
starts; only the six transitions are timed. What each peer does per transition:

- **ecomflow**: the typed method (``tx.fill_order(...)``), that is ``Transaction.fire``:
  checks the keyword arguments against the payload's fields, builds the attrs payload (its
  validators run), reads the clock, runs the transition's guards, its effect (the new
  immutable context), and records its events (data built, scanned for card numbers, frozen,
  ``Event`` objects kept by the transaction): 12 events per sale.
- **transitions**: ONE shared ``transitions.Machine`` (``model=None``, the graph of the six
  steps; orders are not added as models). Per transition the loop builds the same attrs
  payload from the same values (the same validators run), fires
  ``machine.events[trigger].trigger(order, context, payload)``, where the transition's
  ``conditions`` are the flow's own guard functions, one condition each, called on the
  order's context and the payload; when it moves, the loop applies the flow's own effect
  to the order's context (the same immutable context ecomflow keeps, so the guards read the
  same data). No events.
- **python-statemachine**: one ``StateMachine`` per order (its design), the same graph with
  the same guard functions as ``cond``; ``sm.send(trigger, payload=...)`` with the same
  attrs payload; the effect applied to ``sm.context`` as above. No events.
- **guarded dict FSM** (a floor, no goal): a dict from (state, trigger) to (destination,
  payload class, guards, effect); the same payload, guards and effect in a plain loop.

Also timed: a nested b2b transition (in the parallel ``performance`` phase) against a
direct-sale one, both ecomflow with their events: 2,000 b2b orders are brought to
``contract.signed`` untimed, then the ten transitions that run inside the nested and
parallel states are timed (goal: at most 1.5x a direct-sale transition).

Rounds are interleaved (each round runs every peer, in a rotated order) and each figure is
the median of the rounds, wall time (``perf_counter``) beside CPU time (``process_time``).
The objects and bytes a finished sale keeps for the collector are counted with
``gc.get_objects()`` and ``tracemalloc``.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from transitions import Machine

from ecomflow import Money
from ecomflow.flows import FLOWS
from ecomflow.flows.direct_sale import FLOW

ORDERS = 2000
ROUNDS = 9
UNIT, TOTAL = Money("19.90", "CNY"), Money("39.80", "CNY")
MERCHANT = "Hangzhou Tea House"

PATH: tuple[tuple[str, str, Mapping[str, Any]], ...] = (
    (
        "fill_order",
        "browsing",
        {
            "customer_name": "Li Lei",
            "address": "1 Chang'an Avenue, Beijing",
            "goods_name": "green tea",
            "quantity": 2,
            "specification": "250 g tin",
            "unit_price": UNIT,
        },
    ),
    ("choose_payment", "order_filled", {"method": "credit_card", "card_last4": "1111"}),
    ("approve_payment", "payment_method_chosen", {"amount": TOTAL, "reference": "AUTH-0001"}),
    ("dispatch", "payment_authorized", {"carrier": "SF Express", "tracking_ref": "SF1001"}),
    ("deliver", "shipping", {"received_by": "Li Lei"}),
    ("settle", "delivered", {"statement_ref": "ST-2026-11"}),
)
"""The direct sale's happy path: (trigger, from state, payload values), the same for every peer."""

STEPS = len(PATH)
SPECS = [FLOW.engine.transition(source, trigger) for trigger, source, _ in PATH]
"""The flow's own transitions: the peers take their payload classes, guards and effects."""


def _checks(spec: Any) -> list[Callable[[Any, Any], str | None]]:
    assert not any(guard.uses_clock for guard in spec.guards)
    return [guard.check for guard in spec.guards]


def _start_context() -> Any:
    return FLOW.definition.start.effect(None, FLOW.definition.start.payload(merchant=MERCHANT))


# -- peers: prepare(n) makes n live orders (untimed); run(orders) walks them (timed) ------


def ecomflow_prepare(n: int) -> Any:
    """``n`` direct-sale transactions, started."""
    return [FLOW.start(f"A-{i}", merchant=MERCHANT) for i in range(n)]


def ecomflow_run(txs: Any) -> None:
    """Fire the six steps through the typed methods."""
    fill, choose, approve, dispatch, deliver, settle = (values for _, _, values in PATH)
    for tx in txs:
        tx.fill_order(**fill)
        tx.choose_payment(**choose)
        tx.approve_payment(**approve)
        tx.dispatch(**dispatch)
        tx.deliver(**deliver)
        tx.settle(**settle)


class Order:
    """A model for the bare peers: its state and its context."""

    __slots__ = ("context", "state")

    def __init__(self, context: Any) -> None:
        self.state = "browsing"
        self.context = context


def _condition(check: Callable[[Any, Any], str | None]) -> Callable[[Any, Any], bool]:
    def condition(context: Any, payload: Any) -> bool:
        return check(context, payload) is None

    return condition


SHARED = Machine(
    model=None,
    states=[state for _, state, _ in PATH] + ["settled"],
    transitions=[
        {
            "trigger": trigger,
            "source": source,
            "dest": spec.dest,
            "conditions": [_condition(check) for check in _checks(spec)],
        }
        for (trigger, source, _), spec in zip(PATH, SPECS, strict=True)
    ],
    initial="browsing",
    auto_transitions=False,
)
"""The one shared ``transitions`` machine: the same graph, the flow's guards as conditions."""


def transitions_prepare(n: int) -> Any:
    """``n`` orders (plain models) at ``browsing``, with the started context."""
    return [Order(_start_context()) for _ in range(n)]


def transitions_run(orders: Any) -> None:
    """Build each payload, fire it through the shared machine, apply the effect."""
    steps = [
        (SHARED.events[trigger], spec.payload, values, spec.effect)
        for (trigger, _, values), spec in zip(PATH, SPECS, strict=True)
    ]
    for order in orders:
        for event, payload_type, values, effect in steps:
            payload = payload_type(**values)
            if not event.trigger(order, order.context, payload):
                raise RuntimeError("refused")
            order.context = effect(order.context, payload)


def _psm_class() -> Any:
    from statemachine import State, StateMachine

    def cond(check: Callable[[Any, Any], str | None]) -> Callable[..., bool]:
        def condition(machine: Any, payload: Any) -> bool:
            return check(machine.context, payload) is None

        return condition

    names = [state for _, state, _ in PATH] + ["settled"]
    body: dict[str, Any] = {
        name: State(initial=index == 0, final=name == "settled") for index, name in enumerate(names)
    }
    for index, ((trigger, _, _), spec) in enumerate(zip(PATH, SPECS, strict=True)):
        body[trigger] = body[names[index]].to(
            body[names[index + 1]], cond=[cond(check) for check in _checks(spec)]
        )
    return type("DirectSaleSM", (StateMachine,), body)


def psm_prepare(n: int) -> Any:
    """``n`` python-statemachine machines (one per order, its design) with their context."""
    machine_type = _psm_class()
    machines = []
    for _ in range(n):
        machine = machine_type()
        machine.context = _start_context()
        machines.append(machine)
    return machines


def psm_run(machines: Any) -> None:
    """Build each payload, send it (guards as ``cond``), apply the effect."""
    steps = [
        (trigger, spec.payload, values, spec.effect)
        for (trigger, _, values), spec in zip(PATH, SPECS, strict=True)
    ]
    for machine in machines:
        for trigger, payload_type, values, effect in steps:
            payload = payload_type(**values)
            machine.send(trigger, payload=payload)
            machine.context = effect(machine.context, payload)


TABLE = {
    (source, trigger): (spec.dest, spec.payload, _checks(spec), spec.effect)
    for (trigger, source, _), spec in zip(PATH, SPECS, strict=True)
}


def dict_run(orders: Any) -> None:
    """The floor: a dict lookup, the payload, the guards and the effect in a plain loop."""
    table = TABLE
    for order in orders:
        for trigger, _, values in PATH:
            dest, payload_type, checks, effect = table[(order.state, trigger)]
            payload = payload_type(**values)
            for check in checks:
                if check(order.context, payload) is not None:
                    raise RuntimeError("refused")
            order.context = effect(order.context, payload)
            order.state = dest


# -- b2b: nested transitions -----------------------------------------------------------------

B2B_START = {"buyer": "Suzhou Textile Mill", "seller": "Xinjiang Cotton Cooperative"}
B2B_PRICE = Money("15500", "CNY")
B2B_TERMS = {"goods": "cotton lint", "quantity": 200, "price": B2B_PRICE}
B2B_BEFORE: tuple[tuple[str, Mapping[str, Any]], ...] = (
    ("prepare", {"by": "buyer", "note": "compared three suppliers"}),
    ("inquire", {"by": "buyer", "goods": "cotton lint", "note": "price for 200 t?"}),
    ("offer", {"by": "seller", **B2B_TERMS}),
    ("arrive", {}),
    ("accept", {"actor": "Suzhou Textile Mill", "by": "buyer", **B2B_TERMS}),
    (
        "draw_up",
        {
            "rights_and_obligations": "seller delivers conforming goods; buyer pays",
            **B2B_TERMS,
            "delivery_place": "Suzhou",
            "delivery_date": date(2027, 1, 15),
            "trade_method": "CIF Suzhou",
            "transport_method": "rail",
            "payment_terms": "against_documents",
            "breach_and_claims": "claims with a survey report within the notice period",
        },
    ),
    ("sign", {"by": "buyer", "actor": "Suzhou Textile Mill"}),
    ("sign", {"by": "seller", "actor": "Xinjiang Cotton Cooperative"}),
)
B2B_NESTED: tuple[tuple[str, Mapping[str, Any]], ...] = (
    ("complete_formalities", {"reference": "export licence XJ-2026-42"}),
    ("stock_goods", {"reference": "warehouse receipt W-88"}),
    ("declare_customs", {"reference": "declaration 2026-XJ-7781"}),
    ("insure", {"reference": "PICC cargo policy 55-0192"}),
    ("obtain_certificates", {"reference": "quality and origin certificates"}),
    ("hand_to_carrier", {"carrier": "China Railway Express", "bill_of_lading": "CR-7731"}),
    (
        "pay",
        {
            "actor": "Suzhou Textile Mill",
            "bank": "ICBC Suzhou",
            "amount": Money("3100000", "CNY"),
            "reference": "against documents, L/C 20261124",
        },
    ),
    ("track", {"reference": "passed Lanzhou"}),
    ("receive", {"by": "buyer", "actor": "Suzhou Textile Mill"}),
    ("issue_bank_documents", {"reference": "settlement advice and payment receipt"}),
)
"""The b2b transitions timed: each from a nested state (contract.signed, then performance's
three parallel regions)."""


def b2b_prepare(n: int) -> Any:
    """``n`` b2b transactions brought to ``contract.signed`` (untimed)."""
    flow = FLOWS["b2b"]
    txs = []
    for i in range(n):
        tx = flow.start(f"B-{i}", **B2B_START)
        for trigger, values in B2B_BEFORE:
            tx.fire(trigger, **values)
        txs.append(tx)
    return txs


def b2b_run(txs: Any) -> None:
    """Fire the ten nested transitions."""
    for tx in txs:
        for trigger, values in B2B_NESTED:
            tx.fire(trigger, **values)


Peer = tuple[str, Callable[[int], Any], Callable[[Any], None], int]
PEERS: dict[str, Peer] = {
    "ecomflow": ("ecomflow (typed methods, with events)", ecomflow_prepare, ecomflow_run, STEPS),
    "transitions": (
        "transitions, one shared machine, guarded",
        transitions_prepare,
        transitions_run,
        STEPS,
    ),
    "psm": ("python-statemachine, guarded", psm_prepare, psm_run, STEPS),
    "dict": ("guarded dict FSM (floor)", transitions_prepare, dict_run, STEPS),
    "b2b": ("ecomflow b2b, nested transition", b2b_prepare, b2b_run, len(B2B_NESTED)),
}


def _has_psm() -> bool:
    try:
        import statemachine  # noqa: F401
    except ImportError:
        return False
    return True


COLLECTIONS: dict[str, list[int]] = {}
"""Per peer, the collector's runs (generations 0, 1, 2) during its timed runs, all rounds."""


def _collections() -> list[int]:
    return [generation["collections"] for generation in gc.get_stats()]


def measure(names: list[str], orders: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Return per peer (wall µs, CPU µs) per transition: medians of interleaved rounds."""
    walls: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    for name in names:
        COLLECTIONS[name] = [0, 0, 0]
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            _, prepare, run, steps = PEERS[name]
            live = prepare(orders)
            gc.collect()
            before = _collections()
            wall, cpu = time.perf_counter(), time.process_time()
            run(live)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            for generation, count in enumerate(_collections()):
                COLLECTIONS[name][generation] += count - before[generation]
            walls[name].append(wall / (orders * steps) * 1e6)
            cpus[name].append(cpu / (orders * steps) * 1e6)
            del live
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in names}


def kept_per_sale(count: int = 2000) -> tuple[float, float]:
    """Return (gc-tracked objects, bytes) each finished sale keeps, its events included."""
    gc.collect()
    before = len(gc.get_objects())
    tracemalloc.start()
    start = tracemalloc.take_snapshot()
    txs = ecomflow_prepare(count)
    ecomflow_run(txs)
    gc.collect()
    end = tracemalloc.take_snapshot()
    tracemalloc.stop()
    objects = len(gc.get_objects()) - before - 1  # the list holding them
    size = sum(stat.size_diff for stat in end.compare_to(start, "filename"))
    del txs
    return objects / count, size / count


def _goal(ratio: float, goal: float, at_least: bool) -> str:
    met = ratio >= goal if at_least else ratio <= goal
    sign = ">=" if at_least else "<="
    return f"{ratio:7.3f}x  (goal {sign} {goal:g}x: {'met' if met else 'NOT met'})"


def report(figures: Mapping[str, float], unit: str) -> None:
    """Print the three ratios of ``figures`` (cost per transition, lower is better)."""
    eco = figures["ecomflow"]
    print(f"  ecomflow vs transitions:          {_goal(figures['transitions'] / eco, 1.0, True)}")
    if "psm" in figures:
        print(f"  ecomflow vs python-statemachine:  {_goal(figures['psm'] / eco, 12.0, True)}")
    print(f"  b2b nested vs direct-sale ({unit}): {_goal(figures['b2b'] / eco, 1.5, False)}")
    print(f"  ecomflow / dict FSM floor:        {eco / figures['dict']:6.2f}x the floor (no goal)")


def timed(orders: int, rounds: int) -> None:
    """Print the timing table and the ratios with their goals."""
    names = [name for name in PEERS if name != "psm" or _has_psm()]
    figures = measure(names, orders, rounds)
    print(
        f"Direct sale, GC on, {orders} live orders x {STEPS} guarded transitions "
        f"(b2b: x {len(B2B_NESTED)} nested), median of {rounds} interleaved rounds"
    )
    print(
        f"{'peer':42} {'wall µs/tr':>11} {'CPU µs/tr':>10} {'transitions/s':>14} "
        f"{'GC runs/round (gen 0/1/2)':>26}"
    )
    for name in names:
        wall, cpu = figures[name]
        runs = "/".join(f"{count / rounds:g}" for count in COLLECTIONS[name])
        print(f"{PEERS[name][0]:42} {wall:11.2f} {cpu:10.2f} {1e6 / wall:14,.0f} {runs:>26}")
    if "psm" not in names:
        print(f"{PEERS['psm'][0]:42} (not installed: pip install -e '.[bench]')")
    print("ratios by wall time:")
    report({name: figures[name][0] for name in names}, "wall")
    print("ratios by CPU time:")
    report({name: figures[name][1] for name in names}, "CPU ")
    objects, size = kept_per_sale(orders)
    print(
        f"a finished sale keeps {objects:.1f} gc-tracked objects and {size / 1024:.1f} KiB "
        "(its 14 events included; the lever for the collector, no goal)"
    )


def _instructions(out: str) -> int:
    with open(out, encoding="utf-8") as file:
        for line in file:
            found = re.match(r"(?:summary|totals): (\d+)", line)
            if found:
                return int(found.group(1))
    raise RuntimeError(f"no instruction count in {out}")


def callgrind(orders: int) -> None:
    """Print instructions per transition under callgrind: (prepare+run) - (prepare only)."""
    names = [name for name in PEERS if name != "psm" or _has_psm()]
    counts: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        jobs = {}
        for name in names:
            for mode in ("prepare", "run"):
                out = os.path.join(tmp, f"{name}.{mode}.out")
                command = [
                    "valgrind",
                    "--tool=callgrind",
                    f"--callgrind-out-file={out}",
                    sys.executable,
                    __file__,
                    "--peer",
                    name,
                    "--mode",
                    mode,
                    "--orders",
                    str(orders),
                ]
                jobs[(name, mode)] = (
                    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
                    out,
                )
                if len(jobs) % (os.cpu_count() or 1) == 0:
                    for process, _ in jobs.values():
                        process.wait()
        for (name, mode), (process, _) in jobs.items():
            if process.wait() != 0:
                assert process.stderr is not None
                raise RuntimeError(f"{name} {mode}: {process.stderr.read().decode()[-2000:]}")
        for name in names:
            run = _instructions(jobs[(name, "run")][1])
            prepare = _instructions(jobs[(name, "prepare")][1])
            counts[name] = (run - prepare) / (orders * PEERS[name][3])
    print(f"Instructions per transition (valgrind --tool=callgrind, GC on, {orders} live orders)")
    for name in names:
        print(f"{PEERS[name][0]:42} {counts[name]:12,.0f}")
    print("ratios by instructions:")
    report(counts, "instr")


def single(name: str, mode: str, orders: int) -> None:
    """Run one peer once (for callgrind): prepare, and in mode ``run`` also the transitions."""
    _, prepare, run, _ = PEERS[name]
    live = prepare(orders)
    gc.collect()
    if mode == "run":
        run(live)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=ORDERS, help="live orders (2000)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved rounds (9)")
    parser.add_argument("--callgrind", action="store_true", help="also count instructions")
    parser.add_argument("--peer", choices=sorted(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("prepare", "run"), default="run", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer:
        single(args.peer, args.mode, args.orders)
        return
    timed(args.orders, args.rounds)
    if args.callgrind:
        print()
        callgrind(args.orders)


if __name__ == "__main__":
    main()
