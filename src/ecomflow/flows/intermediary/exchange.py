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
flow (:data:`EXCHANGE`, id ``"exchange:<name>"``), one state ``open`` and self-transitions
that post supply and demand, reopen a posting and record each match. Its order book
(:class:`Book`) is a fold of its events, so an exchange kept in a store
(``Exchange(..., repository=repo)``) is reopened after a restart with
:meth:`Exchange.open` and goes on matching where it stopped.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, final

import attrs

from ..._bus import EventBus
from ..._codec import unstructure
from ..._definition import EventType, FlowDefinition, Guard, Label, State, Transition
from ..._errors import InvalidPayload, StoreError, SubscriberError
from ..._events import Clock, Event, Stream, utc_now
from ..._flow import Flow, Transaction, trigger
from ..._money import MAX_AMOUNT_DIGITS, Money
from ..._sensitive import find_sensitive
from ...fields import money, positive_int, text
from .definition import FLOW as INTERMEDIARY
from .definition import Intermediary
from .terms import TRADE_DECLINED, TRADE_DEFAULTED, Match, Party, _banks, _rate

if TYPE_CHECKING:
    from ...store import Repository

__all__ = [
    "DEMAND_POSTED",
    "EXCHANGE",
    "EXCHANGE_OPENED",
    "MARKET_DATA_PUBLISHED",
    "MATCH_ANNOUNCED",
    "POSTING_REOPENED",
    "SUPPLY_POSTED",
    "Book",
    "Exchange",
    "ExchangeRecord",
    "ExchangeTerms",
    "Fill",
    "MarketInfo",
    "Order",
    "Posting",
    "Reopening",
    "Side",
    "book_within_posted",
]

# -- the events the exchange records (all information: 信息流) -------------------------------

EXCHANGE_OPENED = EventType(
    "exchange_opened", Stream.INFORMATION, Label("Exchange opened", "交易中心开业")
)
SUPPLY_POSTED = EventType(
    "supply_posted", Stream.INFORMATION, Label("Supply posted", "卖方发布供应信息")
)
DEMAND_POSTED = EventType(
    "demand_posted", Stream.INFORMATION, Label("Demand posted", "买方发布需求信息")
)
POSTING_REOPENED = EventType(
    "posting_reopened", Stream.INFORMATION, Label("Posting reopened", "挂牌数量恢复")
)
MATCH_ANNOUNCED = EventType(
    "match_announced", Stream.INFORMATION, Label("Match announced", "公布撮合结果")
)
MARKET_DATA_PUBLISHED = EventType(
    "market_data_published",
    Stream.INFORMATION,
    Label("Market data published", "发布交易数据和市场信息"),
)

# -- terms: payloads and the order book --------------------------------------------------


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


def _currency(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidPayload(f"{field.name} must be an ISO 4217 code (got {value!r})")
    Money(0, value)  # raises InvalidPayload naming ISO 4217


def _term(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, Decimal) or not value > 0):
        raise InvalidPayload(f"{field.name} must be a positive number of seconds (got {value!r})")


@final
@attrs.frozen(kw_only=True)
class ExchangeTerms:
    """The exchange opens (its first event): its name and the terms of every trade it makes.

    ``payment_term_seconds`` (exact, as a Decimal) is how long each buyer has to pay.
    """

    name: str = text(max_length=200)
    designated_banks: tuple[str, ...] = attrs.field(converter=_banks)
    fee_rate: Decimal = attrs.field(converter=_rate)
    currency: str = attrs.field(validator=_currency)
    payment_term_seconds: Decimal | None = attrs.field(default=None, validator=_term)

    @property
    def payment_term(self) -> timedelta | None:
        """The payment term as a ``timedelta`` (``None``: none)."""
        seconds = self.payment_term_seconds
        return None if seconds is None else timedelta(microseconds=int(seconds.scaleb(6)))


@final
@attrs.frozen(kw_only=True)
class Order:
    """Step (1): a party posts supply or demand: ``quantity`` of ``goods`` at ``price``."""

    party: str = text(max_length=200)
    goods: str = text(max_length=200)
    quantity: int = positive_int()
    price: Money = money()


@final
@attrs.frozen(kw_only=True)
class Reopening:
    """A trade ended unsettled (``because`` names its event): ``posting`` gets ``quantity`` back.

    ``by`` is the side that walked away (``"buyer"`` or ``"seller"``).
    """

    trade: str = text(max_length=300)
    posting: str = text(max_length=30)
    quantity: int = positive_int()
    because: str = text(max_length=100)
    by: str = text(max_length=10)


@final
@attrs.frozen
class Fill:
    """A match: ``quantity`` of the ``demand`` posting bought from the ``supply`` one at ``price``."""

    trade: str
    demand: str
    supply: str
    quantity: int
    price: Money


def _seq(posting_id: str) -> int:
    return int(posting_id[1:])


@final
@attrs.frozen
class Book:
    """The exchange's order book: its terms, postings, open quantities and matches.

    ``open`` holds each posting's unmatched quantity (by posting number); ``fills`` are the
    recorded matches; ``pending`` the matches the last step found and that are recorded
    next (one ``record_match`` each); ``ended`` the trades that ended unsettled.
    """

    terms: ExchangeTerms
    postings: tuple[Posting, ...] = ()
    open: tuple[int, ...] = ()
    fills: tuple[Fill, ...] = ()
    pending: tuple[Fill, ...] = ()
    ended: tuple[Reopening, ...] = ()

    def posting(self, posting_id: str) -> Posting:
        """Return the posting called ``posting_id``; KeyError if there is none."""
        seq = _seq(posting_id) if posting_id[1:].isdigit() else 0
        if not 0 < seq <= len(self.postings) or self.postings[seq - 1].id != posting_id:
            raise KeyError(posting_id)
        return self.postings[seq - 1]

    def open_quantity(self, posting_id: str) -> int:
        """Return how much of ``posting_id`` is still unmatched."""
        return self.open[self.posting(posting_id).seq - 1]

    def fill(self, trade_id: str) -> Fill:
        """Return the match that made trade ``trade_id``; KeyError if there is none."""
        for fill in (*self.fills, *self.pending):
            if fill.trade == trade_id:
                return fill
        raise KeyError(trade_id)

    def resting(self, side: Side, goods: str) -> list[Posting]:
        """The postings of ``side`` for ``goods`` with some quantity still open."""
        return [
            p
            for p in self.postings
            if p.side is side and p.goods == goods and self.open[p.seq - 1] > 0
        ]

    def volume(self, goods: str) -> int:
        """The quantity of ``goods`` matched in trades that did not end unsettled."""
        ended = {reopening.trade for reopening in self.ended}
        return sum(
            fill.quantity
            for fill in (*self.fills, *self.pending)
            if fill.trade not in ended and self.posting(fill.demand).goods == goods
        )

    def market(self, goods: str) -> MarketInfo:
        """Return the market information for ``goods``."""
        bids = self.resting(Side.DEMAND, goods)
        asks = self.resting(Side.SUPPLY, goods)
        return MarketInfo(
            goods=goods,
            best_bid=max(p.price for p in bids) if bids else None,
            best_ask=min(p.price for p in asks) if asks else None,
            open_demand=sum(self.open[p.seq - 1] for p in bids),
            open_supply=sum(self.open[p.seq - 1] for p in asks),
            volume=self.volume(goods),
        )


# -- rules: matching, guards, event data --------------------------------------------------


def _matched(book: Book, incoming: Posting) -> Book:
    """Match ``incoming``'s open quantity against what rests: price, then time priority."""
    demand_side = incoming.side is Side.DEMAND
    opened = list(book.open)
    resting = sorted(
        book.resting(Side.SUPPLY if demand_side else Side.DEMAND, incoming.goods),
        # best price first (lowest ask, highest bid), then the earliest posting
        key=lambda p: (p.price.amount if demand_side else -p.price.amount, p.seq),
    )
    fills: list[Fill] = []
    made = len(book.fills) + len(book.pending)
    for other in resting:
        bid, ask = (incoming, other) if demand_side else (other, incoming)
        if opened[incoming.seq - 1] == 0 or bid.price < ask.price:
            break
        if other.party == incoming.party:
            continue  # no party trades with itself; its posting stays open
        quantity = min(opened[incoming.seq - 1], opened[other.seq - 1])
        opened[incoming.seq - 1] -= quantity
        opened[other.seq - 1] -= quantity
        trade = f"{book.terms.name}-T{made + len(fills) + 1}"
        fills.append(Fill(trade, bid.id, ask.id, quantity, other.price))
    return attrs.evolve(book, open=tuple(opened), pending=(*book.pending, *fills))


def _post(side: Side) -> Callable[[Book, Order], Book]:
    def post(book: Book, order: Order) -> Book:
        seq = len(book.postings) + 1
        posting = Posting(
            f"{side.value[0].upper()}{seq}",
            side,
            order.party,
            order.goods,
            order.quantity,
            order.price,
            seq,
        )
        book = attrs.evolve(
            book, postings=(*book.postings, posting), open=(*book.open, order.quantity)
        )
        return _matched(book, posting)

    return post


def _reopen(book: Book, reopening: Reopening) -> Book:
    posting = book.posting(reopening.posting)
    opened = list(book.open)
    opened[posting.seq - 1] += reopening.quantity
    book = attrs.evolve(book, open=tuple(opened), ended=(*book.ended, reopening))
    return _matched(book, posting)


def _record_match(book: Book, _: None) -> Book:
    return attrs.evolve(book, fills=(*book.fills, book.pending[0]), pending=book.pending[1:])


def _nothing_pending(book: Book, _: object) -> str | None:
    if book.pending:
        return f"{len(book.pending)} match(es) found by the last step are not recorded yet"
    return None


def _match_pending(book: Book, _: object) -> str | None:
    return None if book.pending else "no match is waiting to be recorded"


def _not_the_exchange(book: Book, order: Order) -> str | None:
    if order.party == book.terms.name:
        return f"the exchange {book.terms.name!r} cannot be a party to its own trade"
    return None


def _in_currency(book: Book, order: Order) -> str | None:
    if order.price.currency != book.terms.currency:
        return f"price {order.price} is not in the exchange's currency {book.terms.currency}"
    return None


def _value_fits(book: Book, order: Order) -> str | None:
    if order.quantity * order.price.amount >= 10**MAX_AMOUNT_DIGITS:
        return f"its value has more than {MAX_AMOUNT_DIGITS} digits before the decimal point"
    return None


def _ended_trade(book: Book, reopening: Reopening) -> str | None:
    try:
        fill = book.fill(reopening.trade)
    except KeyError:
        return f"{reopening.trade!r} is not a trade of this exchange"
    if any(ended.trade == fill.trade for ended in book.ended):
        return f"trade {fill.trade!r} was already reopened"
    side = {"buyer": fill.supply, "seller": fill.demand}.get(reopening.by)
    if side != reopening.posting or reopening.quantity != fill.quantity:
        return (
            f"trade {fill.trade!r} gives back {fill.quantity} to the other side of the "
            f"{reopening.by!r}, not {reopening.quantity} to {reopening.posting!r}"
        )
    return None


NOTHING_PENDING = Guard(
    "nothing_pending",
    _nothing_pending,
    Label("no match waits to be recorded", "无待记录的撮合"),
    uses_payload=False,
)
MATCH_PENDING = Guard(
    "match_pending",
    _match_pending,
    Label("a match waits to be recorded", "有待记录的撮合"),
    uses_payload=False,
)
NOT_THE_EXCHANGE = Guard(
    "not_the_exchange", _not_the_exchange, Label("not the exchange itself", "非交易中心本身")
)
IN_CURRENCY = Guard("in_currency", _in_currency, Label("in the exchange's currency", "币种一致"))
VALUE_FITS = Guard("value_fits", _value_fits, Label("value can be recorded", "金额可记录"))
ENDED_TRADE = Guard(
    "ended_trade", _ended_trade, Label("a trade of this exchange that ended", "本中心已终止的交易")
)


def _posted(book: Book, _: object) -> dict[str, Any]:
    posting = book.postings[-1]
    return {"id": posting.id, "side": posting.side.value, "seq": posting.seq}


def _announced(book: Book, _: object) -> dict[str, Any]:
    fill = book.fills[-1]
    demand, supply = book.posting(fill.demand), book.posting(fill.supply)
    return {
        "trade": fill.trade,
        "demand_posting": fill.demand,
        "supply_posting": fill.supply,
        "buyer": demand.party,
        "seller": supply.party,
        "quantity": fill.quantity,
        "price": fill.price.to_json(),
    }


def _market_of(goods: Callable[[Book, Any], str]) -> Callable[[Book, Any], dict[str, Any]]:
    def data(book: Book, payload: Any) -> dict[str, Any]:
        info: dict[str, Any] = unstructure(book.market(goods(book, payload)))
        return info

    return data


def _idle(book: Book, _: object) -> bool:
    return not book.pending


_POSTED_GOODS = _market_of(lambda book, _: book.postings[-1].goods)
_REOPENED_GOODS = _market_of(lambda book, r: book.posting(r.posting).goods)
_MATCHED_GOODS = _market_of(lambda book, _: book.posting(book.fills[-1].demand).goods)


def book_within_posted(tx: Transaction[Book]) -> None:
    """Rule: for every posting, what its live matches took plus what is open is what was posted.

    A trade that ended unsettled keeps only the part of the side that walked away.
    """
    book = tx.context
    taken = [0] * len(book.postings)
    ended = {reopening.trade: reopening.by for reopening in book.ended}
    for fill in (*book.fills, *book.pending):
        walked = ended.get(fill.trade)
        for side, posting in (("buyer", fill.demand), ("seller", fill.supply)):
            if walked in (None, side):
                taken[_seq(posting) - 1] += fill.quantity
    for posting, done, left in zip(book.postings, taken, book.open, strict=True):
        if left < 0 or done + left != posting.quantity:
            raise AssertionError(
                f"{tx.id!r}: posting {posting.id!r} of {posting.quantity}: {done} matched "
                f"and {left} open"
            )


# -- definition: the graph -----------------------------------------------------------------

_OPEN = "open"
_POSTING_GUARDS = (NOTHING_PENDING, NOT_THE_EXCHANGE, IN_CURRENCY, VALUE_FITS)

DEFINITION = FlowDefinition(
    name="exchange",
    title=Label("The exchange's order book", "网络商品交易中心"),
    source="『壹』『贰』(1)(2)",
    context_type=Book,
    states=[State(_OPEN, Label("open for postings", "开放交易"))],
    start=Transition(
        "open",
        (),
        _OPEN,
        Label("open the exchange", "交易中心开业"),
        step="(1)",
        payload=ExchangeTerms,
        effect=lambda _, terms: Book(terms=terms),
        emits=[EXCHANGE_OPENED.emit()],
    ),
    transitions=[
        Transition(
            "post_supply",
            _OPEN,
            _OPEN,
            Label("post supply", "发布供应信息"),
            step="(1)",
            payload=Order,
            guards=_POSTING_GUARDS,
            effect=_post(Side.SUPPLY),
            emits=[SUPPLY_POSTED.emit(_posted), MARKET_DATA_PUBLISHED.emit(_POSTED_GOODS, when=_idle)],
        ),
        Transition(
            "post_demand",
            _OPEN,
            _OPEN,
            Label("post demand", "发布需求信息"),
            step="(1)",
            payload=Order,
            guards=_POSTING_GUARDS,
            effect=_post(Side.DEMAND),
            emits=[DEMAND_POSTED.emit(_posted), MARKET_DATA_PUBLISHED.emit(_POSTED_GOODS, when=_idle)],
        ),
        Transition(
            "record_match",
            _OPEN,
            _OPEN,
            Label("match (撮合) and announce", "撮合并公布"),
            step="(2)",
            guards=[MATCH_PENDING],
            effect=_record_match,
            emits=[
                MATCH_ANNOUNCED.emit(_announced),
                MARKET_DATA_PUBLISHED.emit(_MATCHED_GOODS, when=_idle),
            ],
        ),
        Transition(
            "reopen",
            _OPEN,
            _OPEN,
            Label("reopen what an ended trade gives back", "交易终止，恢复挂牌数量"),
            step="(2)",
            payload=Reopening,
            guards=[NOTHING_PENDING, ENDED_TRADE],
            effect=_reopen,
            emits=[
                POSTING_REOPENED.emit(),
                MARKET_DATA_PUBLISHED.emit(_REOPENED_GOODS, when=_idle),
            ],
        ),
    ],
    invariants=[book_within_posted],
)
"""The exchange as a flow: one state, ``open``, and the self-transitions that keep its book."""


@final
class ExchangeRecord(Transaction[Book]):
    """The exchange's own transaction: its order book, with one typed method per trigger."""

    __slots__ = ()

    @trigger
    def post_supply(self, *, party: str, goods: str, quantity: int, price: Money) -> None:
        """(1) A seller posts supply; the matches it makes wait in ``pending``."""

    @trigger
    def post_demand(self, *, party: str, goods: str, quantity: int, price: Money) -> None:
        """(1) A buyer posts demand; the matches it makes wait in ``pending``."""

    @trigger
    def record_match(self) -> None:
        """(2) Record and announce the first pending match."""

    @trigger
    def reopen(self, *, trade: str, posting: str, quantity: int, because: str, by: str) -> None:
        """Give back what a trade that ended unsettled took from the side that stayed."""


EXCHANGE: Flow[ExchangeRecord] = Flow(DEFINITION, ExchangeRecord)
"""The ``exchange`` flow: an exchange's order book as an event-sourced aggregate."""


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
            repository.add(tx)

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
        self._trade_bus.subscribe(self._on_trade_event, Stream.COMMERCE)
        self._trades: dict[str, Intermediary] = {}
        # Trades that ended while the exchange was busy with a step: reopened right after it.
        self._pending: deque[Reopening] = deque()
        self._busy = False

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
        exchange._step(exchange._recover, "what was left undone")
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
        """Post ``seller``'s supply; return the trades it matched at once."""
        return self._post(Side.SUPPLY, seller, goods, quantity, price)

    def post_demand(
        self, buyer: str, *, goods: str, quantity: int, price: Money
    ) -> list[Intermediary]:
        """Post ``buyer``'s demand; return the trades it matched at once."""
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

        A trade may end while the exchange is matching (a subscriber declines it at once);
        it is reopened after the step, so that the exchange's versions stay in order. A
        failing subscriber is reported once everything is recorded.
        """
        self._busy = True
        try:
            trades, errors = step()
            while self._pending:
                more, failed = self._record("reopen", attrs.asdict(self._pending.popleft()))
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
        """Fire ``trigger`` (a posting or a reopening), then record and open each match."""
        _, publish = self._fire(trigger, payload)
        errors = publish()
        trades, failed = self._record_pending()
        return trades, errors + failed

    def _record_pending(self) -> tuple[list[Intermediary], list[BaseException]]:
        trades: list[Intermediary] = []
        errors: list[BaseException] = []
        while self.book.pending:
            events, publish = self._fire("record_match", {})
            fill = self.book.fills[-1]
            adopted = self._adopt(fill)
            if adopted is None:
                trade, failed = self._start_trade(fill, events[0])
                errors.extend(failed)
            else:
                trade = adopted
            trades.append(trade)
            errors.extend(publish())
        return trades, errors

    def _adopt(self, fill: Fill) -> Intermediary | None:
        """The trade of ``fill`` if a crash left it started but its match unrecorded."""
        if self._repo is None or self._repo.store.version(fill.trade) is None:
            return None
        trade: Intermediary = self._repo.load(fill.trade)  # type: ignore[assignment]
        return trade

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
        demand, supply = self.book.posting(fill.demand), self.book.posting(fill.supply)
        match: dict[str, Any] = {
            "exchange": terms.name,
            "buyer": demand.party,
            "seller": supply.party,
            "goods": demand.goods,
            "quantity": fill.quantity,
            "price": fill.price,
            "designated_banks": terms.designated_banks,
            "fee_rate": terms.fee_rate,
        }
        if terms.payment_term is not None:
            match["pay_by"] = announced.occurred_at + terms.payment_term
        who = {"causation_id": announced.event_id, "correlation_id": self.id}
        errors: list[BaseException] = []
        if self._repo is None:
            try:
                trade = INTERMEDIARY.start(
                    fill.trade, clock=self._clock, bus=self._trade_bus, **who, **match
                )
            except SubscriberError as error:
                trade = error.transaction  # type: ignore[assignment]
                errors.extend(error.errors)
        else:
            trade = INTERMEDIARY.start(fill.trade, clock=self._clock, **who, **match)
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
        if not self._busy:  # else the step under way reopens it when it is done
            self._step(lambda: ([], []), f"that trade {fill.trade!r} ended unsettled")
