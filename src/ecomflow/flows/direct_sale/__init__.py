"""direct-sale — 网络商品直销: the six-step B2C direct sale of seed sections 『壹』『贰』.

1. the consumer browses the merchant's pages (查看企业和商家的网页) → ``browsing``;
2. fills the shopping form: name, address, goods, quantity, specification, price →
   ``order_filled``;
3. chooses a payment method: credit card, electronic money, electronic cheque, debit card
   (信用卡、电子货币、电子支票、借记卡), or cash on delivery (货到付款, 『柒』) →
   ``payment_method_chosen``;
4. the merchant's customer server checks with the payer's server whether the remittance is
   approved → ``payment_authorized``, or ``payment_declined`` (choose again, or cancel);
5. once payment is confirmed, the sales department is told to deliver to the door →
   ``shipping`` → ``delivered`` (cash on delivery ships unpaid and collects at the door);
6. the consumer's bank passes the payment to the card company, which bills the consumer →
   ``settled``.

Cancelling is possible until dispatch, voiding any authorization. A parcel refused at the
door (拒收) goes back to the merchant: ``shipping`` → ``returning`` → ``returned``, and the
authorization is voided once the goods are back.

The books (:func:`books`): the consumer (the name on the order form) pays the total, the
merchant receives it, and every intermediary — the courier, the card company, the
consumer's bank, the electronic money issuer (:data:`INTERMEDIARIES`) — passes it on and
ends at zero. A party named like an intermediary is refused. This module holds
definitions only: payloads, the context, guards, the flow and its typed transaction.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, final

import attrs

from ..._definition import Emit, FlowDefinition, FlowInvariant, Guard, Label, State, Transition
from ..._errors import InvalidPayload
from ..._events import Event, Stream
from ..._flow import Flow, Transaction
from ..._money import Money
from ...fields import choice, money, optional_money, optional_text, positive_int, replace, text

__all__ = [
    "FLOW",
    "INTERMEDIARIES",
    "INVARIANTS",
    "Authorization",
    "Browse",
    "Cancellation",
    "Decline",
    "Delivery",
    "DirectSale",
    "DirectSaleContext",
    "Dispatch",
    "OrderForm",
    "ParcelRefusal",
    "PaymentChoice",
    "PaymentMethod",
    "ReturnToMerchant",
    "Settlement",
    "books",
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
        raise InvalidPayload(f"{field.name} must be exactly four digits (got {value!r})")


# -- payloads (one per trigger) -----------------------------------------------------------


@final
@attrs.frozen(slots=False)
class Browse:
    """Step 1: the consumer opens the merchant's pages."""

    merchant: str = text(max_length=200)
    page: str | None = optional_text(max_length=2000)


@final
@attrs.frozen(slots=False)
class OrderForm:
    """Step 2: the shopping form (姓名、地址、商品名称、数量、规格、价格)."""

    customer_name: str = text(max_length=200)
    address: str = text(max_length=500)
    goods_name: str = text(max_length=200)
    quantity: int = positive_int()
    specification: str = text(max_length=500)
    unit_price: Money = money()

    @functools.cached_property
    def total(self) -> Money:
        """Quantity times unit price."""
        return self.unit_price * self.quantity


@final
@attrs.frozen(slots=False)
class PaymentChoice:
    """Step 3: the payment method; a card is named by token or last four digits only."""

    method: PaymentMethod = choice(PaymentMethod)
    card_last4: str | None = attrs.field(default=None, validator=_last4)
    token: str | None = optional_text(max_length=200)


@final
@attrs.frozen(slots=False)
class Authorization:
    """Step 4, approved: the payer's server approved ``amount`` under ``reference``."""

    amount: Money = money()
    reference: str = text(max_length=200)


@final
@attrs.frozen(slots=False)
class Decline:
    """Step 4, declined: the payer's server refused, for ``reason``."""

    reason: str = text(max_length=500)


@final
@attrs.frozen(slots=False)
class Dispatch:
    """Step 5: the sales department is told to deliver to the door."""

    carrier: str | None = optional_text(max_length=200)
    tracking_ref: str | None = optional_text(max_length=200)


@final
@attrs.frozen(slots=False)
class Delivery:
    """Step 5, done: the goods reached the door; cash on delivery collects ``collected``."""

    received_by: str | None = optional_text(max_length=200)
    collected: Money | None = optional_money()


@final
@attrs.frozen(slots=False)
class Settlement:
    """Step 6: the consumer's bank pays, and the consumer is billed on ``statement_ref``."""

    statement_ref: str = text(max_length=200)


@final
@attrs.frozen(slots=False)
class Cancellation:
    """Cancel before dispatch, for ``reason``."""

    reason: str = text(max_length=500)


@final
@attrs.frozen(slots=False)
class ParcelRefusal:
    """The parcel is refused at the door (拒收), for ``reason``, by ``refused_by``."""

    reason: str = text(max_length=500)
    refused_by: str | None = optional_text(max_length=200)


@final
@attrs.frozen(slots=False)
class ReturnToMerchant:
    """The refused parcel is back with the merchant, received by ``received_by``."""

    received_by: str | None = optional_text(max_length=200)
    note: str | None = optional_text(max_length=500)


# -- context ------------------------------------------------------------------------------


@final
@attrs.frozen(slots=False)
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
        return self.payment is not None and self.payment.method is PaymentMethod.CASH_ON_DELIVERY


def _total(context: DirectSaleContext) -> Money:
    assert context.order is not None  # every caller runs after step 2
    return context.order.total


# -- guards -------------------------------------------------------------------------------


def _requires_cash_on_delivery(context: DirectSaleContext, _: object) -> str | None:
    if context.cash_on_delivery:
        return None
    return "payment not authorized yet; only cash on delivery ships unpaid"


def _rejects_cash_on_delivery(context: DirectSaleContext, _: object) -> str | None:
    if context.cash_on_delivery:
        return "cash on delivery needs no authorization; dispatch and collect at the door"
    return None


def _amount_matches_total(context: DirectSaleContext, payload: Authorization) -> str | None:
    total = _total(context)
    if payload.amount != total:
        return f"the approved amount {payload.amount} differs from the order total {total}"
    return None


def _collection_matches(context: DirectSaleContext, payload: Delivery) -> str | None:
    total = _total(context)
    if context.cash_on_delivery:
        if payload.collected != total:
            got = "nothing" if payload.collected is None else str(payload.collected)
            return f"cash on delivery must collect the order total {total}, not {got}"
    elif payload.collected is not None:
        return (
            "payment was already authorized; nothing is collected at the door "
            f"(got {payload.collected})"
        )
    return None


def _not_the_merchant(context: DirectSaleContext, payload: OrderForm) -> str | None:
    if payload.customer_name == context.merchant:
        return f"the customer {payload.customer_name!r} is the merchant itself"
    return None


def _plain(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


_RESERVED = frozenset(INTERMEDIARIES)
_RESERVED_NAMES = ", ".join(repr(role) for role in INTERMEDIARIES)


def _reserved(who: str, name: str) -> str | None:
    if _plain(name) in _RESERVED:
        return (
            f"the {who} {name!r} is named like an intermediary; the names {_RESERVED_NAMES} "
            "are reserved for the intermediaries' ledger accounts"
        )
    return None


def _merchant_not_reserved(_: None, payload: Browse) -> str | None:
    return _reserved("merchant", payload.merchant)


def _customer_not_reserved(_: DirectSaleContext, payload: OrderForm) -> str | None:
    return _reserved("customer", payload.customer_name)


CASH_ON_DELIVERY = Guard(
    "cash_on_delivery",
    _requires_cash_on_delivery,
    Label("cash on delivery", "货到付款"),
    uses_payload=False,
)
NOT_CASH_ON_DELIVERY = Guard(
    "not_cash_on_delivery",
    _rejects_cash_on_delivery,
    Label("not cash on delivery", "非货到付款"),
    uses_payload=False,
)
AMOUNT_MATCHES_TOTAL = Guard(
    "amount_matches_total", _amount_matches_total, Label("amount = total", "金额等于订单总额")
)
COLLECTION_MATCHES = Guard(
    "collection_matches", _collection_matches, Label("COD collects total", "货到付款收足总额")
)
CUSTOMER_IS_NOT_MERCHANT = Guard(
    "customer_is_not_merchant", _not_the_merchant, Label("customer ≠ merchant", "顾客不是商家本身")
)
MERCHANT_NOT_AN_INTERMEDIARY = Guard(
    "merchant_not_an_intermediary",
    _merchant_not_reserved,
    Label("merchant not named like an intermediary", "商家名称不与中介方账户重名"),
)
CUSTOMER_NOT_AN_INTERMEDIARY = Guard(
    "customer_not_an_intermediary",
    _customer_not_reserved,
    Label("customer not named like an intermediary", "顾客姓名不与中介方账户重名"),
)


# -- effects and event data ---------------------------------------------------------------


def _order_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    total = _total(context)
    assert context.order is not None
    return {
        "merchant": context.merchant,
        "goods_name": context.order.goods_name,
        "quantity": context.order.quantity,
        "total": total.to_json(),
    }


def _method_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    return {"total": _total(context).to_json()}


def _notice(to: str, about: str) -> Any:
    def data(context: DirectSaleContext, payload: Any) -> dict[str, Any]:
        return {"to": to, "about": about, "merchant": context.merchant}

    return data


def _dispatch_data(context: DirectSaleContext, payload: Dispatch) -> dict[str, Any]:
    assert context.order is not None
    return {
        "address": context.order.address,
        "goods_name": context.order.goods_name,
        "quantity": context.order.quantity,
        "carrier": payload.carrier,
        "tracking_ref": payload.tracking_ref,
        "cash_on_delivery": context.cash_on_delivery,
    }


def _ownership_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    assert context.order is not None
    return {
        "goods_name": context.order.goods_name,
        "quantity": context.order.quantity,
        "from": context.merchant,
        "to": context.order.customer_name,
    }


def _collected_data(context: DirectSaleContext, payload: Delivery) -> dict[str, Any]:
    # 『柒』: the courier collects the cash at the door and holds it until settlement.
    assert payload.collected is not None
    assert context.order is not None
    return {
        "amount": payload.collected.to_json(),
        "from": context.order.customer_name,
        "to": COURIER,
    }


def _route(context: DirectSaleContext) -> tuple[str, ...]:
    assert context.payment is not None
    return _ROUTES[context.payment.method]


def _settlement_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    # 『壹』(6), four-party settlement: the last intermediary (the card company, the
    # consumer's bank, the e-money issuer, or the courier with the cash) pays the merchant.
    assert context.payment is not None
    return {
        "amount": _total(context).to_json(),
        "method": context.payment.method.value,
        "from": _route(context)[-1],
        "to": context.merchant,
    }


def _card_company_paid_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    # 『壹』(6): the consumer's bank passes the payment to the card company.
    return {"amount": _total(context).to_json(), "from": CONSUMERS_BANK, "to": CARD_COMPANY}


def _consumer_charged_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    # The consumer's own account pays: at the bank (card, cheque) or the e-money issuer.
    assert context.order is not None
    return {
        "amount": _total(context).to_json(),
        "from": context.order.customer_name,
        "to": _route(context)[0],
    }


def _statement_data(context: DirectSaleContext, payload: Settlement) -> dict[str, Any]:
    assert context.payment is not None
    assert context.order is not None
    return {
        "issuer": context.payment.method.biller,
        "to": context.order.customer_name,
        "amount": _total(context).to_json(),
        "statement_ref": payload.statement_ref,
    }


def _returned_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    assert context.order is not None
    return {
        "merchant": context.merchant,
        "goods_name": context.order.goods_name,
        "quantity": context.order.quantity,
    }


def _order_ended_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    assert context.order is not None
    assert context.refusal is not None
    return {
        "reason": "delivery refused",
        "refusal": context.refusal.reason,
        "goods_name": context.order.goods_name,
        "quantity": context.order.quantity,
        "owner": context.merchant,
    }


def _void_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    assert context.authorization is not None
    return {
        "amount": context.authorization.amount.to_json(),
        "reference": context.authorization.reference,
    }


def _was_authorized(context: DirectSaleContext, _: object) -> bool:
    return context.authorization is not None


def _is_cod(context: DirectSaleContext, _: object) -> bool:
    return context.cash_on_delivery


def _is_prepaid(context: DirectSaleContext, _: object) -> bool:
    return not context.cash_on_delivery


def _is_credit_card(context: DirectSaleContext, _: object) -> bool:
    return context.payment is not None and context.payment.method is PaymentMethod.CREDIT_CARD


# -- the books and the flow's own rules ---------------------------------------------------
# Written from the business rule, not from the event data above, so that they catch a
# mistake there: whoever carries the money, the consumer ends paying the total and the
# merchant receiving it; before settlement only cash on delivery has moved money (the
# courier holds what it collected); a refused parcel moves none.


def books(context: DirectSaleContext, state: str) -> Mapping[str, Money]:
    """Return what each account's balance must be in ``state`` (accounts not named: zero)."""
    order = context.order
    if order is None:
        return {}
    total = order.total
    if state == "settled":
        return {order.customer_name: -total, context.merchant: total}
    if state == "delivered" and context.cash_on_delivery:
        return {order.customer_name: -total, COURIER: total}
    return {}


def _require(condition: object, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _method_at(events: list[Event], index: int) -> str | None:
    """Return the payment method chosen last before ``events[index]``, as recorded."""
    for event in reversed(events[:index]):
        if event.name == "payment_method_chosen":
            method = event.data.get("method")
            return None if method is None else str(method)
    return None


def goods_move_only_after_payment_is_secured(tx: Transaction[Any]) -> None:
    """Check: nothing dispatched, delivered or owned before an authorization, except COD."""
    events = list(tx.events)
    authorized = False
    for index, event in enumerate(events):
        if event.name == "payment_authorized":
            authorized = True
        elif event.name in ("dispatched", "delivered", "ownership_transferred"):
            method = _method_at(events, index)
            _require(
                authorized or method == PaymentMethod.CASH_ON_DELIVERY.value,
                f"{tx.id!r}: {event.name} at version {event.version} before the payment was "
                f"authorized (method {method!r})",
            )


def settled_once_for_the_order_total(tx: Transaction[Any]) -> None:
    """Check: at most one settlement, exactly one when settled, and for the order total."""
    settlements = [e for e in tx.events if e.name == "payment_settled"]
    _require(len(settlements) <= 1, f"{tx.id!r}: settled {len(settlements)} times")
    _require(
        (tx.state == "settled") == bool(settlements),
        f"{tx.id!r}: {len(settlements)} settlements in state {tx.state!r}",
    )
    total = tx.context.total
    for event in settlements:
        _require(
            total is not None and event.data.get("amount") == total.to_json(),
            f"{tx.id!r}: settled {event.data.get('amount')} for an order of {total}",
        )


def voids_match_an_authorization(tx: Transaction[Any]) -> None:
    """Check: a void releases exactly the one authorization given, once, never after settling."""
    authorizations: list[Event] = []
    voids = 0
    for event in tx.events:
        if event.name == "payment_authorized":
            authorizations.append(event)
        elif event.name == "payment_settled":
            _require(voids == 0, f"{tx.id!r}: settled after the authorization was voided")
        elif event.name == "authorization_voided":
            voids += 1
            _require(
                voids == 1 and authorizations,
                f"{tx.id!r}: void {voids} at version {event.version} after "
                f"{len(authorizations)} authorization(s)",
            )
            last = authorizations[-1].data
            _require(
                (event.data.get("amount"), event.data.get("reference"))
                == (last.get("amount"), last.get("reference")),
                f"{tx.id!r}: voided {event.data.get('amount')} under "
                f"{event.data.get('reference')!r}, authorized {last.get('amount')} under "
                f"{last.get('reference')!r}",
            )


def a_refused_parcel_stays_with_the_merchant(tx: Transaction[Any]) -> None:
    """Check: after 拒收 nothing is delivered, owned, collected or settled."""
    refused = False
    for event in tx.events:
        if event.name == "delivery_refused":
            refused = True
        elif refused:
            _require(
                event.name
                not in ("delivered", "ownership_transferred", "cash_collected", "payment_settled"),
                f"{tx.id!r}: {event.name} at version {event.version} after the parcel was refused",
            )


INVARIANTS: tuple[FlowInvariant, ...] = (
    goods_move_only_after_payment_is_secured,
    settled_once_for_the_order_total,
    voids_match_an_authorization,
    a_refused_parcel_stays_with_the_merchant,
)
"""The direct sale's own rules, each a function of a transaction raising AssertionError."""


# -- the definition -----------------------------------------------------------------------

_BEFORE_DISPATCH = (
    "order_filled",
    "payment_method_chosen",
    "payment_declined",
    "payment_authorized",
)
_REFUSED = ("returning", "returned")
_AFTER_DISPATCH = ("shipping", "delivered", "settled", *_REFUSED)


def summary(context: DirectSaleContext, state: str) -> dict[str, Any]:
    """Return the current-state table's fields: merchant, customer, total and currency (strings)."""
    total = context.total
    return {
        "merchant": context.merchant,
        "customer": None if context.order is None else context.order.customer_name,
        "total": None if total is None else str(total.amount),
        "currency": None if total is None else total.currency,
        "payment_method": None if context.payment is None else context.payment.method.value,
    }


DEFINITION = FlowDefinition(
    name="direct-sale",
    title=Label("Direct sale of goods online", "网络商品直销"),
    source="『壹』『贰』",
    context_type=DirectSaleContext,
    # No goods before payment, but cash on delivery (testing.no_shipping_before_payment).
    payment_secured_by={"payment_authorized"},
    goods_moved_by={"dispatched", "delivered", "ownership_transferred"},
    ships_before_payment=lambda context: context.cash_on_delivery,
    states=[
        State("browsing", Label("browsing the merchant's pages", "查看商家网页")),
        State("order_filled", Label("order form filled", "已填写购物信息")),
        State("payment_method_chosen", Label("payment method chosen", "已选择支付方式")),
        State("payment_declined", Label("payment declined", "付款未获认可")),
        State("payment_authorized", Label("payment authorized", "付款已认可")),
        State("shipping", Label("shipping to the door", "送货上门中")),
        State("delivered", Label("delivered", "已送达")),
        State("settled", Label("settled and billed", "已结算并开出收费单"), terminal=True),
        State("cancelled", Label("cancelled", "已取消"), terminal=True),
        State("returning", Label("refused, going back to the merchant", "已拒收，退回商家中")),
        State("returned", Label("returned to the merchant", "已退回商家"), terminal=True),
    ],
    start=Transition(
        "browse",
        (),
        "browsing",
        Label("browse", "浏览网页"),
        step="(1)",
        payload=Browse,
        guards=[MERCHANT_NOT_AN_INTERMEDIARY],
        effect=lambda _, p: DirectSaleContext(merchant=p.merchant, page=p.page),
        emits=[Emit(Stream.INFORMATION, "merchant_pages_viewed")],
    ),
    transitions=[
        Transition(
            "fill_order",
            "browsing",
            "order_filled",
            Label("fill order", "填写购物单"),
            step="(2)",
            payload=OrderForm,
            guards=[CUSTOMER_IS_NOT_MERCHANT, CUSTOMER_NOT_AN_INTERMEDIARY],
            effect=lambda c, p: replace(c, order=p),
            emits=[
                Emit(Stream.INFORMATION, "order_form_submitted"),
                Emit(Stream.COMMERCE, "order_placed", _order_data),
            ],
        ),
        Transition(
            "choose_payment",
            ("order_filled", "payment_declined"),
            "payment_method_chosen",
            Label("choose payment", "选择支付方式"),
            step="(3)",
            payload=PaymentChoice,
            effect=lambda c, p: replace(c, payment=p),
            emits=[Emit(Stream.INFORMATION, "payment_method_chosen", _method_data)],
        ),
        Transition(
            "approve_payment",
            "payment_method_chosen",
            "payment_authorized",
            Label("payer's server approves", "支付方服务器认可"),
            step="(4)",
            payload=Authorization,
            guards=[NOT_CASH_ON_DELIVERY, AMOUNT_MATCHES_TOTAL],
            effect=lambda c, p: replace(c, authorization=p),
            emits=[
                Emit(Stream.MONEY, "payment_authorized"),
                Emit(
                    Stream.INFORMATION,
                    "merchant_notified",
                    _notice("merchant", "payment authorized"),
                ),
            ],
        ),
        Transition(
            "decline_payment",
            "payment_method_chosen",
            "payment_declined",
            Label("payer's server declines", "支付方服务器拒绝"),
            step="(4)",
            payload=Decline,
            guards=[NOT_CASH_ON_DELIVERY],
            effect=lambda c, p: replace(c, declines=(*c.declines, p)),
            emits=[
                Emit(Stream.MONEY, "payment_declined"),
                Emit(Stream.INFORMATION, "buyer_notified", _notice("consumer", "payment declined")),
            ],
        ),
        Transition(
            "dispatch",
            "payment_authorized",
            "shipping",
            Label("tell sales to deliver", "通知销售部门送货"),
            step="(5)",
            payload=Dispatch,
            effect=lambda c, p: replace(c, dispatch=p),
            emits=[
                Emit(Stream.INFORMATION, "sales_department_notified"),
                Emit(Stream.LOGISTICS, "dispatched", _dispatch_data),
            ],
        ),
        Transition(
            "dispatch",
            "payment_method_chosen",
            "shipping",
            Label("tell sales to deliver", "通知销售部门送货"),
            step="(5) 『柒』",
            payload=Dispatch,
            guards=[CASH_ON_DELIVERY],
            effect=lambda c, p: replace(c, dispatch=p),
            emits=[
                Emit(Stream.INFORMATION, "sales_department_notified"),
                Emit(Stream.LOGISTICS, "dispatched", _dispatch_data),
            ],
        ),
        Transition(
            "deliver",
            "shipping",
            "delivered",
            Label("deliver to the door", "送货上门"),
            step="(5)",
            payload=Delivery,
            guards=[COLLECTION_MATCHES],
            effect=lambda c, p: replace(c, delivery=p),
            emits=[
                Emit(Stream.LOGISTICS, "delivered"),
                Emit(Stream.COMMERCE, "ownership_transferred", _ownership_data),
                Emit(Stream.MONEY, "cash_collected", _collected_data, when=_is_cod),
            ],
        ),
        Transition(
            "settle",
            "delivered",
            "settled",
            Label("settle and bill", "结算并开收费单"),
            step="(6)",
            payload=Settlement,
            effect=lambda c, p: replace(c, settlement=p),
            emits=[
                Emit(Stream.MONEY, "payment_settled", _settlement_data),
                Emit(
                    Stream.MONEY, "card_company_paid", _card_company_paid_data, when=_is_credit_card
                ),
                Emit(Stream.MONEY, "consumer_charged", _consumer_charged_data, when=_is_prepaid),
                Emit(Stream.INFORMATION, "statement_issued", _statement_data),
            ],
        ),
        Transition(
            "refuse_delivery",
            "shipping",
            "returning",
            Label("refuse the parcel at the door", "拒收"),
            step="(5) 拒收, 售后 『陆』",
            payload=ParcelRefusal,
            effect=lambda c, p: replace(c, refusal=p),
            emits=[
                Emit(Stream.LOGISTICS, "delivery_refused"),
                Emit(
                    Stream.INFORMATION,
                    "merchant_notified",
                    _notice("merchant", "delivery refused"),
                ),
            ],
        ),
        Transition(
            "return_to_merchant",
            "returning",
            "returned",
            Label("return the parcel to the merchant", "退回商家"),
            step="(5) 退回, 售后 『陆』",
            payload=ReturnToMerchant,
            effect=lambda c, p: replace(c, parcel_return=p),
            emits=[
                Emit(Stream.LOGISTICS, "returned_to_merchant", _returned_data),
                Emit(Stream.COMMERCE, "order_ended", _order_ended_data),
                Emit(Stream.MONEY, "authorization_voided", _void_data, when=_was_authorized),
            ],
        ),
        Transition(
            "cancel",
            _BEFORE_DISPATCH,
            "cancelled",
            Label("cancel", "取消订单"),
            step="before (5)",
            payload=Cancellation,
            effect=lambda c, p: replace(c, cancellation=p),
            emits=[
                Emit(Stream.COMMERCE, "order_cancelled"),
                Emit(Stream.MONEY, "authorization_voided", _void_data, when=_was_authorized),
            ],
        ),
    ],
    refusals={
        "dispatch": {
            "browsing": "payment not authorized yet",
            "order_filled": "payment not authorized yet",
            "payment_declined": "payment not authorized yet",
            **dict.fromkeys(_AFTER_DISPATCH, "the goods were already dispatched"),
            "cancelled": "the order was cancelled",
        },
        "deliver": dict.fromkeys(_REFUSED, "the parcel was refused at the door"),
        "settle": {
            **dict.fromkeys(
                ("browsing", *_BEFORE_DISPATCH, "shipping"), "the goods are not delivered yet"
            ),
            **dict.fromkeys(_REFUSED, "the parcel was refused at the door"),
        },
        "cancel": dict.fromkeys(_AFTER_DISPATCH, "the goods were already dispatched"),
        "refuse_delivery": {
            **dict.fromkeys(("browsing", *_BEFORE_DISPATCH), "the goods were not dispatched yet"),
            "delivered": "the goods were already delivered",
            "settled": "the goods were already delivered",
            "cancelled": "the order was cancelled",
            **dict.fromkeys(_REFUSED, "the parcel was already refused"),
        },
        "return_to_merchant": dict.fromkeys(
            ("browsing", *_BEFORE_DISPATCH, "shipping", "delivered", "settled", "cancelled"),
            "nothing was refused at the door",
        ),
    },
    books=books,
    invariants=INVARIANTS,
    summary=summary,
)


@final
class DirectSale(Transaction[DirectSaleContext]):
    """A direct-sale transaction with one typed method per trigger."""

    __slots__ = ()

    def fill_order(
        self,
        *,
        customer_name: str,
        address: str,
        goods_name: str,
        quantity: int,
        specification: str,
        unit_price: Money,
    ) -> tuple[Event, ...]:
        """Step 2: submit the shopping form."""
        return self.fire(
            "fill_order",
            customer_name=customer_name,
            address=address,
            goods_name=goods_name,
            quantity=quantity,
            specification=specification,
            unit_price=unit_price,
        )

    def choose_payment(
        self,
        method: PaymentMethod | str,
        *,
        card_last4: str | None = None,
        token: str | None = None,
    ) -> tuple[Event, ...]:
        """Step 3: choose how to pay (after a decline, choose again)."""
        return self.fire("choose_payment", method=method, card_last4=card_last4, token=token)

    def approve_payment(self, *, amount: Money, reference: str) -> tuple[Event, ...]:
        """Step 4: the payer's server approved ``amount``."""
        return self.fire("approve_payment", amount=amount, reference=reference)

    def decline_payment(self, *, reason: str) -> tuple[Event, ...]:
        """Step 4: the payer's server declined."""
        return self.fire("decline_payment", reason=reason)

    def dispatch(
        self, *, carrier: str | None = None, tracking_ref: str | None = None
    ) -> tuple[Event, ...]:
        """Step 5: tell the sales department to deliver to the door."""
        return self.fire("dispatch", carrier=carrier, tracking_ref=tracking_ref)

    def deliver(
        self, *, received_by: str | None = None, collected: Money | None = None
    ) -> tuple[Event, ...]:
        """Step 5: the goods reached the door (cash on delivery: ``collected`` is paid)."""
        return self.fire("deliver", received_by=received_by, collected=collected)

    def settle(self, *, statement_ref: str) -> tuple[Event, ...]:
        """Step 6: the bank pays and the consumer is billed."""
        return self.fire("settle", statement_ref=statement_ref)

    def cancel(self, *, reason: str) -> tuple[Event, ...]:
        """Cancel before dispatch; an authorization is voided."""
        return self.fire("cancel", reason=reason)

    def refuse_delivery(self, *, reason: str, refused_by: str | None = None) -> tuple[Event, ...]:
        """Record that the parcel was refused at the door (拒收); it goes back to the merchant."""
        return self.fire("refuse_delivery", reason=reason, refused_by=refused_by)

    def return_to_merchant(
        self, *, received_by: str | None = None, note: str | None = None
    ) -> tuple[Event, ...]:
        """Record that the refused parcel is back with the merchant; void any authorization."""
        return self.fire("return_to_merchant", received_by=received_by, note=note)


FLOW: Flow[DirectSale] = Flow(DEFINITION, DirectSale)
"""The direct-sale flow."""
