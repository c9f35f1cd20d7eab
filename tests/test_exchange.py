"""The exchange's matching (『壹』『贰』 steps 1–2), checked against an independent oracle."""

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ecomflow import EventBus, InvalidPayload, Money, Stream, SubscriberError
from ecomflow.flows import Exchange
from ecomflow.flows.intermediary import FLOW
from ecomflow.testing import matched_within_posted

BANKS = ("ICBC", "Bank of China")

posting = st.tuples(
    st.sampled_from(["supply", "demand"]),
    st.sampled_from(["p1", "p2", "p3"]),
    st.sampled_from(["rice", "wheat"]),
    st.integers(1, 30),
    st.integers(90, 110),  # price in cents
)
postings = st.lists(posting, max_size=25)


def post_all(exchange, items):
    for side, party, goods, quantity, cents in items:
        price = Money(Decimal(cents).scaleb(-2), "CNY")
        getattr(exchange, f"post_{side}")(party, goods=goods, quantity=quantity, price=price)


def oracle_fills(items):
    """An independent, naive matcher: price then time priority, no self-trades."""
    book = []  # [side, party, goods, open, cents, seq]
    fills = []  # (buyer, seller, goods, quantity, cents)
    for seq, (side, party, goods, quantity, cents) in enumerate(items):
        remaining = quantity
        other = "supply" if side == "demand" else "demand"
        candidates = [b for b in book if b[0] == other and b[2] == goods and b[3] > 0]
        candidates.sort(key=lambda b: (b[4] if side == "demand" else -b[4], b[5]))
        for resting in candidates:
            crosses = cents >= resting[4] if side == "demand" else resting[4] >= cents
            if remaining == 0 or not crosses:
                break
            if resting[1] == party:
                continue
            quantity_ = min(remaining, resting[3])
            remaining -= quantity_
            resting[3] -= quantity_
            buyer, seller = (party, resting[1]) if side == "demand" else (resting[1], party)
            fills.append((buyer, seller, goods, quantity_, resting[4]))
        book.append([side, party, goods, remaining, cents, seq])
    return fills


@given(postings)
def test_matching_agrees_with_the_oracle_and_keeps_its_promises(items):
    exchange = Exchange("X", designated_banks=BANKS, fee_rate=Decimal("0.01"))
    post_all(exchange, items)
    trades = [t.context.match for t in exchange.trades]
    assert [
        (m.buyer, m.seller, m.goods, m.quantity, int(m.price.amount * 100)) for m in trades
    ] == oracle_fills(items)
    matched: dict[str, int] = {}
    for trade in exchange.trades:
        demand, supply = exchange.postings_of(trade.id)
        match = trade.context.match
        assert match.buyer != match.seller  # no party trades with itself
        assert demand.price >= match.price >= supply.price
        for posting in (demand, supply):
            matched[posting.id] = matched.get(posting.id, 0) + match.quantity
    ids = [f"{side[0].upper()}{n}" for n, (side, *_) in enumerate(items, start=1)]
    for posting_id in ids:  # nothing is matched beyond what was posted
        posting = exchange.posting(posting_id)
        assert matched.get(posting_id, 0) + exchange.open_quantity(posting_id) == posting.quantity
    assert [p.id for p in exchange.postings] == ids
    matched_within_posted(exchange)  # the kit's invariant agrees
    still_open = [exchange.posting(i) for i in ids if exchange.open_quantity(i)]
    for demand in (p for p in still_open if p.side.value == "demand"):
        for supply in (p for p in still_open if p.side.value == "supply"):
            if demand.goods == supply.goods and demand.price >= supply.price:
                assert demand.party == supply.party  # only a self-trade may stay crossed
    for goods in ("rice", "wheat"):
        assert exchange.market(goods).volume == sum(m.quantity for m in trades if m.goods == goods)


def test_a_partial_fill_leaves_the_remainder_posted_and_market_info_is_published():
    exchange = Exchange("X", designated_banks=BANKS)
    assert (
        exchange.post_supply("farm", goods="rice", quantity=100, price=Money("3.20", "CNY")) == []
    )
    (trade,) = exchange.post_demand("mill", goods="rice", quantity=60, price=Money("3.30", "CNY"))
    assert trade.context.match.price == Money("3.20", "CNY")  # the waiting posting's price
    assert exchange.open_quantity("S1") == 40 and exchange.open_quantity("D2") == 0
    info = exchange.market("rice")
    assert (info.best_bid, info.best_ask, info.open_supply, info.volume) == (
        None,
        Money("3.20", "CNY"),
        40,
        60,
    )
    published = [e for e in exchange.events if e.name == "market_data_published"]
    assert len(published) == 2 and all(e.stream is Stream.INFORMATION for e in exchange.events)
    assert published[-1].data["open_supply"] == 40
    # the exchange's own record: opened at version 0, then one version per posting and match
    assert [(e.version, e.trigger, e.name) for e in exchange.events] == [
        (0, "open", "exchange_opened"),
        (1, "post_supply", "supply_posted"),
        (1, "post_supply", "market_data_published"),
        (2, "post_demand", "demand_posted"),
        (3, "record_match", "match_announced"),
        (3, "record_match", "market_data_published"),
    ]


def test_no_self_trade_the_posting_stays_open():
    exchange = Exchange("X", designated_banks=BANKS)
    exchange.post_supply("trader", goods="rice", quantity=10, price=Money("1", "CNY"))
    assert exchange.post_demand("trader", goods="rice", quantity=10, price=Money("2", "CNY")) == []
    assert exchange.open_quantity("S1") == 10 and exchange.open_quantity("D2") == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantity": 0}, "quantity must be a positive integer"),
        ({"price": Money("1", "USD")}, "not in the exchange's currency CNY"),
        ({"price": 1.5}, "price must be Money"),
        ({"goods": ""}, "goods must be a non-empty string"),
        ({"goods": "4111 1111 1111 1111"}, "goods looks like a full card number"),
    ],
)
def test_bad_postings_are_refused_and_change_nothing(kwargs, message):
    exchange = Exchange("X", designated_banks=BANKS)
    fields = {"goods": "rice", "quantity": 5, "price": Money("1", "CNY"), **kwargs}
    with pytest.raises(InvalidPayload, match=message):
        exchange.post_supply("farm", **fields)
    assert [e.name for e in exchange.events] == ["exchange_opened"]
    assert exchange.market("rice").open_supply == 0


def test_bad_exchange_terms_are_refused_up_front():
    with pytest.raises(InvalidPayload, match="designated_banks must be a non-empty list"):
        Exchange("X", designated_banks=[])
    with pytest.raises(InvalidPayload, match="fee_rate must be a Decimal between 0 and 1"):
        Exchange("X", designated_banks=BANKS, fee_rate=Decimal("1.5"))
    with pytest.raises(InvalidPayload, match="ISO 4217"):
        Exchange("X", designated_banks=BANKS, currency="yuan")


def test_subscribers_see_exchange_and_trade_events_and_failures_are_reported():
    bus = EventBus()
    seen = []
    bus.subscribe(seen.append)

    def broken(event):
        if event.name == "trade_matched":
            raise RuntimeError("ledger down")

    bus.subscribe(broken)
    exchange = Exchange("X", designated_banks=BANKS, bus=bus)
    exchange.post_supply("farm", goods="rice", quantity=5, price=Money("1", "CNY"))
    with pytest.raises(SubscriberError, match="recorded posting 'D2' and 1 trade"):
        exchange.post_demand("mill", goods="rice", quantity=5, price=Money("1", "CNY"))
    assert len(exchange.trades) == 1  # the trade was made and kept
    assert [e.name for e in seen if e.tx_id == "X-T1"] == ["trade_matched", "parties_notified"]


# -- the exchange is never a party; a trade that ends unsettled gives its quantity back -----


@pytest.mark.parametrize("side", ["supply", "demand"])
def test_the_exchange_cannot_post_on_itself_and_nothing_changes(side):
    exchange = Exchange("X", designated_banks=BANKS)
    other = "demand" if side == "supply" else "supply"
    getattr(exchange, f"post_{other}")("farm", goods="rice", quantity=10, price=Money("1", "CNY"))
    before = (exchange.events, exchange.trades, exchange.market("rice"), exchange.postings)
    with pytest.raises(
        InvalidPayload,
        match=f"Cannot post_{side} on exchange 'X': the exchange 'X' cannot be a party to "
        "its own trade; post as a buyer or a seller other than 'X'.",
    ):
        getattr(exchange, f"post_{side}")("X", goods="rice", quantity=10, price=Money("1", "CNY"))
    assert (exchange.events, exchange.trades, exchange.market("rice"), exchange.postings) == before
    assert exchange.open_quantity(exchange.postings[0].id) == 10


def test_a_match_naming_the_exchange_as_a_party_is_refused():
    terms = {
        "exchange": "X",
        "buyer": "mill",
        "seller": "farm",
        "goods": "rice",
        "quantity": 1,
        "price": Money("1", "CNY"),
        "designated_banks": BANKS,
        "fee_rate": Decimal(0),
    }
    for role in ("buyer", "seller"):
        with pytest.raises(InvalidPayload, match="the exchange 'X' cannot be a party"):
            FLOW.start("T", **{**terms, role: "X"})


def rice(exchange, side, party, quantity, price):
    return getattr(exchange, f"post_{side}")(
        party, goods="rice", quantity=quantity, price=Money(price, "CNY")
    )


def test_a_declined_trade_leaves_the_volume_and_reopens_the_other_side():
    exchange = Exchange("X", designated_banks=BANKS)
    rice(exchange, "supply", "farm", 10, "1")
    (trade,) = rice(exchange, "demand", "mill", 6, "1")
    assert exchange.market("rice").volume == 6 and exchange.open_quantity("S1") == 4
    trade.decline(party="buyer", reason="found it cheaper")
    info = exchange.market("rice")
    assert (info.volume, info.open_supply, info.open_demand) == (0, 10, 0)
    assert exchange.open_quantity("S1") == 10  # the seller's 6 are on offer again
    assert exchange.open_quantity("D2") == 0  # the buyer walked away from its demand
    reopened = exchange.events[-2:]
    assert [e.name for e in reopened] == ["posting_reopened", "market_data_published"]
    assert reopened[0].data == {
        "trade": "X-T1",
        "posting": "S1",
        "quantity": 6,
        "because": "trade_declined",
        "by": "buyer",
    }
    assert reopened[1].data["volume"] == 0 and reopened[1].data["open_supply"] == 10
    assert {e.version for e in reopened} == {4} and reopened[0].trigger == "reopen"
    (again,) = rice(exchange, "demand", "bakery", 10, "1")  # matched again
    assert (again.context.match.seller, again.context.match.quantity) == ("farm", 10)
    assert exchange.market("rice").volume == 10
    matched_within_posted(exchange)


def test_a_reopened_posting_is_matched_at_once_against_what_rests():
    exchange = Exchange("X", designated_banks=BANKS)
    rice(exchange, "supply", "farm", 5, "1")
    (first,) = rice(exchange, "demand", "mill", 5, "2")
    rice(exchange, "supply", "orchard", 5, "1.50")  # rests: no demand is open
    first.decline(party="seller", reason="sold elsewhere")
    second = exchange.trades[-1]
    assert second is not first and second.context.match.buyer == "mill"
    assert (second.context.match.seller, second.context.match.price) == (
        "orchard",
        Money("1.50", "CNY"),
    )
    assert exchange.open_quantity("D2") == 0 and exchange.open_quantity("S1") == 0
    assert exchange.market("rice").volume == 5
    names = [(e.version, e.name) for e in exchange.events if e.version >= 5]
    assert names == [
        (5, "posting_reopened"),
        (6, "match_announced"),
        (6, "market_data_published"),
    ]
    matched_within_posted(exchange)


def test_a_buyer_in_default_releases_the_sellers_goods_on_the_exchange():
    exchange = Exchange("X", designated_banks=BANKS)
    rice(exchange, "supply", "farm", 8, "1")
    (trade,) = rice(exchange, "demand", "mill", 8, "1")
    trade.sign(party="buyer", signatory="Zhou")
    trade.sign(party="seller", signatory="Chen")
    trade.declare_default(reason="no transfer within the payment period")
    assert exchange.market("rice").volume == 0 and exchange.open_quantity("S1") == 8
    assert exchange.events[-2].data["because"] == "trade_defaulted"
    assert exchange.events[-2].data["by"] == "buyer"
    matched_within_posted(exchange)


def test_the_exchange_hears_of_its_trades_on_the_shops_bus_too():
    bus = EventBus()
    seen = []
    bus.subscribe(seen.append)
    exchange = Exchange("X", designated_banks=BANKS, bus=bus)
    rice(exchange, "supply", "farm", 3, "1")
    (trade,) = rice(exchange, "demand", "mill", 3, "1")
    trade.decline(party="seller", reason="no stock")
    assert exchange.open_quantity("D2") == 3 and exchange.market("rice").volume == 0
    assert "posting_reopened" in [e.name for e in seen]


# Each item: a posting, or ("end", n, how): the n-th trade (mod the count) ends unsettled.
endings = st.tuples(
    st.just("end"), st.integers(0, 50), st.sampled_from(["buyer", "seller", "default"])
)
market_moves = st.lists(st.one_of(posting, posting, endings), max_size=30)


def oracle_market(moves):
    """An independent, naive exchange: price then time priority, no self-trades, and a
    trade that ends unsettled gives the other side its quantity back, matched again at once.

    Returns the fills (buyer, seller, goods, quantity, cents, live) and each posting's open
    quantity, by posting number."""
    book = []  # [side, party, goods, open, cents, seq]
    fills = []  # [buyer entry, seller entry, goods, quantity, cents, live]

    def match(entry):
        side, party, goods, _, cents, _ = entry
        other = "supply" if side == "demand" else "demand"
        candidates = [b for b in book if b[0] == other and b[2] == goods and b[3] > 0]
        candidates.sort(key=lambda b: (b[4] if side == "demand" else -b[4], b[5]))
        for resting in candidates:
            crosses = cents >= resting[4] if side == "demand" else resting[4] >= cents
            if entry[3] == 0 or not crosses:
                break
            if resting[1] == party:
                continue
            quantity = min(entry[3], resting[3])
            entry[3] -= quantity
            resting[3] -= quantity
            demand, supply = (entry, resting) if side == "demand" else (resting, entry)
            fills.append([demand, supply, goods, quantity, resting[4], True])

    for move in moves:
        if move[0] == "end":
            if not fills:
                continue
            fill = fills[move[1] % len(fills)]
            if not fill[5]:
                continue
            fill[5] = False
            other = fill[1] if move[2] in ("buyer", "default") else fill[0]
            other[3] += fill[3]
            match(other)
        else:
            side, party, goods, quantity, cents = move
            entry = [side, party, goods, quantity, cents, len(book)]
            book.append(entry)
            match(entry)
    trades = [(d[1], s[1], goods, q, cents, live) for d, s, goods, q, cents, live in fills]
    return trades, [entry[3] for entry in book]


def end_trade(exchange, move):
    """Apply ("end", n, how) to the real exchange: decline it, or sign and default."""
    if not exchange.trades:
        return
    trade = exchange.trades[move[1] % len(exchange.trades)]
    if trade.is_finished:
        return
    if move[2] == "default":
        trade.sign(party="buyer", signatory="b")
        trade.sign(party="seller", signatory="s")
        trade.declare_default(reason="never paid")
    else:
        trade.decline(party=move[2], reason="changed its mind")


@given(market_moves)
@example([("supply", "p1", "rice", 5, 100), ("demand", "p2", "rice", 5, 100), ("end", 0, "buyer")])
@example(
    [
        ("supply", "p1", "rice", 5, 100),
        ("demand", "p2", "rice", 5, 110),
        ("demand", "p3", "rice", 4, 105),
        ("end", 0, "default"),
    ]
)
def test_trades_that_end_unsettled_agree_with_the_oracle(moves):
    exchange = Exchange("X", designated_banks=BANKS, fee_rate=Decimal("0.01"))
    for move in moves:
        if move[0] == "end":
            end_trade(exchange, move)
        else:
            post_all(exchange, [move])
    expected, still_open = oracle_market(moves)
    got = [
        (m.buyer, m.seller, m.goods, m.quantity, int(m.price.amount * 100), not t.is_finished)
        for t in exchange.trades
        for m in [t.context.match]
    ]
    assert got == expected
    assert [exchange.open_quantity(p.id) for p in exchange.postings] == still_open
    matched_within_posted(exchange)
    for goods in ("rice", "wheat"):
        live = sum(q for _, _, g, q, _, alive in expected if g == goods and alive)
        assert exchange.market(goods).volume == live
    crossed = [
        (d, s)
        for d in exchange.postings
        for s in exchange.postings
        if d.side.value == "demand"
        and s.side.value == "supply"
        and d.goods == s.goods
        and d.price >= s.price
        and exchange.open_quantity(d.id)
        and exchange.open_quantity(s.id)
    ]
    assert all(d.party == s.party for d, s in crossed)  # only a self-trade may stay crossed


def test_a_subscriber_failing_on_the_reopening_is_reported_and_the_reopening_kept():
    bus = EventBus()

    def broken(event):
        if event.name == "posting_reopened":
            raise RuntimeError("market feed down")

    bus.subscribe(broken)
    exchange = Exchange("X", designated_banks=BANKS, bus=bus)
    rice(exchange, "supply", "farm", 4, "1")
    (trade,) = rice(exchange, "demand", "mill", 4, "1")
    with pytest.raises(SubscriberError) as info:
        trade.decline(party="buyer", reason="no longer needed")
    (inner,) = info.value.errors
    assert isinstance(inner, SubscriberError) and "trade 'X-T1' ended unsettled" in str(inner)
    assert trade.state == "cancelled" and exchange.open_quantity("S1") == 4
    assert exchange.events[-2].name == "posting_reopened"


def test_a_trade_ended_while_the_exchange_is_matching_is_reopened_after_the_step():
    bus = EventBus()
    exchange = Exchange("X", designated_banks=BANKS, bus=bus)

    def refuse_the_first_match(event):  # a seller's robot that declines at once
        if event.name == "match_announced" and event.data["trade"] == "X-T1":
            exchange.trades[0].decline(party="seller", reason="price moved")

    bus.subscribe(refuse_the_first_match)
    rice(exchange, "supply", "farm", 5, "1")
    rice(exchange, "supply", "orchard", 5, "1.10")
    trades = rice(exchange, "demand", "mill", 5, "2")
    # the demand was reopened after the posting's step and matched with the next seller
    assert [t.context.match.seller for t in trades] == ["farm", "orchard"]
    assert [t.state for t in exchange.trades] == ["cancelled", "matched"]
    assert [(e.version, e.name) for e in exchange.events if e.version >= 3] == [
        (3, "demand_posted"),
        (4, "match_announced"),
        (4, "market_data_published"),
        (5, "posting_reopened"),
        (6, "match_announced"),
        (6, "market_data_published"),
    ]
    assert exchange.market("rice").volume == 5 and exchange.open_quantity("S2") == 0
    matched_within_posted(exchange)


def test_the_exchange_sets_each_trades_payment_term():
    from datetime import datetime, timedelta, timezone

    from ecomflow.testing import ManualClock

    clock = ManualClock(datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc))
    exchange = Exchange("X", designated_banks=BANKS, clock=clock, payment_term=timedelta(days=7))
    rice(exchange, "supply", "farm", 3, "1")
    (trade,) = rice(exchange, "demand", "mill", 3, "1")
    assert trade.context.match.pay_by == datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
    with pytest.raises(InvalidPayload, match="payment_term must be a positive timedelta"):
        Exchange("X", designated_banks=BANKS, payment_term=timedelta(0))


@pytest.mark.parametrize(
    ("party", "fields", "message"),
    [
        ("mill\x00", {}, "party holds a NUL byte"),
        ("mill", {"goods": "rice\x00"}, "goods holds a NUL byte"),
        # its contract value, quantity times price, has more than 18 digits
        ("mill", {"quantity": 10**9, "price": Money(10**12, "CNY")}, "more than 18 digits"),
    ],
)
def test_a_posting_no_trade_could_record_is_refused_when_posted(party, fields, message):
    """Refused from the party that posts it, not from the one that would match it later.

    Accepted, it broke the other side's post: both postings were used up, no trade
    started, the exchange's version skipped, and the market lost their quantity.
    """
    exchange = Exchange("X", designated_banks=BANKS)
    posted = {"goods": "rice", "quantity": 5, "price": Money("2", "CNY"), **fields}
    with pytest.raises(InvalidPayload, match=message):
        exchange.post_demand(party, **posted)
    assert [e.name for e in exchange.events] == ["exchange_opened"] and exchange.postings == ()
    supply = {**posted, "goods": "rice", "price": Money("1", "CNY")}
    assert exchange.post_supply("farm", **supply) == []
    assert exchange.open_quantity("S1") == supply["quantity"]
    matched_within_posted(exchange)
