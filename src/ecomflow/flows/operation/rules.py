"""operation rules: the guards, the data each event records, the books and the flow's own rules.

What :mod:`ecomflow.flows.operation.definition` needs beside its graph. The guards are
:class:`~ecomflow.Guard` constants; the ``*_data`` functions build an event's data from the
new context and the payload; :func:`books` and :data:`INVARIANTS` say, from the business
rule and not from the event data, what must hold after every step; :func:`summary` gives
the current-state table's fields. Events are named by their declarations (in
:mod:`.terms` and :mod:`ecomflow.vocabulary`), never by a string.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..._definition import EventType, FlowInvariant, Guard, Label, Reason
from ..._flow import Transaction
from ..._money import Money
from ...vocabulary import ORDER_CANCELLED, OWNERSHIP_TRANSFERRED, PAYMENT_TRANSFERRED
from .terms import (
    GOODS_DELIVERED,
    PAYMENT_REFUNDED,
    Confirmation,
    Delivery,
    ElectronicSettlement,
    Failure,
    OperationContext,
    Order,
    Refund,
    Success,
)

__all__ = [
    "AMOUNT_MATCHES",
    "CUSTOMER_IS_NOT_MERCHANT",
    "INVARIANTS",
    "books",
    "cancelled_only_before_payment",
    "delivered_data",
    "ended_data",
    "failed_data",
    "goods_reach_the_customer_only_after_payment",
    "instructions_data",
    "notice_data",
    "order_data",
    "ownership_data",
    "paid_at_most_once_for_the_total",
    "paid_data",
    "refund_notice_data",
    "refunded_data",
    "refunded_never_more_than_paid",
    "summary",
    "supply_data",
]


def _order(context: OperationContext) -> Order:
    assert context.order is not None  # every caller runs after step 1
    return context.order


# -- guards --------------------------------------------------------------------------------


def _not_the_merchant(context: OperationContext, payload: Order) -> Reason | None:
    if payload.customer == context.merchant:
        return Reason(
            f"the customer {payload.customer!r} is the merchant itself",
            f"顾客 {payload.customer!r} 就是商家本身",
        )
    return None


CUSTOMER_IS_NOT_MERCHANT = Guard(
    "customer_is_not_merchant", _not_the_merchant, Label("customer ≠ merchant", "顾客不是商家本身")
)
"""Step 1: nobody orders from themselves."""


def _amount_matches(context: OperationContext, payload: ElectronicSettlement) -> Reason | None:
    total = _order(context).total
    if payload.amount != total:
        return Reason(
            f"the settled amount {payload.amount} differs from the order total {total}",
            f"结算金额 {payload.amount} 与订单总额 {total} 不符",
        )
    return None


AMOUNT_MATCHES = Guard(
    "amount_matches_total", _amount_matches, Label("amount = total", "金额等于订单总额")
)
"""Step 3: the customer settles exactly the order total."""


# -- the data each event records (from the new context and the payload) ---------------------


def order_data(context: OperationContext, _: object) -> dict[str, Any]:
    """``order_placed``: who orders what from whom, and the total."""
    order = _order(context)
    return {
        "merchant": context.merchant,
        "customer": order.customer,
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "total": order.total.to_json(),
    }


def instructions_data(context: OperationContext, payload: Confirmation) -> dict[str, Any]:
    """``payment_instructions_sent``: the customer is told how to pay, and how much."""
    return {
        "to": _order(context).customer,
        "payment_instructions": payload.payment_instructions,
        "total": _order(context).total.to_json(),
    }


def supply_data(context: OperationContext, payload: Confirmation) -> dict[str, Any]:
    """``supply_organisation_requested``: the merchant's own system is told to find the goods."""
    order = _order(context)
    return {
        "system": f"{context.merchant} application system",
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "note": payload.supply_note,
    }


def notice_data(
    result: str, to: str
) -> Callable[[OperationContext, Success | Failure], dict[str, Any]]:
    """Return the data builder of the institution's ``result`` notice to ``to`` (buyer/seller)."""

    def data(context: OperationContext, payload: Success | Failure) -> dict[str, Any]:
        party = _order(context).customer if to == "buyer" else context.merchant
        return {"to": party, "role": to, "result": result, "channel": payload.channel.value}

    return data


def paid_data(context: OperationContext, _: object) -> dict[str, Any]:
    """``payment_transferred``: the last settlement's amount, customer → merchant."""
    last = context.settlements[-1]
    return {
        "amount": last.amount.to_json(),
        "from": _order(context).customer,
        "to": context.merchant,
        "institution": last.institution,
    }


def failed_data(context: OperationContext, payload: Failure) -> dict[str, Any]:
    """``payment_failed``: the total that was not paid, and why."""
    return {"amount": _order(context).total.to_json(), "reason": payload.reason}


def delivered_data(context: OperationContext, payload: Delivery) -> dict[str, Any]:
    """``goods_delivered``: what reached which address, by which carrier."""
    order = _order(context)
    return {
        "address": order.address,
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "carrier": payload.carrier,
    }


def ownership_data(context: OperationContext, _: object) -> dict[str, Any]:
    """``ownership_transferred``: the goods pass from the merchant to the customer."""
    order = _order(context)
    return {
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "from": context.merchant,
        "to": order.customer,
    }


def refunded_data(context: OperationContext, _: object) -> dict[str, Any]:
    """``payment_refunded``: the last settlement's amount back, merchant → customer."""
    last = context.settlements[-1]
    return {
        "amount": last.amount.to_json(),
        "from": context.merchant,
        "to": _order(context).customer,
        "institution": last.institution,
    }


def ended_data(context: OperationContext, payload: Refund) -> dict[str, Any]:
    """``order_ended``: the order ends unsupplied; the goods stay with the merchant."""
    order = _order(context)
    return {
        "reason": payload.reason,
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "owner": context.merchant,
    }


def refund_notice_data(context: OperationContext, payload: Refund) -> dict[str, Any]:
    """``buyer_notified`` on a refund: the customer is told the money came back."""
    return {"to": _order(context).customer, "role": "buyer", "result": "refunded"}


# -- the books and the flow's own rules ---------------------------------------------------
# Written from the business rule, not from the event data above: once the institution
# reports success the customer has paid the order total and the merchant has it; before
# that, and after a refund, nobody owes anybody.


def books(context: OperationContext, state: str) -> Mapping[str, Money]:
    """Return what each account's balance must be in ``state`` (accounts not named: zero)."""
    order = context.order
    if order is None or state not in ("paid", "delivered"):
        return {}
    return {order.customer: -order.total, context.merchant: order.total}


def _require(condition: object, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _sum(tx: Transaction[Any], kind: EventType) -> Money | None:
    amounts = [e.data["amount"] for e in tx.events if e.name == kind.name]
    if not amounts:
        return None
    total = Money(amounts[0]["amount"], amounts[0]["currency"])
    for amount in amounts[1:]:
        total = total + Money(amount["amount"], amount["currency"])
    return total


_GOODS_MOVED = frozenset({GOODS_DELIVERED.name, OWNERSHIP_TRANSFERRED.name})


def goods_reach_the_customer_only_after_payment(tx: Transaction[Any]) -> None:
    """Check: nothing delivered or owned before the payment succeeded, nor after a refund."""
    paid = refunded = False
    for event in tx.events:
        if event.name == PAYMENT_TRANSFERRED.name:
            paid = True
        elif event.name == PAYMENT_REFUNDED.name:
            refunded = True
        elif event.name in _GOODS_MOVED:
            _require(
                paid and not refunded,
                f"{tx.id!r}: {event.name} at version {event.version} before a successful "
                "payment" + (" or after its refund" if refunded else ""),
            )


def paid_at_most_once_for_the_total(tx: Transaction[Any]) -> None:
    """Check: one successful payment at most, for the order total, and one once paid."""
    transfers = [e for e in tx.events if e.name == PAYMENT_TRANSFERRED.name]
    _require(len(transfers) <= 1, f"{tx.id!r}: paid {len(transfers)} times")
    after_payment = tx.state in ("paid", "delivered", "refunded")
    _require(
        after_payment == bool(transfers),
        f"{tx.id!r}: {len(transfers)} payments in state {tx.state!r}",
    )
    total = tx.context.total
    for event in transfers:
        _require(
            total is not None and event.data.get("amount") == total.to_json(),
            f"{tx.id!r}: paid {event.data.get('amount')} for an order of {total}",
        )


def refunded_never_more_than_paid(tx: Transaction[Any]) -> None:
    """Check: refunds add up to at most what was paid, and only a refunded order has one."""
    paid, refunded = _sum(tx, PAYMENT_TRANSFERRED), _sum(tx, PAYMENT_REFUNDED)
    if refunded is None:
        return
    _require(
        paid is not None and refunded.currency == paid.currency and refunded <= paid,
        f"{tx.id!r}: refunded {refunded} of the {paid} paid",
    )
    _require(tx.state == "refunded", f"{tx.id!r}: refunded in state {tx.state!r}")


def cancelled_only_before_payment(tx: Transaction[Any]) -> None:
    """Check: an order is cancelled only while nothing has been paid (a refund ends it after)."""
    paid = False
    for event in tx.events:
        if event.name == PAYMENT_TRANSFERRED.name:
            paid = True
        elif event.name == ORDER_CANCELLED.name:
            _require(
                not paid,
                f"{tx.id!r}: {event.name} at version {event.version} after the payment "
                "succeeded; a paid order is refunded",
            )


INVARIANTS: tuple[FlowInvariant, ...] = (
    goods_reach_the_customer_only_after_payment,
    paid_at_most_once_for_the_total,
    refunded_never_more_than_paid,
    cancelled_only_before_payment,
)
"""The operation flow's own rules, each a function of a transaction raising AssertionError."""


def summary(context: OperationContext, state: str) -> dict[str, Any]:
    """Return the current-state table's fields: merchant, customer, total and currency (strings)."""
    total = context.total
    return {
        "merchant": context.merchant,
        "customer": None if context.order is None else context.order.customer,
        "total": None if total is None else str(total.amount),
        "currency": None if total is None else total.currency,
    }
