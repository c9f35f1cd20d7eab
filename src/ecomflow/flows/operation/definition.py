"""operation — 电子商务的运作流程: the five-step generic process of seed section 『叁』.

The seed's text (the typos 网版站, 购权买 stand for 网站, 购买)::

    电子商务的运作流程:
    1.企业将商品信息通过网络展示给客户,客户通过访问网版站,选择需要购权买的商品,并填写订单。
    2.厂方通过订单确认客户,告之收费方法,同时通知自己的应用系统组织货源程序。
    3.客户通过电子结算与金融部门交互执行交易。
    4.金融部门通过电子邮件(或其它方式)通知买卖双方交易的结果。
    5.厂方组织货物,并送达到客户手中。 从上述电子商务的实际流程中,电子商务是集信息流、
    商流、资金流、物流为一身,是整个的贸易交易过程。

As a flow:

1. the merchant shows goods online; the customer selects and fills an order (填写订单);
2. the merchant confirms the customer by the order, says how to pay (告之收费方法) and tells
   its own application system to organise supply (组织货源);
3. the customer settles electronically with the financial institution (电子结算);
4. the institution notifies buyer and seller of the result, by e-mail or otherwise — on a
   failure the customer may settle again or cancel;
5. the merchant organises the goods and delivers them to the customer, only after success.

"集信息流、商流、资金流、物流为一身": every transition is tagged with the streams it records
in (:attr:`Transition.streams`).

The books (:func:`~.rules.books`): once the institution reports success the customer has
paid the total and the merchant received it; the institution only carries the payment (it
is named in the event, and holds no account). A paid order the merchant cannot supply is
refunded (``paid`` → ``refunded``), leaving both at zero.

Below: the states, the start, the transitions with the events each records, the definition,
and the typed transaction. The payloads, the context and the flow's own events are in
:mod:`.terms`; the guards, the events' data, the books and the flow's own rules in
:mod:`.rules`.
"""

from __future__ import annotations

from typing import final

from ..._definition import FlowDefinition, Label, Reason, State, Transition
from ..._flow import Flow, Transaction, trigger
from ..._money import Money
from ...fields import replace
from ...vocabulary import (
    BUYER_NOTIFIED,
    ORDER_CANCELLED,
    ORDER_ENDED,
    ORDER_FORM_SUBMITTED,
    ORDER_PLACED,
    OWNERSHIP_TRANSFERRED,
    PAYMENT_TRANSFERRED,
    SELLER_NOTIFIED,
)
from .rules import (
    AMOUNT_MATCHES,
    CUSTOMER_IS_NOT_MERCHANT,
    INVARIANTS,
    books,
    delivered_data,
    ended_data,
    failed_data,
    instructions_data,
    notice_data,
    order_data,
    ownership_data,
    paid_data,
    refund_notice_data,
    refunded_data,
    summary,
    supply_data,
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

__all__ = ["DEFINITION", "FLOW", "REFUSALS", "START", "STATES", "TRANSITIONS", "Operation"]

STATES = (
    State("goods_shown", Label("goods shown online", "商品信息已展示")),
    State("order_placed", Label("order placed", "客户已填写订单")),
    State(
        "order_confirmed", Label("order confirmed, supply organised", "厂方已确认订单并组织货源")
    ),
    State("settling", Label("settling electronically", "电子结算中")),
    State("payment_failed", Label("payment failed", "交易失败")),
    State("paid", Label("payment succeeded", "交易成功")),
    State("delivered", Label("goods delivered", "货物已送达"), terminal=True),
    State("cancelled", Label("cancelled", "已取消"), terminal=True),
    State("refunded", Label("refunded, not supplied", "无法供货，已退款"), terminal=True),
)
"""The nine states: six on the way, three where an order ends."""

START = Transition(
    "show_goods",
    (),
    "goods_shown",
    Label("show goods", "展示商品"),
    step="1",
    payload=ShowGoods,
    effect=lambda _, p: OperationContext(merchant=p.merchant, catalog=p.catalog),
    emits=[GOODS_SHOWN.emit()],
)
"""Step 1, the merchant's part: showing the goods starts a transaction in ``goods_shown``."""

TRANSITIONS = (
    # 1. the customer selects goods and fills the order.
    Transition(
        "place_order",
        "goods_shown",
        "order_placed",
        Label("fill the order", "填写订单"),
        step="1",
        payload=Order,
        guards=[CUSTOMER_IS_NOT_MERCHANT],
        effect=lambda c, p: replace(c, order=p),
        emits=[ORDER_FORM_SUBMITTED.emit(), ORDER_PLACED.emit(order_data)],
    ),
    # 2. the merchant confirms the customer, says how to pay, has its system organise supply.
    Transition(
        "confirm_order",
        "order_placed",
        "order_confirmed",
        Label("confirm, say how to pay, organise supply", "确认客户、告之收费方法、组织货源"),
        step="2",
        payload=Confirmation,
        effect=lambda c, p: replace(c, confirmation=p),
        emits=[
            ORDER_CONFIRMED.emit(),
            PAYMENT_INSTRUCTIONS_SENT.emit(instructions_data),
            SUPPLY_ORGANISATION_REQUESTED.emit(supply_data),
        ],
    ),
    # 3. the customer settles the total electronically (again, after a failure).
    Transition(
        "settle",
        ("order_confirmed", "payment_failed"),
        "settling",
        Label("settle electronically", "电子结算"),
        step="3",
        payload=ElectronicSettlement,
        guards=[AMOUNT_MATCHES],
        effect=lambda c, p: replace(c, settlements=(*c.settlements, p)),
        emits=[ELECTRONIC_SETTLEMENT_SUBMITTED.emit()],
    ),
    # 4. the institution tells both sides: success moves the money ...
    Transition(
        "notify_success",
        "settling",
        "paid",
        Label("institution notifies success", "金融部门通知交易成功"),
        step="4",
        payload=Success,
        effect=lambda c, p: replace(c, success=p),
        emits=[
            BUYER_NOTIFIED.emit(notice_data("success", "buyer")),
            SELLER_NOTIFIED.emit(notice_data("success", "seller")),
            PAYMENT_TRANSFERRED.emit(paid_data),
        ],
    ),
    # 4. ... failure moves nothing, and the customer may settle again or cancel.
    Transition(
        "notify_failure",
        "settling",
        "payment_failed",
        Label("institution notifies failure", "金融部门通知交易失败"),
        step="4",
        payload=Failure,
        effect=lambda c, p: replace(c, failures=(*c.failures, p)),
        emits=[
            BUYER_NOTIFIED.emit(notice_data("failure", "buyer")),
            SELLER_NOTIFIED.emit(notice_data("failure", "seller")),
            PAYMENT_FAILED.emit(failed_data),
        ],
    ),
    # 5. only once paid: the merchant organises the goods and delivers them.
    Transition(
        "deliver",
        "paid",
        "delivered",
        Label("organise goods and deliver", "组织货物并送达"),
        step="5",
        payload=Delivery,
        effect=lambda c, p: replace(c, delivery=p),
        emits=[GOODS_DELIVERED.emit(delivered_data), OWNERSHIP_TRANSFERRED.emit(ownership_data)],
    ),
    # practice: paid, but the merchant cannot supply the goods: refund and end the order.
    Transition(
        "refund",
        "paid",
        "refunded",
        Label("cannot supply: refund", "无法供货，退款"),
        step="after 4",
        payload=Refund,
        effect=lambda c, p: replace(c, refund=p),
        emits=[
            PAYMENT_REFUNDED.emit(refunded_data),
            ORDER_ENDED.emit(ended_data),
            BUYER_NOTIFIED.emit(refund_notice_data),
        ],
    ),
    # until the payment succeeds the customer may cancel (not while it is being settled).
    Transition(
        "cancel",
        ("order_placed", "order_confirmed", "payment_failed"),
        "cancelled",
        Label("cancel", "取消"),
        step="before 5",
        payload=Cancellation,
        effect=lambda c, p: replace(c, cancellation=p),
        emits=[ORDER_CANCELLED.emit()],
    ),
)
"""Every step after the start, each with its guards, its effect and the events it records."""

_UNPAID = ("goods_shown", "order_placed", "order_confirmed", "settling", "payment_failed")

REFUSALS = {
    "deliver": dict.fromkeys(
        _UNPAID,
        Reason(
            "the financial institution has not reported a successful payment",
            "金融机构尚未报告付款成功",
        ),
    )
    | {
        "refunded": Reason(
            "the payment was refunded; the goods stay with the merchant",
            "货款已经退还；货物留在商家",
        )
    },
    "settle": dict.fromkeys(
        ("goods_shown", "order_placed"),
        Reason("the merchant has not confirmed the order yet", "商家尚未确认订单"),
    ),
    "cancel": {
        "settling": Reason(
            "the payment is being settled; wait for the result", "货款正在结算；请等待结果"
        ),
        "paid": Reason(
            "the payment succeeded; a paid order is refunded, not cancelled",
            "付款已经成功；已付款的订单只能退款，不能取消",
        ),
    },
    "refund": {
        **dict.fromkeys(_UNPAID, Reason("nothing was paid yet", "尚未付款")),
        "delivered": Reason("the goods were already delivered", "货物已经送达"),
        "cancelled": Reason("the order was cancelled", "订单已经取消"),
    },
}
"""Why a trigger is impossible from a state that lacks it, in the words of the domain."""

DEFINITION = FlowDefinition(
    name="operation",
    title=Label("The operation of e-commerce", "电子商务的运作流程"),
    source="『叁』",
    context_type=OperationContext,
    # No goods before payment (testing.no_shipping_before_payment).
    payment_secured_by={PAYMENT_TRANSFERRED.name},
    goods_moved_by={GOODS_DELIVERED.name, OWNERSHIP_TRANSFERRED.name},
    states=STATES,
    start=START,
    transitions=TRANSITIONS,
    refusals=REFUSALS,
    books=books,
    invariants=INVARIANTS,
    summary=summary,
)
"""The operation flow's definition: the graph above, its refusals, books and rules."""


@final
class Operation(Transaction[OperationContext]):
    """An operation-flow transaction with one typed method per trigger."""

    __slots__ = ()

    @trigger
    def place_order(
        self, *, customer: str, address: str, goods_name: str, quantity: int, unit_price: Money
    ) -> None:
        """Step 1: the customer fills the order."""

    @trigger
    def confirm_order(self, *, payment_instructions: str, supply_note: str | None = None) -> None:
        """Step 2: confirm, say how to pay, organise supply."""

    @trigger
    def settle(self, *, institution: str, amount: Money, reference: str) -> None:
        """Step 3: settle electronically (again, after a failure)."""

    @trigger
    def notify_success(self, *, channel: Channel | str, confirmation_ref: str) -> None:
        """Step 4: the institution reports success."""

    @trigger
    def notify_failure(self, *, channel: Channel | str, reason: str) -> None:
        """Step 4: the institution reports failure."""

    @trigger
    def deliver(self, *, carrier: str | None = None, received_by: str | None = None) -> None:
        """Step 5: organise the goods and deliver them."""

    @trigger
    def cancel(self, *, reason: str) -> None:
        """Cancel before a successful payment."""

    @trigger
    def refund(self, *, reason: str, reference: str) -> None:
        """After payment, the merchant cannot supply: refund the customer and end the order."""


FLOW: Flow[Operation] = Flow(DEFINITION, Operation)
"""The operation flow."""
