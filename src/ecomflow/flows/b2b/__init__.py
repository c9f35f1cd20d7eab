"""b2b — 电子商务的一般流程: the four-phase B2B contract of seed section 『捌』.

1. **preparation** (交易前的准备): both sides prepare (each records its own) before contracting;
2. **negotiation** (交易磋商): inquiry 询盘, offer 发盘, counter-offer 还盘, acceptance —
   following the UN Convention on Contracts for the International Sale of Goods (CISG):
   an inquiry binds nobody; only a definite offer (goods, quantity, price) counts (Art. 14);
   an offer takes effect when it reaches the offeree and may be withdrawn before (Art. 15);
   it may be revoked until an acceptance is sent, unless it is firm (Art. 16); a rejection
   ends even a firm offer (Art. 17); only the offeree accepts, only the standing offer, and an
   acceptance that changes the terms is a counter-offer, which becomes the new offer with the
   roles swapped (Art. 18–19); an acceptance must arrive within the offer's validity, and a
   late one counts only if the offeror confirms it (Art. 20–21); the contract is concluded
   exactly once (Art. 23);
3. **contract** (签订合同和办理手续): an electronic contract fixing rights and obligations,
   goods, quantity, price, delivery place and date, trade and transport method, breach and
   claims; both sign; then the formalities;
4. **performance** (履行合同): the logistics side (stock, customs 报关, insurance 保险,
   certificates 取证, hand to the carrier, in transit, received) and the payment side (pay as
   the contract's terms say, the banks issue their documents) run side by side; the contract
   is performed when both are done;
   **claims** (索赔/理赔): after a loss or breach, a claim within the notice period (CISG
   Art. 39: at most two years after the goods were handed over) is surveyed, then settled with
   a payout, or rejected and decided as a dispute by contract, law and practice. One claim per
   trade, in the contract's currency. During performance it runs in a third region beside the
   goods and the payment, so a payment still due stays payable; once it is decided the
   contract may be avoided (CISG Art. 49, 64, 81: the price and the goods go back). After
   performance it is a phase of its own.

The flow declares its books (what each party's account must be in each state) and its own
rules beside itself; :mod:`ecomflow.testing` checks both after every step.

Validity windows and notice periods are read from the transaction's clock. This module holds
definitions only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, final

import attrs

from ..._definition import Emit, FlowDefinition, Guard, Label, State, Transition
from ..._events import Event, Stream
from ..._flow import Flow, Transaction
from ..._money import Money
from ...fields import replace
from .terms import (
    NOTICE_PERIOD,
    Acceptance,
    Avoidance,
    B2BContext,
    Basis,
    BreakOff,
    ByParty,
    Claim,
    ClaimSettlement,
    ContractTerms,
    Handover,
    Inquiry,
    Offer,
    Parties,
    Party,
    Payment,
    PaymentTerms,
    Preparation,
    Resolution,
    Step,
    Survey,
)

__all__ = [
    "B2B",
    "FLOW",
    "NOTICE_PERIOD",
    "Acceptance",
    "B2BContext",
    "Basis",
    "Claim",
    "ContractTerms",
    "Offer",
    "Party",
    "PaymentTerms",
]

# -- guards -------------------------------------------------------------------------------


def _check(
    name: str, en: str, zh: str, *, payload: bool = True, clock: bool = False
) -> Callable[[Callable[..., str | None]], Guard]:
    """Turn a check function into a named :class:`Guard`."""

    def decorate(function: Callable[..., str | None]) -> Guard:
        return Guard(name, function, Label(en, zh), uses_payload=payload, uses_clock=clock)

    return decorate


def _standing(context: B2BContext) -> Offer:
    assert context.offer is not None  # guards run where an offer stands
    return context.offer


@_check("offeror_acts", "by the offeror", "由发盘人")
def OFFEROR_ACTS(context: B2BContext, payload: ByParty) -> str | None:
    offer = _standing(context)
    return None if payload.by is offer.by else f"only the offeror ({offer.by.value}) can do this"


@_check("offeree_acts", "by the offeree", "由受盘人")
def OFFEREE_ACTS(context: B2BContext, payload: Any) -> str | None:
    offer = _standing(context)
    if payload.by is offer.offeree:
        return None
    return f"only the offeree ({offer.offeree.value}) can do this"


def _name(context: B2BContext, party: Party) -> str:
    """Return the name of ``party`` in this trade."""
    return context.buyer if party is Party.BUYER else context.seller


def _is(context: B2BContext, party: Party, actor: str) -> bool:
    """Whether ``actor`` names ``party``: by its name in this trade or by its role."""
    return actor in (_name(context, party), party.value)


def offeree_is_the_actor(context: B2BContext, payload: Any, actor: str) -> str | None:
    """Only the offeree accepts (CISG 18): the actor must be the offeree party.

    The actor may be named by the party's name (``context.buyer`` or ``context.seller``)
    or its role (``"buyer"``, ``"seller"``).
    """
    offeree = _standing(context).offeree
    if _is(context, offeree, actor):
        return None
    return f"only the offeree ({offeree.value}, {_name(context, offeree)}) accepts, not {actor!r}"


def the_party_acts(context: B2BContext, payload: Any, actor: str) -> str | None:
    """Refuse any actor but the party ``by`` names: each signs, receives and claims for itself.

    The actor may be named by the party's name or its role, as for
    :func:`offeree_is_the_actor`.
    """
    party: Party = payload.by
    if _is(context, party, actor):
        return None
    return f"only the {party.value} ({_name(context, party)}) can do this, not {actor!r}"


def the_buyer_pays(context: B2BContext, payload: Payment, actor: str) -> str | None:
    """Refuse any actor but the buyer, or the bank it pays through (named in the payload)."""
    if _is(context, Party.BUYER, actor) or actor == payload.bank:
        return None
    return f"only the buyer ({context.buyer}) or its bank ({payload.bank}) pays, not {actor!r}"


@_check("not_firm", "not a firm offer", "非实盘", payload=False)
def NOT_FIRM(context: B2BContext, _: object) -> str | None:
    return "a firm offer cannot be revoked (CISG Art. 16(2))" if _standing(context).firm else None


@_check("matches_offer", "matches the offer", "与发盘一致")
def MATCHES_OFFER(context: B2BContext, payload: Acceptance) -> str | None:
    offer = _standing(context)
    if (payload.goods, payload.quantity, payload.price) != (
        offer.goods,
        offer.quantity,
        offer.price,
    ):
        return (
            "an acceptance that changes the terms is a counter-offer (CISG Art. 19): the offer "
            f"is {offer.quantity} {offer.goods} at {offer.price}"
        )
    return None


@_check("within_validity", "within validity", "在有效期内", payload=False, clock=True)
def WITHIN_VALIDITY(context: B2BContext, _: object, now: datetime) -> str | None:
    offer = _standing(context)
    if offer.valid_until is not None and now > offer.valid_until:
        return (
            f"the offer lapsed at {offer.valid_until.isoformat()}; a late acceptance counts "
            "only if the offeror confirms it (accept_late)"
        )
    return None


@_check("lapsed", "offer lapsed", "发盘已过期", payload=False, clock=True)
def LAPSED(context: B2BContext, _: object, now: datetime) -> str | None:
    offer = _standing(context)
    if offer.valid_until is None or now <= offer.valid_until:
        return "the offer is still valid; accept it in time instead"
    return None


@_check("still_valid", "validity in the future", "有效期未过", clock=True)
def STILL_VALID(_: object, payload: Offer, now: datetime) -> str | None:
    if payload.valid_until is not None and payload.valid_until <= now:
        return f"the offer's validity {payload.valid_until.isoformat()} has already passed"
    return None


@_check("counter_by_offeree", "by the offeree", "由受盘人")
def COUNTER_BY_OFFEREE(context: B2BContext, payload: Offer) -> str | None:
    return OFFEREE_ACTS.check(context, payload)


@_check("terms_match_agreement", "terms = agreement", "条款与成交一致")
def TERMS_MATCH(context: B2BContext, payload: ContractTerms) -> str | None:
    agreed = context.agreed
    assert agreed is not None
    if (payload.goods, payload.quantity, payload.price) != (
        agreed.goods,
        agreed.quantity,
        agreed.price,
    ):
        return (
            f"the contract must fix the agreed terms: {agreed.quantity} {agreed.goods} at "
            f"{agreed.price}"
        )
    return None


@_check("not_yet_signed", "not yet signed", "尚未签署")
def NOT_YET_SIGNED(context: B2BContext, payload: ByParty) -> str | None:
    return f"the {payload.by.value} has already signed" if payload.by in context.signed else None


@_check("prepaid_if_required", "prepaid if required", "如需预付则已付款", payload=False)
def PREPAID(context: B2BContext, _: object) -> str | None:
    assert context.terms is not None
    if context.terms.payment_terms is PaymentTerms.PREPAYMENT and context.payment is None:
        return "the contract requires prepayment before the goods are handed to the carrier"
    return None


@_check("payment_due", "payment due by the terms", "按合同付款条件", payload=False)
def PAYMENT_DUE(context: B2BContext, _: object) -> str | None:
    assert context.terms is not None
    terms = context.terms.payment_terms
    if terms is PaymentTerms.AGAINST_DOCUMENTS and context.handover is None:
        return "payment is against documents: the goods are not yet with the carrier"
    if terms is PaymentTerms.ON_DELIVERY and context.received_at is None:
        return "payment is on delivery: the buyer has not received the goods"
    return None


@_check("pays_contract_value", "amount = contract value", "金额等于合同金额")
def PAYS_VALUE(context: B2BContext, payload: Payment) -> str | None:
    if payload.amount != context.contract_value:
        return (
            f"the payment {payload.amount} differs from the contract value {context.contract_value}"
        )
    return None


@_check(
    "both_sides_done",
    "goods received and bank documents issued",
    "收货且银行单据已出具",
    payload=False,
)
def BOTH_DONE(context: B2BContext, _: object) -> str | None:
    missing = []
    if context.received_at is None:
        missing.append("the buyer has not received the goods")
    if context.bank_documents is None:
        missing.append("the banks have not issued their documents")
    return "; ".join(missing) or None


@_check(
    "within_notice_period",
    "within the notice period",
    "在索赔期内",
    payload=False,
    clock=True,
)
def IN_NOTICE(context: B2BContext, _: object, now: datetime) -> str | None:
    if context.received_at is not None and now > context.received_at + NOTICE_PERIOD:
        return (
            "the notice period ended two years after the goods were handed over "
            f"({(context.received_at + NOTICE_PERIOD).isoformat()}, CISG Art. 39)"
        )
    return None


def _foreign(context: B2BContext, money: Money, what: str) -> str | None:
    """Why ``money`` cannot be compared with the contract: its currency differs, or None."""
    currency = context.contract_value.currency
    if money.currency != currency:
        return f"the {what} {money} is in {money.currency}, but the contract is in {currency}"
    return None


@_check("claim_within_value", "claim ≤ contract value", "索赔额不超过合同金额")
def CLAIM_WITHIN_VALUE(context: B2BContext, payload: Claim) -> str | None:
    foreign = _foreign(context, payload.amount, "claim")
    if foreign is not None:
        return foreign
    if payload.amount > context.contract_value or payload.amount.amount <= 0:
        return f"a claim must be above zero and at most the contract value {context.contract_value}"
    return None


@_check("payout_within_claim", "payout ≤ claim", "赔付不超过索赔额")
def PAYOUT_WITHIN_CLAIM(context: B2BContext, payload: Any) -> str | None:
    assert context.claim is not None
    payout = payload.payout
    if payout is None:
        return None
    foreign = _foreign(context, payout, "payout")
    if foreign is not None:
        return foreign
    if payout > context.claim.amount:
        return f"the payout {payout} exceeds the claim {context.claim.amount}"
    return None


@_check("claim_decided", "a claim decided", "索赔已处理", payload=False)
def CLAIM_DECIDED(context: B2BContext, _: object) -> str | None:
    if context.claim is None:
        return "no claim establishes a breach: file one and have it decided first"
    if context.claim_payout is None and context.resolution is None:
        return "the claim is not decided yet"
    return None


@_check("buyer_receives", "by the buyer", "由买方")
def BUYER_RECEIVES(context: B2BContext, payload: ByParty) -> str | None:
    if payload.by is Party.BUYER:
        return None
    return f"only the buyer ({context.buyer}) can record receipt of the goods"


@_check("delivery_after_conclusion", "delivery not before the contract", "交货日期不早于订约")
def DELIVERY_AFTER_CONCLUSION(context: B2BContext, payload: ContractTerms) -> str | None:
    assert context.concluded_at is not None
    concluded = context.concluded_at.date()
    if payload.delivery_date < concluded:
        return (
            f"the delivery date {payload.delivery_date.isoformat()} is before the contract was "
            f"concluded on {concluded.isoformat()}"
        )
    return None


# -- event data ---------------------------------------------------------------------------


def _to_offeree(context: B2BContext, payload: Offer) -> dict[str, Any]:
    offeree = context.seller if payload.by is Party.BUYER else context.buyer
    return {"to": offeree, "value": payload.value.to_json()}


def _previous(context: B2BContext, _: object) -> dict[str, Any]:
    previous = context.offers[-2]
    return {
        "goods": previous.goods,
        "quantity": previous.quantity,
        "price": previous.price.to_json(),
        "by": previous.by.value,
    }


def _contract(context: B2BContext, _: object) -> dict[str, Any]:
    agreed = context.agreed
    assert agreed is not None
    assert context.concluded_at is not None
    return {
        "buyer": context.buyer,
        "seller": context.seller,
        "goods": agreed.goods,
        "quantity": agreed.quantity,
        "value": agreed.value.to_json(),
        "concluded_at": context.concluded_at.isoformat(),
    }


def _both_signed(context: B2BContext, _: object) -> dict[str, Any]:
    return {"signed_by": [party.value for party in context.signed]}


def _ownership(context: B2BContext, _: object) -> dict[str, Any]:
    assert context.terms is not None
    return {
        "goods": context.terms.goods,
        "quantity": context.terms.quantity,
        "from": context.seller,
        "to": context.buyer,
    }


def _payment(context: B2BContext, _: object) -> dict[str, Any]:
    return {"from": context.buyer, "to": context.seller}


def _performed(context: B2BContext, _: object) -> dict[str, Any]:
    return {"value": context.contract_value.to_json()}


def _claim_paid(context: B2BContext, payload: Any) -> dict[str, Any]:
    assert context.claim is not None
    claimant = context.buyer if context.claim.by is Party.BUYER else context.seller
    payer = context.seller if context.claim.by is Party.BUYER else context.buyer
    return {"amount": payload.payout.to_json(), "from": payer, "to": claimant}


def _has_payout(_: B2BContext, payload: Resolution) -> bool:
    return payload.payout is not None


def _parties(context: B2BContext, _: object) -> dict[str, Any]:
    return {"buyer": context.buyer, "seller": context.seller}


def _price_back(context: B2BContext, _: object) -> dict[str, Any]:
    return {
        "amount": context.contract_value.to_json(),
        "from": context.seller,
        "to": context.buyer,
    }


def _goods_back(context: B2BContext, _: object) -> dict[str, Any]:
    assert context.terms is not None
    return {
        "goods": context.terms.goods,
        "quantity": context.terms.quantity,
        "from": context.buyer,
        "to": context.seller,
    }


def _was_paid(context: B2BContext, _: object) -> bool:
    return context.payment is not None


def _was_received(context: B2BContext, _: object) -> bool:
    return context.received_at is not None


def _logged(step: str) -> Any:
    return lambda c, p: replace(c, logistics=(*c.logistics, step))


# -- the definition -----------------------------------------------------------------------


def _label(en: str, zh: str) -> Label:
    return Label(en, zh)


_NEGOTIATION_OPEN = ("preparation.ready", "negotiation.open")

_OPEN_CLAIM = (
    "performance.claim.filed",
    "performance.claim.surveyed",
    "performance.claim.disputed",
)


def _claim_transitions(
    region: str, *, filed_from: str, decided: str, during: bool
) -> list[Transition]:
    """Return the claim steps (索赔/理赔) in ``region``: during performance, or after it."""
    when = " during performance" if during else ""
    zh = "（履约中）" if during else ""
    return [
        Transition(
            "file_claim",
            filed_from,
            f"{region}.filed",
            _label(f"file a claim{when}", f"索赔{zh}"),
            step="4 (CISG 39)",
            payload=Claim,
            guards=[IN_NOTICE, CLAIM_WITHIN_VALUE],
            requires_actor=True,
            actor_check=the_party_acts,
            effect=lambda c, p: replace(c, claim=p),
            emits=[Emit(Stream.COMMERCE, "claim_filed")],
        ),
        Transition(
            "survey",
            f"{region}.filed",
            f"{region}.surveyed",
            _label(f"survey{when}", f"查勘{zh}"),
            step="4",
            payload=Survey,
            effect=lambda c, p: replace(c, survey=p),
            emits=[Emit(Stream.INFORMATION, "survey_reported")],
        ),
        Transition(
            "settle_claim",
            f"{region}.surveyed",
            decided,
            _label(f"settle the claim{when}", f"理赔{zh}"),
            step="4",
            payload=ClaimSettlement,
            guards=[PAYOUT_WITHIN_CLAIM],
            effect=lambda c, p: replace(c, claim_payout=p.payout),
            emits=[Emit(Stream.MONEY, "claim_paid", _claim_paid)],
        ),
        Transition(
            "reject_claim",
            f"{region}.surveyed",
            f"{region}.disputed",
            _label(f"reject the claim{when}", f"拒赔{zh}"),
            step="4",
            payload=Step,
            effect=lambda c, p: replace(c, claim_rejection=p.reference),
            emits=[Emit(Stream.COMMERCE, "claim_rejected")],
        ),
        Transition(
            "resolve_dispute",
            f"{region}.disputed",
            decided,
            _label(f"resolve the dispute{when}", f"解决争议{zh}"),
            step="4",
            payload=Resolution,
            guards=[PAYOUT_WITHIN_CLAIM],
            effect=lambda c, p: replace(c, resolution=p, claim_payout=p.payout),
            emits=[
                Emit(Stream.COMMERCE, "dispute_resolved"),
                Emit(Stream.MONEY, "claim_paid", _claim_paid, when=_has_payout),
            ],
        ),
    ]


# -- the books and the flow's own rules ---------------------------------------------------


def _books(context: B2BContext, state: str) -> dict[str, Money]:
    """Return what each party's account must be, from the contract, not from the events.

    The buyer pays the contract value to the seller once it has paid (and gets it back
    when the contract is avoided); a claim payout goes from the party claimed against to
    the claimant. Nothing else moves money, so every other account is at zero.
    """
    if context.terms is None:
        return {}
    value = context.contract_value
    books = {context.buyer: Money(0, value.currency), context.seller: Money(0, value.currency)}
    if context.payment is not None and state != "avoided":
        books[context.buyer] = books[context.buyer] - value
        books[context.seller] = books[context.seller] + value
    if context.claim is not None and context.claim_payout is not None:
        claimant, payer = (
            (context.buyer, context.seller)
            if context.claim.by is Party.BUYER
            else (context.seller, context.buyer)
        )
        books[claimant] = books[claimant] + context.claim_payout
        books[payer] = books[payer] - context.claim_payout
    return books


def _require(condition: object, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _versions(tx: Transaction[Any], name: str) -> list[int]:
    return [event.version for event in tx.events if event.name == name]


_CONTRACT_PHASES = frozenset(
    {"contract", "performance", "performed", "claims", "closed", "avoided"}
)


def _concluded_exactly_once(tx: Transaction[Any]) -> None:
    """Check that the contract is concluded exactly once from the contract phase on."""
    concluded = len(_versions(tx, "contract_concluded"))
    expected = 1 if tx.state.partition(".")[0] in _CONTRACT_PHASES else 0
    _require(
        concluded == expected,
        f"{tx.id!r} in {tx.state!r}: the contract was concluded {concluded} times, not {expected}",
    )


def _receipt_only_after_shipment(tx: Transaction[Any]) -> None:
    """Check that the buyer receives the goods at most once, after they were shipped."""
    received, shipped = _versions(tx, "goods_received"), _versions(tx, "handed_to_carrier")
    _require(len(received) <= 1, f"{tx.id!r}: the goods were received {len(received)} times")
    if received:
        _require(
            shipped and shipped[0] < received[0],
            f"{tx.id!r}: goods received at version {received[0]} before they were shipped",
        )
        event = next(e for e in tx.events if e.name == "goods_received")
        _require(event.data.get("by") == "buyer", f"{tx.id!r}: receipt recorded by {event.data}")


def _paid_once_as_the_terms_say(tx: Transaction[Any]) -> None:
    """Check that the buyer pays the contract value at most once, as the terms allow."""
    paid = [e for e in tx.events if e.name == "payment_made"]
    _require(len(paid) <= 1, f"{tx.id!r}: the contract value was paid {len(paid)} times")
    if not paid:
        _require(not _versions(tx, "payment_returned"), f"{tx.id!r}: unpaid price returned")
        return
    drawn = next(e for e in tx.events if e.name == "contract_drawn_up")
    value = Money(drawn.data["price"]["amount"], drawn.data["price"]["currency"])
    value = value * int(drawn.data["quantity"])
    amount = paid[0].data["amount"]
    _require(
        Money(amount["amount"], amount["currency"]) == value,
        f"{tx.id!r}: paid {amount}, but the contract value is {value}",
    )
    terms = drawn.data["payment_terms"]
    before = {
        "against_documents": "handed_to_carrier",
        "on_delivery": "goods_received",
    }.get(terms)
    if before is not None:
        earlier = _versions(tx, before)
        _require(
            earlier and earlier[0] < paid[0].version,
            f"{tx.id!r}: paid at version {paid[0].version} before {before} ({terms})",
        )
    else:  # prepayment: before the goods leave
        shipped = _versions(tx, "handed_to_carrier")
        _require(
            not shipped or paid[0].version < shipped[0],
            f"{tx.id!r}: shipped at version {shipped[0] if shipped else None} before prepayment",
        )


def _payouts_within_the_claim(tx: Transaction[Any]) -> None:
    """Check one claim per trade, paid at most what was claimed, in its currency."""
    claims = [e for e in tx.events if e.name == "claim_filed"]
    payouts = [e for e in tx.events if e.name == "claim_paid"]
    _require(len(claims) <= 1, f"{tx.id!r}: {len(claims)} claims filed; a trade has one")
    _require(len(payouts) <= 1, f"{tx.id!r}: the claim was paid {len(payouts)} times")
    if payouts:
        _require(claims, f"{tx.id!r}: a claim was paid but none was filed")
        claimed, paid = claims[0].data["amount"], payouts[0].data["amount"]
        _require(
            paid["currency"] == claimed["currency"]
            and Decimal(paid["amount"]) <= Decimal(claimed["amount"]),
            f"{tx.id!r}: paid {paid} on a claim of {claimed}",
        )


def _ships_before_payment(context: B2BContext) -> bool:
    """Whether the contract lets the goods go before the buyer pays (not prepayment)."""
    terms = context.terms
    return terms is not None and terms.payment_terms is not PaymentTerms.PREPAYMENT


def summary(context: B2BContext, state: str) -> dict[str, Any]:
    """Return the current-state table's fields: the parties, goods, amount and currency.

    The amount is the agreed contract's value once concluded, else the standing offer's.
    """
    offer = context.agreed if context.agreed is not None else context.offer
    value = None if offer is None else offer.value
    return {
        "buyer": context.buyer,
        "seller": context.seller,
        "goods": None if offer is None else offer.goods,
        "amount": None if value is None else str(value.amount),
        "currency": None if value is None else value.currency,
        "concluded": context.agreed is not None,
    }


DEFINITION = FlowDefinition(
    name="b2b",
    title=Label("The general B2B process", "电子商务的一般流程"),
    source="『捌』",
    context_type=B2BContext,
    # No goods before payment unless the contract's terms let them go first.
    payment_secured_by={"payment_made"},
    goods_moved_by={"handed_to_carrier", "goods_received", "ownership_transferred"},
    ships_before_payment=_ships_before_payment,
    states=[
        State(
            "preparation",
            _label("preparation", "交易前的准备"),
            initial="researching",
            children=[
                State("researching", _label("researching", "调研准备")),
                State("ready", _label("ready to negotiate", "准备就绪")),
            ],
        ),
        State(
            "negotiation",
            _label("negotiation", "交易磋商"),
            initial="open",
            children=[
                State("open", _label("no standing offer", "无有效发盘")),
                State("offer_sent", _label("offer on its way", "发盘在途")),
                State("offer_standing", _label("offer standing", "发盘有效")),
                State(
                    "late_acceptance",
                    _label("late acceptance awaiting the offeror", "逾期接受待确认"),
                ),
            ],
        ),
        State(
            "contract",
            _label("contract", "签订合同和办理手续"),
            initial="drafting",
            children=[
                State("drafting", _label("drafting the e-contract", "拟定电子合同")),
                State("awaiting_signatures", _label("awaiting signatures", "待签署")),
                State("signed_by_one", _label("signed by one party", "一方已签署")),
                State("signed", _label("signed by both", "双方已签署")),
            ],
        ),
        State(
            "performance",
            _label("performance", "履行合同"),
            parallel=True,
            children=[
                State(
                    "logistics",
                    _label("goods", "货物"),
                    initial="stocking",
                    children=[
                        State("stocking", _label("stocking the goods", "备货")),
                        State("stocked", _label("goods stocked", "已备货")),
                        State("customs_cleared", _label("customs declared", "已报关")),
                        State("insured", _label("insured", "已保险")),
                        State("certified", _label("certificates obtained", "已取证")),
                        State("in_transit", _label("with the carrier", "运输中")),
                        State("received", _label("received by the buyer", "买方已收货")),
                    ],
                ),
                State(
                    "payment",
                    _label("payment", "付款"),
                    initial="awaiting",
                    children=[
                        State("awaiting", _label("awaiting payment", "待付款")),
                        State("paid", _label("paid", "已付款")),
                        State("documented", _label("bank documents issued", "银行单据已出具")),
                    ],
                ),
                State(
                    "claim",
                    _label("claim during performance", "履约中的索赔"),
                    initial="none",
                    children=[
                        State("none", _label("no claim", "无索赔")),
                        State("filed", _label("claim filed", "已提出索赔")),
                        State("surveyed", _label("claim surveyed", "已查勘")),
                        State("disputed", _label("in dispute", "争议处理中")),
                        State("decided", _label("claim decided", "索赔已处理")),
                    ],
                ),
            ],
        ),
        State("performed", _label("contract performed", "合同履行完毕")),
        State(
            "claims",
            _label("claims", "索赔"),
            initial="filed",
            children=[
                State("filed", _label("claim filed", "已提出索赔")),
                State("surveyed", _label("claim surveyed", "已查勘")),
                State("disputed", _label("in dispute", "争议处理中")),
            ],
        ),
        State("closed", _label("closed", "交易完成"), terminal=True),
        State("no_deal", _label("no deal", "未成交"), terminal=True),
        State("avoided", _label("contract avoided", "合同已解除"), terminal=True),
    ],
    start=Transition(
        "begin",
        (),
        "preparation",
        _label("begin preparing", "开始准备"),
        step="1",
        payload=Parties,
        effect=lambda _, p: B2BContext(buyer=p.buyer, seller=p.seller),
        emits=[Emit(Stream.INFORMATION, "trade_preparation_started")],
    ),
    transitions=[
        Transition(
            "prepare",
            "preparation",
            "preparation.ready",
            _label("prepare", "做好签约前准备"),
            step="1",
            payload=Preparation,
            effect=lambda c, p: replace(c, preparations=(*c.preparations, p)),
            emits=[Emit(Stream.INFORMATION, "preparation_recorded")],
        ),
        Transition(
            "inquire",
            _NEGOTIATION_OPEN,
            "negotiation.open",
            _label("inquiry", "询盘"),
            step="2",
            payload=Inquiry,
            effect=lambda c, p: replace(c, inquiries=(*c.inquiries, p)),
            emits=[Emit(Stream.INFORMATION, "inquiry_sent")],
        ),
        Transition(
            "offer",
            _NEGOTIATION_OPEN,
            "negotiation.offer_sent",
            _label("offer", "发盘"),
            step="2",
            payload=Offer,
            guards=[STILL_VALID],
            effect=lambda c, p: replace(c, offers=(*c.offers, p), offer=p),
            emits=[Emit(Stream.COMMERCE, "offer_made", _to_offeree)],
        ),
        Transition(
            "withdraw",
            "negotiation.offer_sent",
            "negotiation.open",
            _label("withdraw before it arrives", "撤回"),
            step="2 (CISG 15)",
            payload=ByParty,
            guards=[OFFEROR_ACTS],
            effect=lambda c, p: replace(c, offer=None),
            emits=[Emit(Stream.COMMERCE, "offer_withdrawn")],
        ),
        Transition(
            "arrive",
            "negotiation.offer_sent",
            "negotiation.offer_standing",
            _label("offer reaches the offeree", "发盘送达"),
            step="2 (CISG 15)",
            emits=[Emit(Stream.INFORMATION, "offer_received")],
        ),
        Transition(
            "revoke",
            "negotiation.offer_standing",
            "negotiation.open",
            _label("revoke", "撤销"),
            step="2 (CISG 16)",
            payload=ByParty,
            guards=[OFFEROR_ACTS, NOT_FIRM],
            effect=lambda c, p: replace(c, offer=None),
            emits=[Emit(Stream.COMMERCE, "offer_revoked")],
        ),
        Transition(
            "reject",
            "negotiation.offer_standing",
            "negotiation.open",
            _label("reject", "拒绝"),
            step="2 (CISG 17)",
            payload=ByParty,
            guards=[OFFEREE_ACTS],
            effect=lambda c, p: replace(c, offer=None),
            emits=[Emit(Stream.COMMERCE, "offer_rejected")],
        ),
        Transition(
            "counter_offer",
            "negotiation.offer_standing",
            "negotiation.offer_sent",
            _label("counter-offer", "还盘"),
            step="2 (CISG 19)",
            payload=Offer,
            guards=[COUNTER_BY_OFFEREE, STILL_VALID],
            effect=lambda c, p: replace(c, offers=(*c.offers, p), offer=p),
            emits=[
                Emit(Stream.COMMERCE, "counter_offer_made", _to_offeree),
                Emit(Stream.COMMERCE, "offer_rejected_by_counter_offer", _previous),
            ],
        ),
        Transition(
            "accept",
            "negotiation.offer_standing",
            "contract",
            _label("accept", "接受"),
            step="2 (CISG 18, 23)",
            payload=Acceptance,
            guards=[OFFEREE_ACTS, MATCHES_OFFER, WITHIN_VALIDITY],
            requires_actor=True,
            actor_check=offeree_is_the_actor,
            effect=lambda c, p, now: replace(c, agreed=c.offer, concluded_at=now),
            effect_uses_clock=True,
            emits=[
                Emit(Stream.COMMERCE, "offer_accepted"),
                Emit(Stream.COMMERCE, "contract_concluded", _contract),
            ],
        ),
        Transition(
            "accept_late",
            "negotiation.offer_standing",
            "negotiation.late_acceptance",
            _label("accept late", "逾期接受"),
            step="2 (CISG 21)",
            payload=Acceptance,
            guards=[OFFEREE_ACTS, MATCHES_OFFER, LAPSED],
            requires_actor=True,
            actor_check=offeree_is_the_actor,
            effect=lambda c, p: replace(c, late_acceptance=p),
            emits=[Emit(Stream.COMMERCE, "late_acceptance_sent")],
        ),
        Transition(
            "confirm_late_acceptance",
            "negotiation.late_acceptance",
            "contract",
            _label("offeror confirms", "发盘人确认"),
            step="2 (CISG 21)",
            payload=ByParty,
            guards=[OFFEROR_ACTS],
            effect=lambda c, p, now: replace(c, agreed=c.offer, concluded_at=now),
            effect_uses_clock=True,
            emits=[
                Emit(Stream.COMMERCE, "late_acceptance_confirmed"),
                Emit(Stream.COMMERCE, "contract_concluded", _contract),
            ],
        ),
        Transition(
            "refuse_late_acceptance",
            "negotiation.late_acceptance",
            "negotiation.open",
            _label("offeror refuses", "发盘人不认可"),
            step="2 (CISG 21)",
            payload=ByParty,
            guards=[OFFEROR_ACTS],
            effect=lambda c, p: replace(c, offer=None, late_acceptance=None),
            emits=[Emit(Stream.COMMERCE, "late_acceptance_refused")],
        ),
        Transition(
            "break_off",
            ("preparation", "negotiation"),
            "no_deal",
            _label("break off", "终止磋商"),
            step="1-2",
            payload=BreakOff,
            emits=[Emit(Stream.COMMERCE, "negotiation_broken_off")],
        ),
        Transition(
            "draw_up",
            "contract.drafting",
            "contract.awaiting_signatures",
            _label("draw up the e-contract", "拟定电子合同"),
            step="3",
            payload=ContractTerms,
            guards=[TERMS_MATCH, DELIVERY_AFTER_CONCLUSION],
            effect=lambda c, p: replace(c, terms=p),
            emits=[Emit(Stream.COMMERCE, "contract_drawn_up")],
        ),
        Transition(
            "sign",
            "contract.awaiting_signatures",
            "contract.signed_by_one",
            _label("sign", "签署"),
            step="3",
            payload=ByParty,
            requires_actor=True,
            actor_check=the_party_acts,
            effect=lambda c, p: replace(c, signed=(*c.signed, p.by)),
            emits=[Emit(Stream.COMMERCE, "contract_signed_by")],
        ),
        Transition(
            "sign",
            "contract.signed_by_one",
            "contract.signed",
            _label("countersign", "会签"),
            step="3",
            payload=ByParty,
            guards=[NOT_YET_SIGNED],
            requires_actor=True,
            actor_check=the_party_acts,
            effect=lambda c, p: replace(c, signed=(*c.signed, p.by)),
            emits=[
                Emit(Stream.COMMERCE, "contract_signed_by"),
                Emit(Stream.COMMERCE, "contract_signed", _both_signed),
            ],
        ),
        Transition(
            "complete_formalities",
            "contract.signed",
            "performance",
            _label("complete the formalities", "办理手续"),
            step="3",
            payload=Step,
            effect=lambda c, p: replace(c, formalities=p.reference),
            emits=[Emit(Stream.INFORMATION, "formalities_completed")],
        ),
        Transition(
            "stock_goods",
            "performance.logistics.stocking",
            "performance.logistics.stocked",
            _label("stock the goods", "备货"),
            step="4",
            payload=Step,
            effect=_logged("stocked"),
            emits=[Emit(Stream.LOGISTICS, "goods_stocked")],
        ),
        Transition(
            "declare_customs",
            "performance.logistics.stocked",
            "performance.logistics.customs_cleared",
            _label("declare customs", "报关"),
            step="4",
            payload=Step,
            effect=_logged("customs"),
            emits=[Emit(Stream.LOGISTICS, "customs_declared")],
        ),
        Transition(
            "insure",
            "performance.logistics.customs_cleared",
            "performance.logistics.insured",
            _label("insure", "保险"),
            step="4",
            payload=Step,
            effect=_logged("insured"),
            emits=[Emit(Stream.COMMERCE, "cargo_insured")],
        ),
        Transition(
            "obtain_certificates",
            "performance.logistics.insured",
            "performance.logistics.certified",
            _label("obtain certificates", "取证"),
            step="4",
            payload=Step,
            effect=_logged("certified"),
            emits=[Emit(Stream.INFORMATION, "certificates_obtained")],
        ),
        Transition(
            "hand_to_carrier",
            "performance.logistics.certified",
            "performance.logistics.in_transit",
            _label("hand to the carrier", "交付承运"),
            step="4",
            payload=Handover,
            guards=[PREPAID],
            effect=lambda c, p: replace(c, handover=p),
            emits=[
                Emit(Stream.LOGISTICS, "handed_to_carrier"),
                Emit(
                    Stream.INFORMATION,
                    "shipping_documents_sent",
                    lambda c, p: {"bill_of_lading": p.bill_of_lading, "to": c.buyer},
                ),
            ],
        ),
        Transition(
            "track",
            "performance.logistics.in_transit",
            "performance.logistics.in_transit",
            _label("track the shipment", "跟踪货物"),
            step="4",
            payload=Step,
            emits=[Emit(Stream.LOGISTICS, "shipment_tracked")],
        ),
        Transition(
            "receive",
            "performance.logistics.in_transit",
            "performance.logistics.received",
            _label("buyer receives", "买方收货"),
            step="4",
            payload=ByParty,
            guards=[BUYER_RECEIVES],
            requires_actor=True,
            actor_check=the_party_acts,
            effect=lambda c, p, now: replace(c, received_at=now),
            effect_uses_clock=True,
            emits=[
                Emit(Stream.LOGISTICS, "goods_received"),
                Emit(Stream.COMMERCE, "ownership_transferred", _ownership),
            ],
        ),
        Transition(
            "pay",
            "performance.payment.awaiting",
            "performance.payment.paid",
            _label("pay", "付款"),
            step="4",
            payload=Payment,
            guards=[PAYMENT_DUE, PAYS_VALUE],
            requires_actor=True,
            actor_check=the_buyer_pays,
            effect=lambda c, p: replace(c, payment=p),
            emits=[Emit(Stream.MONEY, "payment_made", _payment)],
        ),
        Transition(
            "issue_bank_documents",
            "performance.payment.paid",
            "performance.payment.documented",
            _label("banks issue documents", "银行出具单据"),
            step="4",
            payload=Step,
            effect=lambda c, p: replace(c, bank_documents=p.reference),
            emits=[Emit(Stream.MONEY, "bank_documents_issued")],
        ),
        Transition(
            "complete",
            "performance.claim.none",
            "performed",
            _label("performed", "履约完成"),
            step="4",
            guards=[BOTH_DONE],
            emits=[Emit(Stream.COMMERCE, "contract_performed", _performed)],
        ),
        Transition(
            "complete",
            "performance.claim.decided",
            "closed",
            _label("performed, its claim decided", "履约完成（索赔已处理）"),
            step="4",
            guards=[BOTH_DONE],
            emits=[Emit(Stream.COMMERCE, "contract_performed", _performed)],
        ),
        Transition(
            "avoid",
            "performance",
            "avoided",
            _label("declare the contract avoided", "解除合同"),
            step="4 (CISG 49, 64, 81)",
            payload=Avoidance,
            guards=[CLAIM_DECIDED],
            effect=lambda c, p: replace(c, avoidance=p),
            emits=[
                Emit(Stream.COMMERCE, "contract_avoided", _parties),
                Emit(Stream.MONEY, "payment_returned", _price_back, when=_was_paid),
                Emit(Stream.LOGISTICS, "goods_returned", _goods_back, when=_was_received),
            ],
        ),
        *_claim_transitions(
            "performance.claim",
            filed_from="performance.claim.none",
            decided="performance.claim.decided",
            during=True,
        ),
        *_claim_transitions("claims", filed_from="performed", decided="closed", during=False),
        Transition(
            "close",
            "performed",
            "closed",
            _label("close", "交易完成"),
            step="4",
            emits=[Emit(Stream.COMMERCE, "trade_closed")],
        ),
    ],
    refusals={
        "accept": {
            "negotiation.open": "no offer is standing",
            "negotiation.offer_sent": "the offer has not reached the offeree yet",
        },
        "revoke": {"negotiation.offer_sent": "the offer has not arrived; withdraw it instead"},
        "withdraw": {
            "negotiation.offer_standing": "the offer has reached the offeree; revoke it instead"
        },
        "hand_to_carrier": {"performance.logistics.stocking": "the goods are not ready to ship"},
        "pay": {"contract": "the contract is not in performance yet"},
        "complete": dict.fromkeys(_OPEN_CLAIM, "a claim is open: survey and decide it first"),
        "file_claim": {
            **dict.fromkeys(_OPEN_CLAIM, "a claim is already open"),
            "performance.claim.decided": "this trade's claim was decided already",
        },
    },
    books=_books,
    invariants=(
        _concluded_exactly_once,
        _receipt_only_after_shipment,
        _paid_once_as_the_terms_say,
        _payouts_within_the_claim,
    ),
    summary=summary,
)


@final
class B2B(Transaction[B2BContext]):
    """A B2B contract transaction; trigger with :meth:`fire`, or the methods below.

    Who acts is checked for the acts the seed names a party for: the offeree accepts
    (``accept``, ``accept_late``), each party signs, receives and claims for itself
    (``sign``, ``receive``, ``file_claim``: the party ``by`` names) and the buyer pays
    (``pay``: the buyer or its bank). Those need ``actor`` (the party's name or role);
    without it, or with another party, they raise :class:`~ecomflow.GuardRejected` (the
    reason ``"actor"``) and nothing changes. Every other method takes an optional actor.
    """

    __slots__ = ()

    def offer(
        self,
        by: Party | str,
        *,
        goods: str,
        quantity: int,
        price: Money,
        valid_until: datetime | None = None,
        firm: bool = False,
        actor: str | None = None,
    ) -> tuple[Event, ...]:
        """发盘: make a definite offer."""
        return self.fire(
            "offer",
            actor=actor,
            by=by,
            goods=goods,
            quantity=quantity,
            price=price,
            valid_until=valid_until,
            firm=firm,
        )

    def counter_offer(
        self,
        by: Party | str,
        *,
        goods: str,
        quantity: int,
        price: Money,
        valid_until: datetime | None = None,
        firm: bool = False,
        actor: str | None = None,
    ) -> tuple[Event, ...]:
        """还盘: reject the standing offer and make a new one."""
        return self.fire(
            "counter_offer",
            actor=actor,
            by=by,
            goods=goods,
            quantity=quantity,
            price=price,
            valid_until=valid_until,
            firm=firm,
        )

    def accept(
        self, by: Party | str, *, goods: str, quantity: int, price: Money, actor: str
    ) -> tuple[Event, ...]:
        """接受: accept the standing offer on its terms, within its validity.

        ``actor`` must be the offeree (its name or role).
        """
        return self.fire("accept", actor=actor, by=by, goods=goods, quantity=quantity, price=price)

    def accept_late(
        self, by: Party | str, *, goods: str, quantity: int, price: Money, actor: str
    ) -> tuple[Event, ...]:
        """Accept a lapsed offer; it counts only if the offeror confirms.

        ``actor`` must be the offeree (its name or role).
        """
        return self.fire(
            "accept_late", actor=actor, by=by, goods=goods, quantity=quantity, price=price
        )

    def act(
        self, trigger: str, by: Party | str, note: str | None = None, *, actor: str | None = None
    ) -> tuple[Event, ...]:
        """Fire a party's act that carries no terms, such as ``revoke`` or ``sign``.

        The acts: ``withdraw``, ``revoke``, ``reject``, ``sign``, ``receive``,
        ``confirm_late_acceptance`` and ``refuse_late_acceptance``. ``sign`` and
        ``receive`` need ``actor``: the party ``by`` names (its name or role).
        """
        return self.fire(trigger, actor=actor, by=by, note=note)

    def draw_up(self, terms: ContractTerms, *, actor: str | None = None) -> tuple[Event, ...]:
        """Fix the electronic contract's terms (『捌』 3)."""
        return self.fire("draw_up", actor=actor, **attrs.asdict(terms, recurse=False))

    def pay(self, *, bank: str, amount: Money, reference: str, actor: str) -> tuple[Event, ...]:
        """Pay the contract value, when the payment terms allow.

        ``actor`` must be the buyer (its name or role) or ``bank``, paying for it.
        """
        return self.fire("pay", actor=actor, bank=bank, amount=amount, reference=reference)

    def file_claim(
        self, by: Party | str, *, reason: str, amount: Money, evidence: str, actor: str
    ) -> tuple[Event, ...]:
        """索赔: claim for a loss or breach, with evidence, within the notice period.

        ``actor`` must be the claimant, the party ``by`` names (its name or role).
        """
        return self.fire(
            "file_claim", actor=actor, by=by, reason=reason, amount=amount, evidence=evidence
        )

    def avoid(self, by: Party | str, *, reason: str, actor: str | None = None) -> tuple[Event, ...]:
        """Declare the contract avoided after a decided claim: the price and goods go back."""
        return self.fire("avoid", actor=actor, by=by, reason=reason)

    def settle_claim(self, *, payout: Money, actor: str | None = None) -> tuple[Event, ...]:
        """理赔: pay the surveyed claim."""
        return self.fire("settle_claim", actor=actor, payout=payout)

    def resolve_dispute(
        self,
        basis: Basis | str,
        *,
        decision: str,
        payout: Money | None = None,
        actor: str | None = None,
    ) -> tuple[Event, ...]:
        """Decide a rejected claim by contract, law or practice."""
        return self.fire(
            "resolve_dispute", actor=actor, basis=basis, decision=decision, payout=payout
        )


FLOW: Flow[B2B] = Flow(DEFINITION, B2B)
"""The B2B flow."""
