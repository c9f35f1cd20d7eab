"""The rules of the B2B flow (『捌』): its guards, who may act, event data, books and checks.

Every guard is a :class:`~ecomflow.Guard` module constant (its name, its check, its
label), the one style every flow uses; the checks return ``None`` to allow or the
reason for a refusal. The actor checks refuse anyone but the party the seed names for
an act. The event data builders, the ``when`` conditions and the effects' helpers are
what :mod:`.definition` names in its transitions; the books and the flow's own
invariants are what :mod:`ecomflow.testing` checks after every step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..._definition import EventType, Guard, Label, Reason
from ..._flow import Transaction
from ..._money import Money
from ...fields import replace
from ...vocabulary import CLAIM_PAID, CONTRACT_CONCLUDED
from .terms import (
    CLAIM_FILED,
    CONTRACT_DRAWN_UP,
    COUNTER_OFFER_MADE,
    GOODS_RECEIVED,
    HANDED_TO_CARRIER,
    NOTICE_PERIOD,
    OFFER_REJECTED_BY_COUNTER_OFFER,
    PAYMENT_MADE,
    PAYMENT_RETURNED,
    Acceptance,
    B2BContext,
    ByParty,
    Claim,
    ContractTerms,
    Handover,
    Offer,
    Party,
    Payment,
    PaymentTerms,
    Resolution,
    Step,
)

__all__ = [
    "BOTH_DONE",
    "BUYER_RECEIVES",
    "CLAIM_DECIDED",
    "CLAIM_WITHIN_VALUE",
    "COUNTER_BY_OFFEREE",
    "DELIVERY_AFTER_CONCLUSION",
    "IN_NOTICE",
    "LAPSED",
    "MATCHES_OFFER",
    "NOT_FIRM",
    "NOT_YET_SIGNED",
    "OFFEREE_ACTS",
    "OFFEROR_ACTS",
    "PAYMENT_DUE",
    "PAYOUT_WITHIN_CLAIM",
    "PAYS_VALUE",
    "PREPAID",
    "STILL_VALID",
    "TERMS_MATCH",
    "WITHIN_VALIDITY",
    "contract_concluded_at_most_once",
    "counter_offer_ends_the_standing_offer",
    "offeree_is_the_actor",
    "summary",
    "the_buyer_pays",
    "the_party_acts",
]

# -- guards -------------------------------------------------------------------------------


def _standing(context: B2BContext) -> Offer:
    assert context.offer is not None  # guards run where an offer stands
    return context.offer


_PARTY_ZH = {Party.BUYER: "买方", Party.SELLER: "卖方"}


def _offeror_acts(context: B2BContext, payload: ByParty) -> Reason | None:
    offer = _standing(context)
    if payload.by is offer.by:
        return None
    return Reason(
        f"only the offeror ({offer.by.value}) can do this",
        f"只有发盘人（{_PARTY_ZH[offer.by]}）可以这样做",
    )


def _offeree_acts(context: B2BContext, payload: Any) -> Reason | None:
    offer = _standing(context)
    if payload.by is offer.offeree:
        return None
    return Reason(
        f"only the offeree ({offer.offeree.value}) can do this",
        f"只有受盘人（{_PARTY_ZH[offer.offeree]}）可以这样做",
    )


def _not_firm(context: B2BContext, _: object) -> Reason | None:
    if _standing(context).firm:
        return Reason(
            "a firm offer cannot be revoked (CISG Art. 16(2))",
            "实盘不可撤销（《联合国国际货物销售合同公约》第 16 条第 2 款）",
        )
    return None


def _matches_offer(context: B2BContext, payload: Acceptance) -> Reason | None:
    offer = _standing(context)
    if (payload.goods, payload.quantity, payload.price) != (
        offer.goods,
        offer.quantity,
        offer.price,
    ):
        return Reason(
            "an acceptance that changes the terms is a counter-offer (CISG Art. 19): the offer "
            f"is {offer.quantity} {offer.goods} at {offer.price}",
            "变更条件的接受即为还盘（公约第 19 条）：发盘为"
            f" {offer.quantity} {offer.goods}，单价 {offer.price}",
        )
    return None


def _within_validity(context: B2BContext, _: object, now: datetime) -> Reason | None:
    offer = _standing(context)
    if offer.valid_until is not None and now > offer.valid_until:
        return Reason(
            f"the offer lapsed at {offer.valid_until.isoformat()}; a late acceptance counts "
            "only if the offeror confirms it (accept_late)",
            f"发盘已于 {offer.valid_until.isoformat()} 失效；逾期接受须经发盘人确认才有效"
            "（accept_late）",
        )
    return None


def _lapsed(context: B2BContext, _: object, now: datetime) -> Reason | None:
    offer = _standing(context)
    if offer.valid_until is None or now <= offer.valid_until:
        return Reason(
            "the offer is still valid; accept it in time instead",
            "发盘仍然有效，请在有效期内接受",
        )
    return None


def _still_valid(_: object, payload: Offer, now: datetime) -> Reason | None:
    if payload.valid_until is not None and payload.valid_until <= now:
        return Reason(
            f"the offer's validity {payload.valid_until.isoformat()} has already passed",
            f"发盘的有效期 {payload.valid_until.isoformat()} 已经过去",
        )
    return None


def _counter_by_offeree(context: B2BContext, payload: Offer) -> Reason | None:
    return _offeree_acts(context, payload)


def _terms_match(context: B2BContext, payload: ContractTerms) -> Reason | None:
    agreed = context.agreed
    assert agreed is not None
    if (payload.goods, payload.quantity, payload.price) != (
        agreed.goods,
        agreed.quantity,
        agreed.price,
    ):
        return Reason(
            f"the contract must fix the agreed terms: {agreed.quantity} {agreed.goods} at "
            f"{agreed.price}",
            f"合同必须载明成交的条件：{agreed.quantity} {agreed.goods}，单价 {agreed.price}",
        )
    return None


def _delivery_after_conclusion(context: B2BContext, payload: ContractTerms) -> Reason | None:
    assert context.concluded_at is not None
    concluded = context.concluded_at.date()
    if payload.delivery_date < concluded:
        return Reason(
            f"the delivery date {payload.delivery_date.isoformat()} is before the contract was "
            f"concluded on {concluded.isoformat()}",
            f"交货日期 {payload.delivery_date.isoformat()} 早于订约日期 {concluded.isoformat()}",
        )
    return None


def _not_yet_signed(context: B2BContext, payload: ByParty) -> Reason | None:
    if payload.by in context.signed:
        return Reason(
            f"the {payload.by.value} has already signed", f"{_PARTY_ZH[payload.by]}已经签署"
        )
    return None


def _prepaid(context: B2BContext, _: object) -> Reason | None:
    assert context.terms is not None
    if context.terms.payment_terms is PaymentTerms.PREPAYMENT and context.payment is None:
        return Reason(
            "the contract requires prepayment before the goods are handed to the carrier",
            "合同要求在货物交给承运人之前预付货款",
        )
    return None


def _payment_due(context: B2BContext, _: object) -> Reason | None:
    assert context.terms is not None
    terms = context.terms.payment_terms
    if terms is PaymentTerms.AGAINST_DOCUMENTS and context.handover is None:
        return Reason(
            "payment is against documents: the goods are not yet with the carrier",
            "凭单付款：货物尚未交给承运人",
        )
    if terms is PaymentTerms.ON_DELIVERY and context.received_at is None:
        return Reason(
            "payment is on delivery: the buyer has not received the goods",
            "货到付款：买方尚未收到货物",
        )
    return None


def _pays_value(context: B2BContext, payload: Payment) -> Reason | None:
    if payload.amount != context.contract_value:
        return Reason(
            f"the payment {payload.amount} differs from the contract value "
            f"{context.contract_value}",
            f"付款金额 {payload.amount} 与合同金额 {context.contract_value} 不符",
        )
    return None


def _buyer_receives(context: B2BContext, payload: ByParty) -> Reason | None:
    if payload.by is Party.BUYER:
        return None
    return Reason(
        f"only the buyer ({context.buyer}) can record receipt of the goods",
        f"只有买方（{context.buyer}）可以登记收货",
    )


def _both_done(context: B2BContext, _: object) -> Reason | None:
    missing = []
    if context.received_at is None:
        missing.append(("the buyer has not received the goods", "买方尚未收到货物"))
    if context.bank_documents is None:
        missing.append(("the banks have not issued their documents", "银行尚未出具单据"))
    if not missing:
        return None
    return Reason("; ".join(en for en, _ in missing), "；".join(zh for _, zh in missing))


def _in_notice(context: B2BContext, _: object, now: datetime) -> Reason | None:
    if context.received_at is not None and now > context.received_at + NOTICE_PERIOD:
        ended = (context.received_at + NOTICE_PERIOD).isoformat()
        return Reason(
            f"the notice period ended two years after the goods were handed over ({ended}, "
            "CISG Art. 39)",
            f"索赔期已于交货后两年届满（{ended}，公约第 39 条）",
        )
    return None


_WHAT_ZH = {"claim": "索赔额", "payout": "赔付额"}


def _foreign(context: B2BContext, money: Money, what: str) -> Reason | None:
    """Why ``money`` cannot be compared with the contract: its currency differs, or None."""
    currency = context.contract_value.currency
    if money.currency != currency:
        return Reason(
            f"the {what} {money} is in {money.currency}, but the contract is in {currency}",
            f"{_WHAT_ZH[what]} {money} 以 {money.currency} 计，而合同以 {currency} 计",
        )
    return None


def _claim_within_value(context: B2BContext, payload: Claim) -> Reason | None:
    foreign = _foreign(context, payload.amount, "claim")
    if foreign is not None:
        return foreign
    if payload.amount > context.contract_value or payload.amount.amount <= 0:
        return Reason(
            f"a claim must be above zero and at most the contract value {context.contract_value}",
            f"索赔额必须大于零且不超过合同金额 {context.contract_value}",
        )
    return None


def _payout_within_claim(context: B2BContext, payload: Any) -> Reason | None:
    assert context.claim is not None
    payout = payload.payout
    if payout is None:
        return None
    foreign = _foreign(context, payout, "payout")
    if foreign is not None:
        return foreign
    if payout > context.claim.amount:
        return Reason(
            f"the payout {payout} exceeds the claim {context.claim.amount}",
            f"赔付额 {payout} 超过索赔额 {context.claim.amount}",
        )
    return None


def _claim_decided(context: B2BContext, _: object) -> Reason | None:
    if context.claim is None:
        return Reason(
            "no claim establishes a breach: file one and have it decided first",
            "没有索赔确认违约：请先提出索赔并等待处理结果",
        )
    if context.claim_payout is None and context.resolution is None:
        return Reason("the claim is not decided yet", "索赔尚未处理")
    return None


# 2. negotiation (CISG Art. 14-23)
OFFEROR_ACTS = Guard("offeror_acts", _offeror_acts, Label("by the offeror", "由发盘人"))
OFFEREE_ACTS = Guard("offeree_acts", _offeree_acts, Label("by the offeree", "由受盘人"))
NOT_FIRM = Guard("not_firm", _not_firm, Label("not a firm offer", "非实盘"), uses_payload=False)
MATCHES_OFFER = Guard("matches_offer", _matches_offer, Label("matches the offer", "与发盘一致"))
WITHIN_VALIDITY = Guard(
    "within_validity",
    _within_validity,
    Label("within validity", "在有效期内"),
    uses_payload=False,
    uses_clock=True,
)
LAPSED = Guard(
    "lapsed",
    _lapsed,
    Label("offer lapsed", "发盘已过期"),
    uses_payload=False,
    uses_clock=True,
)
STILL_VALID = Guard(
    "still_valid",
    _still_valid,
    Label("validity in the future", "有效期未过"),
    uses_clock=True,
)
COUNTER_BY_OFFEREE = Guard(
    "counter_by_offeree", _counter_by_offeree, Label("by the offeree", "由受盘人")
)

# 3. contract
TERMS_MATCH = Guard(
    "terms_match_agreement", _terms_match, Label("terms = agreement", "条款与成交一致")
)
DELIVERY_AFTER_CONCLUSION = Guard(
    "delivery_after_conclusion",
    _delivery_after_conclusion,
    Label("delivery not before the contract", "交货日期不早于订约"),
)
NOT_YET_SIGNED = Guard("not_yet_signed", _not_yet_signed, Label("not yet signed", "尚未签署"))

# 4. performance
PREPAID = Guard(
    "prepaid_if_required",
    _prepaid,
    Label("prepaid if required", "如需预付则已付款"),
    uses_payload=False,
)
PAYMENT_DUE = Guard(
    "payment_due",
    _payment_due,
    Label("payment due by the terms", "按合同付款条件"),
    uses_payload=False,
)
PAYS_VALUE = Guard(
    "pays_contract_value", _pays_value, Label("amount = contract value", "金额等于合同金额")
)
BUYER_RECEIVES = Guard("buyer_receives", _buyer_receives, Label("by the buyer", "由买方"))
BOTH_DONE = Guard(
    "both_sides_done",
    _both_done,
    Label("goods received and bank documents issued", "收货且银行单据已出具"),
    uses_payload=False,
)

# 4. claims and avoidance (CISG Art. 39, 49, 64, 81)
IN_NOTICE = Guard(
    "within_notice_period",
    _in_notice,
    Label("within the notice period", "在索赔期内"),
    uses_payload=False,
    uses_clock=True,
)
CLAIM_WITHIN_VALUE = Guard(
    "claim_within_value",
    _claim_within_value,
    Label("claim ≤ contract value", "索赔额不超过合同金额"),
)
PAYOUT_WITHIN_CLAIM = Guard(
    "payout_within_claim",
    _payout_within_claim,
    Label("payout ≤ claim", "赔付不超过索赔额"),
)
CLAIM_DECIDED = Guard(
    "claim_decided",
    _claim_decided,
    Label("a claim decided", "索赔已处理"),
    uses_payload=False,
)


# -- who acts (Transition.actor_check) ----------------------------------------------------


def _name(context: B2BContext, party: Party) -> str:
    """Return the name of ``party`` in this trade."""
    return context.buyer if party is Party.BUYER else context.seller


def _is(context: B2BContext, party: Party, actor: str) -> bool:
    """Whether ``actor`` names ``party``: by its name in this trade or by its role."""
    return actor in (_name(context, party), party.value)


def offeree_is_the_actor(context: B2BContext, payload: Any, actor: str) -> Reason | None:
    """Only the offeree accepts (CISG 18): the actor must be the offeree party.

    The actor may be named by the party's name (``context.buyer`` or ``context.seller``)
    or its role (``"buyer"``, ``"seller"``).
    """
    offeree = _standing(context).offeree
    if _is(context, offeree, actor):
        return None
    name = _name(context, offeree)
    return Reason(
        f"only the offeree ({offeree.value}, {name}) accepts, not {actor!r}",
        f"只有受盘人（{_PARTY_ZH[offeree]}，{name}）可以接受，{actor!r} 不可以",
    )


def the_party_acts(context: B2BContext, payload: Any, actor: str) -> Reason | None:
    """Refuse any actor but the party ``by`` names: each signs, receives and claims for itself.

    The actor may be named by the party's name or its role, as for
    :func:`offeree_is_the_actor`.
    """
    party: Party = payload.by
    if _is(context, party, actor):
        return None
    name = _name(context, party)
    return Reason(
        f"only the {party.value} ({name}) can do this, not {actor!r}",
        f"只有{_PARTY_ZH[party]}（{name}）可以这样做，{actor!r} 不可以",
    )


def the_buyer_pays(context: B2BContext, payload: Payment, actor: str) -> Reason | None:
    """Refuse any actor but the buyer, or the bank it pays through (named in the payload)."""
    if _is(context, Party.BUYER, actor) or actor == payload.bank:
        return None
    return Reason(
        f"only the buyer ({context.buyer}) or its bank ({payload.bank}) pays, not {actor!r}",
        f"只有买方（{context.buyer}）或其银行（{payload.bank}）可以付款，{actor!r} 不可以",
    )


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


def _shipping_documents(context: B2BContext, payload: Handover) -> dict[str, Any]:
    return {"bill_of_lading": payload.bill_of_lading, "to": context.buyer}


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


def _logged(step: str) -> Callable[[B2BContext, Step], B2BContext]:
    """Return the effect that logs the logistics ``step`` done in the context."""
    return lambda c, p: replace(c, logistics=(*c.logistics, step))


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


def _versions(tx: Transaction[Any], kind: EventType) -> list[int]:
    return [event.version for event in tx.events if event.name == kind.name]


_CONTRACT_PHASES = frozenset(
    {"contract", "performance", "performed", "claims", "closed", "avoided"}
)


def _concluded_exactly_once(tx: Transaction[Any]) -> None:
    """Check that the contract is concluded exactly once from the contract phase on."""
    concluded = len(_versions(tx, CONTRACT_CONCLUDED))
    expected = 1 if tx.state.partition(".")[0] in _CONTRACT_PHASES else 0
    _require(
        concluded == expected,
        f"{tx.id!r} in {tx.state!r}: the contract was concluded {concluded} times, not {expected}",
    )


def _receipt_only_after_shipment(tx: Transaction[Any]) -> None:
    """Check that the buyer receives the goods at most once, after they were shipped."""
    received, shipped = _versions(tx, GOODS_RECEIVED), _versions(tx, HANDED_TO_CARRIER)
    _require(len(received) <= 1, f"{tx.id!r}: the goods were received {len(received)} times")
    if received:
        _require(
            shipped and shipped[0] < received[0],
            f"{tx.id!r}: goods received at version {received[0]} before they were shipped",
        )
        event = next(e for e in tx.events if e.name == GOODS_RECEIVED.name)
        _require(event.data.get("by") == "buyer", f"{tx.id!r}: receipt recorded by {event.data}")


def _paid_once_as_the_terms_say(tx: Transaction[Any]) -> None:
    """Check that the buyer pays the contract value at most once, as the terms allow."""
    paid = [e for e in tx.events if e.name == PAYMENT_MADE.name]
    _require(len(paid) <= 1, f"{tx.id!r}: the contract value was paid {len(paid)} times")
    if not paid:
        _require(not _versions(tx, PAYMENT_RETURNED), f"{tx.id!r}: unpaid price returned")
        return
    drawn = next(e for e in tx.events if e.name == CONTRACT_DRAWN_UP.name)
    value = Money(drawn.data["price"]["amount"], drawn.data["price"]["currency"])
    value = value * int(drawn.data["quantity"])
    amount = paid[0].data["amount"]
    _require(
        Money(amount["amount"], amount["currency"]) == value,
        f"{tx.id!r}: paid {amount}, but the contract value is {value}",
    )
    terms = drawn.data["payment_terms"]
    before = {
        PaymentTerms.AGAINST_DOCUMENTS.value: HANDED_TO_CARRIER,
        PaymentTerms.ON_DELIVERY.value: GOODS_RECEIVED,
    }.get(terms)
    if before is not None:
        earlier = _versions(tx, before)
        _require(
            earlier and earlier[0] < paid[0].version,
            f"{tx.id!r}: paid at version {paid[0].version} before {before.name} ({terms})",
        )
    else:  # prepayment: before the goods leave
        shipped = _versions(tx, HANDED_TO_CARRIER)
        _require(
            not shipped or paid[0].version < shipped[0],
            f"{tx.id!r}: shipped at version {shipped[0] if shipped else None} before prepayment",
        )


def payouts_within_the_claim(tx: Transaction[Any]) -> None:
    """Check one claim per trade, paid at most what was claimed, in its currency."""
    claims = [e for e in tx.events if e.name == CLAIM_FILED.name]
    payouts = [e for e in tx.events if e.name == CLAIM_PAID.name]
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


def contract_concluded_at_most_once(tx: Transaction[Any]) -> None:
    """Check that a contract is concluded at most once (CISG Art. 23)."""
    count = len(_versions(tx, CONTRACT_CONCLUDED))
    _require(count <= 1, f"{tx.id!r}: the contract was concluded {count} times")


def counter_offer_ends_the_standing_offer(tx: Transaction[Any]) -> None:
    """Check that every counter-offer rejects the offer that stood, in the same transition.

    CISG Art. 19: a reply that changes the terms is a rejection of the offer and a
    counter-offer, so both events are recorded at the same version.
    """
    by_version: dict[int, list[str]] = {}
    for event in tx.events:
        by_version.setdefault(event.version, []).append(event.name)
    for version, names in by_version.items():
        if COUNTER_OFFER_MADE.name in names:
            _require(
                OFFER_REJECTED_BY_COUNTER_OFFER.name in names,
                f"{tx.id!r}: the counter-offer at version {version} left the offer standing",
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


# -- deadlines: when an offer lapses and the claim period ends (timed transitions) --------


def offer_expiry(context: B2BContext) -> datetime | None:
    """Return when the standing offer lapses: its validity's end (``None``: it does not).

    ``None`` too once that offer has lapsed, so the lapse is recorded once per offer.
    """
    offer = context.offer
    if offer is None or offer.valid_until is None or context.lapsed == offer:
        return None
    return offer.valid_until


def claim_period_end(context: B2BContext) -> datetime | None:
    """Return when the claim period ends: two years after the buyer received the goods."""
    return None if context.received_at is None else context.received_at + NOTICE_PERIOD
