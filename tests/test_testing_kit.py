"""The public testing kit, used on every flow of the project."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomflow import FLOWS, EcomflowError, Money
from ecomflow.flows.direct_sale import FLOW as DIRECT_SALE
from ecomflow.testing import (
    INVARIANTS,
    contract_concluded_at_most_once,
    counter_offer_ends_the_standing_offer,
    drive,
    flow_machine,
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


def test_every_transition_of_the_direct_sale_can_be_driven():
    paths = transition_paths(DIRECT_SALE)
    assert len(paths) == len(DIRECT_SALE.transitions)
    covered = set()

    def walker(key, path):
        @settings(max_examples=15, deadline=None, database=None)
        @given(st.data())
        def walk(data):
            if drive(DIRECT_SALE, path, data.draw) is not None:
                covered.add(key)

        return walk

    for key, path in paths.items():
        walker(key, path)()
    assert covered == set(paths), f"never exercised: {sorted(set(paths) - covered)}"


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
