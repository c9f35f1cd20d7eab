"""The intermediary trade (『壹』『贰』 steps 2–4): unit tests and an oracle-based test."""

from decimal import Decimal

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from ecomflow import FLOWS, GuardRejected, InvalidPayload, Money, Stream, TransitionNotAllowed
from ecomflow.flows.intermediary import FLOW, Party
from tests.conftest import TickingClock
from tests.oracle import OracleMachine
from tests.strategies import money, names

BANKS = ("ICBC", "Bank of China")
TERMS = {
    "exchange": "HGE",
    "buyer": "mill",
    "seller": "farm",
    "goods": "rice",
    "quantity": 500,
    "price": Money("3.20", "CNY"),
    "designated_banks": BANKS,
    "fee_rate": Decimal("0.005"),
}
# The seed's steps 2–4, by hand: (state, trigger) -> next state.
STEPS = {
    ("matched", "sign"): "signed_by_one",
    ("signed_by_one", "sign"): "contract_signed",  # the other party countersigns
    ("matched", "decline"): "cancelled",
    ("signed_by_one", "decline"): "cancelled",
    ("contract_signed", "pay"): "paid",  # 3: through a designated bank
    ("paid", "release"): "in_transit",  # 4: from the warehouse
    ("in_transit", "deliver"): "delivered",
    ("delivered", "settle"): "settled",  # the exchange settles with the seller
}
SAMPLE_PAYLOADS = {
    "sign": {"party": "buyer", "signatory": "x"},
    "decline": {"party": "seller", "reason": "price too low"},
    "pay": {"bank": "ICBC", "amount": Money("1600.00", "CNY"), "reference": "R"},
    "release": {"warehouse": "W"},
    "deliver": {},
    "settle": {"reference": "S"},
}


class IntermediaryMachine(OracleMachine):
    FLOW = FLOW
    STEPS = STEPS
    TERMINAL = frozenset({"settled", "cancelled"})
    SAMPLE_PAYLOADS = SAMPLE_PAYLOADS

    def start(self):
        self.signed = set()
        return FLOW.start("T-1", clock=TickingClock(), **TERMS)

    def guard_failure(self, trigger, payload):
        if trigger == "sign" and self.state == "signed_by_one":
            return Party(payload["party"]).value in self.signed
        if trigger == "pay":
            return payload["bank"] not in BANKS or payload["amount"] != Money("1600.00", "CNY")
        return False

    def apply(self, trigger, payload):
        if trigger == "sign":
            self.signed.add(Party(payload["party"]).value)

    @initialize(depth=st.sampled_from(range(7)), first=st.sampled_from(["buyer", "seller"]))
    def walk_part_of_the_happy_path(self, depth, first):
        other = "seller" if first == "buyer" else "buyer"
        path = [
            ("sign", {"party": first, "signatory": "a"}),
            ("sign", {"party": other, "signatory": "b"}),
            ("pay", SAMPLE_PAYLOADS["pay"]),
            ("release", {"warehouse": "W"}),
            ("deliver", {}),
            ("settle", {"reference": "S"}),
        ]
        for trigger, payload in path[:depth]:
            assert self.attempt(trigger, payload) is not None

    @precondition(lambda self: self.legal("sign"))
    @rule(party=st.sampled_from(list(Party)), who=names, go=st.sampled_from([True] * 3 + [False]))
    def sign(self, party, who, go):
        self.attempt("sign", {"party": "broker", "signatory": who}, valid=False)
        if self.signed:  # probe the guard: the same party cannot sign twice
            self.attempt("sign", {"party": next(iter(self.signed)), "signatory": who})
        if go:
            self.attempt("sign", {"party": party, "signatory": who})

    @precondition(lambda self: self.legal("decline"))
    @rule(
        party=st.sampled_from(["buyer", "seller"]),
        reason=names,
        go=st.sampled_from([False, False, True]),
    )
    def decline(self, party, reason, go):
        self.attempt("decline", {"party": party, "reason": ""}, valid=False)
        if go:
            self.attempt("decline", {"party": party, "reason": reason})

    @precondition(lambda self: self.legal("pay"))
    @rule(bank=st.sampled_from(BANKS), other=money(), go=st.sampled_from([True] * 3 + [False]))
    def pay(self, bank, other, go):
        exact = Money("1600.00", "CNY")
        self.attempt("pay", {"bank": bank, "amount": 1600.0, "reference": "R"}, valid=False)
        self.attempt("pay", {"bank": "Shady Bank", "amount": exact, "reference": "R"})
        self.attempt("pay", {"bank": bank, "amount": other, "reference": "R"})
        if go and self.state == "contract_signed":
            self.attempt("pay", {"bank": bank, "amount": exact, "reference": "R"})

    @precondition(lambda self: self.legal("release"))
    @rule(warehouse=names)
    def release(self, warehouse):
        self.attempt("release", {"warehouse": ""}, valid=False)
        self.attempt("release", {"warehouse": warehouse})

    @precondition(lambda self: self.legal("deliver"))
    @rule(who=st.one_of(st.none(), names))
    def deliver(self, who):
        self.attempt("deliver", {"received_by": who})

    @precondition(lambda self: self.legal("settle"))
    @rule(ref=names)
    def settle(self, ref):
        self.attempt("settle", {}, valid=False)
        self.attempt("settle", {"reference": ref})

    @invariant()
    def delivery_only_after_payment_and_money_balances(self):
        names_ = [e.name for e in self.tx.events]
        if "released_from_warehouse" in names_:
            assert "payment_transferred" in names_[: names_.index("released_from_warehouse")]
        paid = [e for e in self.tx.events if e.name == "payment_transferred"]
        out = [e for e in self.tx.events if e.name in ("fee_recorded", "seller_paid")]
        if out:
            total_out = sum(Decimal(e.data["amount"]["amount"]) for e in out)
            assert total_out == Decimal(paid[0].data["amount"]["amount"])


TestIntermediaryMachine = IntermediaryMachine.TestCase


def test_registered_with_its_seed_section():
    assert FLOWS["intermediary"] is FLOW and FLOW.title.zh == "网络商品中介交易"


def test_a_trade_from_match_to_settlement(clock):
    tx = FLOW.start("T-9", clock=clock, **TERMS)
    assert tx.context.match.value == Money("1600.00", "CNY")
    tx.sign("seller", signatory="Chen")
    with pytest.raises(GuardRejected, match="the seller has already signed"):
        tx.sign("seller", signatory="Chen again")
    concluded = tx.sign(Party.BUYER, signatory="Zhou")
    assert [e.name for e in concluded] == ["contract_signed_by", "contract_concluded"]
    with pytest.raises(GuardRejected) as info:
        tx.pay(bank="Shady Bank", amount=Money("1500", "CNY"), reference="X")
    assert [name for name, _ in info.value.reasons] == ["designated_bank", "pays_contract_value"]
    assert "'Shady Bank' is not a bank the exchange designates (ICBC, Bank of China)" in str(
        info.value
    )
    tx.pay(bank="Bank of China", amount=Money("1600", "CNY"), reference="BOC-1")
    tx.release(warehouse="Jiaxing DC", carrier="fleet")
    tx.deliver(received_by="mill")
    fee, payout = tx.settle(reference="SET-1")
    assert fee.data["amount"] == {"amount": "8.00", "currency": "CNY"}
    assert payout.data == {
        "amount": {"amount": "1592.00", "currency": "CNY"},
        "from": "HGE",
        "to": "farm",
    }
    assert {e.stream for e in tx.events} == set(Stream)
    assert FLOW.replay(tx.events) == tx


def test_either_party_may_decline(clock):
    tx = FLOW.start("T-10", clock=clock, **TERMS)
    tx.sign("buyer", signatory="Zhou")
    tx.decline("seller", reason="found a better price")
    assert tx.state == "cancelled" and tx.allowed_triggers() == ()


def test_no_delivery_before_payment(clock):
    tx = FLOW.start("T-11", clock=clock, **TERMS)
    with pytest.raises(TransitionNotAllowed, match="the buyer has not paid yet"):
        tx.release(warehouse="W")
    with pytest.raises(TransitionNotAllowed, match="the contract is not signed by both"):
        tx.pay(bank="ICBC", amount=Money("1600", "CNY"), reference="R")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seller": "mill"}, "a party cannot trade with itself"),
        ({"designated_banks": ()}, "designated_banks must be a non-empty list"),
        ({"fee_rate": 0.01}, "fee_rate must be a Decimal"),
        ({"quantity": 0}, "quantity must be a positive integer"),
    ],
)
def test_bad_match_terms(changes, message):
    with pytest.raises(InvalidPayload, match=message):
        FLOW.start("T-12", **{**TERMS, **changes})
