"""The data of the intermediary trade (『壹』『贰』): payloads, context and the events it records.

The payloads and the context are frozen attrs classes; the events the trade alone records
are declared here once (the ones other flows record too come from the shared vocabulary),
so that the graph, the rules and the tests refer to the declarations.
"""

from __future__ import annotations

import enum
import functools
from datetime import datetime
from decimal import Decimal
from typing import Any, final

import attrs

from ..._definition import EventType, Label
from ..._errors import InvalidPayload
from ..._events import Stream
from ..._money import Money
from ...fields import choice, money, optional_text, positive_int, text

__all__ = [
    "FEE_RECORDED",
    "IN_TRANSIT",
    "PARTIES_NOTIFIED",
    "PARTIES_NOTIFIED_OF_DEFAULT",
    "RELEASED_FROM_WAREHOUSE",
    "SELLER_PAID",
    "TRADE_DECLINED",
    "TRADE_DEFAULTED",
    "Decline",
    "Default",
    "Delivery",
    "IntermediaryContext",
    "Match",
    "Party",
    "Payment",
    "Release",
    "Settlement",
    "Signature",
]

# -- the events only this flow records ---------------------------------------------------

PARTIES_NOTIFIED = EventType(
    "parties_notified",
    Stream.INFORMATION,
    Label("Parties told of the match", "通知买卖双方撮合结果"),
)
TRADE_DECLINED = EventType(
    "trade_declined", Stream.COMMERCE, Label("Trade declined", "一方拒签，交易取消")
)
TRADE_DEFAULTED = EventType(
    "trade_defaulted", Stream.COMMERCE, Label("Buyer in default", "买方违约")
)
PARTIES_NOTIFIED_OF_DEFAULT = EventType(
    "parties_notified_of_default",
    Stream.INFORMATION,
    Label("Parties told of the default", "通知双方买方违约"),
)
RELEASED_FROM_WAREHOUSE = EventType(
    "released_from_warehouse", Stream.LOGISTICS, Label("Released from the warehouse", "仓库出库")
)
IN_TRANSIT = EventType("in_transit", Stream.LOGISTICS, Label("In transit", "配送途中"))
FEE_RECORDED = EventType(
    "fee_recorded", Stream.MONEY, Label("Exchange fee recorded", "交易中心收取服务费")
)
SELLER_PAID = EventType("seller_paid", Stream.MONEY, Label("Seller paid", "与卖方结算货款"))


class Party(enum.Enum):
    """The two sides of a matched trade."""

    BUYER = "buyer"
    SELLER = "seller"


def _banks(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise InvalidPayload(
            f"designated_banks must be a non-empty list of bank names (got {value!r})",
            zh=f"designated_banks 必须是非空的银行名称列表（收到 {value!r}）",
        )
    if not all(isinstance(bank, str) and bank.strip() for bank in value):
        raise InvalidPayload(
            f"designated_banks must hold non-empty names (got {value!r})",
            zh=f"designated_banks 中的名称必须非空（收到 {value!r}）",
        )
    return tuple(value)


def _rate(value: object) -> Decimal:
    if not isinstance(value, (Decimal, str, int)) or isinstance(value, bool):
        raise InvalidPayload(
            f"fee_rate must be a Decimal between 0 and 1 (got {value!r})",
            zh=f"fee_rate 必须是 0 到 1 之间的 Decimal（收到 {value!r}）",
        )
    rate = Decimal(value)
    if not (rate.is_finite() and 0 <= rate < 1):
        raise InvalidPayload(
            f"fee_rate must be a Decimal between 0 and 1 (got {value!r})",
            zh=f"fee_rate 必须是 0 到 1 之间的 Decimal（收到 {value!r}）",
        )
    return rate


def _aware(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise InvalidPayload(
            f"{field.name} must be a timezone-aware datetime (got {value!r})",
            zh=f"{field.name} 必须是带时区的 datetime（收到 {value!r}）",
        )


@final
@attrs.frozen(kw_only=True)
class Match:
    """Step 2: the exchange matched ``buyer`` and ``seller`` for ``quantity`` at ``price``.

    ``pay_by`` is the contract's payment term: the buyer may be declared in default only
    after it (with no term, as soon as the contract is concluded).
    """

    exchange: str = text(max_length=200)
    buyer: str = text(max_length=200)
    seller: str = text(max_length=200)
    goods: str = text(max_length=200)
    quantity: int = positive_int()
    price: Money = money()
    designated_banks: tuple[str, ...] = attrs.field(converter=_banks)
    fee_rate: Decimal = attrs.field(converter=_rate)
    pay_by: datetime | None = attrs.field(default=None, validator=_aware)

    def __attrs_post_init__(self) -> None:
        if self.buyer == self.seller:
            raise InvalidPayload(
                f"a party cannot trade with itself ({self.buyer!r})",
                zh=f"一方不能与自己交易（{self.buyer!r}）",
            )
        for role, party in (("buyer", self.buyer), ("seller", self.seller)):
            if party == self.exchange:
                raise InvalidPayload(
                    f"the exchange {self.exchange!r} cannot be a party to its own trade "
                    f"(it is named as the {role}); the buyer and the seller must be others",
                    zh=f"交易所 {self.exchange!r} 不能成为自己撮合的交易的一方（它被列为 {role}）；"
                    "买方和卖方必须是其他人",
                )

    @functools.cached_property
    def value(self) -> Money:
        """The contract value: quantity times price."""
        return self.price * self.quantity

    @functools.cached_property
    def fee(self) -> Money:
        """The exchange's fee on the contract value."""
        return self.value.share(self.fee_rate)


@final
@attrs.frozen
class Signature:
    """Step 2: one party signs the contract."""

    party: Party = choice(Party)
    signatory: str = text(max_length=200)


@final
@attrs.frozen
class Decline:
    """Either party declines to sign: the trade is cancelled."""

    party: Party = choice(Party)
    reason: str = text(max_length=500)


@final
@attrs.frozen
class Default:
    """The buyer never paid for the concluded contract: the trade ends in default (违约)."""

    reason: str = text(max_length=500)


@final
@attrs.frozen
class Payment:
    """Step 3: the buyer transfers ``amount`` through ``bank``."""

    bank: str = text(max_length=200)
    amount: Money = money()
    reference: str = text(max_length=200)


@final
@attrs.frozen
class Release:
    """Step 4: the distribution centre releases the goods from ``warehouse``."""

    warehouse: str = text(max_length=200)
    carrier: str | None = optional_text(max_length=200)


@final
@attrs.frozen
class Delivery:
    """Step 4: the goods reached the buyer."""

    received_by: str | None = optional_text(max_length=200)


@final
@attrs.frozen
class Settlement:
    """Step 4: the exchange settles with the seller."""

    reference: str = text(max_length=200)


@final
@attrs.frozen(slots=False)  # dict-based: fields.replace copies it in two C calls per step
class IntermediaryContext:
    """What a matched trade has gathered so far."""

    match: Match
    signatures: tuple[Signature, ...] = ()
    decline: Decline | None = None
    payment: Payment | None = None
    release: Release | None = None
    delivery: Delivery | None = None
    settlement: Settlement | None = None
    default: Default | None = None

    @property
    def signed_by(self) -> frozenset[Party]:
        """The parties that have signed."""
        return frozenset(signature.party for signature in self.signatures)
