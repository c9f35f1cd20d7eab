"""intermediary — 网络商品中介交易: a trade through an exchange, seed sections 『壹』『贰』.

The seed (『壹』)::

    ☆ 网络商品中介交易的流程
    这种交易是通过网络商品交易中心，即虚拟网络市场进行的。在整个过程中，交易中心以互联网为
    基础。将商品供应商、采购商和银行紧密地联系起来，为客户提供市场信息、商品交易、仓储配送、
    贷款结算等全方位服务。
    网络商品中介交易过程可分为四步：
    (1)买卖双方将供需信息从网上告诉网络商品交易中心，交易中心向参与者发布大量的、详细的
       交易数据和市场信息。
    (2)买卖双方根据这些信息选择自己的贸易伙伴，交易中心从中撮合，促使买卖双方签定合同。
    (3)买方在交易中心指定的银行办理转帐付款手续。
    (4)交易中心设在各地的配送部门将卖方的货物送交买方。

The exchange (网络商品交易中心, a virtual market) links suppliers, buyers and banks. Step (1)
is the exchange's own record (:mod:`ecomflow.flows.intermediary.exchange`), which starts this
flow for each match; this flow is one matched trade, steps (2) to (4): both sign the contract,
the buyer pays by transfer through a bank the exchange designates (指定的银行, 转帐付款), the
exchange's regional distribution centre delivers the seller's goods to the buyer (from the
warehouse, in transit, delivered), and the exchange settles with the seller, keeping its fee.

Either party may decline to sign; a buyer who never pays for a concluded contract is
declared in default (违约), which ends the trade and releases the seller's goods. The
exchange is never a party to its own trade. Money paid by the buyer equals the seller's
payout plus the exchange's fee (:func:`~.rules.books`).
"""

from __future__ import annotations

from typing import final

from ..._definition import FlowDefinition, Label, Reason, State, Transition
from ..._flow import Flow, Transaction, trigger
from ..._money import Money
from ...fields import replace
from ...vocabulary import (
    CONTRACT_CONCLUDED,
    CONTRACT_SIGNED_BY,
    DELIVERED,
    OWNERSHIP_TRANSFERRED,
    PAYMENT_TRANSFERRED,
    SELLER_NOTIFIED,
    TRADE_MATCHED,
)
from .rules import (
    DESIGNATED_BANK,
    GOODS_MOVE,
    INVARIANTS,
    NOT_YET_SIGNED,
    PAYMENT_OVERDUE,
    PAYS_CONTRACT_VALUE,
    books,
    concluded,
    default_notice,
    defaulted,
    fee,
    in_transit,
    notify_parties,
    ownership,
    payment_data,
    payout,
    seller_told,
    summary,
)
from .terms import (
    FEE_RECORDED,
    IN_TRANSIT,
    PARTIES_NOTIFIED,
    PARTIES_NOTIFIED_OF_DEFAULT,
    RELEASED_FROM_WAREHOUSE,
    SELLER_PAID,
    TRADE_DECLINED,
    TRADE_DEFAULTED,
    Decline,
    Default,
    Delivery,
    IntermediaryContext,
    Match,
    Party,
    Payment,
    Release,
    Settlement,
    Signature,
)

__all__ = ["DEFINITION", "FLOW", "START", "STATES", "TRANSITIONS", "Intermediary"]

STATES = (
    State("matched", Label("matched by the exchange", "交易中心已撮合")),
    State("signed_by_one", Label("signed by one party", "一方已签约")),
    State("contract_signed", Label("contract signed", "合同已签定")),
    State("paid", Label("paid through a designated bank", "已在指定银行转帐付款")),
    State("in_transit", Label("in transit from the warehouse", "配送中")),
    State("delivered", Label("delivered to the buyer", "已送交买方")),
    State("settled", Label("settled with the seller", "已与卖方结算"), terminal=True),
    State("cancelled", Label("cancelled", "已取消"), terminal=True),
    State(
        "defaulted",
        Label("ended: the buyer defaulted, the goods released", "买方违约，合同终止，货物释放"),
        terminal=True,
    ),
)
"""The trade's states, from the match to the settlement (or its early end)."""

START = Transition(
    "match",
    (),
    "matched",
    Label("match", "撮合"),
    step="(1)(2)",
    payload=Match,
    effect=lambda _, p: IntermediaryContext(match=p),
    emits=[TRADE_MATCHED.emit(), PARTIES_NOTIFIED.emit(notify_parties)],
)
"""(1)(2) The exchange matches a buyer and a seller (撮合): the trade begins."""

TRANSITIONS = (
    Transition(
        "sign",
        "matched",
        "signed_by_one",
        Label("sign", "签约"),
        step="(2)",
        payload=Signature,
        effect=lambda c, p: replace(c, signatures=(*c.signatures, p)),
        emits=[CONTRACT_SIGNED_BY.emit()],
    ),
    Transition(
        "sign",
        "signed_by_one",
        "contract_signed",
        Label("countersign", "会签"),
        step="(2)",
        payload=Signature,
        guards=[NOT_YET_SIGNED],
        effect=lambda c, p: replace(c, signatures=(*c.signatures, p)),
        emits=[CONTRACT_SIGNED_BY.emit(), CONTRACT_CONCLUDED.emit(concluded)],
    ),
    Transition(
        "decline",
        ("matched", "signed_by_one"),
        "cancelled",
        Label("decline", "拒签"),
        step="(2)",
        payload=Decline,
        effect=lambda c, p: replace(c, decline=p),
        emits=[TRADE_DECLINED.emit()],
    ),
    Transition(
        "pay",
        "contract_signed",
        "paid",
        Label("transfer through a designated bank", "在指定银行转帐付款"),
        step="(3)",
        payload=Payment,
        guards=[DESIGNATED_BANK, PAYS_CONTRACT_VALUE],
        effect=lambda c, p: replace(c, payment=p),
        emits=[PAYMENT_TRANSFERRED.emit(payment_data), SELLER_NOTIFIED.emit(seller_told)],
    ),
    Transition(
        "declare_default",
        "contract_signed",
        "defaulted",
        Label("declare the buyer in default", "宣告买方违约"),
        # (3) the buyer must pay; 『捌』3–4: the contract's 违约 terms apply when it does not
        step="(3) 『捌』3-4",
        payload=Default,
        guards=[PAYMENT_OVERDUE],
        effect=lambda c, p: replace(c, default=p),
        emits=[TRADE_DEFAULTED.emit(defaulted), PARTIES_NOTIFIED_OF_DEFAULT.emit(default_notice)],
    ),
    Transition(
        "release",
        "paid",
        "in_transit",
        Label("distribution centre ships from the warehouse", "配送部门出库发运"),
        step="(4)",
        payload=Release,
        effect=lambda c, p: replace(c, release=p),
        emits=[RELEASED_FROM_WAREHOUSE.emit(), IN_TRANSIT.emit(in_transit)],
    ),
    Transition(
        "deliver",
        "in_transit",
        "delivered",
        Label("deliver to the buyer", "送交买方"),
        step="(4)",
        payload=Delivery,
        effect=lambda c, p: replace(c, delivery=p),
        emits=[DELIVERED.emit(), OWNERSHIP_TRANSFERRED.emit(ownership)],
    ),
    Transition(
        "settle",
        "delivered",
        "settled",
        Label("settle with the seller", "与卖方结算"),
        step="(4)",
        payload=Settlement,
        effect=lambda c, p: replace(c, settlement=p),
        emits=[FEE_RECORDED.emit(fee), SELLER_PAID.emit(payout)],
    ),
)
"""Steps (2) to (4), and the two early ends: a party declines, the buyer defaults."""

_NOT_SIGNED = Reason("the contract is not signed by both", "合同尚未经双方签署")

DEFINITION = FlowDefinition(
    name="intermediary",
    title=Label("Trade through an online exchange", "网络商品中介交易"),
    source="『壹』『贰』",
    context_type=IntermediaryContext,
    states=STATES,
    start=START,
    transitions=TRANSITIONS,
    # No goods before payment (testing.no_shipping_before_payment).
    payment_secured_by={PAYMENT_TRANSFERRED.name},
    goods_moved_by=GOODS_MOVE,
    books=books,
    invariants=INVARIANTS,
    summary=summary,
    refusals={
        "pay": {
            **dict.fromkeys(("matched", "signed_by_one"), _NOT_SIGNED),
            "defaulted": Reason(
                "the buyer was declared in default; the trade is over",
                "买方已被宣告违约；交易已经结束",
            ),
        },
        "declare_default": {
            **dict.fromkeys(("matched", "signed_by_one"), _NOT_SIGNED),
            **dict.fromkeys(
                ("paid", "in_transit", "delivered", "settled"),
                Reason("the buyer has paid", "买方已经付款"),
            ),
        },
        "release": dict.fromkeys(
            ("matched", "signed_by_one", "contract_signed"),
            Reason("the buyer has not paid yet", "买方尚未付款"),
        ),
        "deliver": dict.fromkeys(
            ("matched", "signed_by_one", "contract_signed", "paid"),
            Reason("the goods have not left the warehouse", "货物尚未出库"),
        ),
        "settle": dict.fromkeys(
            ("matched", "signed_by_one", "contract_signed", "paid", "in_transit"),
            Reason("the goods are not delivered yet", "货物尚未送达"),
        ),
        "sign": dict.fromkeys(
            ("contract_signed", "paid", "in_transit", "delivered", "settled"),
            Reason("the contract is already concluded", "合同已经订立"),
        ),
    },
)
"""The intermediary trade: its states, transitions, guards, events, books and rules."""


@final
class Intermediary(Transaction[IntermediaryContext]):
    """A matched trade with one typed method per trigger."""

    __slots__ = ()

    @trigger
    def sign(self, *, party: Party | str, signatory: str) -> None:
        """Step 2: ``party`` signs the contract."""

    @trigger
    def decline(self, *, party: Party | str, reason: str) -> None:
        """Step 2: ``party`` declines to sign; the trade is cancelled."""

    @trigger
    def pay(self, *, bank: str, amount: Money, reference: str) -> None:
        """Step 3: the buyer pays through a designated bank."""

    @trigger
    def declare_default(self, *, reason: str) -> None:
        """End the trade in default (违约): the buyer never paid; the goods are released."""

    @trigger
    def release(self, *, warehouse: str, carrier: str | None = None) -> None:
        """Step 4: the distribution centre ships from the warehouse."""

    @trigger
    def deliver(self, *, received_by: str | None = None) -> None:
        """Step 4: the goods reach the buyer."""

    @trigger
    def settle(self, *, reference: str) -> None:
        """Step 4: the exchange pays the seller, keeping its fee."""


FLOW: Flow[Intermediary] = Flow(DEFINITION, Intermediary)
"""The intermediary flow."""
