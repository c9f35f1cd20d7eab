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
a subscriber of the bus its trades publish on (the shop's bus, the repository's, or its own).

The exchange is an event-sourced aggregate of its own: a transaction of the ``exchange``
flow (:mod:`.market`, :data:`EXCHANGE`, id ``"exchange:<name>"``). Its order book
(:class:`~.market.Book`) is a fold of its events, so an exchange kept in a store
(``Exchange(..., repository=repo)``) is reopened after a restart with
:meth:`Exchange.open` and goes on matching where it stopped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, final

import attrs

from ..._bus import EventBus, Subscription
from ..._errors import (
    ConcurrencyConflict,
    EcomflowError,
    InvalidPayload,
    StoreError,
    SubscriberError,
)
from ..._events import Clock, Event, Stream, utc_now
from ..._money import MAX_AMOUNT_DIGITS, Money
from ..._sensitive import find_sensitive
from .definition import FLOW as INTERMEDIARY
from .definition import Intermediary
from .market import (
    DEFINITION,
    EXCHANGE,
    MATCH_ANNOUNCED,
    Book,
    ExchangeRecord,
    ExchangeTerms,
    Fill,
    MarketInfo,
    Order,
    Posting,
    Reopening,
    Side,
)
from .terms import TRADE_DECLINED, TRADE_DEFAULTED, Match, Party

if TYPE_CHECKING:
    from ...store import Repository

__all__ = [
    "EXCHANGE",
    "Book",
    "Exchange",
    "ExchangeRecord",
    "MarketInfo",
    "Posting",
    "Side",
    "matched_within_posted",
]


# -- the exchange: matches postings into trades, and keeps its book --------------------------


@final
class Exchange:
    """A virtual market that matches supply and demand into intermediary trades.

    ``designated_banks`` are the banks through which buyers must pay; ``fee_rate`` is the
    exchange's share of each contract value; all prices are in ``currency``; with a
    ``payment_term``, each trade's buyer must pay within that time of the match (its
    ``pay_by``), after which it may be declared in default.

    The exchange's own record is a transaction of the :data:`EXCHANGE` flow, started when
    the exchange is made (:attr:`transaction`, id ``"exchange:<name>"``). With a
    ``repository`` (one whose flows include ``"exchange"``: ``Repository(store, {**FLOWS,
    "exchange": EXCHANGE})``) it and every trade it opens are stored there, the trades
    started with the match's event as their cause and the exchange's id as their
    correlation; :meth:`open` reopens it after a restart.

    The trades publish on ``bus`` (or on a bus of the exchange's own, or on the
    repository's), where the exchange listens: when one is declined, or its buyer is
    declared in default, the other side's quantity is reopened (``posting_reopened``) and
    matched again at once. A trade reloaded from a store is heard too when it is given the
    same bus.
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
        repository: Repository | None = None,
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
        seconds = (
            None
            if payment_term is None
            else Decimal(payment_term // timedelta(microseconds=1)).scaleb(-6)
        )
        terms = ExchangeTerms(
            name=name,
            designated_banks=designated_banks,
            fee_rate=fee_rate,
            currency=currency,
            payment_term_seconds=seconds,
        )
        self._setup(terms.name, clock, bus, repository)
        # Validate the trade terms once, so that no later match can fail halfway.
        Match(
            exchange=name,
            buyer="b",
            seller="s",
            goods="g",
            quantity=1,
            price=Money(0, currency),
            designated_banks=terms.designated_banks,
            fee_rate=terms.fee_rate,
        )
        tx = EXCHANGE.start(self.id, clock=self._clock, **attrs.asdict(terms, recurse=False))
        self._tx = tx
        if repository is not None:
            try:
                repository.add(tx)
            except ConcurrencyConflict:
                raise StoreError(
                    f"Exchange {name!r} is already stored in this repository: reopen it with "
                    f"Exchange.open(repository, {name!r})."
                ) from None
        self._listen()  # last: an exchange refused when made leaves no listener behind

    def _setup(
        self, name: str, clock: Clock | None, bus: EventBus | None, repository: Repository | None
    ) -> None:
        if repository is not None:
            if bus is not None:
                raise InvalidPayload(
                    f"Exchange {name!r}: give a bus or a repository, not both; a repository "
                    "publishes what it stores on its own bus (Repository(..., bus=bus))."
                )
            if repository.flows.get(DEFINITION.name) is not EXCHANGE:
                raise StoreError(
                    f"Exchange {name!r}: the repository does not know the exchange flow; make "
                    "it with Repository(store, {**FLOWS, 'exchange': EXCHANGE})."
                )
        self.name = name
        self._clock = utc_now if clock is None else clock
        self._repo = repository
        self._bus = bus
        # Trades publish on the shop's bus, the repository's, or one of the exchange's own,
        # so that the exchange hears when one ends unsettled (see _on_trade_event).
        self._trade_bus = (
            repository.bus if repository is not None else EventBus() if bus is None else bus
        )
        self._listening: Subscription | None = None
        self._trades: dict[str, Intermediary] = {}
        # Trades that ended while the exchange was busy with a step: reopened right after it.
        self._pending: deque[Reopening] = deque()
        self._busy = False

    def _listen(self) -> None:
        """Start hearing the trades' ends: once the exchange is made or reopened."""
        self._listening = self._trade_bus.subscribe(self._on_trade_event, Stream.COMMERCE)

    @classmethod
    def open(cls, repository: Repository, name: str, *, clock: Clock | None = None) -> Exchange:
        """Reopen the exchange called ``name`` stored in ``repository``: its book as it was.

        What a crash left half done is finished: matches found but not recorded are
        recorded, trades recorded but not started are started, and trades that ended
        unsettled meanwhile give their quantity back. KeyError if there is no such exchange.
        """
        exchange = cls.__new__(cls)
        exchange._setup(name, clock, None, repository)
        tx = repository.load(f"exchange:{name}")
        if not isinstance(tx, ExchangeRecord):
            raise StoreError(f"Transaction 'exchange:{name}' is not an exchange.")
        tx._clock = exchange._clock
        exchange._tx = tx
        exchange._listen()  # before recovering: a trade it starts may end at once
        try:
            exchange._step(exchange._recover, "what was left undone")
        except BaseException:
            exchange.detach()  # the caller gets no exchange: none stays on the bus
            raise
        return exchange

    def _recover(self) -> tuple[list[Intermediary], list[BaseException]]:
        """Finish what a crash left undone; queue the trades that ended unheard."""
        assert self._repo is not None
        trades, errors = self._record_pending()
        for fill in self.book.fills:
            try:
                trade = self._repo.load(fill.trade)
            except KeyError:  # recorded, but the process stopped before it started
                trade, failed = self._start_trade(fill, self._announcement(fill))
                trades.append(trade)
                errors.extend(failed)
            for event in trade.events[-2:]:
                self._on_trade_event(event)
        return trades, errors

    def detach(self) -> None:
        """Stop hearing of the trades' ends (leave the bus); its book stays as it is."""
        if self._listening is not None:
            self._listening.cancel()

    # -- what the exchange shows --------------------------------------------------------

    @property
    def id(self) -> str:
        """The id of the exchange's own transaction: ``"exchange:<name>"``."""
        return f"exchange:{self.name}"

    @property
    def transaction(self) -> ExchangeRecord:
        """The exchange's own transaction of the :data:`EXCHANGE` flow."""
        return self._tx

    @property
    def book(self) -> Book:
        """The order book now: a fold of the exchange's events."""
        return self._tx.context

    @property
    def designated_banks(self) -> tuple[str, ...]:
        """The banks through which buyers must pay."""
        return self.book.terms.designated_banks

    @property
    def fee_rate(self) -> Decimal:
        """The exchange's share of each contract value."""
        return self.book.terms.fee_rate

    @property
    def currency(self) -> str:
        """The currency of every price."""
        return self.book.terms.currency

    @property
    def payment_term(self) -> timedelta | None:
        """How long each buyer has to pay (``None``: no term)."""
        return self.book.terms.payment_term

    @property
    def trades(self) -> tuple[Intermediary, ...]:
        """Every trade matched so far, in order (loaded anew from the repository, if any)."""
        if self._repo is not None:
            repo = self._repo
            return tuple(repo.load(fill.trade) for fill in self.book.fills)  # type: ignore[misc]
        return tuple(self._trades[fill.trade] for fill in self.book.fills)

    @property
    def events(self) -> tuple[Event, ...]:
        """The exchange's own events: its opening, postings, matches and market information."""
        return tuple(self._tx.events)

    @property
    def postings(self) -> tuple[Posting, ...]:
        """Every posting so far, in the order it was posted (matched or not)."""
        return self.book.postings

    def posting(self, posting_id: str) -> Posting:
        """Return the posting called ``posting_id``."""
        return self.book.posting(posting_id)

    def postings_of(self, trade_id: str) -> tuple[Posting, Posting]:
        """Return the (demand, supply) postings that trade ``trade_id`` matched."""
        fill = self.book.fill(trade_id)
        return self.book.posting(fill.demand), self.book.posting(fill.supply)

    def open_quantity(self, posting_id: str) -> int:
        """Return how much of ``posting_id`` is still unmatched."""
        return self.book.open_quantity(posting_id)

    def market(self, goods: str) -> MarketInfo:
        """Return the current market information for ``goods``."""
        return self.book.market(goods)

    # -- what the exchange does ---------------------------------------------------------

    def post_supply(
        self, seller: str, *, goods: str, quantity: int, price: Money
    ) -> list[Intermediary]:
        """Post ``seller``'s supply; return the trades it matched at once.

        Trades an earlier step matched but could not record (its store failed) are
        recorded first and returned too.
        """
        return self._post(Side.SUPPLY, seller, goods, quantity, price)

    def post_demand(
        self, buyer: str, *, goods: str, quantity: int, price: Money
    ) -> list[Intermediary]:
        """Post ``buyer``'s demand; return the trades it matched at once.

        Trades an earlier step matched but could not record (its store failed) are
        recorded first and returned too.
        """
        return self._post(Side.DEMAND, buyer, goods, quantity, price)

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
        try:
            order = Order(party=party, goods=goods, quantity=quantity, price=price)
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
        fields = attrs.asdict(order, recurse=False)
        seq = len(self.book.postings) + 1
        return self._step(
            lambda: self._record(trigger, fields),
            f"posting {f'{side.value[0].upper()}{seq}'!r}",
        )

    def _step(
        self, step: Callable[[], tuple[list[Intermediary], list[BaseException]]], what: str
    ) -> list[Intermediary]:
        """Run one step of the exchange, then reopen what trades ended meanwhile.

        Matches an earlier step found but could not record (its store failed) are recorded
        first, their trades started or adopted, as :meth:`open` does. A trade may end while
        the exchange is matching (a subscriber declines it at once); it is reopened after
        the step, so that the exchange's versions stay in order. A failing subscriber is
        reported once everything is recorded. Any other failure leaves the exchange's
        record as stored (reloaded from the repository; without one, as it was before the
        step) and is raised.
        """
        tx = self._tx
        mark = (tx._state, tx._version, tx._context, len(tx._events))
        self._busy = True
        try:
            trades, errors = self._record_pending()
            more, failed = step()
            trades.extend(more)
            errors.extend(failed)
            while self._pending:
                more, failed = self._record("reopen", attrs.asdict(self._pending[0]))
                self._pending.popleft()
                trades.extend(more)
                errors.extend(failed)
        except BaseException:
            self._roll_back(tx, mark)
            raise
        finally:
            self._busy = False
        if errors:
            raise SubscriberError(
                f"Exchange {self.name!r} recorded {what} and {len(trades)} trade(s), but "
                f"{len(errors)} subscriber(s) failed; first: {errors[0]!r}.",
                errors=errors,
            )
        return trades

    def _roll_back(self, tx: ExchangeRecord, mark: tuple[Any, int, Book, int]) -> None:
        """Make the record what is stored (or, without a repository, ``tx`` at ``mark``).

        Reopenings still to record are kept, unless the record holds them already (another
        object of this exchange recorded them).
        """
        reloaded: ExchangeRecord | None = None
        if self._repo is not None:
            try:
                found = self._repo.load(self.id)
            except Exception:  # the store is down: keep what was before
                found = None
            if isinstance(found, ExchangeRecord):
                found._clock = self._clock
                reloaded = found
        if reloaded is None:
            tx._state, tx._version, tx._context = mark[:3]
            del tx._events[mark[3] :]
            reloaded = tx
        self._tx = reloaded
        held = {reopening.trade for reopening in self.book.ended}
        kept = [reopening for reopening in self._pending if reopening.trade not in held]
        self._pending.clear()
        self._pending.extend(kept)

    def _fire(
        self, trigger: str, payload: dict[str, Any]
    ) -> tuple[tuple[Event, ...], Callable[[], list[BaseException]]]:
        """Fire ``trigger`` on the exchange's record; return its events and how to publish.

        Publishing (storing, with a repository) is left to the caller, so that the trade a
        match opens exists before the match is announced.
        """
        events = self._tx.fire(trigger, **payload)

        def publish() -> list[BaseException]:
            if self._repo is not None:
                try:
                    self._repo.save(self._tx)
                except SubscriberError as error:
                    return list(error.errors)
                return []
            return [] if self._bus is None else list(self._bus.publish(events))

        return events, publish

    def _record(
        self, trigger: str, payload: dict[str, Any]
    ) -> tuple[list[Intermediary], list[BaseException]]:
        """Fire ``trigger`` (a posting or a reopening), then record and open each match.

        A match whose trade id another transaction took is refused before anything is
        stored (:class:`StoreError`).
        """
        _, publish = self._fire(trigger, payload)
        for fill in self.book.pending:
            self._adopt(fill)
        errors = publish()
        trades, failed = self._record_pending()
        return trades, errors + failed

    def _record_pending(self) -> tuple[list[Intermediary], list[BaseException]]:
        """Record each pending match and start its trade (or adopt the one a crash started)."""
        trades: list[Intermediary] = []
        errors: list[BaseException] = []
        while self.book.pending:
            adopted = self._adopt(self.book.pending[0])  # before anything changes
            events, publish = self._fire("record_match", {})
            fill = self.book.fills[-1]
            if adopted is None:
                trade, failed = self._start_trade(fill, events[0])
                errors.extend(failed)
            else:
                trade = adopted
            trades.append(trade)
            errors.extend(publish())
        return trades, errors

    def _adopt(self, fill: Fill) -> Intermediary | None:
        """Return the trade of ``fill`` if a crash left it started but its match unrecorded.

        ``None`` if its id is free; :class:`StoreError` if another transaction took it:
        only an intermediary trade correlated with this exchange whose match is the fill's
        is adopted.
        """
        if self._repo is None or self._repo.store.version(fill.trade) < 0:
            return None
        try:
            found: Any = self._repo.load(fill.trade)
        except (KeyError, EcomflowError):
            found = None
        if (
            isinstance(found, Intermediary)
            and found.flow.name == INTERMEDIARY.name
            and found.correlation_id == self.id
        ):
            match = found.context.match
            expected = self._match_of(fill)
            if all(getattr(match, key) == value for key, value in expected.items()):
                return found
        flow = "unknown" if found is None else found.flow.name
        raise StoreError(
            f"Exchange {self.name!r} cannot open trade {fill.trade!r}: the repository holds "
            f"a {flow} transaction {fill.trade!r} that is not this match's trade; remove it, "
            "or trade on an exchange of another name."
        )

    def _match_of(self, fill: Fill) -> dict[str, Any]:
        """Return the fields of the :class:`Match` that ``fill`` makes (but its ``pay_by``)."""
        terms = self.book.terms
        demand, supply = self.book.posting(fill.demand), self.book.posting(fill.supply)
        return {
            "exchange": terms.name,
            "buyer": demand.party,
            "seller": supply.party,
            "goods": demand.goods,
            "quantity": fill.quantity,
            "price": fill.price,
            "designated_banks": terms.designated_banks,
            "fee_rate": terms.fee_rate,
        }

    def _announcement(self, fill: Fill) -> Event:
        for event in self._tx.events:
            if MATCH_ANNOUNCED.matches(event) and event.data["trade"] == fill.trade:
                return event
        raise StoreError(f"Exchange {self.name!r} never announced trade {fill.trade!r}.")

    def _start_trade(
        self, fill: Fill, announced: Event
    ) -> tuple[Intermediary, list[BaseException]]:
        """Start the trade ``fill`` made: caused by its announcement, in the exchange's name."""
        terms = self.book.terms
        match = self._match_of(fill)
        if terms.payment_term is not None:
            match["pay_by"] = announced.occurred_at + terms.payment_term
        cause, process = announced.event_id, self.id
        errors: list[BaseException] = []
        if self._repo is None:
            try:
                trade = INTERMEDIARY.start(
                    fill.trade,
                    clock=self._clock,
                    bus=self._trade_bus,
                    causation_id=cause,
                    correlation_id=process,
                    **match,
                )
            except SubscriberError as error:
                trade = error.transaction  # type: ignore[assignment]
                errors.extend(error.errors)
        else:
            trade = INTERMEDIARY.start(
                fill.trade, clock=self._clock, causation_id=cause, correlation_id=process, **match
            )
            try:
                self._repo.add(trade)
            except SubscriberError as error:
                errors.extend(error.errors)
        self._trades[fill.trade] = trade
        return trade, errors

    def _on_trade_event(self, event: Event) -> None:
        """Hear that a trade of this exchange ended unsettled, and reopen the other side.

        The party that declined (or the buyer, in default) walked away from its part; the
        other party's posting gets the trade's quantity back and is matched again at once
        against what rests, and the volume no longer counts the trade.
        """
        defaulted = TRADE_DEFAULTED.matches(event)
        if not (defaulted or TRADE_DECLINED.matches(event)):
            return
        try:
            fill = self.book.fill(event.tx_id)
        except KeyError:
            return  # not a trade of this exchange
        if any(r.trade == fill.trade for r in (*self.book.ended, *self._pending)):
            return  # already heard of
        walked = Party.BUYER if defaulted else Party(event.data["party"])
        self._pending.append(
            Reopening(
                trade=fill.trade,
                posting=fill.supply if walked is Party.BUYER else fill.demand,
                quantity=fill.quantity,
                because=event.name,
                by=walked.value,
            )
        )
        if self._busy:  # the step under way reopens it when it is done
            return
        what = f"that trade {fill.trade!r} ended unsettled"
        try:
            self._step(lambda: ([], []), what)
        except ConcurrencyConflict:
            # The record is reloaded as stored; another object of this exchange may have
            # reopened the trade already (then it is dropped), else try once more.
            if self._pending:
                self._step(lambda: ([], []), what)


def _require(condition: object, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition`` (also under ``python -O``)."""
    if not condition:
        raise AssertionError(message)


def matched_within_posted(exchange: Exchange) -> None:
    """Check an exchange: no posting matched beyond its quantity, no party traded with itself.

    For every posting, what its trades took plus what is still open equals what was
    posted. A trade that ended unsettled (declined, or the buyer in default) took only the
    part of the party that walked away: the other side's quantity was reopened, and the
    trade no longer counts in the market volume. Every trade's buyer and seller differ,
    neither is the exchange, and each trade's price lies between the ask and the bid.
    """
    taken: dict[str, int] = {}
    volume: dict[str, int] = {}
    for trade in exchange.trades:
        demand, supply = exchange.postings_of(trade.id)
        match = trade.context.match
        _require(match.buyer != match.seller, f"{trade.id!r}: {match.buyer!r} traded with itself")
        _require(
            exchange.name not in (match.buyer, match.seller),
            f"{trade.id!r}: the exchange {exchange.name!r} is a party to its own trade",
        )
        _require(
            supply.price <= match.price <= demand.price,
            f"{trade.id!r}: price {match.price} outside ask {supply.price} and bid {demand.price}",
        )
        decline = trade.context.decline
        walked = {"defaulted": "buyer"}.get(trade.state)
        if trade.state == "cancelled" and decline is not None:
            walked = decline.party.value
        if walked is None:
            volume[match.goods] = volume.get(match.goods, 0) + match.quantity
        for side, posting in (("buyer", demand), ("seller", supply)):
            if walked in (None, side):
                taken[posting.id] = taken.get(posting.id, 0) + match.quantity
    for posting in exchange.postings:
        done, left = taken.get(posting.id, 0), exchange.open_quantity(posting.id)
        _require(
            left >= 0 and done + left == posting.quantity,
            f"posting {posting.id!r} of {posting.quantity}: {done} matched and {left} open",
        )
    for goods in {posting.goods for posting in exchange.postings}:
        traded = exchange.market(goods).volume
        _require(
            traded == volume.get(goods, 0),
            f"{goods!r}: the market says {traded} traded, its live trades {volume.get(goods, 0)}",
        )
