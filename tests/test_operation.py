"""The five-step operation flow (『叁』): unit tests and a model-based test against an oracle."""

import ast
import inspect
import pickle
import sys
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

import ecomflow.vocabulary
from ecomflow import (
    FLOWS,
    EventType,
    Flow,
    GuardRejected,
    InvalidPayload,
    Money,
    Stream,
    TransitionNotAllowed,
)
from ecomflow._flow import TriggerMethod
from ecomflow.flows import operation
from ecomflow.flows.operation import (
    FLOW,
    GOODS_DELIVERED,
    PAYMENT_REFUNDED,
    SUPPLY_ORGANISATION_REQUESTED,
    Channel,
    Operation,
    OperationContext,
)
from ecomflow.flows.operation import definition as operation_definition
from ecomflow.flows.operation import rules as operation_rules
from ecomflow.flows.operation import terms as operation_terms
from ecomflow.projections import Ledger, fold
from ecomflow.testing import books_by_party, drive, transition_paths
from ecomflow.vocabulary import (
    BUYER_NOTIFIED,
    ORDER_ENDED,
    PAYMENT_TRANSFERRED,
    SELLER_NOTIFIED,
)
from tests.conftest import TickingClock
from tests.oracle import OracleMachine
from tests.strategies import money, names

# The seed's five steps, by hand: (state, trigger) -> next state.
STEPS = {
    ("goods_shown", "place_order"): "order_placed",  # 1
    ("order_placed", "confirm_order"): "order_confirmed",  # 2
    ("order_confirmed", "settle"): "settling",  # 3
    ("payment_failed", "settle"): "settling",  # 3, again after a failure
    ("settling", "notify_success"): "paid",  # 4
    ("settling", "notify_failure"): "payment_failed",  # 4
    ("paid", "deliver"): "delivered",  # 5, only after success
    ("order_placed", "cancel"): "cancelled",
    ("order_confirmed", "cancel"): "cancelled",
    ("payment_failed", "cancel"): "cancelled",
    ("paid", "refund"): "refunded",  # practice: cannot supply after payment, refund
}
TERMINAL = {"delivered", "cancelled", "refunded"}
# The seed: "集信息流、商流、资金流、物流为一身" — the streams each step records in.
STEP_STREAMS = {
    "place_order": {Stream.INFORMATION, Stream.COMMERCE},
    "confirm_order": {Stream.COMMERCE, Stream.INFORMATION, Stream.LOGISTICS},
    "settle": {Stream.MONEY},
    "notify_success": {Stream.INFORMATION, Stream.MONEY},
    "notify_failure": {Stream.INFORMATION, Stream.MONEY},
    "deliver": {Stream.LOGISTICS, Stream.COMMERCE},
    "cancel": {Stream.COMMERCE},
    "refund": {Stream.MONEY, Stream.COMMERCE, Stream.INFORMATION},
}
ORDER = {
    "customer": "Wang Fang",
    "address": "Shanghai",
    "goods_name": "kettle",
    "quantity": 3,
    "unit_price": Money("129.00", "CNY"),
}
SAMPLE_PAYLOADS = {
    "place_order": ORDER,
    "confirm_order": {"payment_instructions": "pay through the bank gateway"},
    "settle": {"institution": "Bank", "amount": Money("387.00", "CNY"), "reference": "R"},
    "notify_success": {"channel": "email", "confirmation_ref": "OK"},
    "notify_failure": {"channel": "email", "reason": "timeout"},
    "deliver": {},
    "cancel": {"reason": "no longer needed"},
    "refund": {"reason": "out of stock", "reference": "RF"},
}


class OperationMachine(OracleMachine):
    FLOW = FLOW
    STEPS = STEPS
    TERMINAL = TERMINAL
    SAMPLE_PAYLOADS = SAMPLE_PAYLOADS

    def start(self):
        self.total = None
        return FLOW.start("O-1", merchant="Works", clock=TickingClock())

    def guard_failure(self, trigger, payload):
        if trigger == "place_order":
            return payload["customer"] == "Works"  # nobody orders from themselves
        return trigger == "settle" and payload["amount"] != self.total

    def apply(self, trigger, payload):
        if trigger == "place_order":
            self.total = payload["unit_price"] * payload["quantity"]
            self.customer = payload["customer"]

    @initialize(depth=st.sampled_from(range(6)), fail_first=st.booleans())
    def walk_part_of_the_happy_path(self, depth, fail_first):
        path = [
            ("place_order", ORDER),
            ("confirm_order", SAMPLE_PAYLOADS["confirm_order"]),
            ("settle", SAMPLE_PAYLOADS["settle"]),
            ("notify_success", SAMPLE_PAYLOADS["notify_success"]),
            ("deliver", {}),
        ]
        if fail_first:
            path[3:3] = [
                ("notify_failure", SAMPLE_PAYLOADS["notify_failure"]),
                ("settle", SAMPLE_PAYLOADS["settle"]),
            ]
        for trigger, payload in path[:depth]:
            assert self.attempt(trigger, payload) is not None

    @precondition(lambda self: self.legal("place_order"))
    @rule(
        customer=names | st.just("Works"),
        quantity=st.integers(1, 20),
        price=money(),
        go=st.sampled_from([True] * 3 + [False]),
    )
    def place_order(self, customer, quantity, price, go):
        order = {
            "customer": customer,
            "address": "Shanghai",
            "goods_name": "kettle",
            "quantity": quantity,
            "unit_price": price,
        }
        self.attempt("place_order", {**order, "quantity": -quantity}, valid=False)
        self.attempt("place_order", {**order, "unit_price": 1.5}, valid=False)
        if go:
            self.attempt("place_order", order)

    @precondition(lambda self: self.legal("confirm_order"))
    @rule(text=names)
    def confirm_order(self, text):
        self.attempt("confirm_order", {"payment_instructions": ""}, valid=False)
        self.attempt("confirm_order", {"payment_instructions": text})

    @precondition(lambda self: self.legal("settle"))
    @rule(other=money(), go=st.sampled_from([True] * 3 + [False]))
    def settle(self, other, go):
        settlement = {"institution": "Bank", "reference": "R"}
        self.attempt("settle", {**settlement, "amount": 1.5}, valid=False)
        self.attempt("settle", {**settlement, "amount": other})
        if go and self.legal("settle"):
            self.attempt("settle", {**settlement, "amount": self.total})

    @precondition(lambda self: self.legal("notify_success"))
    @rule(channel=st.sampled_from(Channel), by_value=st.booleans())
    def notify_success(self, channel, by_value):
        self.attempt("notify_success", {"channel": "pigeon", "confirmation_ref": "OK"}, valid=False)
        chosen = channel.value if by_value else channel
        self.attempt("notify_success", {"channel": chosen, "confirmation_ref": "OK"})

    @precondition(lambda self: self.legal("notify_failure"))
    @rule(channel=st.sampled_from(Channel), reason=names)
    def notify_failure(self, channel, reason):
        self.attempt("notify_failure", {"channel": channel.value, "reason": reason})

    @precondition(lambda self: self.legal("deliver"))
    @rule(carrier=st.one_of(st.none(), names))
    def deliver(self, carrier):
        self.attempt("deliver", {"carrier": ""}, valid=False)
        self.attempt("deliver", {"carrier": carrier})

    @precondition(lambda self: self.legal("cancel"))
    @rule(reason=names, go=st.sampled_from([False, False, True]))
    def cancel(self, reason, go):
        self.attempt("cancel", {"reason": ""}, valid=False)
        if go:
            self.attempt("cancel", {"reason": reason})

    @precondition(lambda self: self.legal("refund"))
    @rule(reason=names, go=st.sampled_from([False, False, True]))
    def refund(self, reason, go):
        self.attempt("refund", {"reason": reason, "reference": ""}, valid=False)
        if go:
            self.attempt("refund", {"reason": reason, "reference": "RF"})

    @invariant()
    def the_customer_pays_the_merchant_once_paid(self):
        """The ledger, by the rule written here and by the flow's declared books."""
        wanted = {}
        if self.state in ("paid", "delivered") and self.total.amount:
            wanted = {self.customer: -self.total.amount, "Works": self.total.amount}
        assert ledger_of(self.tx) == wanted
        assert declared(self.tx) == wanted
        _rules(self.tx)

    @invariant()
    def every_step_records_in_its_streams(self):
        for event in self.tx.events[1:]:
            assert event.stream in STEP_STREAMS[event.trigger]

    @invariant()
    def delivery_only_after_a_success_notice(self):
        names_ = [e.name for e in self.tx.events]
        if GOODS_DELIVERED.name in names_:
            assert PAYMENT_TRANSFERRED.name in names_[: names_.index(GOODS_DELIVERED.name)]


TestOperationMachine = OperationMachine.TestCase


def test_the_flow_is_registered_with_its_seed_section():
    assert FLOWS["operation"] is FLOW and FLOW.source == "『叁』"
    assert FLOW.title.zh == "电子商务的运作流程"


def test_each_step_is_tagged_with_the_streams_of_the_seed():
    for trigger, streams in STEP_STREAMS.items():
        transitions = [t for t in FLOW.definition.transitions if t.trigger == trigger]
        assert transitions and all(t.streams == streams for t in transitions), trigger


def full_run(tx):
    tx.place_order(**ORDER)
    tx.confirm_order(payment_instructions="pay online", supply_note="from stock")
    tx.settle(institution="Bank of Ningbo", amount=Money("387.00", "CNY"), reference="EB-1")
    tx.notify_failure(channel=Channel.EMAIL, reason="gateway timeout")
    tx.settle(institution="Bank of Ningbo", amount=Money("387.00", "CNY"), reference="EB-2")
    tx.notify_success(channel="sms", confirmation_ref="OK-2")
    tx.deliver(carrier="ZTO")


def test_a_run_with_a_failed_then_successful_settlement(clock):
    tx = FLOW.start("O-7", merchant="Works", clock=clock)
    full_run(tx)
    assert tx.state == "delivered" and tx.version == 7
    assert [s.reference for s in tx.context.settlements] == ["EB-1", "EB-2"]
    assert {e.stream for e in tx.events} == set(Stream)
    notices = [e for e in tx.events if e.name in (BUYER_NOTIFIED.name, SELLER_NOTIFIED.name)]
    assert [(e.data["role"], e.data["result"]) for e in notices] == [
        ("buyer", "failure"),
        ("seller", "failure"),
        ("buyer", "success"),
        ("seller", "success"),
    ]
    supply = next(e for e in tx.events if SUPPLY_ORGANISATION_REQUESTED.matches(e))
    assert supply.stream is Stream.LOGISTICS and supply.data["system"] == "Works application system"
    assert FLOW.replay(tx.events) == tx


def test_no_delivery_before_a_success_notice(clock):
    tx = FLOW.start("O-8", merchant="Works", clock=clock)
    tx.place_order(**ORDER)
    tx.confirm_order(payment_instructions="pay online")
    with pytest.raises(TransitionNotAllowed, match="has not reported a successful payment"):
        tx.deliver()


def test_the_settled_amount_must_be_the_total(clock):
    tx = FLOW.start("O-9", merchant="Works", clock=clock)
    tx.place_order(**ORDER)
    tx.confirm_order(payment_instructions="pay online")
    with pytest.raises(GuardRejected, match="differs from the order total CNY 387.00"):
        tx.settle(institution="Bank", amount=Money("300", "CNY"), reference="X")
    tx.settle(institution="Bank", amount=Money("387", "CNY"), reference="X")
    with pytest.raises(InvalidPayload, match="channel 'pigeon' is not one of"):
        tx.notify_success(channel="pigeon", confirmation_ref="x")


def test_the_merchant_cannot_order_from_itself(clock):
    tx = FLOW.start("O-11", merchant="Works", clock=clock)
    with pytest.raises(
        GuardRejected, match="'Works' is the merchant itself .customer_is_not_merchant."
    ):
        tx.place_order(**{**ORDER, "customer": "Works"})
    assert tx.state == "goods_shown" and tx.version == 0


def test_no_cancel_while_settling(clock):
    tx = FLOW.start("O-10", merchant="Works", clock=clock)
    tx.place_order(**ORDER)
    tx.confirm_order(payment_instructions="pay online")
    tx.settle(institution="Bank", amount=Money("387", "CNY"), reference="X")
    with pytest.raises(
        TransitionNotAllowed, match="the payment is being settled; wait for the result"
    ):
        tx.cancel(reason="impatient")


# -- issue 10: the books per party, and no dead end after payment ------------------------


def ledger_of(tx):
    ledger = fold(Ledger(), tx.events)
    return {account: amount for (account, _), amount in ledger.balances().items()}


def declared(tx):
    books = FLOW.definition.books(tx.context, tx.state)
    return {account: money.amount for account, money in books.items() if money.amount}


def test_the_customer_pays_the_merchant_once_and_the_books_say_so_in_every_state(clock):
    tx = FLOW.start("O-20", merchant="Works", clock=clock)
    steps = [
        lambda: tx.place_order(**ORDER),
        lambda: tx.confirm_order(payment_instructions="pay online"),
        lambda: tx.settle(institution="Bank of Ningbo", amount=Money("387", "CNY"), reference="1"),
        lambda: tx.notify_failure(channel="email", reason="timeout"),
        lambda: tx.settle(institution="Bank of Ningbo", amount=Money("387", "CNY"), reference="2"),
        lambda: tx.notify_success(channel="email", confirmation_ref="OK"),
        lambda: tx.deliver(carrier="ZTO"),
    ]
    assert FLOW.definition.books is not None
    for step in steps:
        step()
        assert ledger_of(tx) == declared(tx), tx.state
        if tx.state in ("paid", "delivered"):
            assert ledger_of(tx) == {"Wang Fang": Decimal("-387"), "Works": Decimal("387")}
            assert "Bank of Ningbo" not in ledger_of(tx)  # the institution only carries it
        else:
            assert ledger_of(tx) == {}


def test_a_paid_order_the_merchant_cannot_supply_is_refunded(clock):
    tx = FLOW.start("O-21", merchant="Works", clock=clock)
    tx.place_order(**ORDER)
    tx.confirm_order(payment_instructions="pay online")
    tx.settle(institution="Bank of Ningbo", amount=Money("387", "CNY"), reference="EB-1")
    tx.notify_success(channel="email", confirmation_ref="OK")
    assert tx.allowed_triggers() == ("deliver", "refund")
    events = tx.refund(reason="out of stock", reference="RF-1")
    assert [(e.stream, e.name) for e in events] == [
        (kind.stream, kind.name) for kind in (PAYMENT_REFUNDED, ORDER_ENDED, BUYER_NOTIFIED)
    ]
    assert (events[0].data["from"], events[0].data["to"]) == ("Works", "Wang Fang")
    assert events[0].data["institution"] == "Bank of Ningbo"
    assert events[1].data["owner"] == "Works"
    assert tx.state == "refunded" and tx.is_finished and tx.allowed_triggers() == ()
    assert ledger_of(tx) == {} == declared(tx)
    assert FLOW.state("refunded").label.zh and FLOW.replay(tx.events) == tx
    for check in FLOW.definition.invariants:
        check(tx)


def test_a_refund_only_after_a_successful_payment_and_never_after_delivery(clock):
    tx = FLOW.start("O-22", merchant="Works", clock=clock)
    tx.place_order(**ORDER)
    with pytest.raises(TransitionNotAllowed, match="nothing was paid"):
        tx.refund(reason="x", reference="R")
    full = FLOW.start("O-23", merchant="Works", clock=clock)
    full_run(full)
    with pytest.raises(TransitionNotAllowed, match="the goods were already delivered"):
        full.refund(reason="x", reference="R")


def _mutant(trigger, change, **definition_changes):
    definition = FLOW.definition
    transitions = tuple(
        attrs.evolve(t, **change(t)) if t.trigger == trigger else t for t in definition.transitions
    )
    changed = attrs.evolve(definition, transitions=transitions, **definition_changes)
    return Flow(changed, Operation)


def _rules(tx):
    for check in FLOW.definition.invariants:
        check(tx)


def test_the_flow_declares_its_rules_and_each_catches_a_broken_flow(clock):
    assert {check.__name__ for check in FLOW.definition.invariants} == {
        "goods_reach_the_customer_only_after_payment",
        "paid_at_most_once_for_the_total",
        "refunded_never_more_than_paid",
        "cancelled_only_before_payment",
    }
    honest = FLOW.start("O-h", merchant="Works", clock=clock)
    full_run(honest)
    _rules(honest)

    # deliver before pay: a success notice that never moves the money
    unpaid = _mutant(
        "notify_success", lambda t: {"emits": t.emits[:2]}, payment_secured_by={BUYER_NOTIFIED.name}
    )
    tx = unpaid.start("O-m1", merchant="Works", clock=clock)
    tx.place_order(**ORDER)
    tx.confirm_order(payment_instructions="pay online")
    tx.settle(institution="Bank", amount=Money("387", "CNY"), reference="EB")
    tx.notify_success(channel="email", confirmation_ref="OK")
    tx.deliver()
    with pytest.raises(AssertionError, match="goods_delivered at version 5 before a successful"):
        _rules(tx)
    assert ledger_of(tx) != declared(tx)  # and the books see the merchant never paid

    # pay twice: notify_success records the transfer twice
    twice = _mutant("notify_success", lambda t: {"emits": (*t.emits, t.emits[-1])})
    tx = twice.start("O-m2", merchant="Works", clock=clock)
    full_run(tx)
    with pytest.raises(AssertionError, match="paid 2 times"):
        _rules(tx)
    assert ledger_of(tx) != declared(tx)  # and the books see the merchant paid twice

    # refund more than paid
    def more(t):
        first = t.emits[0]

        def data(context, payload):
            return {**first.data(context, payload), "amount": Money("999", "CNY").to_json()}

        return {"emits": (attrs.evolve(first, data=data), *t.emits[1:])}

    greedy = _mutant("refund", more)
    tx = greedy.start("O-m3", merchant="Works", clock=clock)
    tx.place_order(**ORDER)
    tx.confirm_order(payment_instructions="pay online")
    tx.settle(institution="Bank", amount=Money("387", "CNY"), reference="EB")
    tx.notify_success(channel="email", confirmation_ref="OK")
    tx.refund(reason="out of stock", reference="RF")
    with pytest.raises(AssertionError, match="refunded CNY 999.00 of the CNY 387.00 paid"):
        _rules(tx)

    # cancel after pay
    refusals = {**FLOW.definition.refusals, "cancel": {}}
    late = _mutant("cancel", lambda t: {"source": (*t.source, "paid")}, refusals=refusals)
    tx = late.start("O-m4", merchant="Works", clock=clock)
    tx.place_order(**ORDER)
    tx.confirm_order(payment_instructions="pay online")
    tx.settle(institution="Bank", amount=Money("387", "CNY"), reference="EB")
    tx.notify_success(channel="email", confirmation_ref="OK")
    tx.cancel(reason="changed my mind")
    rules = {check.__name__: check for check in FLOW.definition.invariants}
    with pytest.raises(AssertionError, match="order_cancelled at version 5 after the payment"):
        rules["cancelled_only_before_payment"](tx)
    with pytest.raises(AssertionError, match="1 payments in state 'cancelled'"):
        rules["paid_at_most_once_for_the_total"](tx)
    with pytest.raises(
        AssertionError, match="account 'Wang Fang' is at CNY -387.00; the operation books say CNY 0"
    ):
        books_by_party(tx)  # the testing kit reads the same books


PATHS = transition_paths(FLOW)


@pytest.mark.parametrize("key", sorted(PATHS, key=str), ids=lambda key: f"{key[0]}-{key[1]}")
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_the_books_hold_on_every_walk(key, data):
    tx = drive(FLOW, PATHS[key], data.draw)
    if tx is None:
        return
    assert ledger_of(tx) == declared(tx)
    _rules(tx)
    order = tx.context.order
    if tx.state in ("paid", "delivered") and order.total.amount:
        merchant, total = tx.context.merchant, order.total.amount
        assert ledger_of(tx) == {order.customer: -total, merchant: total}
    else:
        assert ledger_of(tx) == {}


# -- issue 12: the flow as a package; events declared once; typed methods declared once ---

# Every event the flow records, by hand from the seed's steps: (name, stream).
RECORDED = {
    ("goods_shown", Stream.INFORMATION),
    ("order_form_submitted", Stream.INFORMATION),
    ("order_placed", Stream.COMMERCE),
    ("order_confirmed", Stream.COMMERCE),
    ("payment_instructions_sent", Stream.INFORMATION),
    ("supply_organisation_requested", Stream.LOGISTICS),
    ("electronic_settlement_submitted", Stream.MONEY),
    ("buyer_notified", Stream.INFORMATION),
    ("seller_notified", Stream.INFORMATION),
    ("payment_transferred", Stream.MONEY),
    ("payment_failed", Stream.MONEY),
    ("goods_delivered", Stream.LOGISTICS),
    ("ownership_transferred", Stream.COMMERCE),
    ("payment_refunded", Stream.MONEY),
    ("order_ended", Stream.COMMERCE),
    ("order_cancelled", Stream.COMMERCE),
}


def _declarations(module):
    return {value for value in vars(module).values() if isinstance(value, EventType)}


def test_every_event_is_declared_once_with_both_labels():
    own, shared = _declarations(operation_terms), _declarations(ecomflow.vocabulary)
    assert not {kind.name for kind in own} & {kind.name for kind in shared}
    emits = [
        emit for t in (FLOW.definition.start, *FLOW.definition.transitions) for emit in t.emits
    ]
    assert {(emit.name, emit.stream) for emit in emits} == RECORDED
    by_name = {kind.name: kind for kind in own | shared}
    for emit in emits:
        kind = by_name[emit.name]
        assert (emit.stream, emit.label) == (kind.stream, kind.label), emit.name
        assert kind.label.en and kind.label.zh, kind.name
    assert {(kind.name, kind.stream) for kind in own} <= RECORDED
    public = {name for name in operation.__all__ if isinstance(getattr(operation, name), EventType)}
    assert {getattr(operation, name) for name in public} == own


@pytest.mark.parametrize("module", [operation_rules, operation_definition])
def test_rules_and_graph_name_events_by_declaration_not_string(module):
    names = {name for name, _ in RECORDED}
    source = ast.parse(inspect.getsource(module))
    strings = {
        node.value
        for node in ast.walk(source)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    # definition.py names its states, and four share an event's name (goods_shown, ...)
    states = set(FLOW.states) if module is operation_definition else set()
    assert not names & (strings - states)


def test_the_typed_methods_are_declared_for_every_trigger_and_match_the_payloads():
    specs = {t.trigger: t for t in FLOW.definition.transitions}
    assert set(specs) == set(FLOW.triggers)
    for name, spec in specs.items():
        method = vars(Operation)[name]
        assert isinstance(method.__trigger__, TriggerMethod), name
        fields = {field.alias: field for field in attrs.fields(spec.payload)}
        assert method.parameters == set(fields), name
        assert method.required == {
            alias for alias, field in fields.items() if field.default is attrs.NOTHING
        }, name
        assert method.__doc__, name


def test_typed_methods_take_keywords_only_and_fire_their_trigger(clock):
    tx = FLOW.start("O-30", merchant="Works", clock=clock)
    with pytest.raises(TypeError, match="positional"):
        tx.cancel("too positional")  # type: ignore[misc]
    assert tx.state == "goods_shown" and tx.version == 0
    events = tx.place_order(**ORDER)
    assert events == tx.events[1:] and tx.state == "order_placed"
    assert tx.confirm_order(payment_instructions="pay online")[0].trigger == "confirm_order"


def test_payloads_and_context_are_final_frozen_and_slotted(clock):
    classes = [t.payload for t in (FLOW.definition.start, *FLOW.definition.transitions)]
    for cls in [*classes, OperationContext]:  # the context is copied whole by fields.replace
        assert attrs.has(cls) and ("__dict__" in dir(cls)) is (cls is OperationContext), cls
        if sys.version_info >= (3, 11):  # typing.final marks the class from 3.11 on
            assert getattr(cls, "__final__", False), cls
        assert cls.__module__ == operation_terms.__name__
    tx = FLOW.start("O-31", merchant="Works", clock=clock)
    full_run(tx)
    context = tx.context
    assert context.order.total == Money("387.00", "CNY") == context.total
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        context.order.quantity = 4
    again = pickle.loads(pickle.dumps(context))
    assert again == context and again.order.total == context.order.total
    assert hash(context.order) == hash(again.order)


def test_the_package_keeps_its_names_and_the_definition_opens_with_the_seed():
    for name in ("FLOW", "DEFINITION", "Operation", "INVARIANTS", "books", "summary"):
        assert hasattr(operation, name), name
    assert operation.AMOUNT_MATCHES in FLOW.definition.transitions[2].guards
    assert operation.CUSTOMER_IS_NOT_MERCHANT in FLOW.definition.transitions[0].guards
    assert operation.DEFINITION is FLOW.definition and operation.FLOW is FLOWS["operation"]
    assert "『叁』" in operation_definition.__doc__
    assert "厂方通过订单确认客户,告之收费方法" in operation_definition.__doc__
    assert set(operation.__all__) <= set(dir(operation))
