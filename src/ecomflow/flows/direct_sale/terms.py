"""direct-sale terms: the payment methods, the parties' accounts, the payloads, the context.

The vocabulary of :mod:`ecomflow.flows.direct_sale.definition`: what each of the six steps
of 网络商品直销 (『壹』『贰』) carries (one payload per trigger), what a sale gathers (its
context), and the events the flow alone records (the ones several flows share are declared
in :mod:`ecomflow.vocabulary`). The events live here, below the rules, so that the guards,
the event data and the flow's own invariants can refer to the declarations.
"""

from __future__ import annotations

import enum
import re
from typing import Any, final

import attrs

from ..._definition import EventType, Label
from ..._errors import InvalidPayload
from ..._events import Stream
from ..._money import Money
from ...fields import choice, money, optional_money, optional_text, positive_int, text

__all__ = [
    "CARD_COMPANY",
    "CARD_COMPANY_PAID",
    "CASH_COLLECTED",
    "CONSUMERS_BANK",
    "CONSUMER_CHARGED",
    "COURIER",
    "DELIVERY_REFUSED",
    "E_MONEY_ISSUER",
    "INTERMEDIARIES",
    "MERCHANT_NOTIFIED",
    "MERCHANT_PAGES_VIEWED",
    "ORDER_EXPIRED",
    "PAYMENT_AUTHORIZED",
    "PAYMENT_DECLINED",
    "PAYMENT_METHOD_CHOSEN",
    "PAYMENT_SETTLED",
    "RETURNED_TO_MERCHANT",
    "STATEMENT_ISSUED",
    "Authorization",
    "Browse",
    "Cancellation",
    "Decline",
    "Delivery",
    "DirectSaleContext",
    "Dispatch",
    "OrderForm",
    "ParcelRefusal",
    "PaymentChoice",
    "PaymentMethod",
    "ReturnToMerchant",
    "Settlement",
]


class PaymentMethod(enum.Enum):
    """The payment methods of step 3 (and cash on delivery from 『柒』)."""

    CREDIT_CARD = "credit_card"
    ELECTRONIC_MONEY = "electronic_money"
    ELECTRONIC_CHEQUE = "electronic_cheque"
    DEBIT_CARD = "debit_card"
    CASH_ON_DELIVERY = "cash_on_delivery"

    @property
    def label(self) -> Label:
        """The method's English and Chinese name."""
        return _METHOD_LABELS[self]

    @property
    def biller(self) -> str:
        """Who bills the consumer at settlement (step 6)."""
        return _BILLERS[self]


_CASH_ON_DELIVERY = PaymentMethod.CASH_ON_DELIVERY  # read by a guard on every step


_METHOD_LABELS = {
    PaymentMethod.CREDIT_CARD: Label("credit card", "信用卡"),
    PaymentMethod.ELECTRONIC_MONEY: Label("electronic money", "电子货币"),
    PaymentMethod.ELECTRONIC_CHEQUE: Label("electronic cheque", "电子支票"),
    PaymentMethod.DEBIT_CARD: Label("debit card", "借记卡"),
    PaymentMethod.CASH_ON_DELIVERY: Label("cash on delivery", "货到付款"),
}
COURIER = "courier"
CARD_COMPANY = "card company"
CONSUMERS_BANK = "consumer's bank"
E_MONEY_ISSUER = "electronic money issuer"
INTERMEDIARIES = (COURIER, CARD_COMPANY, CONSUMERS_BANK, E_MONEY_ISSUER)
"""The intermediaries' ledger accounts: each passes the money on and ends every sale at zero.

The consumer's and the merchant's accounts are their names; these role names are reserved,
so a merchant or customer called ``"courier"`` is refused rather than share its account.
"""

_BILLERS = {
    PaymentMethod.CREDIT_CARD: CARD_COMPANY,
    PaymentMethod.ELECTRONIC_MONEY: E_MONEY_ISSUER,
    PaymentMethod.ELECTRONIC_CHEQUE: CONSUMERS_BANK,
    PaymentMethod.DEBIT_CARD: CONSUMERS_BANK,
    PaymentMethod.CASH_ON_DELIVERY: "merchant",
}
# Who the money passes through, from the consumer to the merchant, per method.
_ROUTES = {
    PaymentMethod.CREDIT_CARD: (CONSUMERS_BANK, CARD_COMPANY),
    PaymentMethod.ELECTRONIC_MONEY: (E_MONEY_ISSUER,),
    PaymentMethod.ELECTRONIC_CHEQUE: (CONSUMERS_BANK,),
    PaymentMethod.DEBIT_CARD: (CONSUMERS_BANK,),
    PaymentMethod.CASH_ON_DELIVERY: (COURIER,),
}

_LAST4 = re.compile(r"\d{4}\Z")


def _last4(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not _LAST4.match(value)):
        raise InvalidPayload(
            f"{field.name} must be exactly four digits (got {value!r})",
            zh=f"{field.name} 必须恰好是四位数字（收到 {value!r}）",
        )


# -- payloads (one per trigger) -----------------------------------------------------------


@final
@attrs.frozen
class Browse:
    """Step 1: the consumer opens the merchant's pages."""

    merchant: str = text(max_length=200)
    page: str | None = optional_text(max_length=2000)


_set = object.__setattr__  # past the frozen class's own __setattr__


class _Total:
    """Where an :class:`OrderForm` keeps its total: a slot, not a field (so not recorded).

    Worked out once, when the form is made; a ``functools.cached_property`` would have
    attrs write a ``__getattr__``, which sends every attribute read of the form down
    the interpreter's slow path.
    """

    __slots__ = ("total",)
    total: Money


@final
@attrs.frozen
class OrderForm(_Total):
    """Step 2: the shopping form (姓名、地址、商品名称、数量、规格、价格).

    ``total`` is the quantity times the unit price.
    """

    customer_name: str = text(max_length=200)
    address: str = text(max_length=500)
    goods_name: str = text(max_length=200)
    quantity: int = positive_int()
    specification: str = text(max_length=500)
    unit_price: Money = money()

    def __attrs_post_init__(self) -> None:
        _set(self, "total", self.unit_price * self.quantity)

    def __getstate__(self) -> dict[str, Any]:
        """Return the fields, for pickle and copy (the total is worked out again)."""
        return {field.name: getattr(self, field.name) for field in attrs.fields(OrderForm)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore the fields from :meth:`__getstate__`, and work the total out again."""
        for name, value in state.items():
            _set(self, name, value)
        self.__attrs_post_init__()


@final
@attrs.frozen
class PaymentChoice:
    """Step 3: the payment method; a card is named by token or last four digits only."""

    method: PaymentMethod = choice(PaymentMethod)
    card_last4: str | None = attrs.field(default=None, validator=_last4)
    token: str | None = optional_text(max_length=200)


@final
@attrs.frozen
class Authorization:
    """Step 4, approved: the payer's server approved ``amount`` under ``reference``."""

    amount: Money = money()
    reference: str = text(max_length=200)


@final
@attrs.frozen
class Decline:
    """Step 4, declined: the payer's server refused, for ``reason``."""

    reason: str = text(max_length=500)


@final
@attrs.frozen
class Dispatch:
    """Step 5: the sales department is told to deliver to the door."""

    carrier: str | None = optional_text(max_length=200)
    tracking_ref: str | None = optional_text(max_length=200)


@final
@attrs.frozen
class Delivery:
    """Step 5, done: the goods reached the door; cash on delivery collects ``collected``."""

    received_by: str | None = optional_text(max_length=200)
    collected: Money | None = optional_money()


@final
@attrs.frozen
class Settlement:
    """Step 6: the consumer's bank pays, and the consumer is billed on ``statement_ref``."""

    statement_ref: str = text(max_length=200)


@final
@attrs.frozen
class Cancellation:
    """Cancel before dispatch, for ``reason``."""

    reason: str = text(max_length=500)


@final
@attrs.frozen
class ParcelRefusal:
    """The parcel is refused at the door (拒收), for ``reason``, by ``refused_by``."""

    reason: str = text(max_length=500)
    refused_by: str | None = optional_text(max_length=200)


@final
@attrs.frozen
class ReturnToMerchant:
    """The refused parcel is back with the merchant, received by ``received_by``."""

    received_by: str | None = optional_text(max_length=200)
    note: str | None = optional_text(max_length=500)


# -- context ------------------------------------------------------------------------------


@final
@attrs.frozen(slots=False)  # dict-based: fields.replace copies it in two C calls per step
class DirectSaleContext:
    """What a direct sale has gathered: each step's payload, once it happened."""

    merchant: str
    page: str | None = None
    order: OrderForm | None = None
    payment: PaymentChoice | None = None
    authorization: Authorization | None = None
    declines: tuple[Decline, ...] = ()
    dispatch: Dispatch | None = None
    delivery: Delivery | None = None
    settlement: Settlement | None = None
    cancellation: Cancellation | None = None
    refusal: ParcelRefusal | None = None
    parcel_return: ReturnToMerchant | None = None

    @property
    def total(self) -> Money | None:
        """The order total, once the form is filled."""
        return None if self.order is None else self.order.total

    @property
    def cash_on_delivery(self) -> bool:
        """Whether the chosen method is cash on delivery."""
        return self.payment is not None and self.payment.method is _CASH_ON_DELIVERY


# -- the events the direct sale alone records ---------------------------------------------

# information 信息流
MERCHANT_PAGES_VIEWED = EventType(
    "merchant_pages_viewed", Stream.INFORMATION, Label("Merchant's pages viewed", "查看商家网页")
)
PAYMENT_METHOD_CHOSEN = EventType(
    "payment_method_chosen", Stream.INFORMATION, Label("Payment method chosen", "选择支付方式")
)
MERCHANT_NOTIFIED = EventType(
    "merchant_notified", Stream.INFORMATION, Label("Merchant notified", "通知商家")
)
STATEMENT_ISSUED = EventType(
    "statement_issued", Stream.INFORMATION, Label("Statement issued", "开出收费单")
)
# money 资金流
PAYMENT_AUTHORIZED = EventType(
    "payment_authorized", Stream.MONEY, Label("Remittance approved", "汇款额被认可")
)
PAYMENT_DECLINED = EventType(
    "payment_declined", Stream.MONEY, Label("Remittance declined", "汇款额未被认可")
)
CASH_COLLECTED = EventType(
    "cash_collected", Stream.MONEY, Label("Cash collected at the door", "货到收款")
)
PAYMENT_SETTLED = EventType(
    "payment_settled", Stream.MONEY, Label("Payment settled with the merchant", "向商家结算货款")
)
CARD_COMPANY_PAID = EventType(
    "card_company_paid",
    Stream.MONEY,
    Label("Bank passed the payment to the card company", "开户银行将支付款项传递到信用卡公司"),
)
CONSUMER_CHARGED = EventType(
    "consumer_charged", Stream.MONEY, Label("Consumer's account charged", "消费者账户扣款")
)
# logistics 物流
DELIVERY_REFUSED = EventType(
    "delivery_refused", Stream.LOGISTICS, Label("Parcel refused at the door", "拒收")
)
ORDER_EXPIRED = EventType(
    "order_expired", Stream.COMMERCE, Label("Unpaid order closed", "超时未付款，订单关闭")
)
RETURNED_TO_MERCHANT = EventType(
    "returned_to_merchant", Stream.LOGISTICS, Label("Returned to the merchant", "退回商家")
)
