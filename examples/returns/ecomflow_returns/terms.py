"""The returns flow's terms: what each step is given, what a return gathers, what it records."""

from __future__ import annotations

import enum
from typing import final

import attrs

from ecomflow import EventType, InvalidPayload, Label, Money, Stream
from ecomflow.fields import choice, money, optional_text, positive_int, text

__all__ = [
    "CUSTOMER_NOTIFIED",
    "MERCHANT_NOTIFIED",
    "OWNERSHIP_RETURNED",
    "REFUND_PAID",
    "RETURN_APPROVED",
    "RETURN_RECEIVED",
    "RETURN_REJECTED",
    "RETURN_REQUESTED",
    "RETURN_SHIPPED",
    "Approval",
    "Reason",
    "Receipt",
    "Refund",
    "Rejection",
    "ReturnCase",
    "ReturnRequest",
    "Shipment",
]


class Reason(enum.Enum):
    """Why the buyer sends the goods back."""

    DEFECTIVE = "defective"  # 质量问题
    WRONG_ITEM = "wrong_item"  # 发错货
    NOT_AS_DESCRIBED = "not_as_described"  # 与描述不符
    NO_REASON = "no_reason"  # 七天无理由退货


# -- the events a return records, one declaration each, in the four streams ---------------

RETURN_REQUESTED = EventType(
    "return_requested", Stream.COMMERCE, Label("Return requested", "买家申请退货")
)
RETURN_APPROVED = EventType(
    "return_approved", Stream.COMMERCE, Label("Return approved", "商家同意退货")
)
RETURN_REJECTED = EventType(
    "return_rejected", Stream.COMMERCE, Label("Return rejected", "商家拒绝退货")
)
OWNERSHIP_RETURNED = EventType(
    "ownership_returned",
    Stream.COMMERCE,
    Label("Goods owned by the merchant again", "所有权退回商家"),
)
MERCHANT_NOTIFIED = EventType(
    "merchant_notified", Stream.INFORMATION, Label("Merchant notified", "通知商家")
)
CUSTOMER_NOTIFIED = EventType(
    "customer_notified", Stream.INFORMATION, Label("Customer notified", "通知买家")
)
RETURN_SHIPPED = EventType(
    "return_shipped", Stream.LOGISTICS, Label("Goods shipped back", "买家寄回商品")
)
RETURN_RECEIVED = EventType(
    "return_received", Stream.LOGISTICS, Label("Returned goods received", "商家收到退货")
)
REFUND_PAID = EventType("refund_paid", Stream.MONEY, Label("Refund paid", "退款到账"))


# -- payloads: one per trigger; their fields are the trigger's keyword arguments ----------


@final
@attrs.frozen
class ReturnRequest:
    """Step 1 (the start): the buyer asks to send back goods of an order, and why."""

    order_ref: str = text(max_length=100)
    buyer: str = text(max_length=200)
    merchant: str = text(max_length=200)
    goods_name: str = text(max_length=200)
    quantity: int = positive_int()
    paid: Money = money()
    reason: Reason = choice(Reason)
    note: str | None = optional_text(max_length=500)

    def __attrs_post_init__(self) -> None:
        # A check across fields: the refund would move money from the merchant to itself.
        if self.buyer == self.merchant:
            raise InvalidPayload(f"the buyer {self.buyer!r} is the merchant itself")


@final
@attrs.frozen
class Approval:
    """Step 2: the merchant agrees, and says where to send the goods under which number."""

    return_address: str = text(max_length=500)
    rma: str = text(max_length=100)


@final
@attrs.frozen
class Rejection:
    """Step 2, refused: the merchant will not take the goods back, for ``reason``."""

    reason: str = text(max_length=500)


@final
@attrs.frozen
class Shipment:
    """Step 3: the buyer hands the goods to a carrier."""

    carrier: str = text(max_length=200)
    tracking_ref: str = text(max_length=200)


@final
@attrs.frozen
class Receipt:
    """Step 4: the merchant receives ``quantity`` pieces back and checks them."""

    quantity: int = positive_int()
    received_by: str | None = optional_text(max_length=200)


@final
@attrs.frozen
class Refund:
    """Step 5: the merchant pays ``amount`` back to the buyer under ``reference``."""

    amount: Money = money()
    reference: str = text(max_length=200)


# -- the context: what a return has gathered ----------------------------------------------


@final
@attrs.frozen
class ReturnCase:
    """A return so far: the request, then each step's payload once it happened."""

    request: ReturnRequest
    approval: Approval | None = None
    rejection: Rejection | None = None
    shipment: Shipment | None = None
    receipt: Receipt | None = None
    refund: Refund | None = None
