"""intermediary — 网络商品中介交易: a trade through an exchange, seed sections 『壹』『贰』.

The exchange (网络商品交易中心, a virtual market) links suppliers, buyers and banks. In four steps:

1. buyers and sellers post demand and supply; the exchange publishes market information
   (see :class:`ecomflow.flows.exchange.Exchange`, which starts this flow for each match);
2. they choose partners; the exchange matches them (撮合) and both sign the contract;
3. the buyer pays by transfer through a bank the exchange designates (指定的银行, 转帐付款);
4. the exchange's regional distribution centre delivers the seller's goods to the buyer
   (from the warehouse, in transit, delivered), and the exchange settles with the seller,
   keeping its fee.

Either party may decline to sign; a buyer who never pays for a concluded contract is
declared in default (违约), which ends the trade and releases the seller's goods. The
exchange is never a party to its own trade. Money paid by the buyer equals the seller's
payout plus the exchange's fee; :func:`books` says where every account must stand in each
state, and :data:`INVARIANTS` are the flow's own rules. This module holds definitions only.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, final

import attrs

from ..._definition import Emit, FlowDefinition, FlowInvariant, Guard, Label, State, Transition
from ..._errors import InvalidPayload
from ..._events import Event, Stream
from ..._flow import Flow, Transaction
from ..._money import Money
from ...fields import choice, money, optional_text, positive_int, replace, text

__all__ = [
    "FLOW",
    "INVARIANTS",
    "Decline",
    "Default",
    "Delivery",
    "Intermediary",
    "IntermediaryContext",
    "Match",
    "Party",
    "Payment",
    "Release",
    "Settlement",
    "Signature",
    "books",
    "default_only_while_unpaid",
    "exchange_is_not_a_party",
    "goods_only_after_payment",
    "paid_exactly_the_contract_value",
    "settled_at_most_once",
]


class Party(enum.Enum):
    """The two sides of a matched trade."""

    BUYER = "buyer"
    SELLER = "seller"


def _banks(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise InvalidPayload(
            f"designated_banks must be a non-empty list of bank names (got {value!r})"
        )
    if not all(isinstance(bank, str) and bank.strip() for bank in value):
        raise InvalidPayload(f"designated_banks must hold non-empty names (got {value!r})")
    return tuple(value)


def _rate(value: object) -> Decimal:
    if not isinstance(value, (Decimal, str, int)) or isinstance(value, bool):
        raise InvalidPayload(f"fee_rate must be a Decimal between 0 and 1 (got {value!r})")
    rate = Decimal(value)
    if not (rate.is_finite() and 0 <= rate < 1):
        raise InvalidPayload(f"fee_rate must be a Decimal between 0 and 1 (got {value!r})")
    return rate


def _aware(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise InvalidPayload(f"{field.name} must be a timezone-aware datetime (got {value!r})")


@final
@attrs.frozen(slots=False, kw_only=True)
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
            raise InvalidPayload(f"a party cannot trade with itself ({self.buyer!r})")
        for role, party in (("buyer", self.buyer), ("seller", self.seller)):
            if party == self.exchange:
                raise InvalidPayload(
                    f"the exchange {self.exchange!r} cannot be a party to its own trade "
                    f"(it is named as the {role}); the buyer and the seller must be others"
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
@attrs.frozen(slots=False)
class Signature:
    """Step 2: one party signs the contract."""

    party: Party = choice(Party)
    signatory: str = text(max_length=200)


@final
@attrs.frozen(slots=False)
class Decline:
    """Either party declines to sign: the trade is cancelled."""

    party: Party = choice(Party)
    reason: str = text(max_length=500)


@final
@attrs.frozen(slots=False)
class Default:
    """The buyer never paid for the concluded contract: the trade ends in default (违约)."""

    reason: str = text(max_length=500)


@final
@attrs.frozen(slots=False)
class Payment:
    """Step 3: the buyer transfers ``amount`` through ``bank``."""

    bank: str = text(max_length=200)
    amount: Money = money()
    reference: str = text(max_length=200)


@final
@attrs.frozen(slots=False)
class Release:
    """Step 4: the distribution centre releases the goods from ``warehouse``."""

    warehouse: str = text(max_length=200)
    carrier: str | None = optional_text(max_length=200)


@final
@attrs.frozen(slots=False)
class Delivery:
    """Step 4: the goods reached the buyer."""

    received_by: str | None = optional_text(max_length=200)


@final
@attrs.frozen(slots=False)
class Settlement:
    """Step 4: the exchange settles with the seller."""

    reference: str = text(max_length=200)


@final
@attrs.frozen(slots=False)
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


# -- guards -------------------------------------------------------------------------------


def _not_yet_signed(context: IntermediaryContext, payload: Signature) -> str | None:
    if payload.party in context.signed_by:
        return f"the {payload.party.value} has already signed"
    return None


def _designated_bank(context: IntermediaryContext, payload: Payment) -> str | None:
    banks = context.match.designated_banks
    if payload.bank not in banks:
        return f"{payload.bank!r} is not a bank the exchange designates ({', '.join(banks)})"
    return None


def _pays_contract_value(context: IntermediaryContext, payload: Payment) -> str | None:
    if payload.amount != context.match.value:
        return f"the payment {payload.amount} differs from the contract value {context.match.value}"
    return None


def _payment_overdue(context: IntermediaryContext, _: object, now: datetime) -> str | None:
    pay_by = context.match.pay_by
    if pay_by is not None and now <= pay_by:
        return f"the buyer has until {pay_by.isoformat()} to pay"
    return None


NOT_YET_SIGNED = Guard("not_yet_signed", _not_yet_signed, Label("not yet signed", "尚未签署"))
DESIGNATED_BANK = Guard("designated_bank", _designated_bank, Label("designated bank", "指定银行"))
PAYMENT_OVERDUE = Guard(
    "payment_overdue",
    _payment_overdue,
    Label("the payment term has passed", "付款期限已过"),
    uses_payload=False,
    uses_clock=True,
)
PAYS_CONTRACT_VALUE = Guard(
    "pays_contract_value",
    _pays_contract_value,
    Label("amount = contract value", "金额等于合同金额"),
)


# -- event data ---------------------------------------------------------------------------


def _notify_parties(context: IntermediaryContext, _: object) -> dict[str, Any]:
    match = context.match
    return {
        "to": [match.buyer, match.seller],
        "goods": match.goods,
        "quantity": match.quantity,
        "price": match.price.to_json(),
        "value": match.value.to_json(),
    }


def _concluded(context: IntermediaryContext, _: object) -> dict[str, Any]:
    match = context.match
    return {
        "buyer": match.buyer,
        "seller": match.seller,
        "goods": match.goods,
        "quantity": match.quantity,
        "value": match.value.to_json(),
    }


def _payment_data(context: IntermediaryContext, payload: Payment) -> dict[str, Any]:
    return {"from": context.match.buyer, "to": context.match.exchange, "via": payload.bank}


def _seller_told(context: IntermediaryContext, _: object) -> dict[str, Any]:
    return {"to": context.match.seller, "about": "payment received; the goods will be collected"}


def _in_transit(context: IntermediaryContext, payload: Release) -> dict[str, Any]:
    return {
        "goods": context.match.goods,
        "quantity": context.match.quantity,
        "to": context.match.buyer,
        "carrier": payload.carrier,
    }


def _ownership(context: IntermediaryContext, _: object) -> dict[str, Any]:
    match = context.match
    return {
        "goods": match.goods,
        "quantity": match.quantity,
        "from": match.seller,
        "to": match.buyer,
    }


def _fee(context: IntermediaryContext, _: object) -> dict[str, Any]:
    return {
        "amount": context.match.fee.to_json(),
        "to": context.match.exchange,
        "rate": str(context.match.fee_rate),
    }


def _payout(context: IntermediaryContext, _: object) -> dict[str, Any]:
    match = context.match
    return {
        "amount": (match.value - match.fee).to_json(),
        "from": match.exchange,
        "to": match.seller,
    }


def _defaulted(context: IntermediaryContext, _: object) -> dict[str, Any]:
    match = context.match
    return {
        "defaulting_party": match.buyer,
        "goods": match.goods,
        "quantity": match.quantity,
        "released_to": match.seller,
    }


def _default_notice(context: IntermediaryContext, _: object) -> dict[str, Any]:
    return {
        "to": [context.match.buyer, context.match.seller],
        "about": "the buyer did not pay; the contract is ended and the goods are released",
    }


# -- books and the flow's own rules ---------------------------------------------------------

_PAID = frozenset({"paid", "in_transit", "delivered"})
_GOODS_MOVE = frozenset(
    {"released_from_warehouse", "in_transit", "delivered", "ownership_transferred"}
)


def books(context: IntermediaryContext, state: str) -> Mapping[str, Money]:
    """Where each account must stand in ``state`` (accounts not named at zero).

    Written from the business rule, not from the events: until the buyer pays nothing has
    moved (also after a decline or a default); once it has paid through the designated bank,
    the exchange holds the contract value; once it has settled, the seller has the value
    less the exchange's fee and the exchange keeps exactly its fee. The bank only carries
    the transfer: it is never an account.
    """
    match = context.match
    if state in _PAID:
        return {match.buyer: -match.value, match.exchange: match.value}
    if state == "settled":
        return {
            match.buyer: -match.value,
            match.seller: match.value - match.fee,
            match.exchange: match.fee,
        }
    return {}


def _fail(message: str) -> None:
    raise AssertionError(message)


def _money(event: Event) -> Money:
    amount = event.data["amount"]
    return Money(amount["amount"], amount["currency"])


def exchange_is_not_a_party(tx: Transaction[IntermediaryContext]) -> None:
    """Rule: the exchange is never the buyer or the seller of its own trade."""
    match = tx.context.match
    for role, party in (("buyer", match.buyer), ("seller", match.seller)):
        if party == match.exchange:
            _fail(f"{tx.id!r}: the exchange {match.exchange!r} is the {role} of its own trade")


def goods_only_after_payment(tx: Transaction[IntermediaryContext]) -> None:
    """Rule: the goods leave the warehouse, travel and change owner only after the buyer paid."""
    paid = min((e.version for e in tx.events if e.name == "payment_transferred"), default=None)
    for event in tx.events:
        if event.name in _GOODS_MOVE and (paid is None or event.version < paid):
            _fail(f"{tx.id!r}: {event.name} at version {event.version} before the buyer paid")


def paid_exactly_the_contract_value(tx: Transaction[IntermediaryContext]) -> None:
    """Rule: the buyer pays once, exactly the contract value, through a designated bank."""
    match = tx.context.match
    payments = [e for e in tx.events if e.name == "payment_transferred"]
    if len(payments) > 1:
        _fail(f"{tx.id!r} was paid {len(payments)} times")
    for event in payments:
        if _money(event) != match.value:
            _fail(
                f"{tx.id!r} was paid {_money(event)} at version {event.version}; the contract "
                f"value is {match.value}"
            )
        if event.data.get("via") not in match.designated_banks:
            _fail(f"{tx.id!r} was paid through {event.data.get('via')!r}, not a designated bank")


def settled_at_most_once(tx: Transaction[IntermediaryContext]) -> None:
    """Rule: the seller is paid once, after delivery, and payout plus fee is what was paid."""
    names = [e.name for e in tx.events]
    payouts = [e for e in tx.events if e.name == "seller_paid"]
    fees = [e for e in tx.events if e.name == "fee_recorded"]
    if len(payouts) > 1 or len(fees) > 1:
        _fail(f"{tx.id!r} paid the seller {len(payouts)} times and its fee {len(fees)} times")
    if payouts and "delivered" not in names[: names.index("seller_paid")]:
        _fail(f"{tx.id!r} paid the seller before the goods were delivered")
    if payouts:
        match = tx.context.match
        out = _money(payouts[0]) + (_money(fees[0]) if fees else Money.zero(match.value.currency))
        if out != match.value:
            _fail(f"{tx.id!r} paid out {out} for a contract value of {match.value}")


def default_only_while_unpaid(tx: Transaction[IntermediaryContext]) -> None:
    """Rule: only a buyer that has not paid is declared in default, and then nothing moves."""
    names = {e.name for e in tx.events}
    if "trade_defaulted" in names and names & {"payment_transferred", "seller_paid"}:
        _fail(f"{tx.id!r} declared the buyer in default after it paid")


INVARIANTS: tuple[FlowInvariant, ...] = (
    exchange_is_not_a_party,
    goods_only_after_payment,
    paid_exactly_the_contract_value,
    settled_at_most_once,
    default_only_while_unpaid,
)
"""The intermediary trade's own rules, declared beside the flow and checked by the kit."""


def summary(context: IntermediaryContext, state: str) -> dict[str, Any]:
    """Return the current-state table's fields: exchange, parties, goods, amount and currency."""
    match = context.match
    amount = match.price * match.quantity
    return {
        "exchange": match.exchange,
        "buyer": match.buyer,
        "seller": match.seller,
        "goods": match.goods,
        "amount": str(amount.amount),
        "currency": amount.currency,
    }


DEFINITION = FlowDefinition(
    name="intermediary",
    title=Label("Trade through an online exchange", "网络商品中介交易"),
    source="『壹』『贰』",
    context_type=IntermediaryContext,
    # No goods before payment (testing.no_shipping_before_payment).
    payment_secured_by={"payment_transferred"},
    goods_moved_by=_GOODS_MOVE,
    books=books,
    # mypy cannot type FlowDefinition.invariants' ``converter=tuple`` (it reads Iterable[_T_co])
    invariants=INVARIANTS,
    summary=summary,
    states=[
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
    ],
    start=Transition(
        "match",
        (),
        "matched",
        Label("match", "撮合"),
        step="(1)(2)",
        payload=Match,
        effect=lambda _, p: IntermediaryContext(match=p),
        emits=[
            Emit(Stream.COMMERCE, "trade_matched"),
            Emit(Stream.INFORMATION, "parties_notified", _notify_parties),
        ],
    ),
    transitions=[
        Transition(
            "sign",
            "matched",
            "signed_by_one",
            Label("sign", "签约"),
            step="(2)",
            payload=Signature,
            effect=lambda c, p: replace(c, signatures=(*c.signatures, p)),
            emits=[Emit(Stream.COMMERCE, "contract_signed_by")],
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
            emits=[
                Emit(Stream.COMMERCE, "contract_signed_by"),
                Emit(Stream.COMMERCE, "contract_concluded", _concluded),
            ],
        ),
        Transition(
            "decline",
            ("matched", "signed_by_one"),
            "cancelled",
            Label("decline", "拒签"),
            step="(2)",
            payload=Decline,
            effect=lambda c, p: replace(c, decline=p),
            emits=[Emit(Stream.COMMERCE, "trade_declined")],
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
            emits=[
                Emit(Stream.MONEY, "payment_transferred", _payment_data),
                Emit(Stream.INFORMATION, "seller_notified", _seller_told),
            ],
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
            emits=[
                Emit(Stream.COMMERCE, "trade_defaulted", _defaulted),
                Emit(Stream.INFORMATION, "parties_notified_of_default", _default_notice),
            ],
        ),
        Transition(
            "release",
            "paid",
            "in_transit",
            Label("distribution centre ships from the warehouse", "配送部门出库发运"),
            step="(4)",
            payload=Release,
            effect=lambda c, p: replace(c, release=p),
            emits=[
                Emit(Stream.LOGISTICS, "released_from_warehouse"),
                Emit(Stream.LOGISTICS, "in_transit", _in_transit),
            ],
        ),
        Transition(
            "deliver",
            "in_transit",
            "delivered",
            Label("deliver to the buyer", "送交买方"),
            step="(4)",
            payload=Delivery,
            effect=lambda c, p: replace(c, delivery=p),
            emits=[
                Emit(Stream.LOGISTICS, "delivered"),
                Emit(Stream.COMMERCE, "ownership_transferred", _ownership),
            ],
        ),
        Transition(
            "settle",
            "delivered",
            "settled",
            Label("settle with the seller", "与卖方结算"),
            step="(4)",
            payload=Settlement,
            effect=lambda c, p: replace(c, settlement=p),
            emits=[
                Emit(Stream.MONEY, "fee_recorded", _fee),
                Emit(Stream.MONEY, "seller_paid", _payout),
            ],
        ),
    ],
    refusals={
        "pay": {
            **dict.fromkeys(("matched", "signed_by_one"), "the contract is not signed by both"),
            "defaulted": "the buyer was declared in default; the trade is over",
        },
        "declare_default": {
            **dict.fromkeys(("matched", "signed_by_one"), "the contract is not signed by both"),
            **dict.fromkeys(("paid", "in_transit", "delivered", "settled"), "the buyer has paid"),
        },
        "release": dict.fromkeys(
            ("matched", "signed_by_one", "contract_signed"), "the buyer has not paid yet"
        ),
        "deliver": dict.fromkeys(
            ("matched", "signed_by_one", "contract_signed", "paid"),
            "the goods have not left the warehouse",
        ),
        "settle": dict.fromkeys(
            ("matched", "signed_by_one", "contract_signed", "paid", "in_transit"),
            "the goods are not delivered yet",
        ),
        "sign": dict.fromkeys(
            ("contract_signed", "paid", "in_transit", "delivered", "settled"),
            "the contract is already concluded",
        ),
    },
)


@final
class Intermediary(Transaction[IntermediaryContext]):
    """A matched trade with one typed method per trigger."""

    __slots__ = ()

    def sign(self, party: Party | str, *, signatory: str) -> tuple[Event, ...]:
        """Step 2: ``party`` signs the contract."""
        return self.fire("sign", party=party, signatory=signatory)

    def decline(self, party: Party | str, *, reason: str) -> tuple[Event, ...]:
        """Step 2: ``party`` declines to sign; the trade is cancelled."""
        return self.fire("decline", party=party, reason=reason)

    def pay(self, *, bank: str, amount: Money, reference: str) -> tuple[Event, ...]:
        """Step 3: the buyer pays through a designated bank."""
        return self.fire("pay", bank=bank, amount=amount, reference=reference)

    def declare_default(self, *, reason: str) -> tuple[Event, ...]:
        """End the trade in default (违约): the buyer never paid; the goods are released."""
        return self.fire("declare_default", reason=reason)

    def release(self, *, warehouse: str, carrier: str | None = None) -> tuple[Event, ...]:
        """Step 4: the distribution centre ships from the warehouse."""
        return self.fire("release", warehouse=warehouse, carrier=carrier)

    def deliver(self, *, received_by: str | None = None) -> tuple[Event, ...]:
        """Step 4: the goods reach the buyer."""
        return self.fire("deliver", received_by=received_by)

    def settle(self, *, reference: str) -> tuple[Event, ...]:
        """Step 4: the exchange pays the seller, keeping its fee."""
        return self.fire("settle", reference=reference)


FLOW: Flow[Intermediary] = Flow(DEFINITION, Intermediary)
"""The intermediary flow."""
