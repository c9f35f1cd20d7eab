"""operation — 电子商务的运作流程: the five-step generic process of seed section 『叁』.

1. the merchant shows goods online; the customer selects and fills an order (填写订单);
2. the merchant confirms the customer by the order, says how to pay (告之收费方法) and tells
   its own application system to organise supply (组织货源);
3. the customer settles electronically with the financial institution (电子结算);
4. the institution notifies buyer and seller of the result, by e-mail or otherwise — on a
   failure the customer may settle again or cancel;
5. the merchant organises the goods and delivers them to the customer, only after success.

"集信息流、商流、资金流、物流为一身": every transition is tagged with the streams it records
in (:attr:`Transition.streams`).

The books (:func:`books`): once the institution reports success the customer has paid the
total and the merchant received it; the institution only carries the payment (it is named
in the event, and holds no account). A paid order the merchant cannot supply is refunded
(``paid`` → ``refunded``), leaving both at zero. This module holds definitions only.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from typing import Any, final

import attrs

from ..._definition import Emit, FlowDefinition, FlowInvariant, Guard, Label, State, Transition
from ..._events import Event, Stream
from ..._flow import Flow, Transaction
from ..._money import Money
from ...fields import choice, money, optional_text, positive_int, replace, text

__all__ = [
    "FLOW",
    "INVARIANTS",
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
]


class Channel(enum.Enum):
    """How the financial institution notifies buyer and seller (step 4)."""

    EMAIL = "email"
    SMS = "sms"
    LETTER = "letter"
    ONLINE_BANKING = "online_banking"


@final
@attrs.frozen(slots=False)
class ShowGoods:
    """Step 1: the merchant shows its goods online."""

    merchant: str = text(max_length=200)
    catalog: str | None = optional_text(max_length=2000)


@final
@attrs.frozen(slots=False)
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
@attrs.frozen(slots=False)
class Confirmation:
    """Step 2: the merchant confirms the customer and says how to pay."""

    payment_instructions: str = text(max_length=1000)
    supply_note: str | None = optional_text(max_length=1000)


@final
@attrs.frozen(slots=False)
class ElectronicSettlement:
    """Step 3: the customer settles ``amount`` electronically with ``institution``."""

    institution: str = text(max_length=200)
    amount: Money = money()
    reference: str = text(max_length=200)


@final
@attrs.frozen(slots=False)
class Success:
    """Step 4: the institution reports success to both sides."""

    channel: Channel = choice(Channel)
    confirmation_ref: str = text(max_length=200)


@final
@attrs.frozen(slots=False)
class Failure:
    """Step 4: the institution reports failure to both sides."""

    channel: Channel = choice(Channel)
    reason: str = text(max_length=500)


@final
@attrs.frozen(slots=False)
class Delivery:
    """Step 5: the merchant organises the goods and delivers them."""

    carrier: str | None = optional_text(max_length=200)
    received_by: str | None = optional_text(max_length=200)


@final
@attrs.frozen(slots=False)
class Cancellation:
    """Cancel before payment succeeded."""

    reason: str = text(max_length=500)


@final
@attrs.frozen(slots=False)
class Refund:
    """After payment, the merchant cannot supply the goods and refunds, for ``reason``."""

    reason: str = text(max_length=500)
    reference: str = text(max_length=200)


@final
@attrs.frozen(slots=False)
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


def _order(context: OperationContext) -> Order:
    assert context.order is not None  # every caller runs after step 1
    return context.order


def _amount_matches(context: OperationContext, payload: ElectronicSettlement) -> str | None:
    total = _order(context).total
    if payload.amount != total:
        return f"the settled amount {payload.amount} differs from the order total {total}"
    return None


AMOUNT_MATCHES = Guard(
    "amount_matches_total", _amount_matches, Label("amount = total", "金额等于订单总额")
)


def _not_the_merchant(context: OperationContext, payload: Order) -> str | None:
    if payload.customer == context.merchant:
        return f"the customer {payload.customer!r} is the merchant itself"
    return None


CUSTOMER_IS_NOT_MERCHANT = Guard(
    "customer_is_not_merchant", _not_the_merchant, Label("customer ≠ merchant", "顾客不是商家本身")
)


def _order_data(context: OperationContext, _: object) -> dict[str, Any]:
    order = _order(context)
    return {
        "merchant": context.merchant,
        "customer": order.customer,
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "total": order.total.to_json(),
    }


def _instructions(context: OperationContext, payload: Confirmation) -> dict[str, Any]:
    return {
        "to": _order(context).customer,
        "payment_instructions": payload.payment_instructions,
        "total": _order(context).total.to_json(),
    }


def _supply(context: OperationContext, payload: Confirmation) -> dict[str, Any]:
    order = _order(context)
    return {
        "system": f"{context.merchant} application system",
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "note": payload.supply_note,
    }


def _notice(result: str, to: str) -> Any:
    def data(context: OperationContext, payload: Success | Failure) -> dict[str, Any]:
        party = _order(context).customer if to == "buyer" else context.merchant
        return {"to": party, "role": to, "result": result, "channel": payload.channel.value}

    return data


def _paid(context: OperationContext, _: object) -> dict[str, Any]:
    last = context.settlements[-1]
    return {
        "amount": last.amount.to_json(),
        "from": _order(context).customer,
        "to": context.merchant,
        "institution": last.institution,
    }


def _failed(context: OperationContext, payload: Failure) -> dict[str, Any]:
    return {"amount": _order(context).total.to_json(), "reason": payload.reason}


def _delivered(context: OperationContext, payload: Delivery) -> dict[str, Any]:
    order = _order(context)
    return {
        "address": order.address,
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "carrier": payload.carrier,
    }


def _ownership(context: OperationContext, _: object) -> dict[str, Any]:
    order = _order(context)
    return {
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "from": context.merchant,
        "to": order.customer,
    }


def _refunded(context: OperationContext, _: object) -> dict[str, Any]:
    last = context.settlements[-1]
    return {
        "amount": last.amount.to_json(),
        "from": context.merchant,
        "to": _order(context).customer,
        "institution": last.institution,
    }


def _ended(context: OperationContext, payload: Refund) -> dict[str, Any]:
    order = _order(context)
    return {
        "reason": payload.reason,
        "goods_name": order.goods_name,
        "quantity": order.quantity,
        "owner": context.merchant,
    }


def _refund_notice(context: OperationContext, payload: Refund) -> dict[str, Any]:
    return {"to": _order(context).customer, "role": "buyer", "result": "refunded"}


_NOTICES = (Stream.INFORMATION,)


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


def _sum(tx: Transaction[Any], name: str) -> Money | None:
    amounts = [e.data["amount"] for e in tx.events if e.name == name]
    if not amounts:
        return None
    total = Money(amounts[0]["amount"], amounts[0]["currency"])
    for amount in amounts[1:]:
        total = total + Money(amount["amount"], amount["currency"])
    return total


def goods_reach_the_customer_only_after_payment(tx: Transaction[Any]) -> None:
    """Check: nothing delivered or owned before the payment succeeded, nor after a refund."""
    paid = refunded = False
    for event in tx.events:
        if event.name == "payment_transferred":
            paid = True
        elif event.name == "payment_refunded":
            refunded = True
        elif event.name in ("goods_delivered", "ownership_transferred"):
            _require(
                paid and not refunded,
                f"{tx.id!r}: {event.name} at version {event.version} before a successful "
                "payment" + (" or after its refund" if refunded else ""),
            )


def paid_at_most_once_for_the_total(tx: Transaction[Any]) -> None:
    """Check: one successful payment at most, for the order total, and one once paid."""
    transfers = [e for e in tx.events if e.name == "payment_transferred"]
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
    paid, refunded = _sum(tx, "payment_transferred"), _sum(tx, "payment_refunded")
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
        if event.name == "payment_transferred":
            paid = True
        elif event.name == "order_cancelled":
            _require(
                not paid,
                f"{tx.id!r}: order_cancelled at version {event.version} after the payment "
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


DEFINITION = FlowDefinition(
    name="operation",
    title=Label("The operation of e-commerce", "电子商务的运作流程"),
    source="『叁』",
    context_type=OperationContext,
    # No goods before payment (testing.no_shipping_before_payment).
    payment_secured_by={"payment_transferred"},
    goods_moved_by={"goods_delivered", "ownership_transferred"},
    states=[
        State("goods_shown", Label("goods shown online", "商品信息已展示")),
        State("order_placed", Label("order placed", "客户已填写订单")),
        State(
            "order_confirmed",
            Label("order confirmed, supply organised", "厂方已确认订单并组织货源"),
        ),
        State("settling", Label("settling electronically", "电子结算中")),
        State("payment_failed", Label("payment failed", "交易失败")),
        State("paid", Label("payment succeeded", "交易成功")),
        State("delivered", Label("goods delivered", "货物已送达"), terminal=True),
        State("cancelled", Label("cancelled", "已取消"), terminal=True),
        State("refunded", Label("refunded, not supplied", "无法供货，已退款"), terminal=True),
    ],
    start=Transition(
        "show_goods",
        (),
        "goods_shown",
        Label("show goods", "展示商品"),
        step="1",
        payload=ShowGoods,
        effect=lambda _, p: OperationContext(merchant=p.merchant, catalog=p.catalog),
        emits=[Emit(Stream.INFORMATION, "goods_shown")],
    ),
    transitions=[
        Transition(
            "place_order",
            "goods_shown",
            "order_placed",
            Label("fill the order", "填写订单"),
            step="1",
            payload=Order,
            guards=[CUSTOMER_IS_NOT_MERCHANT],
            effect=lambda c, p: replace(c, order=p),
            emits=[
                Emit(Stream.INFORMATION, "order_form_submitted"),
                Emit(Stream.COMMERCE, "order_placed", _order_data),
            ],
        ),
        Transition(
            "confirm_order",
            "order_placed",
            "order_confirmed",
            Label("confirm, say how to pay, organise supply", "确认客户、告之收费方法、组织货源"),
            step="2",
            payload=Confirmation,
            effect=lambda c, p: replace(c, confirmation=p),
            emits=[
                Emit(Stream.COMMERCE, "order_confirmed"),
                Emit(Stream.INFORMATION, "payment_instructions_sent", _instructions),
                Emit(Stream.LOGISTICS, "supply_organisation_requested", _supply),
            ],
        ),
        Transition(
            "settle",
            ("order_confirmed", "payment_failed"),
            "settling",
            Label("settle electronically", "电子结算"),
            step="3",
            payload=ElectronicSettlement,
            guards=[AMOUNT_MATCHES],
            effect=lambda c, p: replace(c, settlements=(*c.settlements, p)),
            emits=[Emit(Stream.MONEY, "electronic_settlement_submitted")],
        ),
        Transition(
            "notify_success",
            "settling",
            "paid",
            Label("institution notifies success", "金融部门通知交易成功"),
            step="4",
            payload=Success,
            effect=lambda c, p: replace(c, success=p),
            emits=[
                Emit(Stream.INFORMATION, "buyer_notified", _notice("success", "buyer")),
                Emit(Stream.INFORMATION, "seller_notified", _notice("success", "seller")),
                Emit(Stream.MONEY, "payment_transferred", _paid),
            ],
        ),
        Transition(
            "notify_failure",
            "settling",
            "payment_failed",
            Label("institution notifies failure", "金融部门通知交易失败"),
            step="4",
            payload=Failure,
            effect=lambda c, p: replace(c, failures=(*c.failures, p)),
            emits=[
                Emit(Stream.INFORMATION, "buyer_notified", _notice("failure", "buyer")),
                Emit(Stream.INFORMATION, "seller_notified", _notice("failure", "seller")),
                Emit(Stream.MONEY, "payment_failed", _failed),
            ],
        ),
        Transition(
            "deliver",
            "paid",
            "delivered",
            Label("organise goods and deliver", "组织货物并送达"),
            step="5",
            payload=Delivery,
            effect=lambda c, p: replace(c, delivery=p),
            emits=[
                Emit(Stream.LOGISTICS, "goods_delivered", _delivered),
                Emit(Stream.COMMERCE, "ownership_transferred", _ownership),
            ],
        ),
        Transition(
            "refund",
            "paid",
            "refunded",
            Label("cannot supply: refund", "无法供货，退款"),
            step="after 4",
            payload=Refund,
            effect=lambda c, p: replace(c, refund=p),
            emits=[
                Emit(Stream.MONEY, "payment_refunded", _refunded),
                Emit(Stream.COMMERCE, "order_ended", _ended),
                Emit(Stream.INFORMATION, "buyer_notified", _refund_notice),
            ],
        ),
        Transition(
            "cancel",
            ("order_placed", "order_confirmed", "payment_failed"),
            "cancelled",
            Label("cancel", "取消"),
            step="before 5",
            payload=Cancellation,
            effect=lambda c, p: replace(c, cancellation=p),
            emits=[Emit(Stream.COMMERCE, "order_cancelled")],
        ),
    ],
    refusals={
        "deliver": dict.fromkeys(
            ("goods_shown", "order_placed", "order_confirmed", "settling", "payment_failed"),
            "the financial institution has not reported a successful payment",
        )
        | {"refunded": "the payment was refunded; the goods stay with the merchant"},
        "settle": dict.fromkeys(
            ("goods_shown", "order_placed"), "the merchant has not confirmed the order yet"
        ),
        "cancel": {
            "settling": "the payment is being settled; wait for the result",
            "paid": "the payment succeeded; a paid order is refunded, not cancelled",
        },
        "refund": {
            **dict.fromkeys(
                ("goods_shown", "order_placed", "order_confirmed", "settling", "payment_failed"),
                "nothing was paid yet",
            ),
            "delivered": "the goods were already delivered",
            "cancelled": "the order was cancelled",
        },
    },
    books=books,
    invariants=INVARIANTS,
    summary=summary,
)


@final
class Operation(Transaction[OperationContext]):
    """An operation-flow transaction with one typed method per trigger."""

    __slots__ = ()

    def place_order(
        self, *, customer: str, address: str, goods_name: str, quantity: int, unit_price: Money
    ) -> tuple[Event, ...]:
        """Step 1: the customer fills the order."""
        return self.fire(
            "place_order",
            customer=customer,
            address=address,
            goods_name=goods_name,
            quantity=quantity,
            unit_price=unit_price,
        )

    def confirm_order(
        self, *, payment_instructions: str, supply_note: str | None = None
    ) -> tuple[Event, ...]:
        """Step 2: confirm, say how to pay, organise supply."""
        return self.fire(
            "confirm_order", payment_instructions=payment_instructions, supply_note=supply_note
        )

    def settle(self, *, institution: str, amount: Money, reference: str) -> tuple[Event, ...]:
        """Step 3: settle electronically (again, after a failure)."""
        return self.fire("settle", institution=institution, amount=amount, reference=reference)

    def notify_success(self, *, channel: Channel | str, confirmation_ref: str) -> tuple[Event, ...]:
        """Step 4: the institution reports success."""
        return self.fire("notify_success", channel=channel, confirmation_ref=confirmation_ref)

    def notify_failure(self, *, channel: Channel | str, reason: str) -> tuple[Event, ...]:
        """Step 4: the institution reports failure."""
        return self.fire("notify_failure", channel=channel, reason=reason)

    def deliver(
        self, *, carrier: str | None = None, received_by: str | None = None
    ) -> tuple[Event, ...]:
        """Step 5: organise the goods and deliver them."""
        return self.fire("deliver", carrier=carrier, received_by=received_by)

    def cancel(self, *, reason: str) -> tuple[Event, ...]:
        """Cancel before a successful payment."""
        return self.fire("cancel", reason=reason)

    def refund(self, *, reason: str, reference: str) -> tuple[Event, ...]:
        """After payment, the merchant cannot supply: refund the customer and end the order."""
        return self.fire("refund", reason=reason, reference=reference)


FLOW: Flow[Operation] = Flow(DEFINITION, Operation)
"""The operation flow."""
