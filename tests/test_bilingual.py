"""Chinese everywhere (issue 13): every label and every refusal reason in English and Chinese.

Every registered flow (FLOWS, and the exchange's book) is walked: every state, transition,
guard and event label, and every refusal, must exist in both languages; and every guard
is made to refuse (at every step of the flow's sample and a few of its scenarios, with
payloads changed so that guards refuse, plus the few cases listed below by hand), each
reason checked to be bilingual, with its values in both texts.
"""

from __future__ import annotations

import pickle
import random
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ecomflow import (
    FLOWS,
    EcomflowError,
    Flow,
    FlowDefinition,
    Guard,
    GuardRejected,
    InvalidDefinition,
    Label,
    Reason,
    State,
    Transition,
    TransitionNotAllowed,
)
from ecomflow.flows import EXCHANGE
from ecomflow.store import Repository, open_store
from ecomflow.testing import ManualClock, bilingual_problems, check_bilingual, provoke_refusals
from ecomflow.vocabulary import ORDER_CANCELLED

_HAN = re.compile(r"[\u4e00-\u9fff]")
_QUOTED = re.compile(
    r"(?<![A-Za-z])'[^']*'(?![A-Za-z])|\b[A-Z]{3} -?\d[\d.]*\d|\d{4}-\d\d-\d\dT\S*\d"
)
"""What a reason quotes: a name in quotes, an amount with its currency, a time."""
_T0 = datetime(2026, 11, 24, 9, tzinfo=timezone.utc)


def _guards(flow: Flow[Any]) -> set[str]:
    definition = flow.definition
    return {g.name for t in (definition.start, *definition.transitions) for g in t.guards}


def _refused(action: Any) -> GuardRejected:
    with pytest.raises(GuardRejected) as caught:
        action()
    return caught.value


# -- the cases the generic walk does not reach, each a refusal made by hand ---------------


def _b2b_to_contract(payment_terms: str, clock: ManualClock | None = None) -> Any:
    flow = FLOWS["b2b"]
    sample = FLOWS.sample("b2b")
    tx = flow.start("b2b-by-hand", clock=clock or ManualClock(_T0), **sample.start)
    for trigger, kwargs in sample.steps:
        if trigger == "draw_up":
            kwargs = {**kwargs, "payment_terms": payment_terms}
        tx.fire(trigger, **kwargs)
        if trigger == "complete_formalities":
            return tx
    raise AssertionError("the b2b sample has no complete_formalities step")


def _b2b_by_hand() -> list[GuardRejected]:
    flow, sample = FLOWS["b2b"], FLOWS.sample("b2b")
    buyer, seller = sample.start["buyer"], sample.start["seller"]
    refused = []
    # within_validity: an offer valid for a day, accepted three days later.
    clock = ManualClock(_T0)
    tx = flow.start("b2b-late", clock=clock, buyer=buyer, seller=seller)
    tx.fire("prepare", by="buyer", note="catalogues")
    offer = {"by": "seller", "goods": "cotton lint", "quantity": 200}
    tx.fire("offer", **offer, price=sample.steps[2][1]["price"], valid_until=_T0 + timedelta(1))
    tx.fire("arrive")
    clock.advance(timedelta(days=3))
    late = {**offer, "by": "buyer", "price": sample.steps[2][1]["price"]}
    refused.append(_refused(lambda: tx.fire("accept", actor=buyer, **late)))
    # prepaid_if_required: prepayment terms, the goods handed over unpaid.
    tx = _b2b_to_contract("prepayment")
    for trigger in ("stock_goods", "declare_customs", "insure", "obtain_certificates"):
        tx.fire(trigger, reference=trigger)
    refused.append(
        _refused(lambda: tx.fire("hand_to_carrier", carrier="China Railway", bill_of_lading="B"))
    )
    # claim_decided: the contract avoided with no claim decided.
    tx = _b2b_to_contract("against_documents")
    refused.append(_refused(lambda: tx.fire("avoid", by="buyer", reason="late delivery")))
    return refused


def _intermediary_by_hand() -> list[GuardRejected]:
    from ecomflow.flows.intermediary.exchange import Exchange

    exchange = Exchange(
        "Hangzhou Grain Exchange",
        designated_banks=("Bank of China",),
        payment_term=timedelta(days=7),
        clock=ManualClock(_T0),
    )
    exchange.post_supply("Jiaxing Rice Farm", goods="rice", quantity=10, price=_cny("3.20"))
    (trade,) = exchange.post_demand(
        "Suzhou Flour Mill", goods="rice", quantity=10, price=_cny("3.20")
    )
    trade.fire("sign", party="buyer", signatory="Zhou Min")
    trade.fire("sign", party="seller", signatory="Chen Jie")
    # payment_overdue: the buyer is declared in default before its payment term ends.
    return [_refused(lambda: trade.fire("declare_default", reason="did not pay"))]


def _exchange_by_hand() -> list[GuardRejected]:
    _, prelude = FLOWS.sample("intermediary").start_demo(FLOWS["intermediary"])
    record = EXCHANGE.replay(prelude)
    huge = {"goods": "rice", "quantity": 10**9, "price": _cny("9999999999.00")}
    return [
        # value_fits: a posting whose value has more digits than a store keeps.
        _refused(lambda: record._fork(record.clock).fire("post_supply", party="A Farm", **huge)),
        # ended_trade: reopening a trade the exchange never made.
        _refused(
            lambda: record._fork(record.clock).fire(
                "reopen", trade="no-such-trade", posting="S1", quantity=1, because="x", by="buyer"
            )
        ),
    ]


def _cny(amount: str) -> Any:
    from ecomflow import Money

    return Money(amount, "CNY")


_BY_HAND = {
    "b2b": _b2b_by_hand,
    "intermediary": _intermediary_by_hand,
    "exchange": _exchange_by_hand,
}
"""Guards the walk does not make refuse: a time limit, terms the sample does not use."""

_SCENARIOS = {"b2b": 0, "direct-sale": 5}
"""How many random scenarios (fixed seeds) the walk adds to the sample: default 3.

b2b's demo alone makes every guard refuse that its scenarios would (they are long: the
walk is a few seconds each); direct sale needs cash on delivery, which its demo lacks.
"""


def _walked(name: str) -> tuple[Flow[Any], dict[str, list[str]]]:
    """Return the flow and the reasons its guards gave, walked and by hand."""
    if name == "exchange":
        _, prelude = FLOWS.sample("intermediary").start_demo(FLOWS["intermediary"])
        flow: Flow[Any] = EXCHANGE
        found = provoke_refusals(flow, [EXCHANGE.replay(prelude)])
    else:
        flow, sample = FLOWS[name], FLOWS.sample(name)
        demo, _ = sample.demo(flow)
        repo = Repository(open_store("memory://"), FLOWS)
        assert sample.scenario is not None
        scenarios = [
            sample.scenario(random.Random(seed), repo, f"{name}-walk-{seed}")
            for seed in range(_SCENARIOS.get(name, 3))
        ]
        found = provoke_refusals(flow, [demo, *scenarios])
    for error in _BY_HAND.get(name, list)():
        for guard, reason in error.reasons:
            found.setdefault(guard, []).append(reason)
    return flow, found


_NAMES = [*sorted(FLOWS), "exchange"]


@pytest.mark.parametrize("name", _NAMES)
def test_every_label_and_every_refusal_of_every_flow_is_in_english_and_chinese(name):
    flow = EXCHANGE if name == "exchange" else FLOWS[name]
    assert bilingual_problems(flow) == []
    check_bilingual(flow)


@pytest.mark.parametrize("name", _NAMES)
def test_every_guard_refuses_with_a_reason_in_english_and_chinese(name):
    flow, found = _walked(name)
    never = sorted(_guards(flow) - set(found))
    assert never == [], f"{name}: these guards were never made to refuse: {never}"
    check_bilingual(flow, found)  # every reason a Reason, with Chinese in its zh
    for guard, reasons in found.items():
        for reason in reasons:
            assert isinstance(reason, Reason), (guard, reason)
            assert _HAN.search(reason.zh), (guard, reason)
            # The values a reason quotes (amounts, names, dates) are in both texts.
            for value in re.findall(_QUOTED, reason):
                assert value in reason.zh, (guard, value, reason)


def test_a_refusal_speaks_both_languages_and_its_english_is_unchanged():
    flow = FLOWS["direct-sale"]
    sample = FLOWS.sample("direct-sale")
    tx = flow.start("ds-zh", **sample.start)
    for trigger, kwargs in sample.steps[:4]:
        tx.fire(trigger, **kwargs)
    before = (tx.state, tx.version, len(tx.events))
    error = _refused(lambda: tx.fire("approve_payment", amount=_cny("1.00"), reference="A"))
    assert (tx.state, tx.version, len(tx.events)) == before
    ((guard, reason),) = error.reasons
    assert guard == "amount_matches_total"
    assert reason == "the approved amount CNY 1.00 differs from the order total CNY 176.00"
    assert error.reasons_in("zh") == (
        ("amount_matches_total", "批准金额 CNY 1.00 与订单总额 CNY 176.00 不符"),
    )
    assert str(error) == (
        "Cannot approve_payment transaction 'ds-zh' in state 'payment_method_chosen': "
        "the approved amount CNY 1.00 differs from the order total CNY 176.00 "
        "(amount_matches_total)."
    )
    assert error.message_in("en") == str(error)
    zh = error.message_in("zh")
    assert zh == error.zh
    assert "批准金额 CNY 1.00 与订单总额 CNY 176.00 不符（amount_matches_total）" in zh
    assert "'ds-zh'" in zh and "approve_payment" in zh
    assert not re.search(r"\b(the|is|in|state|transaction|Cannot)\b", zh)
    again = pickle.loads(pickle.dumps(error))
    assert (again.reasons, again.zh, str(again)) == (error.reasons, error.zh, str(error))
    assert again.reasons[0][1].zh == reason.zh


def test_a_step_that_is_not_possible_says_why_in_both_languages():
    tx = FLOWS["direct-sale"].start("ds-nope", **FLOWS.sample("direct-sale").start)
    with pytest.raises(TransitionNotAllowed) as caught:
        tx.fire("dispatch", carrier="SF")
    error = caught.value
    assert "payment not authorized yet" in str(error)
    assert "付款尚未授权" in error.message_in("zh")
    assert "允许" in error.message_in("zh")
    with pytest.raises(TransitionNotAllowed) as caught:
        tx.fire("fly_away")
    assert "没有这个触发器" in caught.value.message_in("zh")
    assert pickle.loads(pickle.dumps(caught.value)).zh == caught.value.zh


def test_an_actor_refusal_is_bilingual():
    tx = _b2b_to_contract("against_documents")
    claim = {"by": "buyer", "reason": "wet", "amount": _cny("100"), "evidence": "photos"}
    error = _refused(lambda: tx.fire("file_claim", **claim))  # no actor
    ((guard, reason),) = error.reasons
    assert guard == "actor" and isinstance(reason, Reason) and _HAN.search(reason.zh)
    assert "必须指明执行者" in error.message_in("zh")


def test_a_reason_is_a_string_of_its_english_text():
    reason = Reason("the offer lapsed", "发盘已失效")
    assert reason == "the offer lapsed" and hash(reason) == hash("the offer lapsed")
    assert str(reason) == "the offer lapsed" and type(str(reason)) is str
    assert (reason.en, reason.zh, reason("zh"), reason("en")) == (
        "the offer lapsed",
        "发盘已失效",
        "发盘已失效",
        "the offer lapsed",
    )
    assert pickle.loads(pickle.dumps(reason)).zh == "发盘已失效"
    assert repr(reason) == "'the offer lapsed'"  # as a str: reprs of reasons unchanged


@pytest.mark.parametrize(
    ("en", "zh"), [("", "中文"), ("text", ""), ("text", "  "), (None, "中文"), ("text", 3)]
)
def test_a_reason_needs_both_texts(en, zh):
    with pytest.raises(InvalidDefinition, match="A Reason needs its"):
        Reason(en, zh)


def test_an_error_without_chinese_falls_back_to_english():
    error = EcomflowError("plain")
    assert error.zh is None and error.message_in("zh") == "plain"
    rejected = GuardRejected("x", trigger="t", state="s", reasons=[("g", "english only")])
    assert rejected.reasons_in("zh") == (("g", "english only"),)


# -- a plug-in guard that gives English only is caught ------------------------------------


_OPEN = Label("open", "打开")


def _toy(check: Any, label: Label = _OPEN) -> Flow[Any]:
    import attrs

    @attrs.frozen
    class Context:
        n: int = 0

    @attrs.frozen
    class Step:
        n: int

    return Flow(
        FlowDefinition(
            name="toy",
            title=Label("Toy", "玩具"),
            source="test",
            states=[State("a", Label("A", "甲")), State("b", label, terminal=True)],
            start=Transition(
                "begin",
                (),
                "a",
                Label("begin", "开始"),
                emits=[ORDER_CANCELLED.emit()],
                effect=lambda _c, _p: Context(),
            ),
            transitions=[
                Transition(
                    "go",
                    "a",
                    "b",
                    Label("go", "走"),
                    payload=Step,
                    guards=[Guard("small", check, Label("small", "小"))],
                    emits=[ORDER_CANCELLED.emit()],
                )
            ],
            context_type=Context,
        )
    )


def _english_only(_: Any, payload: Any) -> str | None:
    return None if payload.n < 5 else f"{payload.n} is too big"


def _bilingual(_: Any, payload: Any) -> Reason | None:
    return None if payload.n < 5 else Reason(f"{payload.n} is too big", f"{payload.n} 太大")


def test_the_check_fails_a_flow_whose_guard_refuses_in_english_only():
    flow = _toy(_english_only)
    tx = flow.start("toy-1")
    tx.fire("go", n=3)
    found = provoke_refusals(flow, [tx])
    assert found == {"small": ["6 is too big"]}  # 3 as recorded, 4 and 6 changed
    assert bilingual_problems(flow) == []  # its labels are fine: only the reason is not
    with pytest.raises(AssertionError, match=r"guard 'small' refused in English only: '6 is"):
        check_bilingual(flow, found)


def test_the_check_passes_the_same_flow_with_a_bilingual_reason():
    flow = _toy(_bilingual)
    tx = flow.start("toy-1")
    tx.fire("go", n=3)
    found = provoke_refusals(flow, [tx])
    assert found == {"small": [Reason("6 is too big", "6 太大")]}
    check_bilingual(flow, found)
    # The engine takes a plain str as English: the message is in English either way.
    refused = _refused(lambda: _toy(_english_only).start("toy-2").fire("go", n=9))
    assert refused.message_in("zh").endswith("：9 is too big（small）。")


def test_the_check_fails_a_label_without_chinese():
    flow = _toy(_bilingual, Label("B", "B"))
    assert bilingual_problems(flow) == [
        "toy: state 'b' is not in English and Chinese: Label(en='B', zh='B')"
    ]
    with pytest.raises(AssertionError, match="state 'b'"):
        check_bilingual(flow)


def test_the_example_plug_in_speaks_both_languages(monkeypatch):
    """examples/returns, what a plug-in author copies: its labels and reasons are bilingual."""
    from pathlib import Path

    monkeypatch.syspath_prepend(
        str(Path(__file__).resolve().parent.parent / "examples" / "returns")
    )
    try:
        from ecomflow_returns import FLOW
        from ecomflow_returns.sample import SAMPLE

        demo, _ = SAMPLE.demo(FLOW)
        found = provoke_refusals(FLOW, [demo])
        assert sorted(found) == sorted(_guards(FLOW))
        check_bilingual(FLOW, found)
    finally:  # imported from the source tree for this test only
        for name in [name for name in sys.modules if name.startswith("ecomflow_returns")]:
            del sys.modules[name]
