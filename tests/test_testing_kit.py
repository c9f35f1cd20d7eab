"""The public testing kit, used on every flow of the project."""

from datetime import datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from ecomflow import FLOWS, EcomflowError, Money, TransitionNotAllowed
from ecomflow.flows.direct_sale import FLOW as DIRECT_SALE
from ecomflow.testing import (
    INVARIANTS,
    ManualClock,
    contract_concluded_at_most_once,
    counter_offer_ends_the_standing_offer,
    drive,
    events_are_json,
    fire_and_check_refusal,
    flow_machine,
    instants,
    ledger_balances,
    matched_within_posted,
    no_shipping_before_payment,
    payloads,
    payouts_within_what_was_paid,
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
    """Return a check that drives ``path`` until one drawn run gets through (at most 10)."""

    @st.composite
    def driven(draw):
        return drive(flow, path, draw)

    def walk():
        quick = settings(max_examples=10, phases=[Phase.generate], database=None, deadline=None)
        try:
            tx = find(driven(), lambda tx: tx is not None, settings=quick)
        except NoSuchExample:
            return
        assert tx.state == path[-1].dest and tx.version == len(path)
        for check in INVARIANTS:  # every invariant holds after every transition
            check(tx)
        exercised.add((path[-1].source, path[-1].trigger))

    return walk


def test_paths_through_parallel_regions():
    b2b = FLOWS["b2b"]
    performed = shortest_paths(b2b)["performed"]
    # "both sides are done" is a guard on the history: the path finishes both regions first.
    before = [edge.trigger for edge in performed[-6:]]
    assert before[-1] == "complete" and {"receive", "issue_bank_documents"} <= set(before)
    configurations = {state for state, _ in transition_paths(b2b)}
    assert (
        "performance.logistics.stocking|performance.payment.awaiting|performance.claim.none"
        in configurations
    )
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
    tx.choose_payment(method="credit_card")
    tx.approve_payment(amount=Money("30", "CNY"), reference="A")
    tx.dispatch()
    tx.deliver()
    tx.settle(statement_ref="S")
    return tx


def test_the_invariants_pass_on_a_good_transaction():
    tx = finished_sale()
    for check in INVARIANTS:
        check(tx)


def _with(tx, name, **data):
    """Return ``tx`` with the data of its first ``name`` event changed (a corrupt history)."""
    event = next(e for e in tx._events if e.name == name)
    changed = attrs.evolve(event, data={**event.data, **data})
    tx._events = [changed if e is event else e for e in tx._events]
    return tx


def test_each_invariant_catches_what_it_names(monkeypatch):
    tx = finished_sale()
    tx._events = [e for e in tx._events if e.version != 2]
    with pytest.raises(AssertionError, match="versions .* have gaps"):
        versions_are_gapless(tx)

    tx = finished_sale()
    tx._state = "delivered"  # the events say settled
    with pytest.raises(AssertionError, match="replay gives"):
        replay_gives_the_same_transaction(tx)

    tx = finished_sale()
    tx._events = [e for e in tx._events if e.name != "payment_authorized"]
    with pytest.raises(AssertionError, match="dispatched at version 4 before payment was secured"):
        no_shipping_before_payment(tx)

    tx = _with(finished_sale(), "payment_settled", amount={"amount": "-30", "currency": "CNY"})
    with pytest.raises(AssertionError, match="moves a negative amount"):
        ledger_balances(tx)
    tx = _with(finished_sale(), "payment_settled", to="card company")
    with pytest.raises(AssertionError, match="to itself"):
        ledger_balances(tx)

    tx = _with(finished_sale(), "payment_settled", amount={"amount": "31", "currency": "CNY"})
    with pytest.raises(AssertionError, match="settled .* > authorized"):
        payouts_within_what_was_paid(tx)

    tx = _with(finished_sale(), "order_placed", weight=1.5)
    with pytest.raises(
        AssertionError, match=r"'order_placed' at version 1: data.weight is 1\.5, not"
    ):
        events_are_json(tx)

    tx = DIRECT_SALE.start("A-2", merchant="Tea House")
    terminal_states_absorb(tx)  # not finished: it may allow anything
    monkeypatch.setattr(type(tx), "is_finished", property(lambda self: True))
    with pytest.raises(AssertionError, match="is finished in 'browsing' but allows"):
        terminal_states_absorb(tx)


def test_invariants_hold_under_python_O():
    """The invariants raise explicitly, so ``python -O`` (which drops ``assert``) keeps them."""
    import subprocess
    import sys

    code = (
        "from tests.test_testing_kit import finished_sale\n"
        "from ecomflow.testing import versions_are_gapless\n"
        "tx = finished_sale(); tx._events = [e for e in tx._events if e.version != 2]\n"
        "try:\n    versions_are_gapless(tx)\nexcept AssertionError:\n    print('caught')\n"
    )
    done = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "caught", done.stderr


def test_a_refusal_that_changes_something_is_caught():
    tx = finished_sale()
    error = fire_and_check_refusal(tx, "dispatch")
    assert isinstance(error, TransitionNotAllowed) and tx.state == "settled"
    assert fire_and_check_refusal(DIRECT_SALE.start("A-3", merchant="M"), "fill_order") is not None

    fresh = DIRECT_SALE.start("A-4", merchant="M")
    original = type(fresh).fire

    def leaky(self, trigger, **payload):
        self._version += 1  # a bug: bumps the version, then refuses
        return original(self, trigger, **payload)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(fresh), "fire", leaky)
        with pytest.raises(AssertionError, match="was refused .* but changed 'A-4'"):
            fire_and_check_refusal(fresh, "settle")


def test_matched_within_posted():
    from decimal import Decimal

    from ecomflow.flows import Exchange

    exchange = Exchange("X", designated_banks=["ICBC"], fee_rate=Decimal("0.01"))
    rice = {"goods": "rice", "price": Money("3", "CNY")}
    exchange.post_supply("farm", quantity=50, **rice)
    exchange.post_demand("mill", quantity=20, **rice)
    exchange.post_demand("farm", quantity=5, **rice)  # no self-trade: stays open
    matched_within_posted(exchange)
    book = exchange.book  # a bug: the remainder grows
    exchange.transaction._context = attrs.evolve(book, open=(book.open[0] + 1, *book.open[1:]))
    with pytest.raises(AssertionError, match="'S1' of 50: 20 matched and 31 open"):
        matched_within_posted(exchange)


def test_b2b_invariants_catch_a_double_conclusion_and_a_standing_offer():
    from ecomflow.flows import FLOWS

    tx, _ = FLOWS.sample("b2b").demo(FLOWS["b2b"])
    contract_concluded_at_most_once(tx)
    counter_offer_ends_the_standing_offer(tx)
    concluded = next(e for e in tx._events if e.name == "contract_concluded")
    tx._events.append(attrs.evolve(concluded, version=99))
    with pytest.raises(AssertionError, match="concluded 2 times"):
        contract_concluded_at_most_once(tx)
    tx._events = [e for e in tx._events if e.name != "offer_rejected_by_counter_offer"]
    with pytest.raises(AssertionError, match="left the offer standing"):
        counter_offer_ends_the_standing_offer(tx)
