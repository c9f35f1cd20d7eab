"""The exchange (网络商品交易中心) of the intermediary trade: 『壹』『贰』, steps (1) and (2).

Sellers post supply and buyers post demand; the exchange publishes market information on
the INFORMATION stream and matches compatible postings (撮合): same goods, bid price at or
above ask price, a quantity both still have open. A partial fill leaves the remainder posted;
no party trades with itself; the exchange is never a party to its own trade; nothing is
matched beyond what was posted. Each match starts a transaction of the intermediary flow
(:mod:`ecomflow.flows.intermediary`) at the price of the posting that was waiting (price,
then time priority).

A trade that ends unsettled — declined by one party, or ended because the buyer never paid
(违约) — no longer counts in the market volume, and the quantity of the party that did not
walk away is reopened on its posting and matched again at once. The exchange hears of it as
a subscriber of the bus its trades publish on (the shop's bus, or its own).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast, final

import attrs

from .._bus import EventBus
from .._codec import unstructure
from .._errors import InvalidPayload, SubscriberError
from .._events import Clock, Event, Stream, utc_now
from .._money import MAX_AMOUNT_DIGITS, Money
from .._sensitive import find_sensitive
from ..fields import money, positive_int, text
from .intermediary import FLOW, Intermediary, Match, Party

__all__ = ["Exchange", "MarketInfo", "Posting", "Side"]


class Side(enum.Enum):
    """Which side of the market a posting is on."""

    SUPPLY = "supply"
    DEMAND = "demand"


@final
@attrs.frozen
class Posting:
    """A seller's supply or a buyer's demand, as posted (its open quantity is tracked apart)."""

    id: str
    side: Side
    party: str = text(max_length=200)
    goods: str = text(max_length=200)
    quantity: int = positive_int()
    price: Money = money()
    seq: int = 0


@final
@attrs.frozen
class MarketInfo:
    """Market information for one goods: best bid and ask, open quantities, volume traded."""

    goods: str
    best_bid: Money | None
    best_ask: Money | None
    open_demand: int
    open_supply: int
    volume: int


@final
class Exchange:
    """A virtual market that matches supply and demand into intermediary trades.

    ``designated_banks`` are the banks through which buyers must pay; ``fee_rate`` is the
    exchange's share of each contract value; all prices are in ``currency``; with a
    ``payment_term``, each trade's buyer must pay within that time of the match (its
    ``pay_by``), after which it may be declared in default.

    The trades publish on ``bus`` (or on a bus of the exchange's own), where the exchange
    listens: when one is declined, or its buyer is declared in default, the other side's
    quantity is reopened (``posting_reopened``) and matched again at once. A trade reloaded
    from a store is heard too when it is given the same bus.
    """

    def __init__(
        self,
        name: str,
        *,
        designated_banks: Sequence[str],
        fee_rate: Decimal = Decimal(0),
        currency: str = "CNY",
        payment_term: timedelta | None = None,
        clock: Clock | None = None,
        bus: EventBus | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise InvalidPayload(f"An exchange needs a non-empty name (got {name!r}).")
        Money(0, currency)  # validates the currency code
        if payment_term is not None and (
            not isinstance(payment_term, timedelta) or payment_term <= timedelta(0)
        ):
            raise InvalidPayload(
                f"Exchange {name!r}: payment_term must be a positive timedelta "
                f"(got {payment_term!r})."
            )
        self.payment_term = payment_term
        self.name = name
        self.currency = currency
        self.designated_banks = tuple(designated_banks)
        self.fee_rate = fee_rate
        self._clock = utc_now if clock is None else clock
        self._bus = bus
        # Trades publish on the shop's bus, or on one of the exchange's own, so that the
        # exchange hears when one ends unsettled (see _on_trade_event).
        self._trade_bus = EventBus() if bus is None else bus
        self._trade_bus.subscribe(self._on_trade_event, Stream.COMMERCE)
        self._postings: dict[str, Posting] = {}
        self._open: dict[str, int] = {}
        self._volume: dict[str, int] = {}
        self._trades: list[Intermediary] = []
        self._sources: dict[str, tuple[str, str]] = {}
        self._matches: dict[str, Match] = {}
        self._ended: dict[str, str] = {}
        # Trades that ended while the exchange was busy with a step: reopened right after it.
        self._pending: deque[tuple[str, Party]] = deque()
        self._busy = False
        self._events: list[Event] = []
        self._version = -1
        # Validate the trade terms once, so that no later match can fail halfway.
        Match(
            exchange=name,
            buyer="b",
            seller="s",
            goods="g",
            quantity=1,
            price=Money(0, currency),
            designated_banks=self.designated_banks,
            fee_rate=fee_rate,
        )

    @property
    def id(self) -> str:
        """The id of the exchange's own event record: ``"exchange:<name>"``."""
        return f"exchange:{self.name}"

    @property
    def trades(self) -> tuple[Intermediary, ...]:
        """Every trade matched so far, in order."""
        return tuple(self._trades)

    @property
    def events(self) -> tuple[Event, ...]:
        """The exchange's own events: postings, matches and market information."""
        return tuple(self._events)

    @property
    def postings(self) -> tuple[Posting, ...]:
        """Every posting so far, in the order it was posted (matched or not)."""
        return tuple(self._postings.values())

    def posting(self, posting_id: str) -> Posting:
        """Return the posting called ``posting_id``."""
        return self._postings[posting_id]

    def postings_of(self, trade_id: str) -> tuple[Posting, Posting]:
        """Return the (demand, supply) postings that trade ``trade_id`` matched."""
        demand, supply = self._sources[trade_id]
        return self._postings[demand], self._postings[supply]

    def open_quantity(self, posting_id: str) -> int:
        """Return how much of ``posting_id`` is still unmatched."""
        return self._open[posting_id]

    def post_supply(
        self, seller: str, *, goods: str, quantity: int, price: Money
    ) -> list[Intermediary]:
        """Post ``seller``'s supply; return the trades it matched at once."""
        return self._post(Side.SUPPLY, seller, goods, quantity, price)

    def post_demand(
        self, buyer: str, *, goods: str, quantity: int, price: Money
    ) -> list[Intermediary]:
        """Post ``buyer``'s demand; return the trades it matched at once."""
        return self._post(Side.DEMAND, buyer, goods, quantity, price)

    def market(self, goods: str) -> MarketInfo:
        """Return the current market information for ``goods``."""
        bids = [p.price for p in self._resting(Side.DEMAND, goods)]
        asks = [p.price for p in self._resting(Side.SUPPLY, goods)]
        return MarketInfo(
            goods=goods,
            best_bid=max(bids) if bids else None,
            best_ask=min(asks) if asks else None,
            open_demand=sum(self._open[p.id] for p in self._resting(Side.DEMAND, goods)),
            open_supply=sum(self._open[p.id] for p in self._resting(Side.SUPPLY, goods)),
            volume=self._volume.get(goods, 0),
        )

    # -- internals ------------------------------------------------------------------------

    def _resting(self, side: Side, goods: str) -> list[Posting]:
        return [
            p
            for p in self._postings.values()
            if p.side is side and p.goods == goods and self._open[p.id] > 0
        ]

    def _post(
        self, side: Side, party: str, goods: str, quantity: int, price: Money
    ) -> list[Intermediary]:
        trigger = f"post_{side.value}"
        subject = f"Cannot {trigger} on exchange {self.name!r}"
        # What a trade would record: refused here, from the party posting it, rather than
        # from the one whose posting later matches it.
        found = find_sensitive({"party": party, "goods": goods})
        if found is not None:
            raise InvalidPayload(f"{subject}: {found[0]} {found[1]}.")
        if party == self.name:
            raise InvalidPayload(
                f"{subject}: the exchange {self.name!r} cannot be a party to its own trade; "
                f"post as a buyer or a seller other than {self.name!r}."
            )
        seq = len(self._postings) + 1
        try:
            posting = Posting(
                f"{side.value[0].upper()}{seq}", side, party, goods, quantity, price, seq
            )
        except (TypeError, ValueError) as error:
            raise InvalidPayload(f"{subject}: {error}.") from None
        if price.currency != self.currency:
            raise InvalidPayload(
                f"{subject}: price {price} is not in the exchange's currency {self.currency}."
            )
        # A trade is worth at most one of its two postings' value (it trades at the resting
        # price, no more than either quantity), so a posting whose value fits makes no trade
        # that cannot be recorded.
        if quantity * price.amount >= 10**MAX_AMOUNT_DIGITS:
            raise InvalidPayload(
                f"{subject}: its value, {quantity} × {price}, has more than "
                f"{MAX_AMOUNT_DIGITS} digits before the decimal point."
            )
        self._postings[posting.id] = posting
        self._open[posting.id] = quantity
        posted = (Stream.INFORMATION, f"{side.value}_posted", unstructure(posting))
        return self._step(
            lambda: self._record(trigger, posted, posting),
            f"posting {posting.id!r}",
        )

    def _step(
        self, step: Callable[[], tuple[list[Intermediary], list[BaseException]]], what: str
    ) -> list[Intermediary]:
        """Run one step of the exchange, then reopen what trades ended meanwhile.

        A trade may end while the exchange is matching (a subscriber declines it at once);
        it is reopened after the step, so that the exchange's versions stay in order. A
        failing subscriber is reported once everything is recorded.
        """
        self._busy = True
        try:
            trades, errors = step()
            while self._pending:
                more, failed = self._reopen(*self._pending.popleft())
                trades.extend(more)
                errors.extend(failed)
        finally:
            self._busy = False
        if errors:
            raise SubscriberError(
                f"Exchange {self.name!r} recorded {what} and {len(trades)} trade(s), but "
                f"{len(errors)} subscriber(s) failed; first: {errors[0]!r}.",
                errors=errors,
            )
        return trades

    def _record(
        self, trigger: str, first: tuple[Stream, str, Any], posting: Posting
    ) -> tuple[list[Intermediary], list[BaseException]]:
        """Match ``posting``'s open quantity; record ``first``, the matches and market data.

        The exchange's events of one step share a version and are published once recorded;
        returns the new trades and the exceptions subscribers raised.
        """
        now = self._clock()
        self._version += 1
        version = self._version
        records = [first]
        trades, errors = self._match(posting)
        for trade in trades:
            records.append(
                (
                    Stream.INFORMATION,
                    "match_announced",
                    {
                        "trade": trade.id,
                        "demand_posting": self._sources[trade.id][0],
                        "supply_posting": self._sources[trade.id][1],
                        "buyer": trade.context.match.buyer,
                        "seller": trade.context.match.seller,
                        "quantity": trade.context.match.quantity,
                        "price": trade.context.match.price.to_json(),
                    },
                )
            )
        records.append(
            (Stream.INFORMATION, "market_data_published", unstructure(self.market(posting.goods)))
        )
        events = [
            Event(self.id, version, seq_no, trigger, stream, name, data, now)
            for seq_no, (stream, name, data) in enumerate(records)
        ]
        self._events.extend(events)
        if self._bus is not None:
            errors.extend(self._bus.publish(events))
        return trades, errors

    def _on_trade_event(self, event: Event) -> None:
        """Hear that a trade of this exchange ended unsettled, and reopen the other side.

        The party that declined (or the buyer, in default) walked away from its part; the
        other party's posting gets the trade's quantity back and is matched again at once
        against what rests, and the volume no longer counts the trade.
        """
        if event.name not in ("trade_declined", "trade_defaulted"):
            return
        trade_id = event.tx_id
        if trade_id not in self._matches or trade_id in self._ended:
            return  # not a trade of this exchange, or already heard of
        self._ended[trade_id] = event.name
        walked = Party.BUYER if event.name == "trade_defaulted" else Party(event.data["party"])
        self._pending.append((trade_id, walked))
        if not self._busy:  # else the step under way reopens it when it is done
            self._step(lambda: ([], []), f"that trade {trade_id!r} ended unsettled")

    def _reopen(
        self, trade_id: str, walked: Party
    ) -> tuple[list[Intermediary], list[BaseException]]:
        """Give the trade's quantity back to the side that did not walk away; match it again."""
        match = self._matches[trade_id]
        demand_id, supply_id = self._sources[trade_id]
        reopened = self._postings[supply_id if walked is Party.BUYER else demand_id]
        self._open[reopened.id] += match.quantity
        self._volume[match.goods] -= match.quantity
        record = {
            "trade": trade_id,
            "posting": reopened.id,
            "quantity": match.quantity,
            "because": self._ended[trade_id],
            "by": walked.value,
        }
        first = (Stream.INFORMATION, "posting_reopened", record)
        return self._record("reopen", first, reopened)

    def _match(self, incoming: Posting) -> tuple[list[Intermediary], list[BaseException]]:
        demand_side = incoming.side is Side.DEMAND
        book = sorted(
            self._resting(Side.SUPPLY if demand_side else Side.DEMAND, incoming.goods),
            # best price first (lowest ask, highest bid), then the earliest posting
            key=lambda p: (p.price.amount if demand_side else -p.price.amount, p.seq),
        )

        def compatible(resting: Posting) -> bool:
            bid, ask = (incoming, resting) if demand_side else (resting, incoming)
            return bid.price >= ask.price

        trades: list[Intermediary] = []
        errors: list[BaseException] = []
        for resting in book:
            if self._open[incoming.id] == 0 or not compatible(resting):
                break
            if resting.party == incoming.party:
                continue  # no party trades with itself; its posting stays open
            quantity = min(self._open[incoming.id], self._open[resting.id])
            demand, supply = (
                (incoming, resting) if incoming.side is Side.DEMAND else (resting, incoming)
            )
            terms: dict[str, Any] = {
                "exchange": self.name,
                "buyer": demand.party,
                "seller": supply.party,
                "goods": incoming.goods,
                "quantity": quantity,
                "price": resting.price,
                "designated_banks": self.designated_banks,
                "fee_rate": self.fee_rate,
            }
            if self.payment_term is not None:
                terms["pay_by"] = self._clock() + self.payment_term
            match = Match(**terms)  # checked before anything changes
            self._open[incoming.id] -= quantity
            self._open[resting.id] -= quantity
            self._volume[incoming.goods] = self._volume.get(incoming.goods, 0) + quantity
            trade_id = f"{self.name}-T{len(self._trades) + 1}"
            # Known before it starts, so that a subscriber may end the trade at once.
            self._sources[trade_id] = (demand.id, supply.id)
            self._matches[trade_id] = match
            try:
                trade = FLOW.start(trade_id, clock=self._clock, bus=self._trade_bus, **terms)
            except SubscriberError as error:
                trade = cast(Intermediary, error.transaction)
                errors.extend(error.errors)
            self._trades.append(trade)
            trades.append(trade)
        return trades, errors
