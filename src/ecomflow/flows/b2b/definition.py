"""b2b — 电子商务的一般流程: the four-phase B2B contract of seed section 『捌』.

The seed, as it stands (its stray characters 专 and 属 included):

    『捌』 电子商务的一般流程有几种
    1.交易前的准备:这一阶段主要是指买卖双方和参加交易各方在签约前的准专备活动。
    2.交易磋商:在商品的供需双方都了解了有关商品的供需信息后,具体商品交易磋商过程就开始了,
    包括询盘、发盘、还盘以及组织资源等活动。
    3.签订合同和办理手续:电子商务的特点就是可以签订电子商务交易合同。交属易双方可以利用现代
    电子通信设备和通信方法,经过认真谈判和磋商后,在交易中的权利、所承担的义务以及对所购买
    商品的种类、数量、价格、交货地点、交货期、交易方式和运输方式、违约和索赔等合同条款,全部
    以电子交易合同作出全面详细的规定。
    4.履行合同和索赔:这一阶段是从买卖双方办完所有各种手续之后开始,卖方要备货、组织货源,
    同时进行报关、保险、取证等,买方将所购商品交付给运输公司包装、起运、发货。买卖双方可以
    通过电子商务服务器跟踪发出的货物,银行和金融机构也按照合同,处理双方收付款、进行结算,
    出具相应的银行单据等,直到买方收到自己所购商品,完成整个交易过程。违背和条款并造成一方
    损失时,就要进行索赔和理赔工作。发生争议,应以合同条款为依据,按照法律和惯例来处理

1. **preparation** (交易前的准备): both sides prepare (each records its own) before contracting;
2. **negotiation** (交易磋商): inquiry 询盘, offer 发盘, counter-offer 还盘, acceptance —
   following the UN Convention on Contracts for the International Sale of Goods (CISG):
   an inquiry binds nobody; only a definite offer (goods, quantity, price) counts (Art. 14);
   an offer takes effect when it reaches the offeree and may be withdrawn before (Art. 15);
   it may be revoked until an acceptance is sent, unless it is firm (Art. 16); a rejection
   ends even a firm offer (Art. 17); only the offeree accepts, only the standing offer, and an
   acceptance that changes the terms is a counter-offer, which becomes the new offer with the
   roles swapped (Art. 18–19); an acceptance must arrive within the offer's validity, and a
   late one counts only if the offeror confirms it (Art. 20–21); the contract is concluded
   exactly once (Art. 23);
3. **contract** (签订合同和办理手续): an electronic contract fixing rights and obligations,
   goods, quantity, price, delivery place and date, trade and transport method, breach and
   claims; both sign; then the formalities;
4. **performance** (履行合同): the logistics side (stock, customs 报关, insurance 保险,
   certificates 取证, hand to the carrier, in transit, received) and the payment side (pay as
   the contract's terms say, the banks issue their documents) run side by side; the contract
   is performed when both are done;
   **claims** (索赔/理赔): after a loss or breach, a claim within the notice period (CISG
   Art. 39: at most two years after the goods were handed over) is surveyed, then settled with
   a payout, or rejected and decided as a dispute by contract, law and practice. One claim per
   trade, in the contract's currency. During performance it runs in a third region beside the
   goods and the payment, so a payment still due stays payable; once it is decided the
   contract may be avoided (CISG Art. 49, 64, 81: the price and the goods go back). After
   performance it is a phase of its own.

This page is the graph: the states, the start, the transitions with the events they record,
then the typed transaction. The payloads, the context and the flow's own events are in
:mod:`.terms`; the guards, who may act, the events' data, the books and the flow's own
invariants (which :mod:`ecomflow.testing` checks after every step) are in :mod:`.rules`.
Validity windows and notice periods are read from the transaction's clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import final

import attrs

from ..._definition import FlowDefinition, Label, Reason, State, Transition
from ..._events import Event
from ..._flow import Flow, Transaction, trigger
from ..._money import Money
from ...fields import replace
from ...vocabulary import (
    CLAIM_PAID,
    CONTRACT_CONCLUDED,
    CONTRACT_PERFORMED,
    CONTRACT_SIGNED_BY,
    OWNERSHIP_TRANSFERRED,
)
from .rules import (
    BOTH_DONE,
    BUYER_RECEIVES,
    CLAIM_DECIDED,
    CLAIM_WITHIN_VALUE,
    COUNTER_BY_OFFEREE,
    DELIVERY_AFTER_CONCLUSION,
    IN_NOTICE,
    LAPSED,
    MATCHES_OFFER,
    NOT_FIRM,
    NOT_YET_SIGNED,
    OFFEREE_ACTS,
    OFFEROR_ACTS,
    PAYMENT_DUE,
    PAYOUT_WITHIN_CLAIM,
    PAYS_VALUE,
    PREPAID,
    STILL_VALID,
    TERMS_MATCH,
    WITHIN_VALIDITY,
    _books,
    _both_signed,
    _claim_paid,
    _concluded_exactly_once,
    _contract,
    _goods_back,
    _has_payout,
    _logged,
    _ownership,
    _paid_once_as_the_terms_say,
    _parties,
    _payment,
    _performed,
    _previous,
    _price_back,
    _receipt_only_after_shipment,
    _shipping_documents,
    _ships_before_payment,
    _to_offeree,
    _was_paid,
    _was_received,
    claim_period_end,
    contract_concluded_at_most_once,
    counter_offer_ends_the_standing_offer,
    offer_expiry,
    offeree_is_the_actor,
    payouts_within_the_claim,
    summary,
    the_buyer_pays,
    the_party_acts,
)
from .terms import (
    BANK_DOCUMENTS_ISSUED,
    CARGO_INSURED,
    CERTIFICATES_OBTAINED,
    CLAIM_FILED,
    CLAIM_PERIOD_ENDED,
    CLAIM_REJECTED,
    CONTRACT_AVOIDED,
    CONTRACT_DRAWN_UP,
    CONTRACT_SIGNED,
    COUNTER_OFFER_MADE,
    CUSTOMS_DECLARED,
    DISPUTE_RESOLVED,
    FORMALITIES_COMPLETED,
    GOODS_RECEIVED,
    GOODS_RETURNED,
    GOODS_STOCKED,
    HANDED_TO_CARRIER,
    INQUIRY_SENT,
    LATE_ACCEPTANCE_CONFIRMED,
    LATE_ACCEPTANCE_REFUSED,
    LATE_ACCEPTANCE_SENT,
    NEGOTIATION_BROKEN_OFF,
    OFFER_ACCEPTED,
    OFFER_LAPSED,
    OFFER_MADE,
    OFFER_RECEIVED,
    OFFER_REJECTED,
    OFFER_REJECTED_BY_COUNTER_OFFER,
    OFFER_REVOKED,
    OFFER_WITHDRAWN,
    PAYMENT_MADE,
    PAYMENT_RETURNED,
    PREPARATION_RECORDED,
    SHIPMENT_TRACKED,
    SHIPPING_DOCUMENTS_SENT,
    SURVEY_REPORTED,
    TRADE_CLOSED,
    TRADE_PREPARATION_STARTED,
    Acceptance,
    Avoidance,
    B2BContext,
    Basis,
    BreakOff,
    ByParty,
    Claim,
    ClaimSettlement,
    ContractTerms,
    Handover,
    Inquiry,
    Offer,
    Parties,
    Party,
    Payment,
    Preparation,
    Resolution,
    Step,
    Survey,
)

__all__ = ["B2B", "DEFINITION", "FLOW", "STATES", "TRANSITIONS"]

# -- the states ---------------------------------------------------------------------------

STATES = (
    State(
        "preparation",
        Label("preparation", "交易前的准备"),
        initial="researching",
        children=[
            State("researching", Label("researching", "调研准备")),
            State("ready", Label("ready to negotiate", "准备就绪")),
        ],
    ),
    State(
        "negotiation",
        Label("negotiation", "交易磋商"),
        initial="open",
        children=[
            State("open", Label("no standing offer", "无有效发盘")),
            State("offer_sent", Label("offer on its way", "发盘在途")),
            State("offer_standing", Label("offer standing", "发盘有效")),
            State(
                "late_acceptance",
                Label("late acceptance awaiting the offeror", "逾期接受待确认"),
            ),
        ],
    ),
    State(
        "contract",
        Label("contract", "签订合同和办理手续"),
        initial="drafting",
        children=[
            State("drafting", Label("drafting the e-contract", "拟定电子合同")),
            State("awaiting_signatures", Label("awaiting signatures", "待签署")),
            State("signed_by_one", Label("signed by one party", "一方已签署")),
            State("signed", Label("signed by both", "双方已签署")),
        ],
    ),
    State(
        "performance",
        Label("performance", "履行合同"),
        parallel=True,
        children=[
            State(
                "logistics",
                Label("goods", "货物"),
                initial="stocking",
                children=[
                    State("stocking", Label("stocking the goods", "备货")),
                    State("stocked", Label("goods stocked", "已备货")),
                    State("customs_cleared", Label("customs declared", "已报关")),
                    State("insured", Label("insured", "已保险")),
                    State("certified", Label("certificates obtained", "已取证")),
                    State("in_transit", Label("with the carrier", "运输中")),
                    State("received", Label("received by the buyer", "买方已收货")),
                ],
            ),
            State(
                "payment",
                Label("payment", "付款"),
                initial="awaiting",
                children=[
                    State("awaiting", Label("awaiting payment", "待付款")),
                    State("paid", Label("paid", "已付款")),
                    State("documented", Label("bank documents issued", "银行单据已出具")),
                ],
            ),
            State(
                "claim",
                Label("claim during performance", "履约中的索赔"),
                initial="none",
                children=[
                    State("none", Label("no claim", "无索赔")),
                    State("filed", Label("claim filed", "已提出索赔")),
                    State("surveyed", Label("claim surveyed", "已查勘")),
                    State("disputed", Label("in dispute", "争议处理中")),
                    State("decided", Label("claim decided", "索赔已处理")),
                ],
            ),
        ],
    ),
    State("performed", Label("contract performed", "合同履行完毕")),
    State(
        "claims",
        Label("claims", "索赔"),
        initial="filed",
        children=[
            State("filed", Label("claim filed", "已提出索赔")),
            State("surveyed", Label("claim surveyed", "已查勘")),
            State("disputed", Label("in dispute", "争议处理中")),
        ],
    ),
    State("closed", Label("closed", "交易完成"), terminal=True),
    State("no_deal", Label("no deal", "未成交"), terminal=True),
    State("avoided", Label("contract avoided", "合同已解除"), terminal=True),
)
"""The four phases of 『捌』, nested; performance runs goods, payment and a claim in parallel."""

# -- the start ----------------------------------------------------------------------------

START = Transition(
    "begin",
    (),
    "preparation",
    Label("begin preparing", "开始准备"),
    step="1",
    payload=Parties,
    effect=lambda _, p: B2BContext(buyer=p.buyer, seller=p.seller),
    emits=[TRADE_PREPARATION_STARTED.emit()],
)
"""A buyer and a seller begin to prepare a trade."""

# -- the transitions ----------------------------------------------------------------------

_NEGOTIATION_OPEN = ("preparation.ready", "negotiation.open")


def _claim_steps(
    source: str, region: str, *, decided: str, en: str = "", zh: str = ""
) -> tuple[Transition, ...]:
    """Return the claim steps of 『捌』 4 (索赔和理赔), from ``source`` within ``region``.

    File a claim, survey it, then settle it, or reject it and resolve the dispute, ending
    in ``decided``. The same five steps run during performance (a region beside goods and
    payment) and after it (a phase of its own); ``en`` and ``zh`` tell their labels apart.
    """
    return (
        Transition(
            "file_claim",
            source,
            f"{region}.filed",
            Label(f"file a claim{en}", f"索赔{zh}"),
            step="4 (CISG 39)",
            payload=Claim,
            guards=[IN_NOTICE, CLAIM_WITHIN_VALUE],
            requires_actor=True,
            actor_check=the_party_acts,
            effect=lambda c, p: replace(c, claim=p),
            emits=[CLAIM_FILED.emit()],
        ),
        Transition(
            "survey",
            f"{region}.filed",
            f"{region}.surveyed",
            Label(f"survey{en}", f"查勘{zh}"),
            step="4",
            payload=Survey,
            effect=lambda c, p: replace(c, survey=p),
            emits=[SURVEY_REPORTED.emit()],
        ),
        Transition(
            "settle_claim",
            f"{region}.surveyed",
            decided,
            Label(f"settle the claim{en}", f"理赔{zh}"),
            step="4",
            payload=ClaimSettlement,
            guards=[PAYOUT_WITHIN_CLAIM],
            effect=lambda c, p: replace(c, claim_payout=p.payout),
            emits=[CLAIM_PAID.emit(_claim_paid)],
        ),
        Transition(
            "reject_claim",
            f"{region}.surveyed",
            f"{region}.disputed",
            Label(f"reject the claim{en}", f"拒赔{zh}"),
            step="4",
            payload=Step,
            effect=lambda c, p: replace(c, claim_rejection=p.reference),
            emits=[CLAIM_REJECTED.emit()],
        ),
        Transition(
            "resolve_dispute",
            f"{region}.disputed",
            decided,
            Label(f"resolve the dispute{en}", f"解决争议{zh}"),
            step="4",
            payload=Resolution,
            guards=[PAYOUT_WITHIN_CLAIM],
            effect=lambda c, p: replace(c, resolution=p, claim_payout=p.payout),
            emits=[DISPUTE_RESOLVED.emit(), CLAIM_PAID.emit(_claim_paid, when=_has_payout)],
        ),
    )


TRANSITIONS = (
    # 1. preparation 交易前的准备
    Transition(
        "prepare",
        "preparation",
        "preparation.ready",
        Label("prepare", "做好签约前准备"),
        step="1",
        payload=Preparation,
        effect=lambda c, p: replace(c, preparations=(*c.preparations, p)),
        emits=[PREPARATION_RECORDED.emit()],
    ),
    # 2. negotiation 交易磋商: 询盘、发盘、还盘 (CISG Art. 14-23)
    Transition(
        "inquire",
        _NEGOTIATION_OPEN,
        "negotiation.open",
        Label("inquiry", "询盘"),
        step="2",
        payload=Inquiry,
        effect=lambda c, p: replace(c, inquiries=(*c.inquiries, p)),
        emits=[INQUIRY_SENT.emit()],
    ),
    Transition(
        "offer",
        _NEGOTIATION_OPEN,
        "negotiation.offer_sent",
        Label("offer", "发盘"),
        step="2",
        payload=Offer,
        guards=[STILL_VALID],
        effect=lambda c, p: replace(c, offers=(*c.offers, p), offer=p),
        emits=[OFFER_MADE.emit(_to_offeree)],
    ),
    Transition(
        "withdraw",
        "negotiation.offer_sent",
        "negotiation.open",
        Label("withdraw before it arrives", "撤回"),
        step="2 (CISG 15)",
        payload=ByParty,
        guards=[OFFEROR_ACTS],
        effect=lambda c, p: replace(c, offer=None),
        emits=[OFFER_WITHDRAWN.emit()],
    ),
    Transition(
        "arrive",
        "negotiation.offer_sent",
        "negotiation.offer_standing",
        Label("offer reaches the offeree", "发盘送达"),
        step="2 (CISG 15)",
        emits=[OFFER_RECEIVED.emit()],
    ),
    Transition(
        "revoke",
        "negotiation.offer_standing",
        "negotiation.open",
        Label("revoke", "撤销"),
        step="2 (CISG 16)",
        payload=ByParty,
        guards=[OFFEROR_ACTS, NOT_FIRM],
        effect=lambda c, p: replace(c, offer=None),
        emits=[OFFER_REVOKED.emit()],
    ),
    Transition(
        "reject",
        "negotiation.offer_standing",
        "negotiation.open",
        Label("reject", "拒绝"),
        step="2 (CISG 17)",
        payload=ByParty,
        guards=[OFFEREE_ACTS],
        effect=lambda c, p: replace(c, offer=None),
        emits=[OFFER_REJECTED.emit()],
    ),
    Transition(
        "counter_offer",
        "negotiation.offer_standing",
        "negotiation.offer_sent",
        Label("counter-offer", "还盘"),
        step="2 (CISG 19)",
        payload=Offer,
        guards=[COUNTER_BY_OFFEREE, STILL_VALID],
        effect=lambda c, p: replace(c, offers=(*c.offers, p), offer=p),
        emits=[
            COUNTER_OFFER_MADE.emit(_to_offeree),
            OFFER_REJECTED_BY_COUNTER_OFFER.emit(_previous),
        ],
    ),
    Transition(
        "accept",
        "negotiation.offer_standing",
        "contract",
        Label("accept", "接受"),
        step="2 (CISG 18, 23)",
        payload=Acceptance,
        guards=[OFFEREE_ACTS, MATCHES_OFFER, WITHIN_VALIDITY],
        requires_actor=True,
        actor_check=offeree_is_the_actor,
        effect=lambda c, p, now: replace(c, agreed=c.offer, concluded_at=now),
        effect_uses_clock=True,
        emits=[OFFER_ACCEPTED.emit(), CONTRACT_CONCLUDED.emit(_contract)],
    ),
    Transition(
        "lapse",
        "negotiation.offer_standing",
        "negotiation.offer_standing",
        Label("the offer lapses", "发盘逾期失效"),
        step="2 (CISG 20, 21)",
        until=offer_expiry,
        timer=Label("at offer expiry", "报价到期时"),
        effect=lambda c, _: replace(c, lapsed=c.offer),
        emits=[OFFER_LAPSED.emit()],
    ),
    Transition(
        "accept_late",
        "negotiation.offer_standing",
        "negotiation.late_acceptance",
        Label("accept late", "逾期接受"),
        step="2 (CISG 21)",
        payload=Acceptance,
        guards=[OFFEREE_ACTS, MATCHES_OFFER, LAPSED],
        requires_actor=True,
        actor_check=offeree_is_the_actor,
        effect=lambda c, p: replace(c, late_acceptance=p),
        emits=[LATE_ACCEPTANCE_SENT.emit()],
    ),
    Transition(
        "confirm_late_acceptance",
        "negotiation.late_acceptance",
        "contract",
        Label("offeror confirms", "发盘人确认"),
        step="2 (CISG 21)",
        payload=ByParty,
        guards=[OFFEROR_ACTS],
        effect=lambda c, p, now: replace(c, agreed=c.offer, concluded_at=now),
        effect_uses_clock=True,
        emits=[LATE_ACCEPTANCE_CONFIRMED.emit(), CONTRACT_CONCLUDED.emit(_contract)],
    ),
    Transition(
        "refuse_late_acceptance",
        "negotiation.late_acceptance",
        "negotiation.open",
        Label("offeror refuses", "发盘人不认可"),
        step="2 (CISG 21)",
        payload=ByParty,
        guards=[OFFEROR_ACTS],
        effect=lambda c, p: replace(c, offer=None, late_acceptance=None),
        emits=[LATE_ACCEPTANCE_REFUSED.emit()],
    ),
    Transition(
        "break_off",
        ("preparation", "negotiation"),
        "no_deal",
        Label("break off", "终止磋商"),
        step="1-2",
        payload=BreakOff,
        emits=[NEGOTIATION_BROKEN_OFF.emit()],
    ),
    # 3. contract 签订合同和办理手续
    Transition(
        "draw_up",
        "contract.drafting",
        "contract.awaiting_signatures",
        Label("draw up the e-contract", "拟定电子合同"),
        step="3",
        payload=ContractTerms,
        guards=[TERMS_MATCH, DELIVERY_AFTER_CONCLUSION],
        effect=lambda c, p: replace(c, terms=p),
        emits=[CONTRACT_DRAWN_UP.emit()],
    ),
    Transition(
        "sign",
        "contract.awaiting_signatures",
        "contract.signed_by_one",
        Label("sign", "签署"),
        step="3",
        payload=ByParty,
        requires_actor=True,
        actor_check=the_party_acts,
        effect=lambda c, p: replace(c, signed=(*c.signed, p.by)),
        emits=[CONTRACT_SIGNED_BY.emit()],
    ),
    Transition(
        "sign",
        "contract.signed_by_one",
        "contract.signed",
        Label("countersign", "会签"),
        step="3",
        payload=ByParty,
        guards=[NOT_YET_SIGNED],
        requires_actor=True,
        actor_check=the_party_acts,
        effect=lambda c, p: replace(c, signed=(*c.signed, p.by)),
        emits=[CONTRACT_SIGNED_BY.emit(), CONTRACT_SIGNED.emit(_both_signed)],
    ),
    Transition(
        "complete_formalities",
        "contract.signed",
        "performance",
        Label("complete the formalities", "办理手续"),
        step="3",
        payload=Step,
        effect=lambda c, p: replace(c, formalities=p.reference),
        emits=[FORMALITIES_COMPLETED.emit()],
    ),
    # 4. performance 履行合同: the goods (备货、报关、保险、取证、起运、收货)
    Transition(
        "stock_goods",
        "performance.logistics.stocking",
        "performance.logistics.stocked",
        Label("stock the goods", "备货"),
        step="4",
        payload=Step,
        effect=_logged("stocked"),
        emits=[GOODS_STOCKED.emit()],
    ),
    Transition(
        "declare_customs",
        "performance.logistics.stocked",
        "performance.logistics.customs_cleared",
        Label("declare customs", "报关"),
        step="4",
        payload=Step,
        effect=_logged("customs"),
        emits=[CUSTOMS_DECLARED.emit()],
    ),
    Transition(
        "insure",
        "performance.logistics.customs_cleared",
        "performance.logistics.insured",
        Label("insure", "保险"),
        step="4",
        payload=Step,
        effect=_logged("insured"),
        emits=[CARGO_INSURED.emit()],
    ),
    Transition(
        "obtain_certificates",
        "performance.logistics.insured",
        "performance.logistics.certified",
        Label("obtain certificates", "取证"),
        step="4",
        payload=Step,
        effect=_logged("certified"),
        emits=[CERTIFICATES_OBTAINED.emit()],
    ),
    Transition(
        "hand_to_carrier",
        "performance.logistics.certified",
        "performance.logistics.in_transit",
        Label("hand to the carrier", "交付承运"),
        step="4",
        payload=Handover,
        guards=[PREPAID],
        effect=lambda c, p: replace(c, handover=p),
        emits=[HANDED_TO_CARRIER.emit(), SHIPPING_DOCUMENTS_SENT.emit(_shipping_documents)],
    ),
    Transition(
        "track",
        "performance.logistics.in_transit",
        "performance.logistics.in_transit",
        Label("track the shipment", "跟踪货物"),
        step="4",
        payload=Step,
        emits=[SHIPMENT_TRACKED.emit()],
    ),
    Transition(
        "receive",
        "performance.logistics.in_transit",
        "performance.logistics.received",
        Label("buyer receives", "买方收货"),
        step="4",
        payload=ByParty,
        guards=[BUYER_RECEIVES],
        requires_actor=True,
        actor_check=the_party_acts,
        effect=lambda c, p, now: replace(c, received_at=now),
        effect_uses_clock=True,
        emits=[GOODS_RECEIVED.emit(), OWNERSHIP_TRANSFERRED.emit(_ownership)],
    ),
    # 4. performance 履行合同: the payment (收付款、结算、银行单据)
    Transition(
        "pay",
        "performance.payment.awaiting",
        "performance.payment.paid",
        Label("pay", "付款"),
        step="4",
        payload=Payment,
        guards=[PAYMENT_DUE, PAYS_VALUE],
        requires_actor=True,
        actor_check=the_buyer_pays,
        effect=lambda c, p: replace(c, payment=p),
        emits=[PAYMENT_MADE.emit(_payment)],
    ),
    Transition(
        "issue_bank_documents",
        "performance.payment.paid",
        "performance.payment.documented",
        Label("banks issue documents", "银行出具单据"),
        step="4",
        payload=Step,
        effect=lambda c, p: replace(c, bank_documents=p.reference),
        emits=[BANK_DOCUMENTS_ISSUED.emit()],
    ),
    # 4. both sides done: 直到买方收到自己所购商品,完成整个交易过程
    Transition(
        "complete",
        "performance.claim.none",
        "performed",
        Label("performed", "履约完成"),
        step="4",
        guards=[BOTH_DONE],
        emits=[CONTRACT_PERFORMED.emit(_performed)],
    ),
    Transition(
        "complete",
        "performance.claim.decided",
        "closed",
        Label("performed, its claim decided", "履约完成（索赔已处理）"),
        step="4",
        guards=[BOTH_DONE],
        emits=[CONTRACT_PERFORMED.emit(_performed)],
    ),
    Transition(
        "avoid",
        "performance",
        "avoided",
        Label("declare the contract avoided", "解除合同"),
        step="4 (CISG 49, 64, 81)",
        payload=Avoidance,
        guards=[CLAIM_DECIDED],
        effect=lambda c, p: replace(c, avoidance=p),
        emits=[
            CONTRACT_AVOIDED.emit(_parties),
            PAYMENT_RETURNED.emit(_price_back, when=_was_paid),
            GOODS_RETURNED.emit(_goods_back, when=_was_received),
        ],
    ),
    # 4. a claim during performance 索赔和理赔 (the claim region beside goods and payment)
    *_claim_steps(
        "performance.claim.none",
        "performance.claim",
        decided="performance.claim.decided",
        en=" during performance",
        zh="（履约中）",
    ),
    # 4. a claim after performance 索赔和理赔 (a phase of its own)
    *_claim_steps("performed", "claims", decided="closed"),
    Transition(
        "close",
        "performed",
        "closed",
        Label("close", "交易完成"),
        step="4",
        emits=[TRADE_CLOSED.emit()],
    ),
    Transition(
        "end_claim_period",
        "performed",
        "closed",
        Label("the claim period ends", "索赔期满"),
        step="4 (CISG 39)",
        until=claim_period_end,
        timer=Label("at the end of the claim period", "索赔期满时"),
        emits=[CLAIM_PERIOD_ENDED.emit(), TRADE_CLOSED.emit()],
    ),
)
"""Every step of 『捌』, in the seed's order; each names its guards and the events it records."""

_OPEN_CLAIM = (
    "performance.claim.filed",
    "performance.claim.surveyed",
    "performance.claim.disputed",
)

REFUSALS = {
    "accept": {
        "negotiation.open": Reason("no offer is standing", "没有有效的发盘"),
        "negotiation.offer_sent": Reason(
            "the offer has not reached the offeree yet", "发盘尚未到达受盘人"
        ),
    },
    "revoke": {
        "negotiation.offer_sent": Reason(
            "the offer has not arrived; withdraw it instead", "发盘尚未到达；请改为撤回"
        )
    },
    "withdraw": {
        "negotiation.offer_standing": Reason(
            "the offer has reached the offeree; revoke it instead", "发盘已到达受盘人；请改为撤销"
        )
    },
    "hand_to_carrier": {
        "performance.logistics.stocking": Reason(
            "the goods are not ready to ship", "货物尚未备妥，不能发运"
        )
    },
    "pay": {"contract": Reason("the contract is not in performance yet", "合同尚未进入履行阶段")},
    "complete": dict.fromkeys(
        _OPEN_CLAIM,
        Reason("a claim is open: survey and decide it first", "有未结的索赔：请先检验并处理"),
    ),
    "file_claim": {
        **dict.fromkeys(_OPEN_CLAIM, Reason("a claim is already open", "已有未结的索赔")),
        "performance.claim.decided": Reason(
            "this trade's claim was decided already", "本笔交易的索赔已经处理"
        ),
    },
}
"""Why a trigger is refused where the graph has no edge for it: the domain's reasons."""

DEFINITION = FlowDefinition(
    name="b2b",
    title=Label("The general B2B process", "电子商务的一般流程"),
    source="『捌』",
    context_type=B2BContext,
    # No goods before payment unless the contract's terms let them go first.
    payment_secured_by={PAYMENT_MADE.name},
    goods_moved_by={HANDED_TO_CARRIER.name, GOODS_RECEIVED.name, OWNERSHIP_TRANSFERRED.name},
    ships_before_payment=_ships_before_payment,
    states=STATES,
    start=START,
    transitions=TRANSITIONS,
    refusals=REFUSALS,
    books=_books,
    invariants=(
        _concluded_exactly_once,
        contract_concluded_at_most_once,
        counter_offer_ends_the_standing_offer,
        _receipt_only_after_shipment,
        _paid_once_as_the_terms_say,
        payouts_within_the_claim,
    ),
    summary=summary,
)
"""The B2B flow's definition: its graph, guards, books and rules."""

# -- the typed transaction ----------------------------------------------------------------


@final
class B2B(Transaction[B2BContext]):
    """A B2B contract transaction; trigger with :meth:`fire`, or the typed methods below.

    Every method takes its payload by keyword (``tx.offer(by="seller", goods=...)``) and
    returns the events it recorded. Who acts is checked for the acts the seed names a party
    for: the offeree accepts (``accept``, ``accept_late``), each party signs, receives and
    claims for itself (``sign``, ``receive``, ``file_claim``: the party ``by`` names) and the
    buyer pays (``pay``: the buyer or its bank). Those need ``actor`` (the party's name or
    role); without it, or with another party, they raise :class:`~ecomflow.GuardRejected`
    (the reason ``"actor"``) and nothing changes. Every other method takes an optional actor.
    """

    __slots__ = ()

    # 1. preparation
    @trigger
    def prepare(self, *, by: Party | str, note: str, actor: str | None = None) -> None:
        """交易前的准备: record one side's preparation (research, partners, needs)."""

    # 2. negotiation
    @trigger
    def inquire(
        self, *, by: Party | str, goods: str, note: str | None = None, actor: str | None = None
    ) -> None:
        """询盘: ask for terms; it binds nobody."""

    @trigger
    def offer(
        self,
        *,
        by: Party | str,
        goods: str,
        quantity: int,
        price: Money,
        valid_until: datetime | None = None,
        firm: bool = False,
        actor: str | None = None,
    ) -> None:
        """发盘: make a definite offer."""

    @trigger
    def withdraw(
        self, *, by: Party | str, note: str | None = None, actor: str | None = None
    ) -> None:
        """撤回: the offeror withdraws the offer before it arrives (CISG Art. 15)."""

    @trigger
    def arrive(self, *, actor: str | None = None) -> None:
        """送达: record that the offer reached the offeree; it takes effect (CISG Art. 15)."""

    @trigger
    def revoke(self, *, by: Party | str, note: str | None = None, actor: str | None = None) -> None:
        """撤销: the offeror revokes a standing offer that is not firm (CISG Art. 16)."""

    @trigger
    def reject(self, *, by: Party | str, note: str | None = None, actor: str | None = None) -> None:
        """拒绝: the offeree rejects the standing offer, even a firm one (CISG Art. 17)."""

    @trigger
    def counter_offer(
        self,
        *,
        by: Party | str,
        goods: str,
        quantity: int,
        price: Money,
        valid_until: datetime | None = None,
        firm: bool = False,
        actor: str | None = None,
    ) -> None:
        """还盘: reject the standing offer and make a new one."""

    @trigger
    def accept(
        self, *, by: Party | str, goods: str, quantity: int, price: Money, actor: str
    ) -> None:
        """接受: accept the standing offer on its terms, within its validity.

        ``actor`` must be the offeree (its name or role).
        """

    @trigger
    def lapse(self, *, actor: str | None = None) -> None:
        """发盘逾期失效: the offer lapses at its validity's end; the clock fires it once due."""

    @trigger
    def accept_late(
        self, *, by: Party | str, goods: str, quantity: int, price: Money, actor: str
    ) -> None:
        """Accept a lapsed offer; it counts only if the offeror confirms.

        ``actor`` must be the offeree (its name or role).
        """

    @trigger
    def confirm_late_acceptance(
        self, *, by: Party | str, note: str | None = None, actor: str | None = None
    ) -> None:
        """Confirm a late acceptance as the offeror: the contract is concluded (CISG Art. 21)."""

    @trigger
    def refuse_late_acceptance(
        self, *, by: Party | str, note: str | None = None, actor: str | None = None
    ) -> None:
        """Refuse a late acceptance as the offeror: no offer stands (CISG Art. 21)."""

    @trigger
    def break_off(self, *, by: Party | str, reason: str, actor: str | None = None) -> None:
        """终止磋商: either party ends the talks without a contract."""

    # 3. contract
    def draw_up(
        self,
        *,
        terms: ContractTerms,
        actor: str | None = None,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> tuple[Event, ...]:
        """拟定电子合同: fix the electronic contract's ``terms`` (『捌』 3).

        The terms are one value (:class:`ContractTerms`, ten fields with its ``value``),
        so this method takes it whole; ``tx.fire("draw_up", ...)`` takes the fields.
        """
        return self.fire(
            "draw_up",
            actor=actor,
            causation_id=causation_id,
            correlation_id=correlation_id,
            **attrs.asdict(terms, recurse=False),
        )

    @trigger
    def sign(self, *, by: Party | str, note: str | None = None, actor: str) -> None:
        """签署: a party signs the contract; the second signature concludes the signing.

        ``actor`` must be the party ``by`` names (its name or role).
        """

    @trigger
    def complete_formalities(self, *, reference: str, actor: str | None = None) -> None:
        """办理手续: complete the formalities (licences, permits); performance begins."""

    # 4. performance: the goods
    @trigger
    def stock_goods(self, *, reference: str, actor: str | None = None) -> None:
        """备货: the seller stocks the goods."""

    @trigger
    def declare_customs(self, *, reference: str, actor: str | None = None) -> None:
        """报关: declare the goods at customs."""

    @trigger
    def insure(self, *, reference: str, actor: str | None = None) -> None:
        """保险: insure the cargo."""

    @trigger
    def obtain_certificates(self, *, reference: str, actor: str | None = None) -> None:
        """取证: obtain the certificates."""

    @trigger
    def hand_to_carrier(
        self, *, carrier: str, bill_of_lading: str, actor: str | None = None
    ) -> None:
        """起运: hand the goods to the carrier (after prepayment, if the terms require it)."""

    @trigger
    def track(self, *, reference: str, actor: str | None = None) -> None:
        """跟踪发出的货物: record where the shipment is."""

    @trigger
    def receive(self, *, by: Party | str, note: str | None = None, actor: str) -> None:
        """买方收到所购商品: the buyer receives the goods; ownership passes.

        ``actor`` must be the buyer (its name or role).
        """

    # 4. performance: the payment
    @trigger
    def pay(self, *, bank: str, amount: Money, reference: str, actor: str) -> None:
        """Pay the contract value, when the payment terms allow.

        ``actor`` must be the buyer (its name or role) or ``bank``, paying for it.
        """

    @trigger
    def issue_bank_documents(self, *, reference: str, actor: str | None = None) -> None:
        """出具相应的银行单据: the banks issue their documents."""

    @trigger
    def complete(self, *, actor: str | None = None) -> None:
        """完成整个交易过程: the contract is performed once both sides are done."""

    @trigger
    def avoid(self, *, by: Party | str, reason: str, actor: str | None = None) -> None:
        """Declare the contract avoided after a decided claim: the price and goods go back."""

    # 4. claims
    @trigger
    def file_claim(
        self, *, by: Party | str, reason: str, amount: Money, evidence: str, actor: str
    ) -> None:
        """索赔: claim for a loss or breach, with evidence, within the notice period.

        ``actor`` must be the claimant, the party ``by`` names (its name or role).
        """

    @trigger
    def survey(self, *, surveyor: str, findings: str, actor: str | None = None) -> None:
        """查勘: report the survey of the claim."""

    @trigger
    def settle_claim(self, *, payout: Money, actor: str | None = None) -> None:
        """理赔: pay the surveyed claim."""

    @trigger
    def reject_claim(self, *, reference: str, actor: str | None = None) -> None:
        """拒赔: reject the surveyed claim; it becomes a dispute."""

    @trigger
    def resolve_dispute(
        self,
        *,
        basis: Basis | str,
        decision: str,
        payout: Money | None = None,
        actor: str | None = None,
    ) -> None:
        """Decide a rejected claim by contract, law or practice (按照法律和惯例来处理)."""

    @trigger
    def close(self, *, actor: str | None = None) -> None:
        """交易完成: close a performed trade that has no claim."""

    @trigger
    def end_claim_period(self, *, actor: str | None = None) -> None:
        """索赔期满: the claim period ended without a claim; the clock fires it once due."""


FLOW: Flow[B2B] = Flow(DEFINITION, B2B)
"""The B2B flow."""
