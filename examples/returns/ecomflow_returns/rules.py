"""The returns flow's rules: guards, the data its events carry, its books and its own invariants."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ecomflow import Guard, Label, Money, Reason, Transaction

from .terms import REFUND_PAID, RETURN_RECEIVED, Receipt, Refund, ReturnCase

__all__ = [
    "INVARIANTS",
    "QUANTITY_AS_REQUESTED",
    "REFUND_WITHIN_PAID",
    "books",
    "refund_only_for_goods_back",
    "refunded_at_most_once_within_what_was_paid",
    "summary",
]

# -- guards: each returns None to allow, or a one-line reason to refuse, in English and
# Chinese (a Reason; interpolate the values into both texts) ------------------------------


def _quantity_as_requested(case: ReturnCase, receipt: Receipt) -> Reason | None:
    expected = case.request.quantity
    if receipt.quantity != expected:
        return Reason(
            f"{receipt.quantity} received, but {expected} were to come back",
            f"收到 {receipt.quantity} 件，但应退回 {expected} 件",
        )
    return None


def _refund_within_paid(case: ReturnCase, refund: Refund) -> Reason | None:
    paid = case.request.paid
    if refund.amount.currency != paid.currency:
        return Reason(
            f"the refund is in {refund.amount.currency}, the buyer paid in {paid.currency}",
            f"退款以 {refund.amount.currency} 计，而买方以 {paid.currency} 付款",
        )
    if refund.amount > paid:
        return Reason(
            f"the refund {refund.amount} is more than the buyer paid, {paid}",
            f"退款 {refund.amount} 超过买方实付的 {paid}",
        )
    return None


QUANTITY_AS_REQUESTED = Guard(
    "quantity_as_requested",
    _quantity_as_requested,
    Label("all the goods are back", "退回数量与申请一致"),
)
REFUND_WITHIN_PAID = Guard(
    "refund_within_paid", _refund_within_paid, Label("refund ≤ paid", "退款不超过实付金额")
)

# -- event data: what the later events of a transition carry ------------------------------
# (a transition's first event records its payload by itself)


def notice(to: str, about: str) -> Any:
    """Return the data builder of a notice to the ``buyer`` or ``merchant`` ``about`` a step."""

    def data(case: ReturnCase, _: object) -> dict[str, Any]:
        request = case.request
        return {"to": getattr(request, to), "about": about, "order_ref": request.order_ref}

    return data


def ownership_data(case: ReturnCase, _: object) -> dict[str, Any]:
    """Return the data of the goods passing back from the buyer to the merchant."""
    request = case.request
    return {
        "goods_name": request.goods_name,
        "quantity": request.quantity,
        "from": request.buyer,
        "to": request.merchant,
    }


def refund_data(case: ReturnCase, _: object) -> dict[str, Any]:
    """Return who pays whom: the merchant the buyer (the ledger posts ``from`` → ``to``)."""
    return {"from": case.request.merchant, "to": case.request.buyer}


# -- the books, the summary and the flow's own rules --------------------------------------


def books(case: ReturnCase, state: str) -> Mapping[str, Money]:
    """Return what each account's balance must be in ``state``: a refund, merchant → buyer."""
    if state != "refunded" or case.refund is None:
        return {}
    amount = case.refund.amount
    return {case.request.buyer: amount, case.request.merchant: -amount}


def summary(case: ReturnCase, state: str) -> dict[str, Any]:
    """Return the fields a shop lists returns by (money as strings, nothing rounded)."""
    request = case.request
    return {
        "order_ref": request.order_ref,
        "buyer": request.buyer,
        "merchant": request.merchant,
        "paid": str(request.paid.amount),
        "refunded": None if case.refund is None else str(case.refund.amount.amount),
        "currency": request.paid.currency,
    }


def _require(condition: object, message: str) -> None:
    if not condition:  # not assert: these checks hold under python -O too
        raise AssertionError(message)


def refunded_at_most_once_within_what_was_paid(tx: Transaction[Any]) -> None:
    """Check: at most one refund, exactly one when refunded, never more than was paid."""
    refunds = [event for event in tx.events if REFUND_PAID.matches(event)]
    _require(len(refunds) <= 1, f"{tx.id!r}: refunded {len(refunds)} times")
    _require(
        (tx.state == "refunded") == bool(refunds),
        f"{tx.id!r}: {len(refunds)} refunds in state {tx.state!r}",
    )
    paid = tx.context.request.paid
    for event in refunds:
        amount = Decimal(event.data["amount"]["amount"])
        _require(amount <= paid.amount, f"{tx.id!r}: refunded {amount}, paid {paid}")


def refund_only_for_goods_back(tx: Transaction[Any]) -> None:
    """Check: no refund before the merchant has the goods back."""
    received = False
    for event in tx.events:
        received = received or RETURN_RECEIVED.matches(event)
        if REFUND_PAID.matches(event):
            _require(
                received,
                f"{tx.id!r}: refunded at version {event.version} before the goods came back",
            )


INVARIANTS = (refunded_at_most_once_within_what_was_paid, refund_only_for_goods_back)
"""The returns flow's own rules; :mod:`ecomflow.testing` checks them after every step."""
