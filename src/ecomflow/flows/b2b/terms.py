"""The data of the B2B flow (『捌』): its payloads, enums and context, as frozen attrs classes."""

from __future__ import annotations

import enum
import functools
from datetime import date, datetime, timedelta
from typing import Any, final

import attrs

from ..._errors import InvalidPayload
from ..._money import Money
from ...fields import choice, money, optional_money, optional_text, positive_int, text
from ..intermediary import Party

__all__ = [
    "NOTICE_PERIOD",
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
        raise InvalidPayload(f"{field.name} must be a timezone-aware datetime (got {value!r})")


def _date(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidPayload(f"{field.name} must be a date (got {value!r})")


def _bool(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidPayload(f"{field.name} must be True or False (got {value!r})")


# -- payloads -----------------------------------------------------------------------------


@final
@attrs.frozen(slots=False)
class Parties:
    """The start: a buyer and a seller begin to prepare a trade."""

    buyer: str = text(max_length=200)
    seller: str = text(max_length=200)

    def __attrs_post_init__(self) -> None:
        if self.buyer == self.seller:
            raise InvalidPayload(f"buyer and seller must differ (both {self.buyer!r})")


@final
@attrs.frozen(slots=False)
class Preparation:
    """Phase 1: market research, partner search, needs published."""

    by: Party = choice(Party)
    note: str = text(max_length=2000)


@final
@attrs.frozen(slots=False)
class Inquiry:
    """询盘: a request for terms; it binds nobody."""

    by: Party = choice(Party)
    goods: str = text(max_length=200)
    note: str | None = optional_text(max_length=2000)


@final
@attrs.frozen(slots=False)
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
@attrs.frozen(slots=False)
class Acceptance:
    """接受: the offeree's assent to the standing offer's terms."""

    by: Party = choice(Party)
    goods: str = text(max_length=200)
    quantity: int = positive_int()
    price: Money = money()


@final
@attrs.frozen(slots=False)
class ByParty:
    """An act by one party: withdraw, revoke, reject, confirm, sign or receive."""

    by: Party = choice(Party)
    note: str | None = optional_text(max_length=2000)


@final
@attrs.frozen(slots=False)
class BreakOff:
    """Either party ends the talks without a contract."""

    by: Party = choice(Party)
    reason: str = text(max_length=2000)


@final
@attrs.frozen(slots=False, kw_only=True)
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
@attrs.frozen(slots=False)
class Step:
    """A performance step with its document or note (declaration no., policy no., …)."""

    reference: str = text(max_length=500)


@final
@attrs.frozen(slots=False)
class Handover:
    """The seller hands the goods to the carrier, who issues the bill of lading."""

    carrier: str = text(max_length=200)
    bill_of_lading: str = text(max_length=200)


@final
@attrs.frozen(slots=False)
class Payment:
    """The buyer pays through its bank."""

    bank: str = text(max_length=200)
    amount: Money = money()
    reference: str = text(max_length=200)


@final
@attrs.frozen(slots=False)
class Claim:
    """索赔: a claim for a loss or breach, with evidence."""

    by: Party = choice(Party)
    reason: str = text(max_length=2000)
    amount: Money = money()
    evidence: str = text(max_length=4000)


@final
@attrs.frozen(slots=False)
class Survey:
    """The survey of a claim."""

    surveyor: str = text(max_length=200)
    findings: str = text(max_length=4000)


@final
@attrs.frozen(slots=False)
class ClaimSettlement:
    """理赔: the claim is paid."""

    payout: Money = money()


@final
@attrs.frozen(slots=False)
class Resolution:
    """A dispute decided by contract, law or practice; ``payout`` if the claim is upheld."""

    basis: Basis = choice(Basis)
    decision: str = text(max_length=4000)
    payout: Money | None = optional_money()


@final
@attrs.frozen(slots=False)
class Avoidance:
    """A party declares the contract avoided after a decided claim (CISG Art. 49, 64)."""

    by: Party = choice(Party)
    reason: str = text(max_length=2000)


# -- context ------------------------------------------------------------------------------


@final
@attrs.frozen(slots=False)
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

    @property
    def contract_value(self) -> Money:
        """The value of the signed contract's terms."""
        assert self.terms is not None
        return self.terms.value
