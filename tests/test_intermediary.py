"""The intermediary trade (『壹』『贰』 steps 2–4): unit tests and an oracle-based test."""

from decimal import Decimal

import attrs
import pytest
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule, run_state_machine_as_test

from ecomflow import (
    FLOWS,
    Flow,
    GuardRejected,
    InvalidPayload,
    Money,
    Stream,
    TransitionNotAllowed,
)
from ecomflow.fields import money as money_field
from ecomflow.fields import positive_int, text
from ecomflow.flows import intermediary
from ecomflow.flows.intermediary import FLOW, IntermediaryContext, Party
from ecomflow.projections import Ledger, fold
from ecomflow.testing import books_by_party, drive, flow_machine, flow_rules_hold, simple_paths
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
    ("contract_signed", "declare_default"): "defaulted",  # the buyer never paid (违约)
}
SAMPLE_PAYLOADS = {
    "sign": {"party": "buyer", "signatory": "x"},
    "decline": {"party": "seller", "reason": "price too low"},
    "pay": {"bank": "ICBC", "amount": Money("1600.00", "CNY"), "reference": "R"},
    "release": {"warehouse": "W"},
    "deliver": {},
    "settle": {"reference": "S"},
    "declare_default": {"reason": "no transfer within the payment period"},
}


class IntermediaryMachine(OracleMachine):
    FLOW = FLOW
    STEPS = STEPS
    TERMINAL = frozenset({"settled", "cancelled", "defaulted"})
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

    @precondition(lambda self: self.legal("declare_default"))
    @rule(reason=names, go=st.sampled_from([False, False, True]))
    def declare_default(self, reason, go):
        self.attempt("declare_default", {"reason": ""}, valid=False)
        if go:
            self.attempt("declare_default", {"reason": reason})

    @invariant()
    def books_per_party_and_the_flows_own_rules_hold(self):
        books_by_party(self.tx)
        flow_rules_hold(self.tx)
        ledger = fold(Ledger(), self.tx.events)
        value = Money("1600.00", "CNY")
        fee = Money("8.00", "CNY")
        if self.state == "settled":  # the buyer paid all, the seller got all but the fee
            expected = {"mill": -value, "farm": value - fee, "HGE": fee}
        elif self.state in ("paid", "in_transit", "delivered"):  # the exchange holds it
            expected = {"mill": -value, "HGE": value}
        else:  # nothing moved
            expected = {}
        for party in ("mill", "farm", "HGE", *BANKS):
            want = expected.get(party, Money(0, "CNY")).amount
            assert ledger.balance(party, "CNY") == want, (self.state, party)

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
    tx.sign(party="seller", signatory="Chen")
    with pytest.raises(GuardRejected, match="the seller has already signed"):
        tx.sign(party="seller", signatory="Chen again")
    concluded = tx.sign(party=Party.BUYER, signatory="Zhou")
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
    tx.sign(party="buyer", signatory="Zhou")
    tx.decline(party="seller", reason="found a better price")
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
        ({"buyer": "HGE"}, "the exchange 'HGE' cannot be a party to its own trade"),
        ({"seller": "HGE"}, "the exchange 'HGE' cannot be a party to its own trade"),
    ],
)
def test_bad_match_terms(changes, message):
    with pytest.raises(InvalidPayload, match=message):
        FLOW.start("T-12", **{**TERMS, **changes})


# -- books per party, the flow's own rules, and the default (违约) ---------------------------


def settled_trade(flow=FLOW, clock=None, **changes):
    tx = flow.start("T-20", clock=clock, **{**TERMS, **changes})
    tx.fire("sign", party="seller", signatory="Chen")
    tx.fire("sign", party="buyer", signatory="Zhou")
    tx.fire("pay", bank="ICBC", amount=Money("1600", "CNY"), reference="R")
    tx.fire("release", warehouse="W")
    tx.fire("deliver")
    tx.fire("settle", reference="S")
    return tx


def test_books_per_party_after_a_settled_trade(clock):
    tx = settled_trade(clock=clock)
    ledger = fold(Ledger(), tx.events)
    # the buyer paid the total, the seller got the total less the fee, the exchange its fee
    assert ledger.balances() == {
        ("mill", "CNY"): Decimal("-1600.00"),
        ("farm", "CNY"): Decimal("1592.00"),
        ("HGE", "CNY"): Decimal("8.00"),
    }
    assert all(ledger.balance(bank, "CNY") == 0 for bank in BANKS)
    books = FLOW.definition.books
    assert books is not None
    assert books(tx.context, "settled") == {
        "mill": Money("-1600", "CNY"),
        "farm": Money("1592", "CNY"),
        "HGE": Money("8", "CNY"),
    }
    assert {name: books(tx.context, name) for name in ("matched", "cancelled", "defaulted")} == {
        "matched": {},
        "cancelled": {},
        "defaulted": {},
    }
    for name in ("paid", "in_transit", "delivered"):
        assert books(tx.context, name) == {
            "mill": Money("-1600", "CNY"),
            "HGE": Money("1600", "CNY"),
        }
    books_by_party(tx)
    flow_rules_hold(tx)


def test_the_flow_declares_its_own_rules():
    assert set(FLOW.definition.invariants) == {
        intermediary.exchange_is_not_a_party,
        intermediary.goods_only_after_payment,
        intermediary.paid_exactly_the_contract_value,
        intermediary.settled_at_most_once,
        intermediary.default_only_while_unpaid,
        intermediary.paid_out_within_what_was_paid,  # was in testing.payouts_within_what_was_paid
    }


def _evolved(trigger, **changes):
    """The intermediary flow with ``trigger``'s transition changed: a deliberate bug."""
    original = FLOW.definition
    transitions = [
        attrs.evolve(t, **changes) if t.trigger == trigger else t for t in original.transitions
    ]
    also_from = changes.get("source", ())
    refusals = {
        key: {state: why for state, why in reasons.items() if state not in also_from}
        for key, reasons in original.refusals.items()
    }
    return Flow(
        attrs.evolve(original, transitions=transitions, refusals=refusals),
        FLOW.transaction_type,
    )


def _settle(t):
    return t.trigger == "settle"


SETTLE = next(t for t in FLOW.definition.transitions if _settle(t))
PAYS_TWICE = _evolved("settle", emits=(*SETTLE.emits, SETTLE.emits[-1]))
PAY = next(t for t in FLOW.definition.transitions if t.trigger == "pay")
PAYS_ANYTHING = _evolved("pay", guards=PAY.guards[:1])
SHIPS_UNPAID = _evolved("release", source=("contract_signed", "paid"))
DEFAULTS_PAID = _evolved("declare_default", source=("contract_signed", "paid"))


@attrs.frozen(kw_only=True)
class LaxMatch:
    """Match without its check that the exchange is no party: a deliberate bug."""

    exchange: str = text(max_length=200)
    buyer: str = text(max_length=200)
    seller: str = text(max_length=200)
    goods: str = text(max_length=200)
    quantity: int = positive_int()
    price: Money = money_field()
    designated_banks: tuple[str, ...] = attrs.field(converter=tuple)
    fee_rate: Decimal

    value = property(lambda self: self.price * self.quantity)
    fee = property(lambda self: self.value.share(self.fee_rate))


EXCHANGE_BUYS = Flow(
    attrs.evolve(
        FLOW.definition,
        start=attrs.evolve(
            FLOW.definition.start,
            payload=LaxMatch,
            # the exchange takes the buyer's place
            effect=lambda _, p: IntermediaryContext(match=attrs.evolve(p, buyer=p.exchange)),
        ),
    ),
    FLOW.transaction_type,
)


def test_books_and_rules_catch_a_settlement_that_pays_the_seller_twice():
    tx = settled_trade(PAYS_TWICE)
    with pytest.raises(
        AssertionError,
        match="account .HGE. is at CNY -1584.00; the intermediary books say CNY 8.00",
    ):
        books_by_party(tx)
    with pytest.raises(AssertionError, match="'T-20' paid the seller 2 times"):
        intermediary.settled_at_most_once(tx)


def test_the_rules_catch_a_payment_of_another_amount():
    tx = PAYS_ANYTHING.start("T-21", **TERMS)
    tx.fire("sign", party="seller", signatory="Chen")
    tx.fire("sign", party="buyer", signatory="Zhou")
    tx.fire("pay", bank="ICBC", amount=Money("1500", "CNY"), reference="R")
    with pytest.raises(
        AssertionError, match="'T-21' was paid CNY 1500.00 at version 3; the contract"
    ):
        intermediary.paid_exactly_the_contract_value(tx)
    with pytest.raises(
        AssertionError,
        match="account .HGE. is at CNY 1500.00; the intermediary books say CNY 1600.00",
    ):
        books_by_party(tx)


def test_the_rules_catch_goods_released_before_payment():
    tx = SHIPS_UNPAID.start("T-22", **TERMS)
    tx.fire("sign", party="seller", signatory="Chen")
    tx.fire("sign", party="buyer", signatory="Zhou")
    tx.fire("release", warehouse="W")
    with pytest.raises(AssertionError, match="released_from_warehouse at version 3 before the"):
        intermediary.goods_only_after_payment(tx)


def test_the_rules_catch_a_default_declared_after_payment():
    tx = DEFAULTS_PAID.start("T-23", **TERMS)
    tx.fire("sign", party="seller", signatory="Chen")
    tx.fire("sign", party="buyer", signatory="Zhou")
    tx.fire("pay", bank="ICBC", amount=Money("1600", "CNY"), reference="R")
    tx.fire("declare_default", reason="late")
    with pytest.raises(AssertionError, match="'T-23' declared the buyer in default after it paid"):
        intermediary.default_only_while_unpaid(tx)
    with pytest.raises(
        AssertionError, match="account .HGE. is at CNY 1600.00; the intermediary books say CNY 0"
    ):
        books_by_party(tx)


def test_the_rules_catch_the_exchange_as_the_buyer():
    tx = EXCHANGE_BUYS.start("T-24", **TERMS)
    with pytest.raises(AssertionError, match="'T-24': the exchange 'HGE' is the buyer"):
        intermediary.exchange_is_not_a_party(tx)


FIND = settings(max_examples=100, derandomize=True, database=None, phases=[Phase.generate])


@pytest.mark.parametrize(
    ("mutant", "message"),
    [
        (PAYS_TWICE, "paid the seller 2 times|the intermediary books say"),
        (EXCHANGE_BUYS, "is the buyer"),
    ],
    ids=["pays the seller twice", "the exchange buys"],
)
def test_flow_machine_catches_the_mutants(mutant, message):
    with pytest.raises(AssertionError, match=message):
        run_state_machine_as_test(flow_machine(mutant), settings=FIND)


def test_a_buyer_who_never_pays_is_declared_in_default(clock):
    tx = FLOW.start("T-25", clock=clock, **TERMS)
    with pytest.raises(TransitionNotAllowed, match="the contract is not signed by both"):
        tx.declare_default(reason="no transfer")
    tx.sign(party="seller", signatory="Chen")
    tx.sign(party="buyer", signatory="Zhou")
    events = tx.declare_default(reason="no transfer within the payment period")
    assert tx.state == "defaulted" and tx.is_finished and tx.allowed_triggers() == ()
    assert [(e.stream, e.name) for e in events] == [
        (Stream.COMMERCE, "trade_defaulted"),
        (Stream.INFORMATION, "parties_notified_of_default"),
    ]
    assert events[0].data == {
        "reason": "no transfer within the payment period",
        "defaulting_party": "mill",
        "goods": "rice",
        "quantity": 500,
        "released_to": "farm",
    }
    assert events[1].data["to"] == ["mill", "farm"]
    assert fold(Ledger(), tx.events).balances() == {}  # nothing moved
    assert tx.context.default is not None
    assert FLOW.replay(tx.events) == tx
    books_by_party(tx)
    flow_rules_hold(tx)
    label = FLOW.definition.state("defaulted").label
    assert label.zh and label.en and "违约" in label.zh


def test_no_default_once_the_buyer_has_paid(clock):
    tx = FLOW.start("T-26", clock=clock, **TERMS)
    tx.sign(party="seller", signatory="Chen")
    tx.sign(party="buyer", signatory="Zhou")
    with pytest.raises(InvalidPayload, match="reason must be a non-empty string"):
        tx.declare_default(reason=" ")
    tx.pay(bank="ICBC", amount=Money("1600", "CNY"), reference="R")
    before = (tx.state, tx.version, tx.events)
    with pytest.raises(TransitionNotAllowed, match="in state 'paid': the buyer has paid"):
        tx.declare_default(reason="late")
    assert (tx.state, tx.version, tx.events) == before


def test_every_new_step_is_labelled_in_both_languages_and_cites_its_source():
    (step,) = [t for t in FLOW.definition.transitions if t.trigger == "declare_default"]
    assert step.label.zh and step.label.en and step.step
    for transition in (FLOW.definition.start, *FLOW.definition.transitions):
        for guard in transition.guards:
            assert guard.label.zh and guard.label.en


WALKS = simple_paths(FLOW, 8)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_walks_keep_the_books_at_every_step(data):
    path = data.draw(st.sampled_from(WALKS), label="path")
    tx = drive(FLOW, path, data.draw)
    assume(tx is not None)
    for version in range(tx.version + 1):
        step = FLOW.replay([e for e in tx.events if e.version <= version])
        books_by_party(step)
        flow_rules_hold(step)
    ledger = fold(Ledger(), tx.events)
    match = tx.context.match
    expected = {}
    if tx.state == "settled":
        expected = {match.buyer: -match.value, match.seller: match.value - match.fee}
        expected[match.exchange] = match.fee
    elif tx.context.payment is not None:
        expected = {match.buyer: -match.value, match.exchange: match.value}
    for party in {match.buyer, match.seller, match.exchange, *match.designated_banks}:
        want = expected.get(party, Money(0, match.price.currency))
        assert ledger.balance(party, match.price.currency) == want.amount


def test_a_default_waits_for_the_payment_term_when_the_contract_has_one():
    from datetime import datetime, timedelta, timezone

    from ecomflow.testing import ManualClock

    clock = ManualClock(datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc))
    pay_by = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
    tx = FLOW.start("T-28", clock=clock, **{**TERMS, "pay_by": pay_by})
    tx.sign(party="seller", signatory="Chen")
    tx.sign(party="buyer", signatory="Zhou")
    assert tx.allowed_triggers() == ("pay",)
    before = (tx.state, tx.version, tx.events)
    with pytest.raises(GuardRejected, match="the buyer has until 2026-12-01T08:00:00"):
        tx.declare_default(reason="impatient")
    assert (tx.state, tx.version, tx.events) == before
    clock.advance(timedelta(days=7, seconds=1))
    assert tx.allowed_triggers() == ("pay", "declare_default")
    tx.declare_default(reason="no transfer by the payment date")
    assert tx.state == "defaulted" and FLOW.replay(tx.events) == tx
    with pytest.raises(InvalidPayload, match="pay_by must be a timezone-aware datetime"):
        FLOW.start("T-29", **{**TERMS, "pay_by": datetime(2026, 12, 1)})


def test_typed_methods_are_keyword_only_declarations_of_the_payloads():
    from ecomflow.flows.intermediary import Intermediary

    assert Intermediary.sign.parameters == {"party", "signatory"}
    assert Intermediary.release.required == {"warehouse"}
    assert Intermediary.deliver.required == frozenset()
    tx = FLOW.start("T-kw", **TERMS)
    with pytest.raises(TypeError):
        tx.sign("buyer", signatory="Zhou")  # one calling style: by name
    (event,) = tx.sign(party="buyer", signatory="Zhou")
    assert event.data == {"party": "buyer", "signatory": "Zhou"}


def test_every_event_is_a_declaration_with_its_stream_and_labels():
    from ecomflow import vocabulary as _vocabulary
    from ecomflow.flows.intermediary import terms

    declared = {
        value.name: value
        for module in (_vocabulary, terms)
        for value in vars(module).values()
        if isinstance(value, type(terms.TRADE_DECLINED))
    }
    definition = FLOW.definition
    for transition in (definition.start, *definition.transitions):
        for emit in transition.emits:
            assert emit.label is not None and emit.label.zh, emit.name
            assert declared[emit.name].stream is emit.stream, emit.name
