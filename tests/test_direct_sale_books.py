"""The direct sale's books, per party, for every way to pay (issue 10 §2), and the parcel
refused at the door (issue 10 §10).

The expected balances here are written from the business rule — the consumer pays the
total, the merchant receives it, every intermediary passes it on — never read from the
flow's own code.
"""

from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomflow import Flow, GuardRejected, Money, Stream, TransitionNotAllowed
from ecomflow._definition import Emit
from ecomflow.flows.direct_sale import (
    FLOW,
    INTERMEDIARIES,
    DirectSale,
    PaymentMethod,
)
from ecomflow.projections import ContractRegister, Ledger, ShipmentTracker, fold
from ecomflow.testing import drive, transition_paths

CNY = "CNY"
MERCHANT, CONSUMER = "Tea House", "Li Lei"
PREPAID = [m for m in PaymentMethod if m is not PaymentMethod.CASH_ON_DELIVERY]


def balances(tx):
    """Every account's balance after folding the transaction's events into a Ledger."""
    ledger = fold(Ledger(), tx.events)
    return {account: amount for (account, _), amount in ledger.balances().items()}


def expected(tx):
    """What the flow's declared books say, as plain Decimals, zero balances left out."""
    books = tx.flow.definition.books(tx.context, tx.state)
    return {account: money.amount for account, money in books.items() if money.amount}


def check_books(tx):
    """The Ledger agrees with the declared books on every account (unnamed ones at zero)."""
    actual, wanted = balances(tx), expected(tx)
    assert actual == wanted, f"{tx.id!r} in {tx.state!r}: ledger {actual}, books {wanted}"


def sale(method, *, quantity=2, price="88", tx_id="D-1", flow=FLOW, upto="settled"):
    tx = flow.start(tx_id, merchant=MERCHANT)
    tx.fill_order(
        customer_name=CONSUMER,
        address="1 Zhongguancun St, Beijing",
        goods_name="green tea",
        quantity=quantity,
        specification="250 g tin",
        unit_price=Money(price, CNY),
    )
    total = Money(price, CNY) * quantity
    tx.choose_payment(method=method)
    if method is not PaymentMethod.CASH_ON_DELIVERY:
        tx.approve_payment(amount=total, reference="AUTH-1")
    tx.dispatch(carrier="SF")
    if upto == "shipping":
        return tx
    cod = method is PaymentMethod.CASH_ON_DELIVERY
    tx.deliver(received_by=CONSUMER, collected=total if cod else None)
    if upto == "delivered":
        return tx
    tx.settle(statement_ref="S-1")
    return tx


# -- §2: the books per party -----------------------------------------------------------


def test_cash_on_delivery_pays_the_merchant_once_and_the_courier_passes_it_on():
    tx = sale(PaymentMethod.CASH_ON_DELIVERY, quantity=2, price="88")  # total 176
    assert balances(tx) == {CONSUMER: Decimal("-176"), MERCHANT: Decimal("176")}
    check_books(tx)


def test_cash_on_delivery_the_courier_holds_the_cash_until_settlement():
    tx = sale(PaymentMethod.CASH_ON_DELIVERY, upto="delivered")
    assert balances(tx) == {CONSUMER: Decimal("-176"), "courier": Decimal("176")}
    check_books(tx)


def test_a_credit_card_sale_pays_the_merchant_through_the_card_side():
    tx = sale(PaymentMethod.CREDIT_CARD)
    assert balances(tx) == {CONSUMER: Decimal("-176"), MERCHANT: Decimal("176")}
    ledger = fold(Ledger(), tx.events)
    moves = [(p.name, p.legs[0][0], p.legs[1][0]) for p in ledger.postings]
    # 『壹』(6): the consumer's bank passes the payment to the card company, which bills the
    # consumer; the card company pays the merchant (four-party settlement).
    assert moves == [
        ("payment_settled", "card company", MERCHANT),
        ("card_company_paid", "consumer's bank", "card company"),
        ("consumer_charged", CONSUMER, "consumer's bank"),
    ]
    statement = next(e for e in tx.events if e.name == "statement_issued")
    assert statement.data["issuer"] == "card company" and statement.data["to"] == CONSUMER
    check_books(tx)


@pytest.mark.parametrize("method", list(PaymentMethod))
def test_after_settlement_consumer_pays_merchant_receives_intermediaries_are_square(method):
    tx = sale(method, quantity=3, price="19.90")
    ledger = fold(Ledger(), tx.events)
    assert ledger.balance(CONSUMER, CNY) == Decimal("-59.70")
    assert ledger.balance(MERCHANT, CNY) == Decimal("59.70")
    for role in INTERMEDIARIES:
        assert ledger.balance(role, CNY) == 0, role
    assert set(balances(tx)) == {CONSUMER, MERCHANT}
    check_books(tx)


@pytest.mark.parametrize("method", PREPAID)
def test_no_money_moves_before_settlement_for_a_prepaid_method(method):
    for upto in ("shipping", "delivered"):
        tx = sale(method, upto=upto)
        assert balances(tx) == {}
        check_books(tx)


def test_the_books_of_every_state_are_declared_beside_the_flow():
    books = FLOW.definition.books
    assert books is not None
    tx = sale(PaymentMethod.CREDIT_CARD, upto="delivered")
    assert books(tx.context, "settled") == {
        CONSUMER: Money("-176", CNY),
        MERCHANT: Money("176", CNY),
    }
    assert dict(books(tx.context, "delivered")) == {}


@pytest.mark.parametrize("role", [*INTERMEDIARIES, "COURIER", " card  company "])
def test_a_party_named_like_an_intermediary_is_refused(clock, role):
    with pytest.raises(GuardRejected, match="reserved for the intermediaries") as info:
        FLOW.start("D-role", merchant=role, clock=clock)
    assert "'courier'" in str(info.value) and "'card company'" in str(info.value)
    tx = FLOW.start("D-role", merchant=MERCHANT, clock=clock)
    form = dict(address="Beijing", goods_name="tea", quantity=1, specification="tin")
    with pytest.raises(GuardRejected, match="reserved for the intermediaries"):
        tx.fill_order(customer_name=role, unit_price=Money("1", CNY), **form)
    assert tx.state == "browsing" and tx.version == 0 and len(tx.events) == 1


# -- the declared books and invariants catch a broken flow ------------------------------


def mutant(transform):
    """A copy of the flow whose definition ``transform`` broke."""
    definition = FLOW.definition
    changed = tuple(transform(t) for t in definition.transitions)
    return Flow(attrs.evolve(definition, transitions=changed), DirectSale)


def test_the_books_catch_a_settlement_that_pays_the_merchant_twice():
    def twice(transition):
        if transition.trigger != "settle":
            return transition
        first = transition.emits[0]
        again = Emit(Stream.MONEY, "payment_settled_again", first.data)
        return attrs.evolve(transition, emits=(*transition.emits, again))

    tx = sale(PaymentMethod.CREDIT_CARD, flow=mutant(twice))
    assert fold(Ledger(), tx.events).totals() == {CNY: 0}  # still sums to zero ...
    with pytest.raises(AssertionError, match="ledger"):  # ... but the merchant is paid twice
        check_books(tx)


def test_the_books_catch_a_collection_that_goes_straight_to_the_merchant():
    def straight(transition):
        if transition.trigger != "deliver":
            return transition
        emits = tuple(
            attrs.evolve(
                e,
                data=lambda c, p: {
                    "amount": p.collected.to_json(),
                    "from": CONSUMER,
                    "to": MERCHANT,
                },
            )
            if e.name == "cash_collected"
            else e
            for e in transition.emits
        )
        return attrs.evolve(transition, emits=emits)

    tx = sale(PaymentMethod.CASH_ON_DELIVERY, flow=mutant(straight), upto="delivered")
    with pytest.raises(AssertionError, match="courier"):
        check_books(tx)


# -- §10: a parcel refused at the door (拒收) goes back to the merchant ------------------


@pytest.mark.parametrize("method", list(PaymentMethod))
def test_a_refused_parcel_goes_back_to_the_merchant_and_the_books_are_square(method):
    tx = sale(method, upto="shipping")
    refused = tx.refuse_delivery(reason="ordered by mistake", refused_by=CONSUMER)
    assert [(e.stream, e.name) for e in refused] == [
        (Stream.LOGISTICS, "delivery_refused"),
        (Stream.INFORMATION, "merchant_notified"),
    ]
    assert tx.state == "returning" and tx.allowed_triggers() == ("return_to_merchant",)
    check_books(tx)
    returned = tx.return_to_merchant(received_by="Tea House warehouse")
    names = [(e.stream, e.name) for e in returned]
    assert names[:2] == [
        (Stream.LOGISTICS, "returned_to_merchant"),
        (Stream.COMMERCE, "order_ended"),
    ]
    if method is PaymentMethod.CASH_ON_DELIVERY:
        assert len(names) == 2  # nothing was collected, nothing to put right
    else:
        assert names[2] == (Stream.MONEY, "authorization_voided")
        assert returned[2].data["reference"] == "AUTH-1"
    assert tx.state == "returned" and tx.is_finished and tx.allowed_triggers() == ()
    assert balances(tx) == {}
    check_books(tx)
    register = fold(ContractRegister(), tx.events)
    assert register.status[tx.id] == "order_ended" and tx.id not in register.owner
    assert returned[1].data["owner"] == MERCHANT
    tracker = fold(ShipmentTracker(), tx.events)
    assert [name for _, name, _ in tracker.history[tx.id]] == [
        "dispatched",
        "delivery_refused",
        "returned_to_merchant",
    ]
    assert FLOW.replay(tx.events) == tx


def test_a_parcel_can_only_be_refused_while_it_is_on_its_way():
    tx = sale(PaymentMethod.CREDIT_CARD, upto="delivered")
    with pytest.raises(TransitionNotAllowed, match="the goods were already delivered"):
        tx.refuse_delivery(reason="too late")
    with pytest.raises(TransitionNotAllowed, match="nothing was refused"):
        tx.return_to_merchant()
    tx = FLOW.start("D-2", merchant=MERCHANT)
    with pytest.raises(TransitionNotAllowed, match="the goods were not dispatched"):
        tx.refuse_delivery(reason="no")


def test_the_new_states_and_transitions_have_both_labels():
    for name in ("returning", "returned"):
        label = FLOW.state(name).label
        assert label.en and label.zh and label.en != label.zh
    for transition in FLOW.definition.transitions:
        if transition.trigger in ("refuse_delivery", "return_to_merchant"):
            assert transition.label.zh and transition.label.en and transition.step


# -- the flow's own rules (FlowDefinition.invariants), each caught breaking -------------


def rules_hold(tx):
    for check in tx.flow.definition.invariants:
        check(tx)


def test_the_flow_declares_its_rules():
    assert {check.__name__ for check in FLOW.definition.invariants} == {
        "goods_move_only_after_payment_is_secured",
        "settled_once_for_the_order_total",
        "settled_within_the_authorization",
        "voids_match_an_authorization",
        "a_refused_parcel_stays_with_the_merchant",
    }


@pytest.mark.parametrize("method", list(PaymentMethod))
def test_the_rules_hold_on_every_honest_path(method):
    for upto in ("shipping", "delivered", "settled"):
        rules_hold(sale(method, upto=upto))
    tx = sale(method, upto="shipping")
    tx.refuse_delivery(reason="no")
    rules_hold(tx)
    tx.return_to_merchant()
    rules_hold(tx)


def with_emits(trigger, change):
    def transform(transition):
        if transition.trigger != trigger:
            return transition
        return attrs.evolve(transition, emits=change(transition.emits))

    return transform


def test_a_flow_that_ships_a_card_order_unpaid_is_caught():
    def unguarded(transition):
        if transition.trigger == "dispatch":
            return attrs.evolve(transition, guards=())
        return transition

    tx = mutant(unguarded).start("D-m", merchant=MERCHANT)
    tx.fill_order(
        customer_name=CONSUMER,
        address="Beijing",
        goods_name="tea",
        quantity=1,
        specification="tin",
        unit_price=Money("5", CNY),
    )
    tx.choose_payment(method=PaymentMethod.CREDIT_CARD)
    tx.dispatch()
    with pytest.raises(AssertionError, match="dispatched at version 3 before the payment"):
        FLOW.definition.invariants[0](tx)


def test_a_flow_that_settles_twice_is_caught():
    twice = with_emits("settle", lambda emits: (*emits, emits[0]))
    tx = sale(PaymentMethod.DEBIT_CARD, flow=mutant(twice))
    with pytest.raises(AssertionError, match="settled 2 times"):
        rules_hold(tx)


def test_a_flow_that_settles_less_than_the_total_is_caught():
    def short(emits):
        first = emits[0]

        def data(context, payload):
            paid = first.data(context, payload)
            return {**paid, "amount": Money("1", CNY).to_json()}

        return (attrs.evolve(first, data=data), *emits[1:])

    tx = sale(PaymentMethod.DEBIT_CARD, flow=mutant(with_emits("settle", short)))
    with pytest.raises(AssertionError, match="settled .* for an order of CNY 176.00"):
        rules_hold(tx)
    with pytest.raises(AssertionError):
        check_books(tx)


def test_a_flow_that_voids_an_authorization_never_given_is_caught():
    always = with_emits(
        "return_to_merchant",
        lambda emits: (*emits[:2], Emit(Stream.MONEY, "authorization_voided", lambda c, p: {})),
    )
    tx = sale(PaymentMethod.CASH_ON_DELIVERY, flow=mutant(always), upto="shipping")
    tx.refuse_delivery(reason="no")
    tx.return_to_merchant()
    with pytest.raises(AssertionError, match=r"void 1 at version 5 after 0 authorization\(s\)"):
        rules_hold(tx)


def test_a_flow_that_voids_another_amount_is_caught():
    def other(emits):
        def data(context, payload):
            return {"amount": Money("999", CNY).to_json(), "reference": "AUTH-1"}

        return (*emits[:2], attrs.evolve(emits[2], data=data))

    tx = sale(
        PaymentMethod.CREDIT_CARD,
        flow=mutant(with_emits("return_to_merchant", other)),
        upto="shipping",
    )
    tx.refuse_delivery(reason="no")
    tx.return_to_merchant()
    with pytest.raises(AssertionError, match="voided .*999.* authorized"):
        rules_hold(tx)


def test_a_flow_that_hands_a_refused_parcel_to_the_consumer_is_caught():
    def handed_over(emits):
        owned = Emit(
            Stream.COMMERCE,
            "ownership_transferred",
            lambda c, p: {"from": c.merchant, "to": c.order.customer_name},
        )
        return (*emits, owned)

    tx = sale(
        PaymentMethod.CASH_ON_DELIVERY,
        flow=mutant(with_emits("return_to_merchant", handed_over)),
        upto="shipping",
    )
    tx.refuse_delivery(reason="no")
    tx.return_to_merchant()
    with pytest.raises(AssertionError, match="ownership_transferred at version 5 after the parcel"):
        rules_hold(tx)


def test_the_testing_kit_reads_the_same_books_and_rules():
    from ecomflow.testing import books_by_party, flow_rules_hold

    twice = with_emits("settle", lambda emits: (*emits, emits[0]))
    tx = sale(PaymentMethod.CREDIT_CARD, flow=mutant(twice))
    with pytest.raises(AssertionError, match="account 'Tea House' is at CNY 352.00"):
        books_by_party(tx)
    with pytest.raises(AssertionError, match="settled 2 times"):
        flow_rules_hold(tx)
    honest = sale(PaymentMethod.CREDIT_CARD)
    books_by_party(honest)
    flow_rules_hold(honest)


# -- as a property: every walk the testing kit drives ------------------------------------

PATHS = transition_paths(FLOW)


@pytest.mark.parametrize("key", sorted(PATHS, key=str), ids=lambda key: f"{key[0]}-{key[1]}")
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_the_books_hold_on_every_walk(key, data):
    tx = drive(FLOW, PATHS[key], data.draw)
    if tx is None:
        return
    check_books(tx)
    rules_hold(tx)
    total = tx.context.total
    ledger = fold(Ledger(), tx.events)
    consumer = tx.context.order.customer_name if tx.context.order else None
    for role in INTERMEDIARIES:
        held = ledger.balance(role, total.currency) if total else Decimal(0)
        cod_held = tx.state == "delivered" and tx.context.cash_on_delivery and role == "courier"
        assert held == (total.amount if cod_held else 0), (role, tx.state)
    if tx.state == "settled":
        assert ledger.balance(consumer, total.currency) == -total.amount
        assert ledger.balance(tx.context.merchant, total.currency) == total.amount
    elif not (tx.state == "delivered" and tx.context.cash_on_delivery):
        assert ledger.balances() == {}
