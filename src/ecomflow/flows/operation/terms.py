"""operation terms: the notice channels, the payloads, the context and the flow's own events.

The vocabulary of :mod:`ecomflow.flows.operation.definition`: what each of the five steps of
电子商务的运作流程 (『叁』) carries (one payload per trigger), what an order gathers (its
context), and the events the operation flow alone records (the ones several flows share,
such as ``order_placed`` or ``payment_transferred``, are declared in
:mod:`ecomflow.vocabulary`). The events live here, below the rules, so that the event data
and the flow's own invariants can refer to the declarations without an import circle.
"""

from __future__ import annotations

import enum
import functools
from typing import final

import attrs

from ..._definition import EventType, Label
from ..._events import Stream
from ..._money import Money
from ...fields import choice, money, optional_text, positive_int, text

__all__ = [
    "ELECTRONIC_SETTLEMENT_SUBMITTED",
    "GOODS_DELIVERED",
    "GOODS_SHOWN",
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
    "OperationContext",
    "Order",
    "Refund",
    "ShowGoods",
    "Success",
]


class Channel(enum.Enum):
    """How the financial institution notifies buyer and seller (step 4)."""

    EMAIL = "email"
    SMS = "sms"
    LETTER = "letter"
    ONLINE_BANKING = "online_banking"


# -- the payloads, one per trigger ---------------------------------------------------------


@final
@attrs.frozen
class ShowGoods:
    """Step 1: the merchant shows its goods online."""

    merchant: str = text(max_length=200)
    catalog: str | None = optional_text(max_length=2000)


@final
@attrs.frozen
class Order:
    """Step 1: the customer selects goods and fills the order."""

    customer: str = text(max_length=200)
    address: str = text(max_length=500)
    goods_name: str = text(max_length=200)
    quantity: int = positive_int()
    unit_price: Money = money()

    @functools.cached_property
    def total(self) -> Money:
        """Quantity times unit price."""
        return self.unit_price * self.quantity


@final
@attrs.frozen
class Confirmation:
    """Step 2: the merchant confirms the customer and says how to pay."""

    payment_instructions: str = text(max_length=1000)
    supply_note: str | None = optional_text(max_length=1000)


@final
@attrs.frozen
class ElectronicSettlement:
    """Step 3: the customer settles ``amount`` electronically with ``institution``."""

    institution: str = text(max_length=200)
    amount: Money = money()
    reference: str = text(max_length=200)


@final
@attrs.frozen
class Success:
    """Step 4: the institution reports success to both sides."""

    channel: Channel = choice(Channel)
    confirmation_ref: str = text(max_length=200)


@final
@attrs.frozen
class Failure:
    """Step 4: the institution reports failure to both sides."""

    channel: Channel = choice(Channel)
    reason: str = text(max_length=500)


@final
@attrs.frozen
class Delivery:
    """Step 5: the merchant organises the goods and delivers them."""

    carrier: str | None = optional_text(max_length=200)
    received_by: str | None = optional_text(max_length=200)


@final
@attrs.frozen
class Cancellation:
    """Cancel before payment succeeded."""

    reason: str = text(max_length=500)


@final
@attrs.frozen
class Refund:
    """After payment, the merchant cannot supply the goods and refunds, for ``reason``."""

    reason: str = text(max_length=500)
    reference: str = text(max_length=200)


# -- the context ---------------------------------------------------------------------------


@final
@attrs.frozen(slots=False)  # dict-based: fields.replace copies it in two C calls per step
class OperationContext:
    """What the five steps have gathered so far."""

    merchant: str
    catalog: str | None = None
    order: Order | None = None
    confirmation: Confirmation | None = None
    settlements: tuple[ElectronicSettlement, ...] = ()
    failures: tuple[Failure, ...] = ()
    success: Success | None = None
    delivery: Delivery | None = None
    cancellation: Cancellation | None = None
    refund: Refund | None = None

    @property
    def total(self) -> Money | None:
        """The order total, once ordered."""
        return None if self.order is None else self.order.total


# -- the events the operation flow alone records -------------------------------------------

# information 信息流
GOODS_SHOWN = EventType(
    "goods_shown", Stream.INFORMATION, Label("Goods shown online", "商品信息通过网络展示给客户")
)
PAYMENT_INSTRUCTIONS_SENT = EventType(
    "payment_instructions_sent",
    Stream.INFORMATION,
    Label("Customer told how to pay", "告之收费方法"),
)
# commerce 商流
ORDER_CONFIRMED = EventType(
    "order_confirmed",
    Stream.COMMERCE,
    Label("Customer confirmed by the order", "厂方通过订单确认客户"),
)
# money 资金流
ELECTRONIC_SETTLEMENT_SUBMITTED = EventType(
    "electronic_settlement_submitted",
    Stream.MONEY,
    Label("Electronic settlement submitted", "客户通过电子结算与金融部门交互"),
)
PAYMENT_FAILED = EventType("payment_failed", Stream.MONEY, Label("Payment failed", "交易失败"))
PAYMENT_REFUNDED = EventType(
    "payment_refunded", Stream.MONEY, Label("Payment refunded", "退还货款")
)
# logistics 物流
SUPPLY_ORGANISATION_REQUESTED = EventType(
    "supply_organisation_requested",
    Stream.LOGISTICS,
    Label("Application system told to organise supply", "通知应用系统组织货源"),
)
GOODS_DELIVERED = EventType(
    "goods_delivered",
    Stream.LOGISTICS,
    Label("Goods delivered to the customer", "货物送达到客户手中"),
)
