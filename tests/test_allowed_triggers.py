"""allowed_triggers() tells the truth: exactly the triggers some valid payload can fire now.

A guard that reads only the context and the clock is evaluated by ``allowed_triggers``; a
guard says whether it reads its payload, and a :class:`Guard` whose declaration does not
match its check cannot be built.
"""

import dis
import types
from datetime import date, datetime, timedelta, timezone

import pytest

from ecomflow import FLOWS, GuardRejected, InvalidDefinition, Money
from ecomflow._definition import Guard, Label, _reads_parameter

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
GOODS = "cotton lint"
DEAL = {"goods": GOODS, "quantity": 200, "price": Money("15800", "CNY")}


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def standing_offer(valid_days=3):
    clock = Clock()
    tx = FLOWS["b2b"].start("B-1", buyer="mill", seller="coop", clock=clock)
    tx.fire("prepare", by="buyer", note="research")
    tx.fire("offer", by="seller", valid_until=T0 + timedelta(days=valid_days), **DEAL)
    tx.fire("arrive")
    return tx, clock


def performed(clock=None):
    tx, clock = standing_offer()
    tx.fire("accept", by="buyer", actor="mill", **DEAL)
    tx.fire(
        "draw_up",
        rights_and_obligations="r",
        delivery_place="Suzhou",
        delivery_date=date(2027, 1, 15),
        trade_method="CIF",
        transport_method="rail",
        payment_terms="on_delivery",
        breach_and_claims="c",
        **DEAL,
    )
    tx.fire("sign", by="buyer", actor="mill")
    tx.fire("sign", by="seller", actor="coop")
    tx.fire("complete_formalities", reference="licence")
    for trigger in ("stock_goods", "declare_customs", "insure", "obtain_certificates"):
        tx.fire(trigger, reference=trigger)
    tx.fire("hand_to_carrier", carrier="rail", bill_of_lading="BL")
    tx.fire("receive", by="buyer", actor="mill")
    tx.fire("pay", actor="mill", bank="ICBC", amount=Money("3160000", "CNY"), reference="P")
    tx.fire("issue_bank_documents", reference="docs")
    tx.fire("complete")
    assert tx.state == "performed"
    return tx, clock


def test_accept_is_not_offered_on_a_lapsed_offer():
    tx, clock = standing_offer()
    clock.now = T0 + timedelta(days=4)
    assert "accept" not in tx.allowed_triggers()
    with pytest.raises(GuardRejected, match="the offer lapsed"):
        tx.fire("accept", by="buyer", actor="mill", **DEAL)  # and indeed no payload gets through
    assert "accept_late" in tx.allowed_triggers()


def test_accept_late_is_not_offered_on_a_valid_offer():
    tx, _ = standing_offer()
    allowed = tx.allowed_triggers()
    assert "accept" in allowed and "accept_late" not in allowed
    with pytest.raises(GuardRejected, match="the offer is still valid"):
        tx.fire("accept_late", by="buyer", actor="mill", **DEAL)


def test_file_claim_is_not_offered_after_the_two_year_period():
    tx, clock = performed()
    assert set(tx.allowed_triggers()) == {"close", "file_claim"}
    clock.now += timedelta(days=731)
    assert tx.allowed_triggers() == ("close", "end_claim_period")  # the period's end is due
    with pytest.raises(GuardRejected, match="the notice period ended"):
        tx.fire(
            "file_claim",
            by="buyer",
            actor="mill",
            reason="r",
            amount=Money("10", "CNY"),
            evidence="e",
        )


# -- a guard's declaration must match its check ---------------------------------------------

LABEL = Label("g", "守")


def test_a_guard_that_never_reads_its_payload_must_say_so():
    def lapsed(context, _, now):
        return None if now < context else "lapsed"

    with pytest.raises(InvalidDefinition, match=r"'lapsed'.*never reads its payload.*uses_payload"):
        Guard("lapsed", lapsed, LABEL, uses_clock=True)
    Guard("lapsed", lapsed, LABEL, uses_payload=False, uses_clock=True)  # declared: fine


def test_a_guard_that_reads_its_payload_cannot_claim_otherwise():
    def small(context, payload):
        return None if payload.amount < 10 else "too big"

    with pytest.raises(
        InvalidDefinition,
        match=r"'small' is invalid: its check reads its payload.*uses_payload=False",
    ):
        Guard("small", small, LABEL, uses_payload=False)
    Guard("small", small, LABEL)

    def via_closure(context, payload):
        return (lambda: payload.amount)()  # read in an inner function: still a read

    with pytest.raises(InvalidDefinition, match="reads its payload"):
        Guard("closure", via_closure, LABEL, uses_payload=False)


@pytest.mark.parametrize(
    ("check", "uses_clock", "message"),
    [
        (lambda context, payload, now: None, False, r"takes \(context, payload, now\).*uses_clock"),
        (lambda context, payload: None, True, r"called as check\(context, payload, now\)"),
        (lambda context: None, False, r"called as check\(context, payload\)"),
    ],
)
def test_a_guard_is_called_as_it_declares(check, uses_clock, message):
    with pytest.raises(InvalidDefinition, match=message):
        Guard("g", check, LABEL, uses_payload=False, uses_clock=uses_clock)


def test_a_guard_whose_code_cannot_be_read_is_trusted():
    import functools

    check = functools.partial(lambda limit, context, payload: None, 3)
    assert Guard("g", check, LABEL).uses_payload  # no code to read: the declaration stands


def test_every_guard_of_every_flow_declares_what_it_reads():
    """Every shipped guard is a plain function, so its declaration was checked on import."""
    guards = {
        guard.name: guard
        for flow in FLOWS.values()
        for transition in (flow.definition.start, *flow.definition.transitions)
        for guard in transition.guards
    }
    assert {"within_validity", "lapsed", "within_notice_period", "not_firm"} <= set(guards)
    for guard in guards.values():
        assert _reads_parameter(guard.check, 1) is guard.uses_payload, guard.name


# -- the bytecode reading holds on every CPython the package supports (3.10-3.14) -----------


def test_a_walrus_before_the_payload_is_a_read():
    """3.13 fuses ``STORE_FAST total`` and ``LOAD_FAST payload`` into STORE_FAST_LOAD_FAST."""

    def matches(context, payload):
        return None if (total := context) == payload.amount else f"not {total}"

    assert _reads_parameter(matches, 1) is True
    Guard("matches", matches, LABEL)  # reads its payload: the default declaration is right


def fused(*pairs):
    """Instructions as ``dis`` shows them: ``(opname, argval)``."""
    return [types.SimpleNamespace(opname=op, argval=arg) for op, arg in pairs]


@pytest.mark.parametrize(
    ("instructions", "reads"),
    [
        # 3.13: x = context.total; payload.amount != x  (one line)
        (fused(("LOAD_FAST", "context"), ("STORE_FAST_LOAD_FAST", ("x", "payload"))), True),
        # 3.13: payload = ...; context  (a store of the name, then a load of another)
        (fused(("LOAD_FAST", "context"), ("STORE_FAST_LOAD_FAST", ("payload", "context"))), False),
        (fused(("LOAD_FAST_LOAD_FAST", ("context", "payload"))), True),
        (fused(("STORE_FAST_STORE_FAST", ("payload", "x"))), False),
        # 3.14: borrowed loads
        (fused(("LOAD_FAST_BORROW", "payload")), True),
        (fused(("LOAD_FAST_BORROW_LOAD_FAST_BORROW", ("context", "payload"))), True),
        # 3.12+: an inlined comprehension saves its variable's outer value: not a read
        (fused(("LOAD_FAST", "context"), ("LOAD_FAST_AND_CLEAR", "payload")), False),
        (fused(("LOAD_FAST_CHECK", "payload")), True),
    ],
)
def test_every_cpython_spelling_of_a_load_is_read(monkeypatch, instructions, reads):
    def check(context, payload):
        return None

    monkeypatch.setattr(dis, "get_instructions", lambda code: iter(instructions))
    assert _reads_parameter(check, 1) is reads
