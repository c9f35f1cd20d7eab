"""direct-sale rules: guards, event data, the books, the flow's own invariants, the summary.

Everything :mod:`ecomflow.flows.direct_sale.definition` needs beside its graph: the guards
(one style, :class:`~ecomflow.Guard` module constants with English and Chinese labels), the
data each event records and when an optional one is recorded, what every account's balance
must be (:func:`books`), the direct sale's own rules (:data:`INVARIANTS`, checked by
:func:`ecomflow.testing.flow_rules_hold`) and the fields the current-state table lists
(:func:`summary`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..._definition import FlowInvariant, Guard, Label, Reason
from ..._events import Event
from ..._flow import Transaction
from ..._money import Money
from ...vocabulary import (
    AUTHORIZATION_VOIDED,
    DELIVERED,
    DISPATCHED,
    OWNERSHIP_TRANSFERRED,
)
from .terms import (
    _ROUTES,
    CARD_COMPANY,
    CASH_COLLECTED,
    CONSUMERS_BANK,
    COURIER,
    DELIVERY_REFUSED,
    INTERMEDIARIES,
    PAYMENT_AUTHORIZED,
    PAYMENT_METHOD_CHOSEN,
    PAYMENT_SETTLED,
    Authorization,
    Browse,
    Delivery,
    DirectSaleContext,
    Dispatch,
    OrderForm,
    PaymentMethod,
    Settlement,
)

__all__ = [
    "AMOUNT_MATCHES_TOTAL",
    "CASH_ON_DELIVERY",
    "COLLECTION_MATCHES",
    "CUSTOMER_IS_NOT_MERCHANT",
    "CUSTOMER_NOT_AN_INTERMEDIARY",
    "GOODS_MOVED",
    "INVARIANTS",
    "MERCHANT_NOT_AN_INTERMEDIARY",
    "NOT_CASH_ON_DELIVERY",
    "a_refused_parcel_stays_with_the_merchant",
    "books",
    "goods_move_only_after_payment_is_secured",
    "settled_once_for_the_order_total",
    "settled_within_the_authorization",
    "summary",
    "voids_match_an_authorization",
]


_CREDIT_CARD = PaymentMethod.CREDIT_CARD


# -- guards -------------------------------------------------------------------------------


def _requires_cash_on_delivery(context: DirectSaleContext, _: object) -> Reason | None:
    if context.cash_on_delivery:
        return None
    return Reason(
        "payment not authorized yet; only cash on delivery ships unpaid",
        "付款尚未授权；只有货到付款的订单可以未付款发货",
    )


def _rejects_cash_on_delivery(context: DirectSaleContext, _: object) -> Reason | None:
    if context.cash_on_delivery:
        return Reason(
            "cash on delivery needs no authorization; dispatch and collect at the door",
            "货到付款无需授权；直接发货，送货上门时收款",
        )
    return None


def _amount_matches_total(context: DirectSaleContext, payload: Authorization) -> Reason | None:
    order = context.order
    assert order is not None  # after step 2
    total = order.total
    if payload.amount != total:
        return Reason(
            f"the approved amount {payload.amount} differs from the order total {total}",
            f"批准金额 {payload.amount} 与订单总额 {total} 不符",
        )
    return None


def _collection_matches(context: DirectSaleContext, payload: Delivery) -> Reason | None:
    order = context.order
    assert order is not None  # after step 2
    total = order.total
    if context.cash_on_delivery:
        if payload.collected != total:
            got, got_zh = (
                ("nothing", "分文未收")
                if payload.collected is None
                else (str(payload.collected), f"所收的 {payload.collected}")
            )
            return Reason(
                f"cash on delivery must collect the order total {total}, not {got}",
                f"货到付款必须收取订单总额 {total}，而不是{got_zh}",
            )
    elif payload.collected is not None:
        return Reason(
            "payment was already authorized; nothing is collected at the door "
            f"(got {payload.collected})",
            f"付款已经授权；送货时不再收款（却收了 {payload.collected}）",
        )
    return None


def _not_the_merchant(context: DirectSaleContext, payload: OrderForm) -> Reason | None:
    if payload.customer_name == context.merchant:
        return Reason(
            f"the customer {payload.customer_name!r} is the merchant itself",
            f"顾客 {payload.customer_name!r} 就是商家本身",
        )
    return None


def _plain(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


_RESERVED = frozenset(INTERMEDIARIES)
_RESERVED_NAMES = ", ".join(repr(role) for role in INTERMEDIARIES)


_WHO_ZH = {"merchant": "商家", "customer": "顾客"}


def _reserved(who: str, name: str) -> Reason | None:
    if _plain(name) in _RESERVED:
        return Reason(
            f"the {who} {name!r} is named like an intermediary; the names {_RESERVED_NAMES} "
            "are reserved for the intermediaries' ledger accounts",
            f"{_WHO_ZH[who]} {name!r} 与中介方同名；名称 {_RESERVED_NAMES} 保留给中介方的账户",
        )
    return None


def _merchant_not_reserved(_: None, payload: Browse) -> Reason | None:
    return _reserved("merchant", payload.merchant)


def _customer_not_reserved(_: DirectSaleContext, payload: OrderForm) -> Reason | None:
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
    order = context.order
    assert order is not None
    return {
        "merchant": context.merchant,
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "total": order.total.to_json(),
    }


def _method_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    order = context.order
    assert order is not None
    return {"total": order.total.to_json()}


def _notice(to: str, about: str) -> Any:
    def data(context: DirectSaleContext, payload: Any) -> dict[str, Any]:
        return {"to": to, "about": about, "merchant": context.merchant}

    return data


def _dispatch_data(context: DirectSaleContext, payload: Dispatch) -> dict[str, Any]:
    order = context.order
    assert order is not None
    return {
        "address": order.address,
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "carrier": payload.carrier,
        "tracking_ref": payload.tracking_ref,
        "cash_on_delivery": context.cash_on_delivery,
    }


def _ownership_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    order = context.order
    assert order is not None
    return {
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "from": context.merchant,
        "to": order.customer_name,
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


def _settlement_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    # 『壹』(6), four-party settlement: the last intermediary (the card company, the
    # consumer's bank, the e-money issuer, or the courier with the cash) pays the merchant.
    order, payment = context.order, context.payment
    assert order is not None
    assert payment is not None
    method = payment.method
    return {
        "amount": order.total.to_json(),
        "method": method.value,
        "from": _ROUTES[method][-1],
        "to": context.merchant,
    }


def _card_company_paid_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    # 『壹』(6): the consumer's bank passes the payment to the card company.
    order = context.order
    assert order is not None
    return {"amount": order.total.to_json(), "from": CONSUMERS_BANK, "to": CARD_COMPANY}


def _consumer_charged_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    # The consumer's own account pays: at the bank (card, cheque) or the e-money issuer.
    order, payment = context.order, context.payment
    assert order is not None
    assert payment is not None
    return {
        "amount": order.total.to_json(),
        "from": order.customer_name,
        "to": _ROUTES[payment.method][0],
    }


def _statement_data(context: DirectSaleContext, payload: Settlement) -> dict[str, Any]:
    order, payment = context.order, context.payment
    assert payment is not None
    assert order is not None
    return {
        "issuer": payment.method.biller,
        "to": order.customer_name,
        "amount": order.total.to_json(),
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
    return context.payment is not None and context.payment.method is _CREDIT_CARD


# -- the books and the flow's own rules ---------------------------------------------------
# Written from the business rule, not from the event data above, so that they catch a
# mistake there: whoever carries the money, the consumer ends paying the total and the
# merchant receiving it; before settlement only cash on delivery has moved money (the
# courier holds what it collected); a refused parcel moves none.


GOODS_MOVED = (DISPATCHED, DELIVERED, OWNERSHIP_TRANSFERRED)
"""The events that move goods to the consumer or make the consumer their owner."""
_GOODS_MOVED = frozenset(event.name for event in GOODS_MOVED)
_AFTER_A_REFUSAL = frozenset(
    event.name for event in (DELIVERED, OWNERSHIP_TRANSFERRED, CASH_COLLECTED, PAYMENT_SETTLED)
)


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
        if event.name == PAYMENT_METHOD_CHOSEN.name:
            method = event.data.get("method")
            return None if method is None else str(method)
    return None


def goods_move_only_after_payment_is_secured(tx: Transaction[Any]) -> None:
    """Check: nothing dispatched, delivered or owned before an authorization, except COD."""
    events = list(tx.events)
    authorized = False
    for index, event in enumerate(events):
        if event.name == PAYMENT_AUTHORIZED.name:
            authorized = True
        elif event.name in _GOODS_MOVED:
            method = _method_at(events, index)
            _require(
                authorized or method == PaymentMethod.CASH_ON_DELIVERY.value,
                f"{tx.id!r}: {event.name} at version {event.version} before the payment was "
                f"authorized (method {method!r})",
            )


def settled_once_for_the_order_total(tx: Transaction[Any]) -> None:
    """Check: at most one settlement, exactly one when settled, and for the order total."""
    settlements = [e for e in tx.events if e.name == PAYMENT_SETTLED.name]
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
        if event.name == PAYMENT_AUTHORIZED.name:
            authorizations.append(event)
        elif event.name == PAYMENT_SETTLED.name:
            _require(voids == 0, f"{tx.id!r}: settled after the authorization was voided")
        elif event.name == AUTHORIZATION_VOIDED.name:
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
        if event.name == DELIVERY_REFUSED.name:
            refused = True
        elif refused:
            _require(
                event.name not in _AFTER_A_REFUSAL,
                f"{tx.id!r}: {event.name} at version {event.version} after the parcel was refused",
            )


def settled_within_the_authorization(tx: Transaction[Any]) -> None:
    """Check: the settlement pays the merchant no more than the last authorization approved."""
    authorized = [e for e in tx.events if e.name == PAYMENT_AUTHORIZED.name]
    settled = [e for e in tx.events if e.name == PAYMENT_SETTLED.name]
    if authorized and settled:
        last, paid = authorized[-1].data["amount"], settled[-1].data["amount"]
        _require(
            Decimal(paid["amount"]) <= Decimal(last["amount"]),
            f"{tx.id!r}: settled {paid} > authorized {last}",
        )


INVARIANTS: tuple[FlowInvariant, ...] = (
    goods_move_only_after_payment_is_secured,
    settled_once_for_the_order_total,
    settled_within_the_authorization,
    voids_match_an_authorization,
    a_refused_parcel_stays_with_the_merchant,
)
"""The direct sale's own rules, each a function of a transaction raising AssertionError."""


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


def _expired_data(context: DirectSaleContext, _: object) -> dict[str, Any]:
    """Return the data of ``order_expired``: who ordered what, left unpaid (no payment taken)."""
    order = context.order
    total = context.total
    return {
        "customer": None if order is None else order.customer_name,
        "total": None if total is None else str(total.amount),
        "currency": None if total is None else total.currency,
        "reason": "unpaid",
    }
