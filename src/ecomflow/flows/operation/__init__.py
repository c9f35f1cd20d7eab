"""operation — 电子商务的运作流程: the five-step generic process of seed section 『叁』.

The flow is laid out in :mod:`.definition` (the seed's text, then the graph: states,
transitions and the events each records), :mod:`.terms` (payloads, context and the flow's
own events) and :mod:`.rules` (guards, event data, books and the flow's own rules); its
sample run is in :mod:`.sample`. This module re-exports their public names.
"""

from __future__ import annotations

from .definition import DEFINITION, FLOW, Operation
from .rules import (
    AMOUNT_MATCHES,
    CUSTOMER_IS_NOT_MERCHANT,
    INVARIANTS,
    books,
    cancelled_only_before_payment,
    goods_reach_the_customer_only_after_payment,
    paid_at_most_once_for_the_total,
    refunded_never_more_than_paid,
    summary,
)
from .terms import (
    ELECTRONIC_SETTLEMENT_SUBMITTED,
    GOODS_DELIVERED,
    GOODS_SHOWN,
    ORDER_CONFIRMED,
    PAYMENT_FAILED,
    PAYMENT_INSTRUCTIONS_SENT,
    PAYMENT_REFUNDED,
    SUPPLY_ORGANISATION_REQUESTED,
    Cancellation,
    Channel,
    Confirmation,
    Delivery,
    ElectronicSettlement,
    Failure,
    OperationContext,
    Order,
    Refund,
    ShowGoods,
    Success,
)

__all__ = [
    "AMOUNT_MATCHES",
    "CUSTOMER_IS_NOT_MERCHANT",
    "DEFINITION",
    "ELECTRONIC_SETTLEMENT_SUBMITTED",
    "FLOW",
    "GOODS_DELIVERED",
    "GOODS_SHOWN",
    "INVARIANTS",
    "ORDER_CONFIRMED",
    "PAYMENT_FAILED",
    "PAYMENT_INSTRUCTIONS_SENT",
    "PAYMENT_REFUNDED",
    "SUPPLY_ORGANISATION_REQUESTED",
    "Cancellation",
    "Channel",
    "Confirmation",
    "Delivery",
    "ElectronicSettlement",
    "Failure",
    "Operation",
    "OperationContext",
    "Order",
    "Refund",
    "ShowGoods",
    "Success",
    "books",
    "cancelled_only_before_payment",
    "goods_reach_the_customer_only_after_payment",
    "paid_at_most_once_for_the_total",
    "refunded_never_more_than_paid",
    "summary",
]
