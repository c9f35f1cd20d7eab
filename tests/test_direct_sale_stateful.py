"""Model-based test of the direct sale against an independent oracle.

The oracle below is written by hand from the seed's six steps (『壹』『贰』, cash on
delivery from 『柒』); it does not read the flow definition. Every rule fires a
trigger — legal or not, with a valid or invalid payload — and the oracle predicts
the outcome: the next state, or which error.
"""

import json

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ecomflow import (
    Event,
    GuardRejected,
    InvalidPayload,
    Money,
    Stream,
    TransitionNotAllowed,
)
from ecomflow.flows.direct_sale import FLOW, PaymentMethod
from tests.conftest import TickingClock
from tests.strategies import CARD_NUMBERS, JUNK, bad_order_forms, methods, money, names, order_forms

# The six steps as a table: (state, trigger) -> next state. Guards are modelled
# separately in `Oracle.guard_failure`.
STEPS = {
    ("browsing", "fill_order"): "order_filled",
    ("order_filled", "choose_payment"): "payment_method_chosen",
    ("payment_declined", "choose_payment"): "payment_method_chosen",
    ("payment_method_chosen", "approve_payment"): "payment_authorized",
    ("payment_method_chosen", "decline_payment"): "payment_declined",
    ("payment_authorized", "dispatch"): "shipping",
    ("payment_method_chosen", "dispatch"): "shipping",  # cash on delivery only
    ("shipping", "deliver"): "delivered",
    ("delivered", "settle"): "settled",
    ("order_filled", "cancel"): "cancelled",
    ("payment_method_chosen", "cancel"): "cancelled",
    ("payment_declined", "cancel"): "cancelled",
    ("payment_authorized", "cancel"): "cancelled",
}
TERMINAL = {"settled", "cancelled"}
# A well-formed payload for every trigger, for firing it where it is not allowed.
SAMPLE_PAYLOADS = {
    "fill_order": {
        "customer_name": "Li",
        "address": "Beijing",
        "goods_name": "tea",
        "quantity": 1,
        "specification": "tin",
        "unit_price": Money("1.00", "CNY"),
    },
    "choose_payment": {"method": "credit_card"},
    "approve_payment": {"amount": Money("1.00", "CNY"), "reference": "A"},
    "decline_payment": {"reason": "no"},
    "dispatch": {},
    "deliver": {},
    "settle": {"statement_ref": "S"},
    "cancel": {"reason": "changed my mind"},
}


class Oracle:
    """What the seed says should happen, tracked without the library's help."""

    def __init__(self):
        self.state = "browsing"
        self.total = None
        self.method = None
        self.version = 0

    @property
    def cod(self):
        return self.method == "cash_on_delivery"

    def guard_failure(self, trigger, payload):
        if trigger in ("approve_payment", "decline_payment") and self.cod:
            return True
        if trigger == "approve_payment" and payload["amount"] != self.total:
            return True
        if trigger == "dispatch" and self.state == "payment_method_chosen" and not self.cod:
            return True
        if trigger == "deliver":
            collected = payload.get("collected")
            return collected != self.total if self.cod else collected is not None
        return False

    def apply(self, trigger, payload):
        if trigger == "fill_order":
            self.total = payload["unit_price"] * payload["quantity"]
        if trigger == "choose_payment":
            method = payload["method"]
            self.method = method.value if isinstance(method, PaymentMethod) else method
        self.state = STEPS[(self.state, trigger)]
        self.version += 1


class DirectSaleMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.oracle = Oracle()
        self.tx = FLOW.start("T-1", merchant="Shop", clock=TickingClock())
        self.errors = 0

    def legal(self, trigger):
        return (self.oracle.state, trigger) in STEPS

    def attempt(self, trigger, payload, valid=True):
        """Fire and check the outcome against the oracle's prediction."""
        before = (self.tx.state, self.tx.version, self.tx.events, self.tx.context)
        legal = (self.oracle.state, trigger) in STEPS
        if not legal:
            expected = TransitionNotAllowed
        elif not valid:
            expected = InvalidPayload
        elif self.oracle.guard_failure(trigger, payload):
            expected = GuardRejected
        else:
            expected = None
        try:
            events = self.tx.fire(trigger, **payload)
        except (TransitionNotAllowed, InvalidPayload, GuardRejected) as error:
            assert expected is not None, f"{trigger} {payload} raised {error!r}"
            assert type(error) is expected, f"expected {expected.__name__}, got {error!r}"
            assert self.tx.id in str(error) and repr(self.oracle.state) in str(error)
            if isinstance(error, GuardRejected):
                assert error.reasons and all(name and why for name, why in error.reasons)
            if isinstance(error, TransitionNotAllowed):
                assert set(error.allowed) == {t for (s, t) in STEPS if s == self.oracle.state}
            after = (self.tx.state, self.tx.version, self.tx.events, self.tx.context)
            assert after == before, "a refused trigger changed the transaction"
            self.errors += 1
            return
        assert expected is None, f"{trigger} {payload} should raise {expected.__name__}"
        self.oracle.apply(trigger, payload)
        assert events and all(event.version == self.tx.version for event in events)

    # -- one rule per trigger, fired where the oracle says it is legal: mostly with a
    # -- good payload, sometimes with a bad one or one its guards must refuse.

    @precondition(lambda self: self.legal("fill_order"))
    @rule(
        good=st.sampled_from([True, True, True, False]), form=order_forms(), bad=bad_order_forms()
    )
    def fill_order(self, good, form, bad):
        if good:
            self.attempt("fill_order", form)
        else:
            self.attempt("fill_order", bad, valid=False)

    @precondition(lambda self: self.legal("choose_payment"))
    @rule(
        variant=st.sampled_from(["ok", "ok", "ok", "value", "unknown", "card", "last4"]),
        method=methods,
        last4=st.one_of(st.none(), st.from_regex(r"\A\d{4}\Z")),
        card=CARD_NUMBERS,
        junk=st.text(max_size=12).filter(lambda m: m not in {p.value for p in PaymentMethod}),
    )
    def choose_payment(self, variant, method, last4, card, junk):
        if variant == "ok":
            self.attempt("choose_payment", {"method": method, "card_last4": last4})
        elif variant == "value":
            self.attempt("choose_payment", {"method": method.value})
        elif variant == "unknown":
            self.attempt("choose_payment", {"method": junk}, valid=False)
        elif variant == "card":
            self.attempt("choose_payment", {"method": "credit_card", "token": card}, valid=False)
        else:
            self.attempt("choose_payment", {"method": method, "card_last4": card}, valid=False)

    @precondition(lambda self: self.legal("approve_payment"))
    @rule(
        variant=st.sampled_from(["exact", "exact", "exact", "other", "raw"]),
        other=money(),
        raw=st.floats(0, 1000) | st.decimals(0, 1000, places=2) | st.integers(0, 1000),
        ref=names,
    )
    def approve_payment(self, variant, other, raw, ref):
        if variant == "raw":
            self.attempt("approve_payment", {"amount": raw, "reference": ref}, valid=False)
        else:
            amount = self.oracle.total if variant == "exact" else other
            self.attempt("approve_payment", {"amount": amount, "reference": ref})

    @precondition(lambda self: self.legal("decline_payment"))
    @rule(reason=names)
    def decline_payment(self, reason):
        self.attempt("decline_payment", {"reason": reason})

    @precondition(lambda self: self.legal("dispatch"))
    @rule(carrier=st.one_of(st.none(), names), good=st.sampled_from([True] * 5 + [False]))
    def dispatch(self, carrier, good):
        if good:
            self.attempt("dispatch", {"carrier": carrier})
        else:
            self.attempt("dispatch", {"carrier": ""}, valid=False)

    @precondition(lambda self: self.legal("deliver"))
    @rule(variant=st.sampled_from(["right", "right", "right", "none", "other"]), other=money())
    def deliver(self, variant, other):
        if variant == "right":
            collected = self.oracle.total if self.oracle.cod else None
        else:
            collected = None if variant == "none" else other
        self.attempt("deliver", {"collected": collected})

    @precondition(lambda self: self.legal("settle"))
    @rule(ref=names, good=st.sampled_from([True] * 5 + [False]))
    def settle(self, ref, good):
        if good:
            self.attempt("settle", {"statement_ref": ref})
        else:
            self.attempt("settle", {}, valid=False)

    @precondition(lambda self: self.legal("cancel"))
    @rule(reason=names, go=st.sampled_from([False, False, False, True]))
    def cancel(self, reason, go):
        if go:  # cancelling ends the walk, so do it a quarter of the times it is drawn
            self.attempt("cancel", {"reason": reason})

    @rule(data=st.data())
    def fire_a_trigger_not_allowed_here(self, data):
        """Every trigger of the flow that the oracle says is impossible now is refused."""
        illegal = sorted(t for t in SAMPLE_PAYLOADS if not self.legal(t))
        trigger = data.draw(st.sampled_from(illegal))
        self.attempt(trigger, SAMPLE_PAYLOADS[trigger])

    @rule(
        variant=st.sampled_from(["name", "fields"]),
        name=st.text(max_size=15).filter(lambda t: t not in SAMPLE_PAYLOADS),
        trigger=st.sampled_from(sorted(SAMPLE_PAYLOADS)),
        junk=st.dictionaries(st.text(max_size=8).map("x_".__add__), JUNK, min_size=1, max_size=3),
    )
    def fire_junk(self, variant, name, trigger, junk):
        """Unknown trigger names and unknown fields raise only ecomflow errors, changing nothing."""
        if variant == "name":
            self.attempt(name, junk)
        else:
            self.attempt(trigger, junk, valid=False)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def state_matches_oracle(self):
        assert self.tx.state == self.oracle.state
        assert self.tx.version == self.oracle.version

    @invariant()
    def terminal_states_absorb(self):
        if self.oracle.state in TERMINAL:
            assert self.tx.allowed_triggers() == ()
            assert self.tx.is_finished

    @invariant()
    def versions_are_gapless(self):
        versions = [(e.version, e.seq) for e in self.tx.events]
        expected_versions = sorted({v for v, _ in versions})
        assert expected_versions == list(range(self.tx.version + 1))
        for version in expected_versions:
            seqs = [s for v, s in versions if v == version]
            assert seqs == list(range(len(seqs)))
        assert versions == sorted(versions)

    @invariant()
    def no_dispatch_before_approval_unless_cod(self):
        authorized = False
        for event in self.tx.events:
            if event.stream is Stream.MONEY and event.name == "payment_authorized":
                authorized = True
            if event.stream is Stream.LOGISTICS and event.name == "dispatched":
                assert authorized or event.data["cash_on_delivery"] is True
                assert authorized or self.oracle.cod

    @invariant()
    def replay_gives_the_same_transaction(self):
        events = [Event.from_json(json.loads(e.dumps())) for e in self.tx.events]
        assert events == list(self.tx.events)
        assert FLOW.replay(events) == self.tx

    @invariant()
    def event_data_is_json_without_floats(self):
        def check(value):
            if isinstance(value, dict):
                assert all(isinstance(key, str) for key in value)
                for item in value.values():
                    check(item)
            elif isinstance(value, list):
                for item in value:
                    check(item)
            else:
                assert value is None or type(value) in (str, int, bool), repr(value)

        for event in self.tx.events:
            check(event.to_json())


TestDirectSaleMachine = DirectSaleMachine.TestCase


def test_oracle_knows_a_complete_run_touches_all_four_streams():
    tx = FLOW.start("T-2", merchant="Shop", clock=TickingClock())
    tx.fill_order(
        customer_name="Li",
        address="Beijing",
        goods_name="tea",
        quantity=1,
        specification="tin",
        unit_price=Money("5.00", "CNY"),
    )
    tx.choose_payment("credit_card")
    tx.approve_payment(amount=Money("5.00", "CNY"), reference="A1")
    tx.dispatch()
    tx.deliver()
    tx.settle(statement_ref="S1")
    assert {event.stream for event in tx.events} == set(Stream)
