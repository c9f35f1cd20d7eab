"""The public testing kit, used on every flow of the project."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomflow import FLOWS, EcomflowError, Money
from ecomflow.flows.direct_sale import FLOW as DIRECT_SALE
from ecomflow.testing import (
    INVARIANTS,
    ManualClock,
    contract_concluded_at_most_once,
    counter_offer_ends_the_standing_offer,
    drive,
    flow_machine,
    instants,
    ledger_balances,
    no_shipping_before_payment,
    payloads,
    replay_gives_the_same_transaction,
    runs,
    shortest_paths,
    simple_paths,
    terminal_states_absorb,
    transactions,
    transition_paths,
    versions_are_gapless,
)
from tests.test_direct_sale_stateful import STEPS

# Every flow of the project, tested with the kit in one line each.
TestDirectSaleKit = flow_machine(FLOWS["direct-sale"]).TestCase
TestIntermediaryKit = flow_machine(FLOWS["intermediary"]).TestCase
TestOperationKit = flow_machine(FLOWS["operation"]).TestCase
TestB2BKit = flow_machine(FLOWS["b2b"]).TestCase
# …and once with an oracle: our own table of the six steps.
TestDirectSaleWithOracle = flow_machine(
    DIRECT_SALE, oracle=lambda state, trigger: STEPS.get((state, trigger))
).TestCase


@pytest.mark.parametrize("name", sorted(FLOWS))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_runs_are_accepted_step_by_step(name, data):
    flow = FLOWS[name]
    steps = data.draw(runs(flow))
    trigger, start = steps[0]
    assert trigger == flow.definition.start.trigger
    tx = flow.start("again", **start)
    for trigger, payload in steps[1:]:
        tx.fire(trigger, **payload)
    for check in INVARIANTS:
        check(tx)


@pytest.mark.parametrize("name", sorted(FLOWS))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_payloads_pass_validation(name, data):
    flow = FLOWS[name]
    tx = flow.start("p", **data.draw(payloads(flow, flow.definition.start.trigger)))
    for trigger in flow.triggers:
        payload = data.draw(payloads(flow, trigger, context=tx.context))
        try:
            tx.fire(trigger, **payload)
        except EcomflowError as error:
            assert "InvalidPayload" not in type(error).__name__, error


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_transition_of_every_flow_can_be_driven(name):
    """Model-based coverage: each declared transition is taken along some path."""
    flow = FLOWS[name]
    paths = transition_paths(flow)
    wanted = {(edge.source, edge.trigger) for edge in flow.edges}
    assert {(path[-1].source, path[-1].trigger) for path in paths.values()} == wanted
    exercised = set()
    for path in sorted(paths.values(), key=len):
        if (path[-1].source, path[-1].trigger) not in exercised:
            _walker(flow, path, exercised)()
    assert exercised == wanted, f"never exercised: {sorted(wanted - exercised)}"


def _walker(flow, path, exercised):
    @settings(max_examples=10, deadline=None, database=None)
    @given(st.data())
    def walk(data):
        tx = drive(flow, path, data.draw)
        if tx is not None:
            assert tx.state == path[-1].dest and tx.version == len(path)
            exercised.add((path[-1].source, path[-1].trigger))

    return walk


def test_paths_through_parallel_regions():
    b2b = FLOWS["b2b"]
    performed = shortest_paths(b2b)["performed"]
    # "both sides are done" is a guard on the history: the path finishes both regions first.
    before = [edge.trigger for edge in performed[-6:]]
    assert before[-1] == "complete" and {"receive", "issue_bank_documents"} <= set(before)
    configurations = {state for state, _ in transition_paths(b2b)}
    assert "performance.logistics.stocking|performance.payment.awaiting" in configurations
    assert all(len(p) == len({tuple(e.dest.split("|")) for e in p}) for p in simple_paths(b2b, 9))


def test_manual_clock():
    start = datetime(2026, 11, 24, tzinfo=timezone.utc)
    clock = ManualClock(start)
    assert clock() == start and clock() == start
    assert clock.advance(timedelta(hours=2)) == start + timedelta(hours=2) == clock()
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 11, 24))


@settings(max_examples=30, deadline=None)
@given(now=instants(), data=st.data())
def test_dates_are_drawn_near_the_clock(now, data):
    payload = data.draw(payloads(FLOWS["b2b"], "offer", now=now))
    assert payload["valid_until"] is None or payload["valid_until"].tzinfo is not None


def test_dates_are_mostly_within_a_year_of_the_clock():
    now = datetime(2026, 11, 24, tzinfo=timezone.utc)
    drawn = []

    @settings(max_examples=200, deadline=None, database=None)
    @given(payloads(FLOWS["b2b"], "offer", now=now))
    def collect(payload):
        if payload["valid_until"] is not None:
            drawn.append(payload["valid_until"])

    collect()
    near = [d for d in drawn if now - timedelta(days=31) <= d <= now + timedelta(days=366)]
    assert len(near) >= len(drawn) // 2 > 0


@pytest.mark.parametrize(
    ("name", "state"),
    [("direct-sale", "shipping"), ("intermediary", "paid"), ("b2b", "negotiation.offer_standing")],
)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_transactions_driven_to_a_state(name, state, data):
    tx = data.draw(transactions(FLOWS[name], state))
    assert tx.in_state(state)
    for check in INVARIANTS:
        check(tx)


def test_paths():
    reach = shortest_paths(DIRECT_SALE)
    assert set(reach) == set(DIRECT_SALE.states)
    assert [e.trigger for e in reach["payment_authorized"]] == [
        "fill_order",
        "choose_payment",
        "approve_payment",
    ]
    assert reach["browsing"] == []
    paths = simple_paths(DIRECT_SALE, 3)
    assert all(len(p) <= 3 for p in paths) and len({tuple(p) for p in paths}) == len(paths)
    assert all(p[0].source == "browsing" for p in paths)
    b2b = shortest_paths(FLOWS["b2b"])
    assert "performance.payment.documented" in b2b and "claims.disputed" in b2b


def finished_sale():
    tx = DIRECT_SALE.start("A-1", merchant="Tea House")
    tx.fill_order(
        customer_name="Li",
        address="Beijing",
        goods_name="tea",
        quantity=1,
        specification="tin",
        unit_price=Money("30", "CNY"),
    )
    tx.choose_payment("credit_card")
    tx.approve_payment(amount=Money("30", "CNY"), reference="A")
    tx.dispatch()
    tx.deliver()
    tx.settle(statement_ref="S")
    return tx


def test_the_invariants_pass_on_a_good_transaction():
    tx = finished_sale()
    for check in INVARIANTS:
        check(tx)


def test_each_invariant_catches_what_it_names():
    tx = finished_sale()
    tx._events = [e for e in tx._events if e.version != 2]
    with pytest.raises(AssertionError, match="versions .* have gaps"):
        versions_are_gapless(tx)
    with pytest.raises(EcomflowError):
        replay_gives_the_same_transaction(tx)

    tx = finished_sale()
    tx._events = [e for e in tx._events if e.name != "payment_authorized"]
    with pytest.raises(AssertionError, match="dispatched at version 4 before any of"):
        no_shipping_before_payment(tx)

    tx = finished_sale()
    tx._state = "delivered"  # pretend a terminal state allowed more
    tx.flow.terminal_states  # noqa: B018 - unchanged
    import attrs

    settled = next(e for e in tx._events if e.name == "payment_settled")
    broken = attrs.evolve(settled, data={**settled.data, "to": "card company", "from": None})
    tx._events = [broken if e is settled else e for e in tx._events]
    ledger_balances(tx)  # a memo without "from" posts nothing: still balanced

    tx = finished_sale()
    tx._state = "settled"
    tx._context = tx.context
    terminal_states_absorb(tx)


def test_b2b_invariants_catch_a_double_conclusion_and_a_standing_offer():
    import attrs

    from ecomflow._demos import DEMOS, start_demo

    tx, _ = start_demo("b2b")
    for trigger, payload in DEMOS["b2b"][1]:
        tx.fire(trigger, **payload)
    contract_concluded_at_most_once(tx)
    counter_offer_ends_the_standing_offer(tx)
    concluded = next(e for e in tx._events if e.name == "contract_concluded")
    tx._events.append(attrs.evolve(concluded, version=99))
    with pytest.raises(AssertionError, match="concluded 2 times"):
        contract_concluded_at_most_once(tx)
    tx._events = [e for e in tx._events if e.name != "offer_rejected_by_counter_offer"]
    with pytest.raises(AssertionError, match="left the offer standing"):
        counter_offer_ends_the_standing_offer(tx)
