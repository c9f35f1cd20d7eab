"""The exchange's order book as a flow of its own: ``exchange`` (『壹』『贰』 steps (1) and (2)).

An exchange (网络商品交易中心) is an event-sourced aggregate: a transaction of the
:data:`EXCHANGE` flow, id ``"exchange:<name>"``, with one state, ``open``, and
self-transitions. ``open`` records its terms; ``post_supply`` and ``post_demand`` record a
posting (step 1) and find its matches against what rests (price, then time priority; no
self-trade); each match found is then recorded and announced by one ``record_match``
(step 2, 撮合), and market information is published once nothing waits; ``reopen`` gives
back what a trade that ended unsettled took from the side that stayed, and matches it again.
Its context, the :class:`Book`, is a pure fold of these events, so it survives a restart.
:class:`~ecomflow.flows.intermediary.exchange.Exchange` drives it and starts the trades.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, final

import attrs

from ..._codec import unstructure
from ..._definition import EventType, FlowDefinition, Guard, Label, Reason, State, Transition
from ..._errors import InvalidPayload
from ..._events import Stream
from ..._flow import Flow, Transaction, trigger
from ..._money import MAX_AMOUNT_DIGITS, Money
from ...fields import money, positive_int, text
from .terms import _banks, _rate

__all__ = [
    "DEFINITION",
    "DEMAND_POSTED",
    "EXCHANGE",
    "EXCHANGE_OPENED",
    "MARKET_DATA_PUBLISHED",
    "MATCH_ANNOUNCED",
    "POSTING_REOPENED",
    "SUPPLY_POSTED",
    "Book",
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
        raise InvalidPayload(
            f"{field.name} must be an ISO 4217 code (got {value!r})",
            zh=f"{field.name} 必须是 ISO 4217 代码（收到 {value!r}）",
        )
    Money(0, value)  # raises InvalidPayload naming ISO 4217


def _term(_: object, field: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, Decimal) or not value > 0):
        raise InvalidPayload(
            f"{field.name} must be a positive number of seconds (got {value!r})",
            zh=f"{field.name} 必须是正的秒数（收到 {value!r}）",
        )


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
    """A match: ``quantity`` bought on the ``demand`` posting from the ``supply`` one."""

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
        """Return the postings of ``side`` for ``goods`` with some quantity still open."""
        return [
            p
            for p in self.postings
            if p.side is side and p.goods == goods and self.open[p.seq - 1] > 0
        ]

    def volume(self, goods: str) -> int:
        """Return the quantity of ``goods`` matched in trades that did not end unsettled."""
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


def _nothing_pending(book: Book, _: object) -> Reason | None:
    if book.pending:
        count = len(book.pending)
        return Reason(
            f"{count} match(es) found by the last step are not recorded yet",
            f"上一步撮合成功的 {count} 笔交易尚未记录",
        )
    return None


def _match_pending(book: Book, _: object) -> Reason | None:
    if book.pending:
        return None
    return Reason("no match is waiting to be recorded", "没有等待记录的撮合")


def _not_the_exchange(book: Book, order: Order) -> Reason | None:
    if order.party == book.terms.name:
        return Reason(
            f"the exchange {book.terms.name!r} cannot be a party to its own trade",
            f"交易所 {book.terms.name!r} 不能成为自己撮合的交易的一方",
        )
    return None


def _in_currency(book: Book, order: Order) -> Reason | None:
    if order.price.currency != book.terms.currency:
        return Reason(
            f"price {order.price} is not in the exchange's currency {book.terms.currency}",
            f"价格 {order.price} 不是以交易所的币种 {book.terms.currency} 计",
        )
    return None


def _value_fits(book: Book, order: Order) -> Reason | None:
    if order.quantity * order.price.amount >= 10**MAX_AMOUNT_DIGITS:
        return Reason(
            f"its value has more than {MAX_AMOUNT_DIGITS} digits before the decimal point",
            f"其金额的整数部分超过 {MAX_AMOUNT_DIGITS} 位",
        )
    return None


def _ended_trade(book: Book, reopening: Reopening) -> Reason | None:
    try:
        fill = book.fill(reopening.trade)
    except KeyError:
        return Reason(
            f"{reopening.trade!r} is not a trade of this exchange",
            f"{reopening.trade!r} 不是本交易所的交易",
        )
    if any(ended.trade == fill.trade for ended in book.ended):
        return Reason(
            f"trade {fill.trade!r} was already reopened", f"交易 {fill.trade!r} 已经重新挂出"
        )
    side = {"buyer": fill.supply, "seller": fill.demand}.get(reopening.by)
    if side != reopening.posting or reopening.quantity != fill.quantity:
        return Reason(
            f"trade {fill.trade!r} gives back {fill.quantity} to the other side of the "
            f"{reopening.by!r}, not {reopening.quantity} to {reopening.posting!r}",
            f"交易 {fill.trade!r} 应把 {fill.quantity} 退回给 {reopening.by!r} 的对方，"
            f"而不是把 {reopening.quantity} 退回给 {reopening.posting!r}",
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
        for side, posting_id in (("buyer", fill.demand), ("seller", fill.supply)):
            if walked in (None, side):
                taken[_seq(posting_id) - 1] += fill.quantity
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
            emits=[
                SUPPLY_POSTED.emit(_posted),
                MARKET_DATA_PUBLISHED.emit(_POSTED_GOODS, when=_idle),
            ],
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
            emits=[
                DEMAND_POSTED.emit(_posted),
                MARKET_DATA_PUBLISHED.emit(_POSTED_GOODS, when=_idle),
            ],
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
