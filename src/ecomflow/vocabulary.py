"""The shared vocabulary: events that several flows record and the projections read.

An event that one flow alone records is declared by that flow (in its ``definition``);
one that several flows record under the same name and stream (ownership passing to the
buyer, a contract concluded, the buyer notified) is declared here once, so that every
flow records it the same way and the projections and invariants refer to the
declaration, never to a string.
"""

from __future__ import annotations

from ._definition import EventType, Label
from ._events import Stream

__all__ = [
    "AUTHORIZATION_VOIDED",
    "BUYER_NOTIFIED",
    "CLAIM_PAID",
    "CONTRACT_CONCLUDED",
    "CONTRACT_PERFORMED",
    "CONTRACT_SIGNED_BY",
    "DEAL_OPENED",
    "DELIVERED",
    "DISPATCHED",
    "ORDER_CANCELLED",
    "ORDER_ENDED",
    "ORDER_FORM_SUBMITTED",
    "ORDER_PLACED",
    "OWNERSHIP_TRANSFERRED",
    "PAYMENT_TRANSFERRED",
    "SALES_DEPARTMENT_NOTIFIED",
    "SELLER_NOTIFIED",
    "TRADE_MATCHED",
]

# -- commerce 商流 ------------------------------------------------------------------------
ORDER_PLACED = EventType("order_placed", Stream.COMMERCE, Label("Order placed", "订单成立"))
ORDER_CANCELLED = EventType(
    "order_cancelled", Stream.COMMERCE, Label("Order cancelled", "订单取消")
)
ORDER_ENDED = EventType("order_ended", Stream.COMMERCE, Label("Order ended", "订单终止"))
CONTRACT_CONCLUDED = EventType(
    "contract_concluded", Stream.COMMERCE, Label("Contract concluded", "合同成立")
)
CONTRACT_SIGNED_BY = EventType(
    "contract_signed_by", Stream.COMMERCE, Label("Contract signed by a party", "一方签署合同")
)
CONTRACT_PERFORMED = EventType(
    "contract_performed", Stream.COMMERCE, Label("Contract performed", "合同履行完毕")
)
OWNERSHIP_TRANSFERRED = EventType(
    "ownership_transferred", Stream.COMMERCE, Label("Ownership transferred", "所有权转移")
)
TRADE_MATCHED = EventType("trade_matched", Stream.COMMERCE, Label("Trade matched", "撮合成交"))

# -- information 信息流 ---------------------------------------------------------------------
ORDER_FORM_SUBMITTED = EventType(
    "order_form_submitted", Stream.INFORMATION, Label("Order form submitted", "订单已提交")
)
BUYER_NOTIFIED = EventType(
    "buyer_notified", Stream.INFORMATION, Label("Buyer notified", "通知买方")
)
SELLER_NOTIFIED = EventType(
    "seller_notified", Stream.INFORMATION, Label("Seller notified", "通知卖方")
)
SALES_DEPARTMENT_NOTIFIED = EventType(
    "sales_department_notified",
    Stream.INFORMATION,
    Label("Sales department notified", "通知销售部门"),
)

# -- money 资金流 ---------------------------------------------------------------------------
PAYMENT_TRANSFERRED = EventType(
    "payment_transferred", Stream.MONEY, Label("Payment transferred", "货款划转")
)
AUTHORIZATION_VOIDED = EventType(
    "authorization_voided", Stream.MONEY, Label("Authorization voided", "授权撤销")
)
CLAIM_PAID = EventType("claim_paid", Stream.MONEY, Label("Claim paid", "理赔支付"))

# -- logistics 物流 -------------------------------------------------------------------------
DISPATCHED = EventType("dispatched", Stream.LOGISTICS, Label("Dispatched", "发货"))
DELIVERED = EventType("delivered", Stream.LOGISTICS, Label("Delivered", "送达"))

DEAL_OPENED: tuple[EventType, ...] = (CONTRACT_CONCLUDED, TRADE_MATCHED, ORDER_PLACED)
"""The events that open a deal between a buyer and a seller (what a register counts)."""
