"""returns — 退货: a buyer sends goods back and is refunded (after-sales, 售后, seed 『陆』).

The seed's after-sales desk (『陆』 五、售后)::

    客户资料 → 客户反映问题 → 问题原因-切实解决(耐心热情)→ 客户回访记录 → 客户统计记录

A return is the most common problem a customer reports, solved in five steps:

1. the buyer asks to return goods of an order, and why (申请退货) → ``requested``;
2. the merchant approves and gives a return address and number (同意退货) → ``approved``,
   or rejects the request (拒绝退货) → ``rejected``;
3. the buyer ships the goods back (寄回商品) → ``shipped_back``;
4. the merchant receives all of them (确认收货) → ``received``: they are the merchant's again;
5. the merchant refunds at most what the buyer paid (退款) → ``refunded``.

This page holds the graph: the states, the start, the transitions with the events each
records, then the typed transaction. The payloads, the context and the event declarations
are in :mod:`.terms`; the guards, event data, books and the flow's own rules in :mod:`.rules`.
"""

from __future__ import annotations

from typing import final

import attrs

from ecomflow import (
    Flow,
    FlowDefinition,
    Label,
    Money,
    Reason,
    State,
    Transaction,
    Transition,
    trigger,
)

from .rules import (
    INVARIANTS,
    QUANTITY_AS_REQUESTED,
    REFUND_WITHIN_PAID,
    books,
    notice,
    ownership_data,
    refund_data,
    summary,
)
from .terms import (
    CUSTOMER_NOTIFIED,
    MERCHANT_NOTIFIED,
    OWNERSHIP_RETURNED,
    REFUND_PAID,
    RETURN_APPROVED,
    RETURN_RECEIVED,
    RETURN_REJECTED,
    RETURN_REQUESTED,
    RETURN_SHIPPED,
    Approval,
    Receipt,
    Refund,
    Rejection,
    ReturnCase,
    ReturnRequest,
    Shipment,
)

__all__ = ["DEFINITION", "FLOW", "Return"]

DEFINITION = FlowDefinition(
    name="returns",
    title=Label("Returns", "退货"),
    source="『陆』 售后",
    context_type=ReturnCase,
    states=[
        State("requested", Label("return requested", "已申请退货")),
        State("approved", Label("return approved", "商家已同意")),
        State("rejected", Label("return rejected", "商家已拒绝"), terminal=True),
        State("shipped_back", Label("goods on their way back", "退货运输中")),
        State("received", Label("goods back with the merchant", "商家已收货")),
        State("refunded", Label("refunded", "已退款"), terminal=True),
    ],
    start=Transition(
        "request",
        (),
        "requested",
        Label("request a return", "申请退货"),
        step="1",
        payload=ReturnRequest,
        effect=lambda _, request: ReturnCase(request),
        emits=[
            RETURN_REQUESTED.emit(),
            MERCHANT_NOTIFIED.emit(notice("merchant", "return requested")),
        ],
    ),
    transitions=[
        Transition(
            "approve",
            "requested",
            "approved",
            Label("approve the return", "同意退货"),
            step="2",
            payload=Approval,
            effect=lambda case, approval: attrs.evolve(case, approval=approval),
            emits=[
                RETURN_APPROVED.emit(),
                CUSTOMER_NOTIFIED.emit(notice("buyer", "return approved")),
            ],
        ),
        Transition(
            "reject",
            "requested",
            "rejected",
            Label("reject the return", "拒绝退货"),
            step="2",
            payload=Rejection,
            effect=lambda case, rejection: attrs.evolve(case, rejection=rejection),
            emits=[
                RETURN_REJECTED.emit(),
                CUSTOMER_NOTIFIED.emit(notice("buyer", "return rejected")),
            ],
        ),
        Transition(
            "ship_back",
            "approved",
            "shipped_back",
            Label("ship the goods back", "寄回商品"),
            step="3",
            payload=Shipment,
            effect=lambda case, shipment: attrs.evolve(case, shipment=shipment),
            emits=[RETURN_SHIPPED.emit()],
        ),
        Transition(
            "receive",
            "shipped_back",
            "received",
            Label("receive the goods", "确认收货"),
            step="4",
            payload=Receipt,
            guards=[QUANTITY_AS_REQUESTED],
            effect=lambda case, receipt: attrs.evolve(case, receipt=receipt),
            emits=[RETURN_RECEIVED.emit(), OWNERSHIP_RETURNED.emit(ownership_data)],
        ),
        Transition(
            "refund",
            "received",
            "refunded",
            Label("refund the buyer", "退款"),
            step="5",
            payload=Refund,
            guards=[REFUND_WITHIN_PAID],
            effect=lambda case, refund: attrs.evolve(case, refund=refund),
            emits=[
                REFUND_PAID.emit(refund_data),
                CUSTOMER_NOTIFIED.emit(notice("buyer", "refund paid")),
            ],
        ),
    ],
    refusals={
        "ship_back": {"requested": Reason("the return is not approved yet", "退货尚未获批")},
        "refund": dict.fromkeys(
            ("requested", "approved", "shipped_back"),
            Reason("the goods are not back yet", "货物尚未退回"),
        ),
    },
    books=books,
    invariants=INVARIANTS,
    summary=summary,
)


@final
class Return(Transaction[ReturnCase]):
    """A return, with one typed method per trigger (keywords only)."""

    __slots__ = ()

    @trigger
    def approve(self, *, return_address: str, rma: str) -> None:
        """Step 2: agree, and say where to send the goods under which return number."""

    @trigger
    def reject(self, *, reason: str) -> None:
        """Step 2: refuse the return, for ``reason``."""

    @trigger
    def ship_back(self, *, carrier: str, tracking_ref: str) -> None:
        """Step 3: the buyer hands the goods to a carrier."""

    @trigger
    def receive(self, *, quantity: int, received_by: str | None = None) -> None:
        """Step 4: the merchant has ``quantity`` pieces back."""

    @trigger
    def refund(self, *, amount: Money, reference: str) -> None:
        """Step 5: pay ``amount`` back to the buyer (at most what was paid)."""


FLOW: Flow[Return] = Flow(DEFINITION, Return)
"""The returns flow."""
