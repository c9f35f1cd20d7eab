"""The five-step operation flow (『叁』): unit tests and a model-based test against an oracle."""

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from ecomflow import FLOWS, GuardRejected, InvalidPayload, Money, Stream, TransitionNotAllowed
from ecomflow.flows.operation import FLOW, Channel
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
}
TERMINAL = {"delivered", "cancelled"}
# The seed: "集信息流、商流、资金流、物流为一身" — the streams each step records in.
STEP_STREAMS = {
    "place_order": {Stream.INFORMATION, Stream.COMMERCE},
    "confirm_order": {Stream.COMMERCE, Stream.INFORMATION, Stream.LOGISTICS},
    "settle": {Stream.MONEY},
    "notify_success": {Stream.INFORMATION, Stream.MONEY},
    "notify_failure": {Stream.INFORMATION, Stream.MONEY},
    "deliver": {Stream.LOGISTICS, Stream.COMMERCE},
    "cancel": {Stream.COMMERCE},
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

    @invariant()
    def every_step_records_in_its_streams(self):
        for event in self.tx.events[1:]:
            assert event.stream in STEP_STREAMS[event.trigger]

    @invariant()
    def delivery_only_after_a_success_notice(self):
        names_ = [e.name for e in self.tx.events]
        if "goods_delivered" in names_:
            assert "payment_transferred" in names_[: names_.index("goods_delivered")]


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
    notices = [e for e in tx.events if e.name in ("buyer_notified", "seller_notified")]
    assert [(e.data["role"], e.data["result"]) for e in notices] == [
        ("buyer", "failure"),
        ("seller", "failure"),
        ("buyer", "success"),
        ("seller", "success"),
    ]
    supply = next(e for e in tx.events if e.name == "supply_organisation_requested")
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
