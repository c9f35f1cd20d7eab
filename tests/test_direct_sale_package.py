"""The direct sale as a package (issue 12): one declaration per event, typed methods declared
once with keyword-only parameters, slotted payloads, and the flow's own invariants.

The expectations are written out here (the events the seed's six steps record, the payload
fields of each trigger), never read back from the definition under test.
"""

import inspect
import pickle

import attrs
import pytest

import ecomflow.flows.direct_sale as package
from ecomflow import EventType, Flow, Money, Stream, vocabulary
from ecomflow._flow import TriggerMethod
from ecomflow.flows.direct_sale import (
    FLOW,
    INVARIANTS,
    Authorization,
    Browse,
    Cancellation,
    Decline,
    Delivery,
    DirectSale,
    DirectSaleContext,
    Dispatch,
    OrderForm,
    ParcelRefusal,
    PaymentChoice,
    PaymentMethod,
    ReturnToMerchant,
    Settlement,
    definition,
    rules,
    terms,
)
from ecomflow.testing import flow_rules_hold

CNY = "CNY"

# Every event the direct sale records, by stream, as the seed's steps and the tests name them.
EVENTS = {
    "merchant_pages_viewed": Stream.INFORMATION,
    "order_form_submitted": Stream.INFORMATION,
    "order_placed": Stream.COMMERCE,
    "payment_method_chosen": Stream.INFORMATION,
    "payment_authorized": Stream.MONEY,
    "merchant_notified": Stream.INFORMATION,
    "payment_declined": Stream.MONEY,
    "buyer_notified": Stream.INFORMATION,
    "sales_department_notified": Stream.INFORMATION,
    "dispatched": Stream.LOGISTICS,
    "delivered": Stream.LOGISTICS,
    "ownership_transferred": Stream.COMMERCE,
    "cash_collected": Stream.MONEY,
    "payment_settled": Stream.MONEY,
    "card_company_paid": Stream.MONEY,
    "consumer_charged": Stream.MONEY,
    "statement_issued": Stream.INFORMATION,
    "delivery_refused": Stream.LOGISTICS,
    "returned_to_merchant": Stream.LOGISTICS,
    "order_ended": Stream.COMMERCE,
    "authorization_voided": Stream.MONEY,
    "order_cancelled": Stream.COMMERCE,
    "order_expired": Stream.COMMERCE,
}
SHARED = {
    "order_form_submitted",
    "order_placed",
    "buyer_notified",
    "sales_department_notified",
    "dispatched",
    "delivered",
    "ownership_transferred",
    "order_ended",
    "authorization_voided",
    "order_cancelled",
}

# The payload fields of each trigger (required ones first), as the seed's steps name them.
FIELDS = {
    "fill_order": (
        {"customer_name", "address", "goods_name", "quantity", "specification", "unit_price"},
        set(),
    ),
    "choose_payment": ({"method"}, {"card_last4", "token"}),
    "approve_payment": ({"amount", "reference"}, set()),
    "decline_payment": ({"reason"}, set()),
    "dispatch": (set(), {"carrier", "tracking_ref"}),
    "deliver": (set(), {"received_by", "collected"}),
    "settle": ({"statement_ref"}, set()),
    "cancel": ({"reason"}, set()),
    "refuse_delivery": ({"reason"}, {"refused_by"}),
    "return_to_merchant": (set(), {"received_by", "note"}),
    "expire": (set(), set()),  # timed: the clock fires it, 30 minutes unpaid
}


def declarations(*modules):
    return {
        value.name: value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, EventType)
    }


def emits(flow=FLOW):
    spec = flow.definition
    return [emit for t in (spec.start, *spec.transitions) for emit in t.emits]


def test_every_event_is_declared_once_with_its_stream_and_both_labels():
    own, shared = declarations(terms), declarations(vocabulary)
    assert set(own) == set(EVENTS) - SHARED
    assert not set(own) & set(shared)
    for name, stream in EVENTS.items():
        declared = own.get(name) or shared[name]
        assert declared.stream is stream, name
        assert declared.label is not None and declared.label.en and declared.label.zh, name
    recorded = {(emit.name, emit.stream) for emit in emits()}
    assert recorded == set(EVENTS.items())


def test_every_emit_comes_from_its_declaration():
    known = {**declarations(vocabulary), **declarations(terms)}
    for emit in emits():
        assert emit.label is known[emit.name].label, emit.name  # made by EventType.emit


def test_the_graph_names_its_events_by_declaration_not_by_string():
    source = inspect.getsource(definition)
    assert "Emit(" not in source and "Stream." not in source
    assert source.count(".emit(") == len(emits())
    assert "网络商品直销过程分为六步" in definition.__doc__
    for step in range(1, 7):
        assert f"({step})" in definition.__doc__


def test_each_typed_method_is_one_declaration_matching_its_payload():
    assert set(FLOW.triggers) == set(FIELDS)
    for name, (required, optional) in FIELDS.items():
        method = vars(DirectSale)[name]
        assert method.parameters == required | optional, name
        assert method.required == required, name
        assert isinstance(method.__trigger__, TriggerMethod), name
        assert method.__doc__, name


def test_typed_methods_take_keywords_only_and_return_the_events(clock):
    tx = FLOW.start("K-1", merchant="Tea House", clock=clock)
    tx.fill_order(
        customer_name="Li Lei",
        address="Beijing",
        goods_name="green tea",
        quantity=1,
        specification="tin",
        unit_price=Money("9.90", CNY),
    )
    with pytest.raises(TypeError):
        tx.choose_payment("credit_card")  # the old positional style is gone
    assert (tx.state, tx.version) == ("order_filled", 1)
    events = tx.choose_payment(method=PaymentMethod.DEBIT_CARD)
    assert [e.name for e in events] == ["payment_method_chosen"]
    assert events == tx.events[-1:]


SAMPLES = [
    Browse(merchant="Tea House", page="https://tea.example/"),
    OrderForm(
        customer_name="Li Lei",
        address="Beijing",
        goods_name="green tea",
        quantity=3,
        specification="tin",
        unit_price=Money("9.90", CNY),
    ),
    PaymentChoice(method=PaymentMethod.CREDIT_CARD, card_last4="4242"),
    Authorization(amount=Money("29.70", CNY), reference="AUTH-1"),
    Decline(reason="limit"),
    Dispatch(carrier="SF", tracking_ref="SF1"),
    Delivery(received_by="Li Lei", collected=Money("29.70", CNY)),
    Settlement(statement_ref="S-1"),
    Cancellation(reason="changed mind"),
    ParcelRefusal(reason="damaged", refused_by="Li Lei"),
    ReturnToMerchant(received_by="store", note="box dented"),
    DirectSaleContext(merchant="Tea House"),
]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda value: type(value).__name__)
def test_payloads_and_context_are_slotted_frozen_and_pickle_equal(value):
    """Payloads are slotted; the context keeps a __dict__, which fields.replace copies whole."""
    cls = type(value)
    if cls is DirectSaleContext:
        assert attrs.has(cls) and hasattr(value, "__dict__")
    else:
        assert attrs.has(cls) and "__slots__" in vars(cls)
        assert not hasattr(value, "__dict__")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        value.__setattr__(attrs.fields(cls)[0].name, None)
    copy = pickle.loads(pickle.dumps(value))
    assert copy == value and hash(copy) == hash(value)


def test_the_order_total_is_cached_on_the_slotted_form():
    form = SAMPLES[1]
    assert form.total == Money("29.70", CNY)
    assert form.total is form.total
    assert pickle.loads(pickle.dumps(form)).total == Money("29.70", CNY)


def test_the_package_re_exports_every_public_name_of_its_modules():
    for module in (definition, terms, rules):
        for name in module.__all__:
            assert getattr(package, name) is getattr(module, name), name
    assert sorted(package.__all__) == sorted({*definition.__all__, *terms.__all__, *rules.__all__})
    assert FLOW.definition.invariants == INVARIANTS


def test_a_settlement_above_the_authorization_is_caught(clock):
    # A broken flow: the amount guard is gone, so an authorization below the total passes.
    def unguarded(transition):
        if transition.trigger == "approve_payment":
            return attrs.evolve(transition, guards=())
        return transition

    spec = FLOW.definition
    broken = Flow(
        attrs.evolve(spec, transitions=tuple(unguarded(t) for t in spec.transitions)), DirectSale
    )
    tx = broken.start("M-1", merchant="Tea House", clock=clock)
    tx.fill_order(
        customer_name="Li Lei",
        address="Beijing",
        goods_name="green tea",
        quantity=2,
        specification="tin",
        unit_price=Money("10", CNY),
    )
    tx.choose_payment(method="credit_card", card_last4="4242")
    tx.approve_payment(amount=Money("5", CNY), reference="AUTH-1")
    tx.dispatch()
    tx.deliver()
    tx.settle(statement_ref="S-1")
    with pytest.raises(AssertionError, match=r"'M-1': settled .*20\.00.* > authorized .*5\.00"):
        rules.settled_within_the_authorization(tx)
    with pytest.raises(AssertionError):
        flow_rules_hold(tx)


def test_an_honest_sale_keeps_the_settlement_within_the_authorization(clock):
    tx = FLOW.start("H-1", merchant="Tea House", clock=clock)
    tx.fill_order(
        customer_name="Li Lei",
        address="Beijing",
        goods_name="green tea",
        quantity=2,
        specification="tin",
        unit_price=Money("10", CNY),
    )
    tx.choose_payment(method="credit_card")
    tx.approve_payment(amount=Money("20", CNY), reference="AUTH-1")
    tx.dispatch()
    tx.deliver()
    tx.settle(statement_ref="S-1")
    rules.settled_within_the_authorization(tx)
    flow_rules_hold(tx)
