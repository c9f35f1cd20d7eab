"""The exchange's matching (『壹』『贰』 steps 1–2), checked against an independent oracle."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecomflow import EventBus, InvalidPayload, Money, Stream, SubscriberError
from ecomflow.flows import Exchange
from ecomflow.testing import matched_within_posted

BANKS = ("ICBC", "Bank of China")

postings = st.lists(
    st.tuples(
        st.sampled_from(["supply", "demand"]),
        st.sampled_from(["p1", "p2", "p3"]),
        st.sampled_from(["rice", "wheat"]),
        st.integers(1, 30),
        st.integers(90, 110),  # price in cents
    ),
    max_size=25,
)


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
    assert [e.version for e in exchange.events] == [0, 0, 1, 1, 1]


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
    assert exchange.events == () and exchange.market("rice").open_supply == 0


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
