"""Model-based test of the direct sale against an independent oracle.

The oracle below is written by hand from the seed's six steps (『壹』『贰』, cash on
delivery from 『柒』); it does not read the flow definition. Every rule fires a
trigger — legal or not, with a valid or invalid payload — and the oracle predicts
the outcome: the next state, or which error.
"""

import itertools

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from ecomflow import (
    Money,
    Stream,
)
from ecomflow.flows.direct_sale import FLOW, PaymentMethod
from ecomflow.projections import Ledger, fold
from tests.conftest import TickingClock
from tests.oracle import OracleMachine
from tests.strategies import CARD_NUMBERS, bad_order_forms, methods, money, names, order_forms

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
    ("shipping", "refuse_delivery"): "returning",  # 拒收: the parcel goes back
    ("returning", "return_to_merchant"): "returned",
    # 超时未付款自动关闭: closed unpaid 30 minutes after entering an unpaid state
    ("order_filled", "expire"): "expired",
    ("payment_method_chosen", "expire"): "expired",  # not cash on delivery
    ("payment_declined", "expire"): "expired",
}
TERMINAL = {"settled", "cancelled", "returned", "expired"}
# The intermediaries' ledger accounts; nobody may be named like one (case and spaces aside).
ROLES = {"courier", "card company", "consumer's bank", "electronic money issuer"}
# Prepaid methods: the money passes through these accounts, consumer first, to the merchant.
CHAINS = {
    "credit_card": ["consumer's bank", "card company"],
    "debit_card": ["consumer's bank"],
    "electronic_cheque": ["consumer's bank"],
    "electronic_money": ["electronic money issuer"],
}
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
    "refuse_delivery": {"reason": "not ordered"},
    "return_to_merchant": {},
    "expire": {},
}


class DirectSaleMachine(OracleMachine):
    FLOW = FLOW
    STEPS = STEPS
    TERMINAL = TERMINAL
    SAMPLE_PAYLOADS = SAMPLE_PAYLOADS

    def start(self):
        self.total = None
        self.method = None
        return FLOW.start("T-1", merchant="Shop", clock=TickingClock())

    @property
    def cod(self):
        return self.method == "cash_on_delivery"

    def guard_failure(self, trigger, payload):
        if trigger == "expire":
            return True  # never due here: the ticking clock moves seconds, not 30 minutes
        if trigger == "fill_order":
            name = " ".join(payload["customer_name"].casefold().split())
            return payload["customer_name"] == "Shop" or name in ROLES
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
            self.customer = payload["customer_name"]
        if trigger == "choose_payment":
            method = payload["method"]
            self.method = method.value if isinstance(method, PaymentMethod) else method

    @initialize(depth=st.sampled_from(range(7)), cod=st.booleans(), form=order_forms())
    def walk_part_of_the_happy_path(self, depth, cod, form):
        """Start many runs deep in the flow, every step checked by the oracle."""
        method = "cash_on_delivery" if cod else "credit_card"
        path = [
            lambda: ("fill_order", form),
            lambda: ("choose_payment", {"method": method}),
            lambda: ("approve_payment", {"amount": self.total, "reference": "A"}),
            lambda: ("dispatch", {}),
            lambda: ("deliver", {"collected": self.total if self.cod else None}),
            lambda: ("settle", {"statement_ref": "S"}),
        ]
        if cod:
            del path[2]
        for step in path[:depth]:
            trigger, payload = step()
            assert self.attempt(trigger, payload) is not None

    # -- one rule per trigger, fired where the oracle says it is legal. A refusal changes
    # -- nothing, so each rule first probes one (a bad payload, or one the guards must
    # -- refuse) and then, most of the time, makes the valid move.

    @precondition(lambda self: self.legal("fill_order"))
    @rule(
        form=order_forms(),
        bad=bad_order_forms(),
        role=st.sampled_from(["Courier", " card  company", "consumer's bank"]),
        go=st.sampled_from([True] * 3 + [False]),
    )
    def fill_order(self, form, bad, role, go):
        self.attempt("fill_order", bad, valid=False)
        self.attempt("fill_order", {**form, "customer_name": role})
        if go:
            self.attempt("fill_order", form)

    @precondition(lambda self: self.legal("choose_payment"))
    @rule(
        probe=st.sampled_from(["unknown", "card", "last4"]),
        method=methods,
        by_value=st.booleans(),
        last4=st.one_of(st.none(), st.from_regex(r"\A\d{4}\Z")),
        card=CARD_NUMBERS,
        junk=st.text(max_size=12).filter(lambda m: m not in {p.value for p in PaymentMethod}),
        go=st.sampled_from([True] * 3 + [False]),
    )
    def choose_payment(self, probe, method, by_value, last4, card, junk, go):
        bad = {
            "unknown": {"method": junk},
            "card": {"method": "credit_card", "token": card},
            "last4": {"method": method, "card_last4": card},
        }[probe]
        self.attempt("choose_payment", bad, valid=False)
        if go:
            chosen = method.value if by_value else method
            self.attempt("choose_payment", {"method": chosen, "card_last4": last4})

    @precondition(lambda self: self.legal("approve_payment"))
    @rule(
        other=money(),
        raw=st.floats(0, 1000) | st.decimals(0, 1000, places=2) | st.integers(0, 1000),
        ref=names,
        go=st.sampled_from([True] * 3 + [False]),
    )
    def approve_payment(self, other, raw, ref, go):
        self.attempt("approve_payment", {"amount": raw, "reference": ref}, valid=False)
        self.attempt("approve_payment", {"amount": other, "reference": ref})
        if go and self.state == "payment_method_chosen":
            self.attempt("approve_payment", {"amount": self.total, "reference": ref})

    @precondition(lambda self: self.legal("decline_payment"))
    @rule(reason=names)
    def decline_payment(self, reason):
        self.attempt("decline_payment", {"reason": ""}, valid=False)
        self.attempt("decline_payment", {"reason": reason})

    @precondition(lambda self: self.legal("dispatch"))
    @rule(carrier=st.one_of(st.none(), names))
    def dispatch(self, carrier):
        self.attempt("dispatch", {"carrier": ""}, valid=False)
        self.attempt("dispatch", {"carrier": carrier})

    @precondition(lambda self: self.legal("deliver"))
    @rule(
        other=money(),
        wrong=st.sampled_from(["none", "other"]),
        go=st.sampled_from([True] * 3 + [False]),
    )
    def deliver(self, other, wrong, go):
        self.attempt("deliver", {"collected": None if wrong == "none" else other})
        if go and self.state == "shipping":
            self.attempt("deliver", {"collected": self.total if self.cod else None})

    @precondition(lambda self: self.legal("settle"))
    @rule(ref=names)
    def settle(self, ref):
        self.attempt("settle", {}, valid=False)
        self.attempt("settle", {"statement_ref": ref})

    @precondition(lambda self: self.legal("cancel"))
    @rule(reason=names, go=st.sampled_from([False, False, False, True]))
    def cancel(self, reason, go):
        self.attempt("cancel", {"reason": " "}, valid=False)
        if go:  # cancelling ends the walk, so do it a quarter of the times it is drawn
            self.attempt("cancel", {"reason": reason})

    @precondition(lambda self: self.legal("refuse_delivery"))
    @rule(reason=names, by=st.one_of(st.none(), names), go=st.sampled_from([False, True]))
    def refuse_delivery(self, reason, by, go):
        self.attempt("refuse_delivery", {"reason": ""}, valid=False)
        if go:
            self.attempt("refuse_delivery", {"reason": reason, "refused_by": by})

    @precondition(lambda self: self.legal("return_to_merchant"))
    @rule(received_by=st.one_of(st.none(), names))
    def return_to_merchant(self, received_by):
        self.attempt("return_to_merchant", {"received_by": "  "}, valid=False)
        self.attempt("return_to_merchant", {"received_by": received_by})

    @invariant()
    def the_books_add_up_per_party(self):
        """Fold the MONEY stream; compare with the rule written here and with the flow's books."""
        ledger = fold(Ledger(), self.tx.events)
        actual = {account: amount for (account, _), amount in ledger.balances().items()}
        wanted = {}
        if self.total is not None and self.total.amount:
            consumer, total = self.customer, self.total.amount
            if self.state == "settled":
                wanted = {consumer: -total, "Shop": total}
            elif self.state == "delivered" and self.cod:
                wanted = {consumer: -total, "courier": total}
        assert actual == wanted, f"{self.state}: ledger {actual}, expected {wanted}"
        books = FLOW.definition.books(self.tx.context, self.tx.state)
        assert {a: m.amount for a, m in books.items() if m.amount} == wanted
        if self.state == "settled" and not self.cod:
            moves = [(p.legs[0][0], p.legs[1][0]) for p in ledger.postings]
            chain = [self.customer, *CHAINS[self.method], "Shop"]
            assert sorted(moves) == sorted(itertools.pairwise(chain))

    @invariant()
    def the_flows_own_rules_hold(self):
        for check in FLOW.definition.invariants:
            check(self.tx)

    @invariant()
    def no_dispatch_before_approval_unless_cod(self):
        authorized = False
        for event in self.tx.events:
            if event.stream is Stream.MONEY and event.name == "payment_authorized":
                authorized = True
            if event.stream is Stream.LOGISTICS and event.name == "dispatched":
                assert authorized or event.data["cash_on_delivery"] is True
                assert authorized or self.cod


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
    tx.choose_payment(method="credit_card")
    tx.approve_payment(amount=Money("5.00", "CNY"), reference="A1")
    tx.dispatch()
    tx.deliver()
    tx.settle(statement_ref="S1")
    assert {event.stream for event in tx.events} == set(Stream)
