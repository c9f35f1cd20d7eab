"""The terms of the B2B flow (『捌』): its payloads, enums, context and the events it records.

Payloads and the context are frozen, slotted attrs classes; the events are declared once
here (the shared ones come from :mod:`ecomflow.vocabulary`) so that the graph, the rules
and the tests name them by their declaration.
"""

from __future__ import annotations

import enum
import functools
from datetime import date, datetime, timedelta
from typing import Any, final

import attrs

from ..._definition import EventType, Label
from ..._errors import InvalidPayload
from ..._events import Stream
from ..._money import Money
from ...fields import choice, money, optional_money, optional_text, positive_int, text
from ..intermediary import Party

__all__ = [
    "BANK_DOCUMENTS_ISSUED",
    "CARGO_INSURED",
    "CERTIFICATES_OBTAINED",
    "CLAIM_FILED",
    "CLAIM_PERIOD_ENDED",
    "CLAIM_REJECTED",
    "CONTRACT_AVOIDED",
    "CONTRACT_DRAWN_UP",
    "CONTRACT_SIGNED",
    "COUNTER_OFFER_MADE",
    "CUSTOMS_DECLARED",
    "DISPUTE_RESOLVED",
    "FORMALITIES_COMPLETED",
    "GOODS_RECEIVED",
    "GOODS_RETURNED",
    "GOODS_STOCKED",
    "HANDED_TO_CARRIER",
    "INQUIRY_SENT",
    "LATE_ACCEPTANCE_CONFIRMED",
    "LATE_ACCEPTANCE_REFUSED",
    "LATE_ACCEPTANCE_SENT",
    "NEGOTIATION_BROKEN_OFF",
    "NOTICE_PERIOD",
    "OFFER_ACCEPTED",
    "OFFER_LAPSED",
    "OFFER_MADE",
    "OFFER_RECEIVED",
    "OFFER_REJECTED",
    "OFFER_REJECTED_BY_COUNTER_OFFER",
    "OFFER_REVOKED",
    "OFFER_WITHDRAWN",
    "PAYMENT_MADE",
    "PAYMENT_RETURNED",
    "PREPARATION_RECORDED",
    "SHIPMENT_TRACKED",
    "SHIPPING_DOCUMENTS_SENT",
    "SURVEY_REPORTED",
    "TRADE_CLOSED",
    "TRADE_PREPARATION_STARTED",
    "Acceptance",
    "Avoidance",
    "B2BContext",
    "Basis",
    "BreakOff",
    "ByParty",
    "Claim",
    "ClaimSettlement",
    "ContractTerms",
    "Handover",
    "Inquiry",
    "Offer",
    "Parties",
    "Party",
    "Payment",
    "PaymentTerms",
    "Preparation",
    "Resolution",
    "Step",
    "Survey",
]

NOTICE_PERIOD = timedelta(days=730)
"""CISG Art. 39(2): two years from the date the goods were actually handed over."""


class PaymentTerms(enum.Enum):
    """When the buyer pays, as the contract says."""

    PREPAYMENT = "prepayment"
    AGAINST_DOCUMENTS = "against_documents"
    ON_DELIVERY = "on_delivery"


class Basis(enum.Enum):
    """What a dispute is decided by (以合同条款为依据，按照法律和惯例来处理)."""

    CONTRACT = "contract"
    LAW = "law"
    PRACTICE = "practice"


def _aware(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise InvalidPayload(
            f"{field.name} must be a timezone-aware datetime (got {value!r})",
            zh=f"{field.name} 必须是带时区的 datetime（收到 {value!r}）",
        )


def _date(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidPayload(
            f"{field.name} must be a date (got {value!r})",
            zh=f"{field.name} 必须是日期（收到 {value!r}）",
        )


def _bool(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidPayload(
            f"{field.name} must be True or False (got {value!r})",
            zh=f"{field.name} 必须是 True 或 False（收到 {value!r}）",
        )


# -- payloads -----------------------------------------------------------------------------


@final
@attrs.frozen
class Parties:
    """The start: a buyer and a seller begin to prepare a trade."""

    buyer: str = text(max_length=200)
    seller: str = text(max_length=200)

    def __attrs_post_init__(self) -> None:
        if self.buyer == self.seller:
            raise InvalidPayload(
                f"buyer and seller must differ (both {self.buyer!r})",
                zh=f"买方和卖方必须不同（都是 {self.buyer!r}）",
            )


@final
@attrs.frozen
class Preparation:
    """Phase 1: market research, partner search, needs published."""

    by: Party = choice(Party)
    note: str = text(max_length=2000)


@final
@attrs.frozen
class Inquiry:
    """询盘: a request for terms; it binds nobody."""

    by: Party = choice(Party)
    goods: str = text(max_length=200)
    note: str | None = optional_text(max_length=2000)


@final
@attrs.frozen
class Offer:
    """发盘 or 还盘: a definite proposal — goods, quantity, price — by ``by``."""

    by: Party = choice(Party)
    goods: str = text(max_length=200)
    quantity: int = positive_int()
    price: Money = money()
    valid_until: datetime | None = attrs.field(default=None, validator=_aware)
    firm: bool = attrs.field(default=False, validator=_bool)

    @property
    def offeree(self) -> Party:
        """The party the offer is made to."""
        return Party.SELLER if self.by is Party.BUYER else Party.BUYER

    @functools.cached_property
    def value(self) -> Money:
        """Quantity times price."""
        return self.price * self.quantity


@final
@attrs.frozen
class Acceptance:
    """接受: the offeree's assent to the standing offer's terms."""

    by: Party = choice(Party)
    goods: str = text(max_length=200)
    quantity: int = positive_int()
    price: Money = money()


@final
@attrs.frozen
class ByParty:
    """An act by one party: withdraw, revoke, reject, confirm, sign or receive."""

    by: Party = choice(Party)
    note: str | None = optional_text(max_length=2000)


@final
@attrs.frozen
class BreakOff:
    """Either party ends the talks without a contract."""

    by: Party = choice(Party)
    reason: str = text(max_length=2000)


@final
@attrs.frozen(kw_only=True)
class ContractTerms:
    """The electronic contract's terms (『捌』 3)."""

    rights_and_obligations: str = text(max_length=4000)
    goods: str = text(max_length=200)
    quantity: int = positive_int()
    price: Money = money()
    delivery_place: str = text(max_length=500)
    delivery_date: date = attrs.field(validator=_date)
    trade_method: str = text(max_length=200)
    transport_method: str = text(max_length=200)
    payment_terms: PaymentTerms = choice(PaymentTerms)
    breach_and_claims: str = text(max_length=4000)

    @functools.cached_property
    def value(self) -> Money:
        """The contract value."""
        return self.price * self.quantity


@final
@attrs.frozen
class Step:
    """A performance step with its document or note (declaration no., policy no., …)."""

    reference: str = text(max_length=500)


@final
@attrs.frozen
class Handover:
    """The seller hands the goods to the carrier, who issues the bill of lading."""

    carrier: str = text(max_length=200)
    bill_of_lading: str = text(max_length=200)


@final
@attrs.frozen
class Payment:
    """The buyer pays through its bank."""

    bank: str = text(max_length=200)
    amount: Money = money()
    reference: str = text(max_length=200)


@final
@attrs.frozen
class Claim:
    """索赔: a claim for a loss or breach, with evidence."""

    by: Party = choice(Party)
    reason: str = text(max_length=2000)
    amount: Money = money()
    evidence: str = text(max_length=4000)


@final
@attrs.frozen
class Survey:
    """The survey of a claim."""

    surveyor: str = text(max_length=200)
    findings: str = text(max_length=4000)


@final
@attrs.frozen
class ClaimSettlement:
    """理赔: the claim is paid."""

    payout: Money = money()


@final
@attrs.frozen
class Resolution:
    """A dispute decided by contract, law or practice; ``payout`` if the claim is upheld."""

    basis: Basis = choice(Basis)
    decision: str = text(max_length=4000)
    payout: Money | None = optional_money()


@final
@attrs.frozen
class Avoidance:
    """A party declares the contract avoided after a decided claim (CISG Art. 49, 64)."""

    by: Party = choice(Party)
    reason: str = text(max_length=2000)


# -- context ------------------------------------------------------------------------------


@final
@attrs.frozen(slots=False)  # dict-based: fields.replace copies it in two C calls per step
class B2BContext:
    """What the trade has gathered, phase by phase."""

    buyer: str
    seller: str
    preparations: tuple[Preparation, ...] = ()
    inquiries: tuple[Inquiry, ...] = ()
    offers: tuple[Offer, ...] = ()
    offer: Offer | None = None
    late_acceptance: Acceptance | None = None
    agreed: Offer | None = None
    concluded_at: datetime | None = None
    terms: ContractTerms | None = None
    signed: tuple[Party, ...] = ()
    formalities: str | None = None
    logistics: tuple[str, ...] = ()
    handover: Handover | None = None
    received_at: datetime | None = None
    payment: Payment | None = None
    bank_documents: str | None = None
    claim: Claim | None = None
    survey: Survey | None = None
    claim_rejection: str | None = None
    resolution: Resolution | None = None
    claim_payout: Money | None = None
    avoidance: Avoidance | None = None
    lapsed: Offer | None = None  # the offer whose validity ran out while it stood

    @property
    def contract_value(self) -> Money:
        """The value of the signed contract's terms."""
        assert self.terms is not None
        return self.terms.value


# -- events: what the flow records (the shared ones are in ecomflow.vocabulary) ----------

# 1. preparation 交易前的准备
TRADE_PREPARATION_STARTED = EventType(
    "trade_preparation_started",
    Stream.INFORMATION,
    Label("Trade preparation started", "开始交易前的准备"),
)
PREPARATION_RECORDED = EventType(
    "preparation_recorded", Stream.INFORMATION, Label("Preparation recorded", "签约前准备已记录")
)

# 2. negotiation 交易磋商
INQUIRY_SENT = EventType("inquiry_sent", Stream.INFORMATION, Label("Inquiry sent", "询盘"))
OFFER_MADE = EventType("offer_made", Stream.COMMERCE, Label("Offer made", "发盘"))
OFFER_WITHDRAWN = EventType(
    "offer_withdrawn", Stream.COMMERCE, Label("Offer withdrawn", "发盘撤回")
)
OFFER_RECEIVED = EventType(
    "offer_received", Stream.INFORMATION, Label("Offer reached the offeree", "发盘送达")
)
OFFER_REVOKED = EventType("offer_revoked", Stream.COMMERCE, Label("Offer revoked", "发盘撤销"))
OFFER_LAPSED = EventType(
    "offer_lapsed", Stream.COMMERCE, Label("Offer lapsed at its validity's end", "发盘逾期失效")
)
OFFER_REJECTED = EventType("offer_rejected", Stream.COMMERCE, Label("Offer rejected", "拒绝发盘"))
COUNTER_OFFER_MADE = EventType(
    "counter_offer_made", Stream.COMMERCE, Label("Counter-offer made", "还盘")
)
OFFER_REJECTED_BY_COUNTER_OFFER = EventType(
    "offer_rejected_by_counter_offer",
    Stream.COMMERCE,
    Label("Offer rejected by the counter-offer", "原发盘因还盘失效"),
)
OFFER_ACCEPTED = EventType("offer_accepted", Stream.COMMERCE, Label("Offer accepted", "接受"))
LATE_ACCEPTANCE_SENT = EventType(
    "late_acceptance_sent", Stream.COMMERCE, Label("Late acceptance sent", "逾期接受")
)
LATE_ACCEPTANCE_CONFIRMED = EventType(
    "late_acceptance_confirmed",
    Stream.COMMERCE,
    Label("Late acceptance confirmed", "发盘人确认逾期接受"),
)
LATE_ACCEPTANCE_REFUSED = EventType(
    "late_acceptance_refused",
    Stream.COMMERCE,
    Label("Late acceptance refused", "发盘人不认可逾期接受"),
)
NEGOTIATION_BROKEN_OFF = EventType(
    "negotiation_broken_off", Stream.COMMERCE, Label("Negotiation broken off", "终止磋商")
)

# 3. contract 签订合同和办理手续
CONTRACT_DRAWN_UP = EventType(
    "contract_drawn_up", Stream.COMMERCE, Label("E-contract drawn up", "拟定电子交易合同")
)
CONTRACT_SIGNED = EventType(
    "contract_signed", Stream.COMMERCE, Label("Contract signed by both", "双方签订合同")
)
FORMALITIES_COMPLETED = EventType(
    "formalities_completed", Stream.INFORMATION, Label("Formalities completed", "办理手续")
)

# 4. performance 履行合同: the goods
GOODS_STOCKED = EventType("goods_stocked", Stream.LOGISTICS, Label("Goods stocked", "备货"))
CUSTOMS_DECLARED = EventType(
    "customs_declared", Stream.LOGISTICS, Label("Customs declared", "报关")
)
CARGO_INSURED = EventType("cargo_insured", Stream.COMMERCE, Label("Cargo insured", "保险"))
CERTIFICATES_OBTAINED = EventType(
    "certificates_obtained", Stream.INFORMATION, Label("Certificates obtained", "取证")
)
HANDED_TO_CARRIER = EventType(
    "handed_to_carrier", Stream.LOGISTICS, Label("Handed to the carrier", "交付运输公司起运")
)
SHIPPING_DOCUMENTS_SENT = EventType(
    "shipping_documents_sent", Stream.INFORMATION, Label("Shipping documents sent", "发送货运单据")
)
SHIPMENT_TRACKED = EventType(
    "shipment_tracked", Stream.LOGISTICS, Label("Shipment tracked", "跟踪发出的货物")
)
GOODS_RECEIVED = EventType(
    "goods_received", Stream.LOGISTICS, Label("Goods received by the buyer", "买方收到所购商品")
)

# 4. performance 履行合同: the payment
PAYMENT_MADE = EventType("payment_made", Stream.MONEY, Label("Payment made", "付款"))
BANK_DOCUMENTS_ISSUED = EventType(
    "bank_documents_issued", Stream.MONEY, Label("Bank documents issued", "出具相应的银行单据")
)

# 4. the contract avoided, claims 索赔和理赔
CONTRACT_AVOIDED = EventType(
    "contract_avoided", Stream.COMMERCE, Label("Contract avoided", "解除合同")
)
PAYMENT_RETURNED = EventType("payment_returned", Stream.MONEY, Label("Price paid back", "退还货款"))
GOODS_RETURNED = EventType("goods_returned", Stream.LOGISTICS, Label("Goods returned", "退还货物"))
CLAIM_FILED = EventType("claim_filed", Stream.COMMERCE, Label("Claim filed", "索赔"))
SURVEY_REPORTED = EventType(
    "survey_reported", Stream.INFORMATION, Label("Survey reported", "查勘报告")
)
CLAIM_REJECTED = EventType("claim_rejected", Stream.COMMERCE, Label("Claim rejected", "拒赔"))
DISPUTE_RESOLVED = EventType(
    "dispute_resolved",
    Stream.COMMERCE,
    Label("Dispute resolved by contract, law or practice", "依合同、法律和惯例处理争议"),
)
TRADE_CLOSED = EventType("trade_closed", Stream.COMMERCE, Label("Trade closed", "完成整个交易过程"))
CLAIM_PERIOD_ENDED = EventType(
    "claim_period_ended",
    Stream.COMMERCE,
    Label("Claim period ended without a claim", "索赔期满，未提出索赔"),
)
