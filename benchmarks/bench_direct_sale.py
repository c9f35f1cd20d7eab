"""Benchmark: the direct sale on ecomflow vs bare transitions, a dict FSM and python-statemachine.

Run with ``python benchmarks/bench_direct_sale.py`` (``pip install -e '.[bench]'`` for the
python-statemachine peer). It prints a table; nothing here is asserted, because timings on
shared machines are noisy. Every peer walks the same six happy-path transitions.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
import weakref
from collections.abc import Callable

from transitions import Machine

from ecomflow import Money
from ecomflow.flows.direct_sale import FLOW

STATES = [
    "browsing",
    "order_filled",
    "payment_method_chosen",
    "payment_declined",
    "payment_authorized",
    "shipping",
    "delivered",
    "settled",
    "cancelled",
]
PATH = [
    ("fill_order", "browsing", "order_filled"),
    ("choose_payment", "order_filled", "payment_method_chosen"),
    ("approve_payment", "payment_method_chosen", "payment_authorized"),
    ("dispatch", "payment_authorized", "shipping"),
    ("deliver", "shipping", "delivered"),
    ("settle", "delivered", "settled"),
]
TRANSITIONS = [{"trigger": t, "source": s, "dest": d} for t, s, d in PATH]
UNIT, TOTAL = Money("19.90", "CNY"), Money("39.80", "CNY")
ORDERS = 3000
ROUNDS = 9


def best_of(fn: Callable[[], float]) -> float:
    """Median of ``ROUNDS`` runs of ``fn``, which returns seconds for ``ORDERS`` orders."""
    gc.collect()
    return statistics.median(fn() for _ in range(ROUNDS))


# -- peers: time to walk ORDERS orders through the six transitions ------------------------


def ecomflow_fire() -> float:
    txs = [FLOW.start(f"A-{i}", merchant="Shop") for i in range(ORDERS)]
    start = time.perf_counter()
    for tx in txs:
        tx.fill_order(
            customer_name="Li",
            address="Beijing",
            goods_name="tea",
            quantity=2,
            specification="tin",
            unit_price=UNIT,
        )
        tx.choose_payment(method="credit_card", card_last4="1111")
        tx.approve_payment(amount=TOTAL, reference="AUTH")
        tx.dispatch()
        tx.deliver()
        tx.settle(statement_ref="S")
    return time.perf_counter() - start


class Order:
    """A plain model for the transitions peers."""

    state: str


SHARED = Machine(
    model=None, states=STATES, transitions=TRANSITIONS, initial="browsing", auto_transitions=False
)
EVENTS = [SHARED.events[t] for t, _, _ in PATH]


def transitions_shared() -> float:
    orders = []
    for _ in range(ORDERS):
        order = Order()
        order.state = "browsing"
        orders.append(order)
    start = time.perf_counter()
    for order in orders:
        for event in EVENTS:
            event.trigger(order)
    return time.perf_counter() - start


def transitions_per_order_machine() -> float:
    orders = []
    for _ in range(ORDERS):
        order = Order()
        Machine(
            model=order,
            states=STATES,
            transitions=TRANSITIONS,
            initial="browsing",
            auto_transitions=False,
        )
        orders.append(order)
    start = time.perf_counter()
    for order in orders:
        order.fill_order()  # type: ignore[attr-defined]
        order.choose_payment()  # type: ignore[attr-defined]
        order.approve_payment()  # type: ignore[attr-defined]
        order.dispatch()  # type: ignore[attr-defined]
        order.deliver()  # type: ignore[attr-defined]
        order.settle()  # type: ignore[attr-defined]
    return time.perf_counter() - start


TABLE = {(s, t): d for t, s, d in PATH}


def dict_fsm() -> float:
    states = ["browsing"] * ORDERS
    start = time.perf_counter()
    for i in range(ORDERS):
        for trigger, _, _ in PATH:
            dest = TABLE.get((states[i], trigger))
            if dest is None:
                raise RuntimeError(trigger)
            states[i] = dest
    return time.perf_counter() - start


def python_statemachine() -> float | None:
    try:
        from statemachine import State, StateMachine
    except ImportError:
        return None

    class DirectSaleSM(StateMachine):  # type: ignore[misc]
        browsing = State(initial=True)
        order_filled = State()
        payment_method_chosen = State()
        payment_authorized = State()
        shipping = State()
        delivered = State()
        settled = State(final=True)
        fill_order = browsing.to(order_filled)
        choose_payment = order_filled.to(payment_method_chosen)
        approve_payment = payment_method_chosen.to(payment_authorized)
        dispatch = payment_authorized.to(shipping)
        deliver = shipping.to(delivered)
        settle = delivered.to(settled)

    machines = [DirectSaleSM() for _ in range(ORDERS)]
    start = time.perf_counter()
    for sm in machines:
        for trigger, _, _ in PATH:
            sm.send(trigger)
    return time.perf_counter() - start


# -- creation and memory per transaction --------------------------------------------------


def creation(make: Callable[[int], object], count: int = 2000) -> tuple[float, float]:
    """Return (µs, bytes) per object made by ``make``, objects kept alive.

    The time is the median of ``ROUNDS`` runs, like the throughput figures above.
    """

    def once() -> float:
        start = time.perf_counter()
        kept = [make(i) for i in range(count)]
        seconds = time.perf_counter() - start
        del kept
        return seconds

    seconds = best_of(once)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    kept = [make(i) for i in range(count)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del kept
    return seconds / count * 1e6, size / count


def machine_per_order(_: int) -> object:
    order = Order()
    Machine(
        model=order,
        states=STATES,
        transitions=TRANSITIONS,
        initial="browsing",
        auto_transitions=False,
    )
    return order


def freed_by_refcount() -> bool:
    gc.collect()
    gc.disable()
    try:
        tx = FLOW.start("R-1", merchant="Shop")
        tx.fill_order(
            customer_name="Li",
            address="Beijing",
            goods_name="tea",
            quantity=2,
            specification="tin",
            unit_price=UNIT,
        )
        ref = weakref.ref(tx)
        del tx
        return ref() is None
    finally:
        gc.enable()


def main() -> None:
    """Run every peer and print one table."""
    triggers = ORDERS * len(PATH)
    peers: list[tuple[str, Callable[[], float] | None]] = [
        ("ecomflow fire (payload, guards, events)", ecomflow_fire),
        ("transitions, one shared machine", transitions_shared),
        ("transitions, one machine per order", transitions_per_order_machine),
        ("hand-written dict FSM", dict_fsm),
    ]
    try:
        import statemachine  # noqa: F401
    except ImportError:
        peers.append(("python-statemachine", None))
    else:
        peers.append(("python-statemachine", lambda: python_statemachine() or 0.0))
    # Rounds run every peer in turn, so that a slower spell of a shared machine
    # weighs on all of them alike; each figure is a peer's median over the rounds.
    times: dict[str, list[float]] = {name: [] for name, run in peers if run is not None}
    for _ in range(ROUNDS):
        for name, run in peers:
            if run is not None:
                gc.collect()
                times[name].append(run())
    rows = [(name, statistics.median(times[name]) if name in times else None) for name, _ in peers]
    bare = rows[1][1]
    assert bare is not None
    print(f"Direct sale, {ORDERS} orders x {len(PATH)} transitions, median of {ROUNDS} runs")
    print(f"{'peer':42} {'µs/trigger':>11} {'triggers/s':>12} {'vs bare transitions':>20}")
    for name, seconds in rows:
        if seconds is None:
            print(f"{name:42} {'(not installed: pip install -e .[bench])':>45}")
            continue
        per = seconds / triggers * 1e6
        print(f"{name:42} {per:11.2f} {triggers / seconds:12,.0f} {bare / seconds:19.2f}x")
    print()
    eco_us, eco_bytes = creation(lambda i: FLOW.start(f"C-{i}", merchant="Shop"))
    mach_us, mach_bytes = creation(machine_per_order, count=500)
    print(f"{'creation, per transaction':42} {'µs':>11} {'bytes kept':>12}")
    print(f"{'ecomflow Flow.start (with its first event)':42} {eco_us:11.2f} {eco_bytes:12,.0f}")
    print(f"{'transitions.Machine per order':42} {mach_us:11.2f} {mach_bytes:12,.0f}")
    print(
        f"ratio: ecomflow creation is {mach_us / eco_us:.0f}x faster and "
        f"{mach_bytes / eco_bytes:.0f}x smaller than a machine per order"
    )
    print(f"a dropped transaction is freed by refcounting alone: {freed_by_refcount()}")


if __name__ == "__main__":
    main()
