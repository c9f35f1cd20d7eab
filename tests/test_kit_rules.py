"""The generic checks of the testing kit that read what a flow declares about itself:
its books per party, its own invariants, and when payment is secured and goods move."""

from typing import Any

import attrs
import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from ecomflow import Emit, Flow, FlowDefinition, InvalidDefinition, Label, Money, State, Stream
from ecomflow import Transition as T
from ecomflow._codec import unstructure
from ecomflow.testing import (
    INVARIANTS,
    books_by_party,
    flow_machine,
    flow_rules_hold,
    no_shipping_before_payment,
)

PRICE = Money("10", "CNY")
# Find a failing run, do not shrink it: the tests only ask whether the kit catches the bug.
FIND = settings(max_examples=100, derandomize=True, database=None, phases=[Phase.generate])


@attrs.frozen
class Ctx:
    paid: bool = False
    shipped: bool = False


def _transfer(context, payload):
    return {"amount": PRICE.to_json(), "from": "buyer", "to": "seller"}


def _books(context, state):
    return {"buyer": -PRICE, "seller": PRICE} if context.paid else {}


def _shipped_once(tx):
    count = sum(1 for e in tx.events if e.name == "shipped")
    if count > 1:
        raise AssertionError(f"{tx.id!r} shipped {count} times")


def shop(pay_emits=None, ship_from=("paid",), **overrides):
    """A two-step shop: pay (buyer → seller), ship; declared books and rules."""
    pay = [Emit(Stream.MONEY, "paid_in", _transfer)] if pay_emits is None else pay_emits
    fields = dict(
        name="shop",
        title=Label("Shop", "小店"),
        source="tests",
        context_type=Ctx,
        states=[
            State("open", Label("open", "开")),
            State("paid", Label("paid", "已付")),
            State("done", Label("done", "完"), terminal=True),
        ],
        start=T(
            "begin",
            (),
            "open",
            Label("begin", "开始"),
            effect=lambda _, p: Ctx(),
            emits=[Emit(Stream.INFORMATION, "begun")],
        ),
        transitions=[
            T(
                "pay",
                "open",
                "paid",
                Label("pay", "付款"),
                effect=lambda c, p: attrs.evolve(c, paid=True),
                emits=pay,
            ),
            T(
                "ship",
                ship_from,
                "done",
                Label("ship", "发货"),
                effect=lambda c, p: attrs.evolve(c, shipped=True),
                emits=[Emit(Stream.LOGISTICS, "shipped")],
            ),
        ],
        books=_books,
        invariants=(_shipped_once,),
        payment_secured_by={"paid_in"},
        goods_moved_by={"shipped"},
    )
    fields.update(overrides)
    return Flow(FlowDefinition(**fields))


def walk(flow):
    tx = flow.start("S-1")
    tx.fire("pay")
    tx.fire("ship")
    return tx


def test_a_good_shop_passes_every_invariant():
    tx = walk(shop())
    assert tx.state == "done"
    for check in INVARIANTS:
        check(tx)


def test_books_by_party_catches_a_party_paid_twice_though_the_books_sum_to_zero():
    twice = [Emit(Stream.MONEY, "paid_in", _transfer), Emit(Stream.MONEY, "again", _transfer)]
    tx = walk(shop(pay_emits=twice))
    with pytest.raises(AssertionError, match="account 'buyer' is at CNY -20.00; the shop books"):
        books_by_party(tx)


def test_books_by_party_catches_a_party_never_paid():
    memo = [Emit(Stream.MONEY, "paid_in")]  # no from/to: a memo, nobody is paid
    tx = walk(shop(pay_emits=memo, payment_secured_by={"paid_in"}))
    with pytest.raises(
        AssertionError, match="account 'buyer' is at CNY 0; the shop books say CNY -10"
    ):
        books_by_party(tx)


def test_goods_before_payment_are_caught_from_the_declarations():
    early = shop(ship_from=("open", "paid"))
    tx = early.start("S-2")
    tx.fire("ship")
    with pytest.raises(AssertionError, match="shipped at version 1 before payment was secured"):
        no_shipping_before_payment(tx)
    # ... unless the transaction's terms let the goods go first (cash on delivery).
    lenient = shop(ship_from=("open", "paid"), ships_before_payment=lambda context: True)
    tx = lenient.start("S-3")
    tx.fire("ship")
    no_shipping_before_payment(tx)


def test_the_flows_own_rules_are_checked():
    again = shop()
    tx = walk(again)
    flow_rules_hold(tx)
    tx._events.append(attrs.evolve(tx._events[-1], version=9))
    with pytest.raises(AssertionError, match="shipped 2 times"):
        flow_rules_hold(tx)


def test_declarations_must_name_events_the_flow_emits():
    with pytest.raises(InvalidDefinition, match=r"goods_moved_by names events .*\['posted'\]"):
        shop(goods_moved_by={"shipped", "posted"})
    with pytest.raises(InvalidDefinition, match=r"payment_secured_by names events"):
        shop(payment_secured_by={"paid"})


def test_flow_machine_catches_a_mutant_that_ships_before_payment():
    machine = flow_machine(shop(ship_from=("open", "paid")))
    with pytest.raises(AssertionError, match="before payment was secured"):
        run_state_machine_as_test(machine, settings=FIND)


def test_flow_machine_catches_a_mutant_that_pays_twice():
    twice = [Emit(Stream.MONEY, "paid_in", _transfer), Emit(Stream.MONEY, "again", _transfer)]
    machine = flow_machine(shop(pay_emits=twice))
    with pytest.raises(AssertionError, match="the shop books say"):
        run_state_machine_as_test(machine, settings=FIND)


def test_flow_machine_passes_the_good_shop():
    run_state_machine_as_test(
        flow_machine(shop()), settings=settings(max_examples=50, derandomize=True, database=None)
    )


def test_every_builtin_flow_declares_when_goods_move_and_payment_is_secured():
    from ecomflow import FLOWS

    for name, flow in FLOWS.items():
        assert flow.definition.goods_moved_by, name
        assert flow.definition.payment_secured_by, name


def mutant(name, trigger, also_from):
    """The built-in flow ``name`` with ``trigger`` also allowed from ``also_from``: a bug."""
    from ecomflow import FLOWS

    flow = FLOWS[name]
    original = flow.definition
    transitions = [
        attrs.evolve(t, source=(*t.source, also_from)) if t.trigger == trigger else t
        for t in original.transitions
    ]
    refusals = {
        key: {state: why for state, why in reasons.items() if state != also_from}
        for key, reasons in original.refusals.items()
    }
    changed = attrs.evolve(original, transitions=transitions, refusals=refusals)
    return Flow(changed, flow.transaction_type)


def test_flow_machine_catches_an_operation_that_delivers_before_payment():
    # Before the declarations every invariant of the kit passed on such a transaction.
    # (The operation's declared books catch it too, and first, so check this rule alone.)
    bug = mutant("operation", "deliver", "order_confirmed")
    machine = flow_machine(bug, invariants=(no_shipping_before_payment,))
    with pytest.raises(AssertionError, match="before payment was secured"):
        run_state_machine_as_test(machine, settings=FIND)


def doubled(name, trigger, event):
    """The built-in flow ``name`` whose ``trigger`` records the money event ``event`` twice."""
    from ecomflow import FLOWS

    flow = FLOWS[name]
    original = flow.definition

    def twice(transition):
        if transition.trigger != trigger:
            return transition
        (emit,) = [e for e in transition.emits if e.name == event]
        first = emit is transition.emits[0]  # it records the payload too: so does the copy

        def data(context, payload):
            derived = {} if emit.data is None else dict(emit.data(context, payload))
            return {**derived, **unstructure(payload)} if first else derived

        again = attrs.evolve(emit, name=f"{event}_again", data=data, when=None)
        return attrs.evolve(transition, emits=(*transition.emits, again))

    changed = attrs.evolve(original, transitions=[twice(t) for t in original.transitions])
    return Flow(changed, flow.transaction_type)


@pytest.mark.parametrize(
    ("name", "trigger", "event", "caught"),
    [
        ("direct-sale", "settle", "payment_settled", "books say"),
        ("operation", "refund", "payment_refunded", "books say|refunded"),
        ("intermediary", "settle", "seller_paid", "books say|paid out"),
        ("b2b", "pay", "payment_made", "books say|paid"),
    ],
)
def test_flow_machine_catches_a_mutant_that_pays_twice_in_every_flow(name, trigger, event, caught):
    # Each built-in flow with one money event recorded twice: the books still sum to zero,
    # so only the per-party books (or the flow's own rules) can catch it.
    machine = flow_machine(doubled(name, trigger, event))
    with pytest.raises(AssertionError, match=caught):
        run_state_machine_as_test(machine, settings=FIND)


# -- a trigger that requires an actor: the kit names a valid one, and checks the refusals --


def _owner_finishes(context, payload, actor):
    return None if actor == context.owner else f"only the owner ({context.owner}) finishes"


def owned_toy():
    """The toy flow whose ``finish`` requires an actor: the owner named at the start."""
    from tests import toy

    definition = toy.definition()
    add, finish = definition.transitions
    finish = attrs.evolve(finish, requires_actor=True, actor_check=_owner_finishes)
    return toy.Flow(attrs.evolve(definition, transitions=[add, finish]))


def test_payloads_carry_an_actor_the_flow_accepts_and_actors_sorts_the_names():
    from hypothesis import find

    from ecomflow.testing import actors, payloads

    flow = owned_toy()
    tx = flow.start("O-1", owner="Li Lei")
    tx.fire("add", amount=1, actor="a clerk")
    assert actors(flow, "finish", {}, context=tx.context, state=tx.state) == (["Li Lei"], [])
    drawn = find(payloads(flow, "finish", context=tx.context, state=tx.state), lambda p: True)
    assert drawn == {"actor": "Li Lei"}
    assert "actor" not in find(payloads(flow, "add", context=tx.context), lambda p: True)
    (event,) = tx.fire("finish", **drawn)
    assert event.actor == "Li Lei" and tx.state == "done"


def test_actors_in_b2b_are_the_offeree_by_name_or_role():
    from ecomflow import FLOWS
    from ecomflow.testing import actors

    b2b = FLOWS["b2b"]
    tx = b2b.start("B-1", buyer="mill", seller="coop")
    tx.fire("prepare", by="seller", note="n")
    tx.fire("offer", by="seller", goods="rice", quantity=2, price=PRICE)
    tx.fire("arrive")
    deal = {"by": "buyer", "goods": "rice", "quantity": 2, "price": PRICE}
    valid, wrong = actors(b2b, "accept", deal, context=tx.context, state=tx.state)
    assert {"mill", "buyer"} <= set(valid) and {"coop", "seller"} <= set(wrong)
    assert not set(valid) & set(wrong)
    assert actors(b2b, "accept", {**deal, "quantity": "many"}, context=tx.context) == ([], [])


def test_the_kit_drives_and_explores_a_flow_that_requires_an_actor():
    from hypothesis import find
    from hypothesis import strategies as st

    from ecomflow.testing import drive, transition_paths

    flow = owned_toy()
    (path,) = [p for (_, trigger), p in transition_paths(flow).items() if trigger == "finish"]
    tx = find(st.composite(lambda draw: drive(flow, path, draw))(), lambda tx: tx is not None)
    assert tx.state == "done" and tx.events[-1].actor == tx.context.owner
    machine = flow_machine(flow)  # every invariant: the toy's amount is an int, checked
    run_state_machine_as_test(machine, settings=FIND)  # finishes by the owner, refuses others


def test_flow_machine_catches_an_engine_that_does_not_check_the_actor(monkeypatch):
    from ecomflow._engine import Engine

    monkeypatch.setattr(Engine, "_check_actor", lambda *args: None)  # the bug: anyone may
    machine = flow_machine(owned_toy(), invariants=())
    with pytest.raises(AssertionError, match="'finish' from 'b' was accepted with"):
        run_state_machine_as_test(machine, settings=settings(FIND, max_examples=400))


def test_flow_machine_draws_other_start_terms_when_a_start_guard_refuses():
    """A start guard that refuses some drawn terms is not a failure: the kit draws again.

    Before, the refusal escaped from the machine's start as GuardRejected and failed the
    run, so a flow whose start checks its terms could not be tested with the kit.
    """
    from hypothesis import HealthCheck

    from ecomflow import Guard, GuardRejected
    from tests.toy import definition

    def _even(_: object, payload: Any) -> str | None:
        return None if len(payload.owner) % 2 == 0 else "the owner's name has an odd length"

    base = definition()
    guarded = attrs.evolve(
        base.start, guards=[Guard("even_owner", _even, Label("even owner", "偶数名"))]
    )
    flow = Flow(definition(start=guarded))
    refused = 0
    for owner in ("ab", "abc"):
        try:
            flow.start(f"T-{owner}", owner=owner)
        except GuardRejected:
            refused += 1
    assert refused == 1  # the guard refuses some terms and accepts others
    run_state_machine_as_test(
        flow_machine(flow),
        settings=settings(
            max_examples=30,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.filter_too_much],
        ),
    )
