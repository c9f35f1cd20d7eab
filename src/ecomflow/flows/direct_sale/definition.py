"""direct-sale — 网络商品直销: the six-step B2C direct sale of seed sections 『壹』『贰』.

The seed (『壹』 电子商务流程, repeated in 『贰』)::

    网络商品的直销是指商品需求方和供应方(也可指消费者和生产者)直接利用网络做买卖,排除批发、
    代理等中间环节。通常为B to C电子商务模式。……网络商品直销过程分为六步:
    (1)消费者进入internet,查看企业和商家的网页;
    (2)消费者通过购物对话框填写购物信息:姓名、地址、选购商品名称、数量、规格、价格;
    (3)消费者选择支付方式,如信用卡、电子货币、电子支票、借记卡等;
    (4)企业或商家的客户服务器检查支付方服务器,看汇款额是否被认可;
    (5)客户服务器确认消费者付款后,通知销售部门送货上门;
    (6)消费者的开户银行将支付款项传递到他的信用卡公司,信用卡公司开给他收费单。

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

The books (:func:`~ecomflow.flows.direct_sale.rules.books`): the consumer (the name on the
order form) pays the total, the merchant receives it, and every intermediary — the courier,
the card company, the consumer's bank, the electronic money issuer
(:data:`~ecomflow.flows.direct_sale.terms.INTERMEDIARIES`) — passes it on and ends at zero.
A party named like an intermediary is refused.

This page holds the graph: the states, the start, the transitions with the events each
records, then the typed transaction. The payloads and the context are in
:mod:`~ecomflow.flows.direct_sale.terms`, the guards, event data and the flow's own rules in
:mod:`~ecomflow.flows.direct_sale.rules`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import final

import attrs

from ..._definition import FlowDefinition, Label, Reason, State, Transition
from ..._flow import Flow, Transaction, trigger
from ..._money import Money
from ...fields import replace
from ...vocabulary import (
    AUTHORIZATION_VOIDED,
    BUYER_NOTIFIED,
    DELIVERED,
    DISPATCHED,
    ORDER_CANCELLED,
    ORDER_ENDED,
    ORDER_FORM_SUBMITTED,
    ORDER_PLACED,
    OWNERSHIP_TRANSFERRED,
    SALES_DEPARTMENT_NOTIFIED,
)
from .rules import (
    AMOUNT_MATCHES_TOTAL,
    CASH_ON_DELIVERY,
    COLLECTION_MATCHES,
    CUSTOMER_IS_NOT_MERCHANT,
    CUSTOMER_NOT_AN_INTERMEDIARY,
    GOODS_MOVED,
    INVARIANTS,
    MERCHANT_NOT_AN_INTERMEDIARY,
    NOT_CASH_ON_DELIVERY,
    _card_company_paid_data,
    _collected_data,
    _consumer_charged_data,
    _dispatch_data,
    _expired_data,
    _is_cod,
    _is_credit_card,
    _is_prepaid,
    _method_data,
    _notice,
    _order_data,
    _order_ended_data,
    _ownership_data,
    _returned_data,
    _settlement_data,
    _statement_data,
    _void_data,
    _was_authorized,
    books,
    summary,
)
from .terms import (
    CARD_COMPANY_PAID,
    CASH_COLLECTED,
    CONSUMER_CHARGED,
    DELIVERY_REFUSED,
    MERCHANT_NOTIFIED,
    MERCHANT_PAGES_VIEWED,
    ORDER_EXPIRED,
    PAYMENT_AUTHORIZED,
    PAYMENT_DECLINED,
    PAYMENT_METHOD_CHOSEN,
    PAYMENT_SETTLED,
    RETURNED_TO_MERCHANT,
    STATEMENT_ISSUED,
    Authorization,
    Browse,
    Cancellation,
    Decline,
    Delivery,
    DirectSaleContext,
    Dispatch,
    OrderForm,
    ParcelRefusal,
    PaymentChoice,
    PaymentMethod,
    ReturnToMerchant,
    Settlement,
)

__all__ = ["DEFINITION", "FLOW", "PAY_WITHIN", "DirectSale", "flow"]

PAY_WITHIN = timedelta(minutes=30)
"""How long an order may stay unpaid before it closes itself (超时未付款自动关闭)."""
_UNPAID = ("order_filled", "payment_method_chosen", "payment_declined")

_BEFORE_DISPATCH = (
    "order_filled",
    "payment_method_chosen",
    "payment_declined",
    "payment_authorized",
)
_REFUSED = ("returning", "returned")
_AFTER_DISPATCH = ("shipping", "delivered", "settled", *_REFUSED)

DEFINITION = FlowDefinition(
    name="direct-sale",
    title=Label("Direct sale of goods online", "网络商品直销"),
    source="『壹』『贰』",
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
        State("expired", Label("closed unpaid", "超时未付款已关闭"), terminal=True),
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
        emits=[MERCHANT_PAGES_VIEWED.emit()],
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
                ORDER_FORM_SUBMITTED.emit(),
                ORDER_PLACED.emit(_order_data),
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
            emits=[PAYMENT_METHOD_CHOSEN.emit(_method_data)],
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
                PAYMENT_AUTHORIZED.emit(),
                MERCHANT_NOTIFIED.emit(_notice("merchant", "payment authorized")),
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
                PAYMENT_DECLINED.emit(),
                BUYER_NOTIFIED.emit(_notice("consumer", "payment declined")),
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
                SALES_DEPARTMENT_NOTIFIED.emit(),
                DISPATCHED.emit(_dispatch_data),
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
                SALES_DEPARTMENT_NOTIFIED.emit(),
                DISPATCHED.emit(_dispatch_data),
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
                DELIVERED.emit(),
                OWNERSHIP_TRANSFERRED.emit(_ownership_data),
                CASH_COLLECTED.emit(_collected_data, when=_is_cod),
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
                PAYMENT_SETTLED.emit(_settlement_data),
                CARD_COMPANY_PAID.emit(_card_company_paid_data, when=_is_credit_card),
                CONSUMER_CHARGED.emit(_consumer_charged_data, when=_is_prepaid),
                STATEMENT_ISSUED.emit(_statement_data),
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
                DELIVERY_REFUSED.emit(),
                MERCHANT_NOTIFIED.emit(_notice("merchant", "delivery refused")),
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
                RETURNED_TO_MERCHANT.emit(_returned_data),
                ORDER_ENDED.emit(_order_ended_data),
                AUTHORIZATION_VOIDED.emit(_void_data, when=_was_authorized),
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
                ORDER_CANCELLED.emit(),
                AUTHORIZATION_VOIDED.emit(_void_data, when=_was_authorized),
            ],
        ),
        Transition(
            "expire",
            _UNPAID,
            "expired",
            Label("close the unpaid order", "超时关闭订单"),
            step="before (4) 超时未付款自动关闭",
            guards=[NOT_CASH_ON_DELIVERY],
            after=PAY_WITHIN,
            emits=[
                ORDER_EXPIRED.emit(_expired_data),
                BUYER_NOTIFIED.emit(_notice("consumer", "order closed unpaid")),
            ],
        ),
    ],
    refusals={
        "dispatch": {
            "browsing": Reason("payment not authorized yet", "付款尚未授权"),
            "order_filled": Reason("payment not authorized yet", "付款尚未授权"),
            "payment_declined": Reason("payment not authorized yet", "付款尚未授权"),
            **dict.fromkeys(
                _AFTER_DISPATCH, Reason("the goods were already dispatched", "货物已经发出")
            ),
            "cancelled": Reason("the order was cancelled", "订单已经取消"),
            "expired": Reason("the order was closed unpaid", "订单已因超时未付款关闭"),
        },
        "deliver": dict.fromkeys(
            _REFUSED, Reason("the parcel was refused at the door", "包裹已在门口被拒收")
        ),
        "settle": {
            **dict.fromkeys(
                ("browsing", *_BEFORE_DISPATCH, "shipping"),
                Reason("the goods are not delivered yet", "货物尚未送达"),
            ),
            **dict.fromkeys(
                _REFUSED, Reason("the parcel was refused at the door", "包裹已在门口被拒收")
            ),
        },
        "cancel": dict.fromkeys(
            _AFTER_DISPATCH, Reason("the goods were already dispatched", "货物已经发出")
        ),
        "refuse_delivery": {
            **dict.fromkeys(
                ("browsing", *_BEFORE_DISPATCH),
                Reason("the goods were not dispatched yet", "货物尚未发出"),
            ),
            "delivered": Reason("the goods were already delivered", "货物已经送达"),
            "settled": Reason("the goods were already delivered", "货物已经送达"),
            "cancelled": Reason("the order was cancelled", "订单已经取消"),
            **dict.fromkeys(_REFUSED, Reason("the parcel was already refused", "包裹已经被拒收")),
        },
        "return_to_merchant": dict.fromkeys(
            ("browsing", *_BEFORE_DISPATCH, "shipping", "delivered", "settled", "cancelled"),
            Reason("nothing was refused at the door", "没有包裹在门口被拒收"),
        ),
    },
    context_type=DirectSaleContext,
    # No goods before payment, but cash on delivery (testing.no_shipping_before_payment).
    payment_secured_by={PAYMENT_AUTHORIZED.name},
    goods_moved_by={event.name for event in GOODS_MOVED},
    ships_before_payment=lambda context: context.cash_on_delivery,
    books=books,
    invariants=INVARIANTS,
    summary=summary,
)


@final
class DirectSale(Transaction[DirectSaleContext]):
    """A direct-sale transaction with one typed method per trigger (keywords only)."""

    __slots__ = ()

    @trigger
    def fill_order(
        self,
        *,
        customer_name: str,
        address: str,
        goods_name: str,
        quantity: int,
        specification: str,
        unit_price: Money,
    ) -> None:
        """Step 2: submit the shopping form."""

    @trigger
    def choose_payment(
        self,
        *,
        method: PaymentMethod | str,
        card_last4: str | None = None,
        token: str | None = None,
    ) -> None:
        """Step 3: choose how to pay (after a decline, choose again)."""

    @trigger
    def approve_payment(self, *, amount: Money, reference: str) -> None:
        """Step 4: the payer's server approved ``amount``."""

    @trigger
    def decline_payment(self, *, reason: str) -> None:
        """Step 4: the payer's server declined."""

    @trigger
    def dispatch(self, *, carrier: str | None = None, tracking_ref: str | None = None) -> None:
        """Step 5: tell the sales department to deliver to the door."""

    @trigger
    def deliver(self, *, received_by: str | None = None, collected: Money | None = None) -> None:
        """Step 5: the goods reached the door (cash on delivery: ``collected`` is paid)."""

    @trigger
    def settle(self, *, statement_ref: str) -> None:
        """Step 6: the bank pays and the consumer is billed."""

    @trigger
    def cancel(self, *, reason: str) -> None:
        """Cancel before dispatch; an authorization is voided."""

    @trigger
    def refuse_delivery(self, *, reason: str, refused_by: str | None = None) -> None:
        """Record that the parcel was refused at the door (拒收); it goes back to the merchant."""

    @trigger
    def expire(self) -> None:
        """Close the order left unpaid (超时未付款自动关闭): the clock fires it once due."""

    @trigger
    def return_to_merchant(
        self, *, received_by: str | None = None, note: str | None = None
    ) -> None:
        """Record that the refused parcel is back with the merchant; void any authorization."""


FLOW: Flow[DirectSale] = Flow(DEFINITION, DirectSale)
"""The direct-sale flow (an unpaid order closes itself after :data:`PAY_WITHIN`)."""


def flow(*, pay_within: timedelta = PAY_WITHIN) -> Flow[DirectSale]:
    """Return the direct-sale flow with unpaid orders closed after ``pay_within``.

    Register it under its name in place of :data:`FLOW` (``{"direct-sale": flow(...)}``)
    to give buyers more or less time to pay; ``pay_within`` must be a positive
    :class:`~datetime.timedelta`.

    >>> from datetime import timedelta
    >>> flow(pay_within=timedelta(hours=2)).engine.transition("order_filled", "expire").after
    datetime.timedelta(seconds=7200)
    """
    if pay_within == PAY_WITHIN:
        return FLOW
    transitions = tuple(
        attrs.evolve(t, after=pay_within) if t.trigger == "expire" else t
        for t in DEFINITION.transitions
    )
    return Flow(attrs.evolve(DEFINITION, transitions=transitions), DirectSale)
