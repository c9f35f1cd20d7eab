import pytest

from ecomflow import FLOWS, GuardRejected, InvalidPayload, Money, Stream, TransitionNotAllowed
from ecomflow.flows.direct_sale import FLOW, DirectSale, PaymentMethod

CNY = "CNY"


def order(tx, quantity=2, price="19.90"):
    return tx.fill_order(
        customer_name="Li Lei",
        address="1 Zhongguancun St, Beijing",
        goods_name="green tea",
        quantity=quantity,
        specification="250 g tin",
        unit_price=Money(price, CNY),
    )


@pytest.fixture
def tx(clock) -> DirectSale:
    return FLOW.start("A-17", merchant="Tea House", clock=clock)


def names(events):
    return [(e.stream, e.name) for e in events]


def test_the_flow_is_registered_with_its_seed_section():
    assert FLOWS["direct-sale"] is FLOW
    assert FLOW.title.zh == "网络商品直销" and FLOW.source == "『壹』『贰』"
    assert FLOW.initial == "browsing"
    assert FLOW.terminal_states == {"settled", "cancelled", "returned", "expired"}
    assert set(FLOW.triggers) == {
        "fill_order",
        "choose_payment",
        "approve_payment",
        "decline_payment",
        "dispatch",
        "deliver",
        "settle",
        "cancel",
        "refuse_delivery",
        "return_to_merchant",
        "expire",
    }
    assert ("payment_method_chosen", "dispatch", "shipping", ("cash_on_delivery",)) in [
        (e.source, e.trigger, e.dest, e.guards) for e in FLOW.transitions
    ]


def test_the_six_steps_with_a_credit_card(tx):
    assert tx.state == "browsing"
    assert names(order(tx)) == [
        (Stream.INFORMATION, "order_form_submitted"),
        (Stream.COMMERCE, "order_placed"),
    ]
    assert tx.context.total == Money("39.80", CNY)
    tx.choose_payment(method=PaymentMethod.CREDIT_CARD, card_last4="1111")
    assert names(tx.approve_payment(amount=Money("39.80", CNY), reference="AUTH-1")) == [
        (Stream.MONEY, "payment_authorized"),
        (Stream.INFORMATION, "merchant_notified"),
    ]
    assert names(tx.dispatch(carrier="SF")) == [
        (Stream.INFORMATION, "sales_department_notified"),
        (Stream.LOGISTICS, "dispatched"),
    ]
    assert names(tx.deliver(received_by="Li Lei")) == [
        (Stream.LOGISTICS, "delivered"),
        (Stream.COMMERCE, "ownership_transferred"),
    ]
    settled = tx.settle(statement_ref="S-11")
    assert names(settled) == [
        (Stream.MONEY, "payment_settled"),
        (Stream.MONEY, "card_company_paid"),
        (Stream.MONEY, "consumer_charged"),
        (Stream.INFORMATION, "statement_issued"),
    ]
    # four-party settlement: the card company pays the merchant ...
    assert settled[0].data["from"] == "card company" and settled[0].data["to"] == "Tea House"
    # ... step 6: the consumer's bank passes the payment to the card company ...
    assert (settled[1].data["from"], settled[1].data["to"]) == ("consumer's bank", "card company")
    # ... out of the consumer's account, and the card company bills the consumer
    assert (settled[2].data["from"], settled[2].data["to"]) == ("Li Lei", "consumer's bank")
    assert settled[3].data["issuer"] == "card company" and settled[3].data["to"] == "Li Lei"
    assert tx.state == "settled" and tx.version == 6 and tx.is_finished
    assert {e.stream for e in tx.events} == set(Stream)
    assert FLOW.replay(tx.events) == tx


@pytest.mark.parametrize(
    ("method", "through"),
    [
        ("debit_card", "consumer's bank"),
        ("electronic_money", "electronic money issuer"),
        ("electronic_cheque", "consumer's bank"),
    ],
)
def test_other_methods_settle_with_the_merchant(tx, method, through):
    order(tx)
    tx.choose_payment(method=method)
    tx.approve_payment(amount=Money("39.80", CNY), reference="AUTH-1")
    tx.dispatch()
    tx.deliver()
    settled, charged, statement = tx.settle(statement_ref="S-1")
    assert (settled.data["from"], settled.data["to"]) == (through, "Tea House")
    assert (charged.name, charged.data["from"], charged.data["to"]) == (
        "consumer_charged",
        "Li Lei",
        through,
    )
    assert statement.data["issuer"] == through


def test_cash_on_delivery_ships_unpaid_and_collects_at_the_door(tx):
    order(tx, quantity=1, price="50")
    tx.choose_payment(method="cash_on_delivery")
    assert "approve_payment" not in tx.allowed_triggers()
    with pytest.raises(GuardRejected, match="cash on delivery needs no authorization"):
        tx.approve_payment(amount=Money("50", CNY), reference="X")
    dispatched = tx.dispatch()
    assert dispatched[1].data["cash_on_delivery"] is True
    with pytest.raises(GuardRejected, match="must collect the order total CNY 50.00, not nothing"):
        tx.deliver()
    with pytest.raises(GuardRejected, match="not CNY 10.00"):
        tx.deliver(collected=Money("10", CNY))
    delivered = tx.deliver(collected=Money("50", CNY))
    assert names(delivered)[-1] == (Stream.MONEY, "cash_collected")
    assert (delivered[-1].data["from"], delivered[-1].data["to"]) == ("Li Lei", "courier")
    settled = tx.settle(statement_ref="R-1")
    assert names(settled) == [
        (Stream.MONEY, "payment_settled"),
        (Stream.INFORMATION, "statement_issued"),
    ]
    assert (settled[0].data["from"], settled[0].data["to"]) == ("courier", "Tea House")
    assert FLOW.replay(tx.events) == tx


def test_no_dispatch_before_an_approved_payment(tx):
    order(tx)
    with pytest.raises(TransitionNotAllowed) as info:
        tx.dispatch()
    assert str(info.value) == (
        "Cannot dispatch transaction 'A-17' in state 'order_filled': payment not authorized "
        "yet; allowed: choose_payment, cancel, expire."
    )
    tx.choose_payment(method="credit_card")
    with pytest.raises(GuardRejected) as rejected:
        tx.dispatch()
    assert rejected.value.reasons == (
        ("cash_on_delivery", "payment not authorized yet; only cash on delivery ships unpaid"),
    )
    assert tx.allowed_triggers() == ("approve_payment", "decline_payment", "cancel")


def test_a_decline_allows_choosing_again_or_cancelling(tx):
    order(tx)
    tx.choose_payment(method="credit_card")
    assert names(tx.decline_payment(reason="insufficient funds")) == [
        (Stream.MONEY, "payment_declined"),
        (Stream.INFORMATION, "buyer_notified"),
    ]
    assert tx.state == "payment_declined"
    assert tx.allowed_triggers() == ("choose_payment", "cancel")
    tx.choose_payment(method="debit_card")
    tx.approve_payment(amount=Money("39.80", CNY), reference="AUTH-2")
    assert tx.context.payment.method is PaymentMethod.DEBIT_CARD
    assert [d.reason for d in tx.context.declines] == ["insufficient funds"]


def test_the_approved_amount_must_equal_the_total_in_the_same_currency(tx):
    order(tx)
    tx.choose_payment(method="credit_card")
    with pytest.raises(
        GuardRejected, match="approved amount CNY 39.00 differs from the order total CNY 39.80"
    ):
        tx.approve_payment(amount=Money("39.00", CNY), reference="A")
    with pytest.raises(GuardRejected, match="USD 39.80 differs"):
        tx.approve_payment(amount=Money("39.80", "USD"), reference="A")
    with pytest.raises(InvalidPayload, match=r"amount must be Money"):
        tx.approve_payment(amount=39.8, reference="A")  # type: ignore[arg-type]


def test_cancel_before_dispatch_voids_the_authorization(tx):
    order(tx)
    tx.choose_payment(method="credit_card")
    tx.approve_payment(amount=Money("39.80", CNY), reference="AUTH-9")
    cancelled = tx.cancel(reason="changed my mind")
    assert names(cancelled) == [
        (Stream.COMMERCE, "order_cancelled"),
        (Stream.MONEY, "authorization_voided"),
    ]
    assert cancelled[1].data == {
        "amount": {"amount": "39.80", "currency": "CNY"},
        "reference": "AUTH-9",
    }
    assert tx.state == "cancelled" and tx.allowed_triggers() == ()


def test_cancel_without_authorization_voids_nothing(tx):
    order(tx)
    assert names(tx.cancel(reason="too slow")) == [(Stream.COMMERCE, "order_cancelled")]


def test_no_cancel_after_dispatch(tx):
    order(tx)
    tx.choose_payment(method="cash_on_delivery")
    tx.dispatch()
    with pytest.raises(
        TransitionNotAllowed, match="the goods were already dispatched; allowed: deliver"
    ):
        tx.cancel(reason="late")


def test_settlement_only_after_delivery(tx):
    order(tx)
    with pytest.raises(TransitionNotAllowed, match="the goods are not delivered yet"):
        tx.settle(statement_ref="S")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quantity", 0, "quantity must be a positive integer .got 0."),
        ("quantity", 1.5, "quantity must be a positive integer"),
        ("quantity", True, "quantity must be a positive integer"),
        ("unit_price", 19.9, "unit_price must be Money"),
        ("unit_price", Money("-1", CNY), "unit_price must be at least 0"),
        ("customer_name", " ", "customer_name must be a non-empty string"),
        ("address", "", "address must be a non-empty string"),
        ("goods_name", None, "goods_name must be a non-empty string"),
        ("specification", "x" * 501, "specification is 501 characters long; at most 500"),
    ],
)
def test_the_shopping_form_is_validated(tx, field, value, message):
    form = dict(
        customer_name="Li",
        address="Beijing",
        goods_name="tea",
        quantity=1,
        specification="tin",
        unit_price=Money("1", CNY),
    )
    form[field] = value
    with pytest.raises(InvalidPayload, match=message):
        tx.fire("fill_order", **form)
    assert tx.state == "browsing" and tx.version == 0 and len(tx.events) == 1


def test_the_merchant_cannot_be_its_own_customer(tx):
    form = dict(address="Beijing", goods_name="tea", quantity=1, specification="tin")
    form["unit_price"] = Money("1", CNY)
    with pytest.raises(GuardRejected, match="the customer 'Tea House' is the merchant itself"):
        tx.fill_order(customer_name="Tea House", **form)
    assert tx.state == "browsing" and tx.version == 0 and len(tx.events) == 1
    tx.fill_order(customer_name="Tea House staff", **form)


def test_a_price_of_zero_is_allowed(tx):
    order(tx, price="0")
    assert tx.context.total == Money("0", CNY)


@pytest.mark.parametrize(
    "value", ["4111111111111111", "4111 1111 1111 1111", "4012-8888-8888-1881"]
)
def test_a_full_card_number_is_refused_anywhere(tx, value):
    order(tx)
    for payload in ({"token": value}, {"card_last4": value}):
        with pytest.raises(InvalidPayload, match="looks like a full card number"):
            tx.fire("choose_payment", method="credit_card", **payload)
    assert tx.state == "order_filled"
    assert not any(value in e.dumps() for e in tx.events)


def test_tokens_and_last_four_digits_are_fine(tx):
    order(tx)
    with pytest.raises(InvalidPayload, match="card_last4 must be exactly four digits .got '11a1'."):
        tx.choose_payment(method="credit_card", card_last4="11a1")
    tx.choose_payment(
        method="credit_card", card_last4="1111", token="tok_4111111111111112"
    )  # fails Luhn
    assert tx.context.payment.card_last4 == "1111"


def test_an_unknown_payment_method_names_the_choices(tx):
    order(tx)
    with pytest.raises(InvalidPayload, match="method 'cash' is not one of 'credit_card', "):
        tx.choose_payment(method="cash")


def test_labels_exist_in_both_languages():
    for name in FLOW.states:
        label = FLOW.state(name).label
        assert label.en and label.zh and label.en != label.zh
    assert PaymentMethod.CREDIT_CARD.label.zh == "信用卡"
