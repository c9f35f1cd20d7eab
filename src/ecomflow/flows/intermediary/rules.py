"""The rules of the intermediary trade (『壹』『贰』): guards, event data, books and invariants.

Guards are :class:`~ecomflow.Guard` constants; the event data builders say what each
event records; :func:`books` says where every account must stand in each state, and
:data:`INVARIANTS` are the trade's own rules, which ``flow_rules_hold`` checks after every
step. :func:`matched_within_posted` holds an :class:`Exchange` to its order book.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..._definition import FlowInvariant, Guard, Label, Reason
from ..._events import Event
from ..._flow import Transaction
from ..._money import Money
from ...vocabulary import DELIVERED, OWNERSHIP_TRANSFERRED, PAYMENT_TRANSFERRED
from .terms import (
    FEE_RECORDED,
    IN_TRANSIT,
    RELEASED_FROM_WAREHOUSE,
    SELLER_PAID,
    TRADE_DEFAULTED,
    IntermediaryContext,
    Payment,
    Release,
    Signature,
)

__all__ = [
    "DESIGNATED_BANK",
    "GOODS_MOVE",
    "INVARIANTS",
    "NOT_YET_SIGNED",
    "PAYMENT_OVERDUE",
    "PAYS_CONTRACT_VALUE",
    "books",
    "default_only_while_unpaid",
    "exchange_is_not_a_party",
    "goods_only_after_payment",
    "paid_exactly_the_contract_value",
    "paid_out_within_what_was_paid",
    "settled_at_most_once",
    "summary",
]

# -- guards -------------------------------------------------------------------------------


_PARTY_ZH = {"buyer": "买方", "seller": "卖方"}


def _not_yet_signed(context: IntermediaryContext, payload: Signature) -> Reason | None:
    if payload.party in context.signed_by:
        party = payload.party.value
        return Reason(f"the {party} has already signed", f"{_PARTY_ZH.get(party, party)}已经签署")
    return None


def _designated_bank(context: IntermediaryContext, payload: Payment) -> Reason | None:
    banks = context.match.designated_banks
    if payload.bank not in banks:
        return Reason(
            f"{payload.bank!r} is not a bank the exchange designates ({', '.join(banks)})",
            f"{payload.bank!r} 不是交易所指定的银行（{'、'.join(banks)}）",
        )
    return None


def _pays_contract_value(context: IntermediaryContext, payload: Payment) -> Reason | None:
    if payload.amount != context.match.value:
        return Reason(
            f"the payment {payload.amount} differs from the contract value {context.match.value}",
            f"付款金额 {payload.amount} 与合同金额 {context.match.value} 不符",
        )
    return None


def _payment_overdue(context: IntermediaryContext, _: object, now: datetime) -> Reason | None:
    pay_by = context.match.pay_by
    if pay_by is not None and now <= pay_by:
        return Reason(
            f"the buyer has until {pay_by.isoformat()} to pay",
            f"买方的付款期限到 {pay_by.isoformat()} 为止",
        )
    return None


NOT_YET_SIGNED = Guard("not_yet_signed", _not_yet_signed, Label("not yet signed", "尚未签署"))
DESIGNATED_BANK = Guard("designated_bank", _designated_bank, Label("designated bank", "指定银行"))
PAYMENT_OVERDUE = Guard(
    "payment_overdue",
    _payment_overdue,
    Label("the payment term has passed", "付款期限已过"),
    uses_payload=False,
    uses_clock=True,
)
PAYS_CONTRACT_VALUE = Guard(
    "pays_contract_value",
    _pays_contract_value,
    Label("amount = contract value", "金额等于合同金额"),
)

# -- event data ---------------------------------------------------------------------------


def notify_parties(context: IntermediaryContext, _: object) -> dict[str, Any]:
    """``parties_notified``: both parties hear of the match, its goods, quantity and value."""
    match = context.match
    return {
        "to": [match.buyer, match.seller],
        "goods": match.goods,
        "quantity": match.quantity,
        "price": match.price.to_json(),
        "value": match.value.to_json(),
    }


def concluded(context: IntermediaryContext, _: object) -> dict[str, Any]:
    """``contract_concluded``: the parties, goods, quantity and value of the contract."""
    match = context.match
    return {
        "buyer": match.buyer,
        "seller": match.seller,
        "goods": match.goods,
        "quantity": match.quantity,
        "value": match.value.to_json(),
    }


def payment_data(context: IntermediaryContext, payload: Payment) -> dict[str, Any]:
    """``payment_transferred``: from the buyer to the exchange, through the bank."""
    return {"from": context.match.buyer, "to": context.match.exchange, "via": payload.bank}


def seller_told(context: IntermediaryContext, _: object) -> dict[str, Any]:
    """``seller_notified``: the seller hears that the buyer paid."""
    return {"to": context.match.seller, "about": "payment received; the goods will be collected"}


def in_transit(context: IntermediaryContext, payload: Release) -> dict[str, Any]:
    """``in_transit``: the goods on their way to the buyer."""
    return {
        "goods": context.match.goods,
        "quantity": context.match.quantity,
        "to": context.match.buyer,
        "carrier": payload.carrier,
    }


def ownership(context: IntermediaryContext, _: object) -> dict[str, Any]:
    """``ownership_transferred``: the goods pass from the seller to the buyer."""
    match = context.match
    return {
        "goods": match.goods,
        "quantity": match.quantity,
        "from": match.seller,
        "to": match.buyer,
    }


def fee(context: IntermediaryContext, _: object) -> dict[str, Any]:
    """``fee_recorded``: the exchange keeps its fee."""
    return {
        "amount": context.match.fee.to_json(),
        "to": context.match.exchange,
        "rate": str(context.match.fee_rate),
    }


def payout(context: IntermediaryContext, _: object) -> dict[str, Any]:
    """``seller_paid``: the exchange pays the seller the value less its fee."""
    match = context.match
    return {
        "amount": (match.value - match.fee).to_json(),
        "from": match.exchange,
        "to": match.seller,
    }


def defaulted(context: IntermediaryContext, _: object) -> dict[str, Any]:
    """``trade_defaulted``: the buyer defaulted; the seller's goods are released."""
    match = context.match
    return {
        "defaulting_party": match.buyer,
        "goods": match.goods,
        "quantity": match.quantity,
        "released_to": match.seller,
    }


def default_notice(context: IntermediaryContext, _: object) -> dict[str, Any]:
    """``parties_notified_of_default``: both parties hear that the contract is ended."""
    return {
        "to": [context.match.buyer, context.match.seller],
        "about": "the buyer did not pay; the contract is ended and the goods are released",
    }


# -- books and the flow's own rules ---------------------------------------------------------

_PAID = frozenset({"paid", "in_transit", "delivered"})
GOODS_MOVE = frozenset(
    {RELEASED_FROM_WAREHOUSE.name, IN_TRANSIT.name, DELIVERED.name, OWNERSHIP_TRANSFERRED.name}
)
"""The events that move the goods to the buyer or make it their owner."""


def books(context: IntermediaryContext, state: str) -> Mapping[str, Money]:
    """Where each account must stand in ``state`` (accounts not named at zero).

    Written from the business rule, not from the events: until the buyer pays nothing has
    moved (also after a decline or a default); once it has paid through the designated bank,
    the exchange holds the contract value; once it has settled, the seller has the value
    less the exchange's fee and the exchange keeps exactly its fee. The bank only carries
    the transfer: it is never an account.
    """
    match = context.match
    if state in _PAID:
        return {match.buyer: -match.value, match.exchange: match.value}
    if state == "settled":
        return {
            match.buyer: -match.value,
            match.seller: match.value - match.fee,
            match.exchange: match.fee,
        }
    return {}


def _fail(message: str) -> None:
    raise AssertionError(message)


def _money(event: Event) -> Money:
    amount = event.data["amount"]
    return Money(amount["amount"], amount["currency"])


def exchange_is_not_a_party(tx: Transaction[IntermediaryContext]) -> None:
    """Rule: the exchange is never the buyer or the seller of its own trade."""
    match = tx.context.match
    for role, party in (("buyer", match.buyer), ("seller", match.seller)):
        if party == match.exchange:
            _fail(f"{tx.id!r}: the exchange {match.exchange!r} is the {role} of its own trade")


def goods_only_after_payment(tx: Transaction[IntermediaryContext]) -> None:
    """Rule: the goods leave the warehouse, travel and change owner only after the buyer paid."""
    paid = min((e.version for e in tx.events if PAYMENT_TRANSFERRED.matches(e)), default=None)
    for event in tx.events:
        if event.name in GOODS_MOVE and (paid is None or event.version < paid):
            _fail(f"{tx.id!r}: {event.name} at version {event.version} before the buyer paid")


def paid_exactly_the_contract_value(tx: Transaction[IntermediaryContext]) -> None:
    """Rule: the buyer pays once, exactly the contract value, through a designated bank."""
    match = tx.context.match
    payments = [e for e in tx.events if PAYMENT_TRANSFERRED.matches(e)]
    if len(payments) > 1:
        _fail(f"{tx.id!r} was paid {len(payments)} times")
    for event in payments:
        if _money(event) != match.value:
            _fail(
                f"{tx.id!r} was paid {_money(event)} at version {event.version}; the contract "
                f"value is {match.value}"
            )
        if event.data.get("via") not in match.designated_banks:
            _fail(f"{tx.id!r} was paid through {event.data.get('via')!r}, not a designated bank")


def settled_at_most_once(tx: Transaction[IntermediaryContext]) -> None:
    """Rule: the seller is paid once, after delivery, and payout plus fee is what was paid."""
    names = [e.name for e in tx.events]
    payouts = [e for e in tx.events if SELLER_PAID.matches(e)]
    fees = [e for e in tx.events if FEE_RECORDED.matches(e)]
    if len(payouts) > 1 or len(fees) > 1:
        _fail(f"{tx.id!r} paid the seller {len(payouts)} times and its fee {len(fees)} times")
    if payouts and DELIVERED.name not in names[: names.index(SELLER_PAID.name)]:
        _fail(f"{tx.id!r} paid the seller before the goods were delivered")
    if payouts:
        match = tx.context.match
        out = _money(payouts[0]) + (_money(fees[0]) if fees else Money.zero(match.value.currency))
        if out != match.value:
            _fail(f"{tx.id!r} paid out {out} for a contract value of {match.value}")


def default_only_while_unpaid(tx: Transaction[IntermediaryContext]) -> None:
    """Rule: only a buyer that has not paid is declared in default, and then nothing moves."""
    names = {e.name for e in tx.events}
    if TRADE_DEFAULTED.name in names and names & {PAYMENT_TRANSFERRED.name, SELLER_PAID.name}:
        _fail(f"{tx.id!r} declared the buyer in default after it paid")


def paid_out_within_what_was_paid(tx: Transaction[IntermediaryContext]) -> None:
    """Rule: the exchange's fee and the seller's payout never exceed what the buyer paid."""

    def amount(event: Event) -> Decimal:
        return Decimal(event.data["amount"]["amount"])

    events = list(tx.events)
    paid = sum((amount(e) for e in events if PAYMENT_TRANSFERRED.matches(e)), Decimal(0))
    out = sum(
        (amount(e) for e in events if FEE_RECORDED.matches(e) or SELLER_PAID.matches(e)),
        Decimal(0),
    )
    if out > paid:
        _fail(f"{tx.id!r}: paid out {out} of the {paid} received")


INVARIANTS: tuple[FlowInvariant, ...] = (
    exchange_is_not_a_party,
    goods_only_after_payment,
    paid_exactly_the_contract_value,
    settled_at_most_once,
    default_only_while_unpaid,
    paid_out_within_what_was_paid,
)
"""The intermediary trade's own rules, declared beside the flow and checked by the kit."""


def summary(context: IntermediaryContext, state: str) -> dict[str, Any]:
    """Return the current-state table's fields: exchange, parties, goods, amount and currency."""
    match = context.match
    amount = match.price * match.quantity
    return {
        "exchange": match.exchange,
        "buyer": match.buyer,
        "seller": match.seller,
        "goods": match.goods,
        "amount": str(amount.amount),
        "currency": amount.currency,
    }


# -- the exchange ---------------------------------------------------------------------------
