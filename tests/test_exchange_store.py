"""The exchange as an event-sourced aggregate: stored, replayed, reopened after a restart."""

import gc
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings

from ecomflow import FLOWS, Money, StoreError, Stream
from ecomflow.flows.intermediary import EXCHANGE, Exchange, matched_within_posted
from ecomflow.flows.intermediary.market import (
    DEFINITION,
    EXCHANGE_OPENED,
    MARKET_DATA_PUBLISHED,
    MATCH_ANNOUNCED,
    POSTING_REOPENED,
    SUPPLY_POSTED,
    ExchangeRecord,
)
from ecomflow.store import MemoryStore, Repository, SQLiteStore
from ecomflow.testing import flow_rules_hold
from tests.test_exchange import BANKS, oracle_fills, post_all, postings

FLOWS_AND_EXCHANGE = {**FLOWS, "exchange": EXCHANGE}


def rice(exchange, side, party, quantity, price):
    return getattr(exchange, f"post_{side}")(
        party, goods="rice", quantity=quantity, price=Money(price, "CNY")
    )


def picture(exchange):
    """What a restart must keep: the postings, open quantities, market and trades."""
    return (
        exchange.postings,
        [exchange.open_quantity(p.id) for p in exchange.postings],
        exchange.market("rice"),
        [(t.id, t.state, t.context.match) for t in exchange.trades],
        exchange.events,
    )


def test_the_order_book_survives_a_restart_and_matching_goes_on(tmp_path):
    path = tmp_path / "exchange.db"
    store = SQLiteStore(path)
    repo = Repository(store, FLOWS_AND_EXCHANGE)
    exchange = Exchange("X", designated_banks=BANKS, fee_rate=Decimal("0.01"), repository=repo)
    rice(exchange, "supply", "farm", 100, "3.20")
    rice(exchange, "supply", "orchard", 30, "3.10")
    (first, second) = rice(exchange, "demand", "mill", 50, "3.30")  # orchard 30, then farm 20
    rice(exchange, "demand", "bakery", 10, "3.00")  # rests: below every ask
    repo.execute(second.id, "decline", party="seller", reason="sold elsewhere")
    # the mill's 20 came back and matched again at once: farm's next 20
    assert exchange.open_quantity("D3") == 0 and exchange.open_quantity("S1") == 60
    before = picture(exchange)
    matched_within_posted(exchange)
    store.close()
    del exchange, repo, store, first, second
    gc.collect()

    store = SQLiteStore(path)
    repo = Repository(store, FLOWS_AND_EXCHANGE)
    exchange = Exchange.open(repo, "X")
    assert picture(exchange) == before
    assert exchange.market("rice").volume == 50 and exchange.open_quantity("S1") == 60
    # matching continues from the book: price then time priority, trade ids go on
    (third,) = rice(exchange, "demand", "canteen", 70, "3.25")
    assert third.id == "X-T4" and third.context.match.seller == "farm"
    assert third.context.match.quantity == 60 and exchange.open_quantity("D5") == 10
    matched_within_posted(exchange)
    # the trades were started through the repository, caused by the exchange's match
    stored = repo.load("X-T4")
    announced = next(
        e for e in exchange.events if MATCH_ANNOUNCED.matches(e) and e.data["trade"] == "X-T4"
    )
    assert stored.events[0].causation_id == announced.event_id
    assert stored.events[0].correlation_id == "exchange:X"
    # a trade declined after the restart is heard too
    repo.execute("X-T4", "decline", party="buyer", reason="changed its mind")
    # farm's 60 came back and matched at once the canteen's 10 still open
    assert [(t.id, t.context.match.buyer, t.context.match.quantity) for t in exchange.trades][
        -1
    ] == ("X-T5", "canteen", 10)
    assert exchange.open_quantity("S1") == 50 and exchange.market("rice").volume == 60
    matched_within_posted(exchange)
    store.close()


def test_the_exchange_replays_from_its_events_like_any_transaction():
    exchange = Exchange("X", designated_banks=BANKS, fee_rate=Decimal("0.01"))
    rice(exchange, "supply", "farm", 10, "1")
    (trade,) = rice(exchange, "demand", "mill", 6, "1")
    trade.decline(party="buyer", reason="no")
    tx = exchange.transaction
    assert isinstance(tx, ExchangeRecord) and tx.flow is EXCHANGE and tx.state == "open"
    assert EXCHANGE.replay(tx.events) == tx
    flow_rules_hold(tx)  # the book's own rule: matched + open = posted
    names = [(e.name, e.stream) for e in tx.events[:3]]
    assert names == [
        (EXCHANGE_OPENED.name, Stream.INFORMATION),
        (SUPPLY_POSTED.name, Stream.INFORMATION),
        (MARKET_DATA_PUBLISHED.name, Stream.INFORMATION),
    ]
    assert POSTING_REOPENED.matches(tx.events[-2])


def test_a_crash_between_a_posting_and_its_matches_is_finished_on_reopening(tmp_path):
    repo = Repository(MemoryStore(), FLOWS_AND_EXCHANGE)
    exchange = Exchange("X", designated_banks=BANKS, repository=repo)
    rice(exchange, "supply", "farm", 10, "1")
    # the process stops right after the demand is stored: its match is found, not recorded
    record = exchange.transaction
    record.post_demand(party="mill", goods="rice", quantity=4, price=Money("1", "CNY"))
    repo.save(record)
    assert len(record.context.pending) == 1
    reopened = Exchange.open(repo, "X")
    (trade,) = reopened.trades
    assert (trade.id, trade.context.match.quantity) == ("X-T1", 4)
    assert reopened.book.pending == () and reopened.open_quantity("S1") == 6
    matched_within_posted(reopened)


def test_a_repository_must_know_the_exchange_flow():
    with pytest.raises(
        StoreError, match=r"Repository\(store, \{\*\*FLOWS, 'exchange': EXCHANGE\}\)"
    ):
        Exchange("X", designated_banks=BANKS, repository=Repository(MemoryStore(), FLOWS))


def test_the_exchange_flow_is_a_flow_of_its_own_not_a_listed_deal():
    assert DEFINITION.name == "exchange" and EXCHANGE.states == ("open",)
    assert "exchange" not in FLOWS
    assert set(EXCHANGE.triggers) == {"post_supply", "post_demand", "record_match", "reopen"}
    assert ExchangeRecord.record_match.parameters == frozenset()
    assert ExchangeRecord.post_supply.parameters == {"party", "goods", "quantity", "price"}


@settings(max_examples=25)
@given(postings)
def test_a_stored_exchange_matches_as_the_memory_one_and_reopens_the_same(items):
    repo = Repository(MemoryStore(), FLOWS_AND_EXCHANGE)
    stored = Exchange("X", designated_banks=BANKS, fee_rate=Decimal("0.01"), repository=repo)
    post_all(stored, items)
    fills = [
        (m.buyer, m.seller, m.goods, m.quantity, int(m.price.amount * 100))
        for m in (t.context.match for t in stored.trades)
    ]
    assert fills == oracle_fills(items)
    again = Exchange.open(repo, "X")
    assert again.book == stored.book and again.events == stored.events
    assert attrs.asdict(again.book) == attrs.asdict(EXCHANGE.replay(again.events).context)
    matched_within_posted(again)


def test_an_exchange_is_made_once_and_then_reopened():
    repo = Repository(MemoryStore(), FLOWS_AND_EXCHANGE)
    Exchange("X", designated_banks=BANKS, repository=repo)
    with pytest.raises(StoreError, match=r"already stored .* Exchange.open\(repository, 'X'\)"):
        Exchange("X", designated_banks=BANKS, repository=repo)
    with pytest.raises(KeyError):
        Exchange.open(repo, "Y")


def test_a_match_recorded_but_never_started_is_started_on_reopening():
    repo = Repository(MemoryStore(), FLOWS_AND_EXCHANGE)
    exchange = Exchange("X", designated_banks=BANKS, repository=repo)
    rice(exchange, "supply", "farm", 10, "1")
    record = exchange.transaction
    record.post_demand(party="mill", goods="rice", quantity=4, price=Money("1", "CNY"))
    record.record_match()  # recorded, then the process stopped before the trade started
    repo.save(record)
    reopened = Exchange.open(repo, "X")
    (trade,) = reopened.trades
    assert trade.id == "X-T1" and trade.events[0].causation_id == record.events[-2].event_id
    matched_within_posted(reopened)


def test_the_book_snapshots_as_json_and_restores_equal():
    import json
    from datetime import timedelta

    exchange = Exchange("X", designated_banks=BANKS, payment_term=timedelta(days=7, microseconds=5))
    rice(exchange, "supply", "farm", 10, "1")
    (trade,) = rice(exchange, "demand", "mill", 6, "1")
    trade.decline(party="buyer", reason="no")
    snapshot = json.loads(json.dumps(EXCHANGE.snapshot(exchange.transaction)))
    restored = EXCHANGE.restore(snapshot, history=lambda: list(exchange.events))
    assert restored == exchange.transaction
    assert restored.context.terms.payment_term == timedelta(days=7, microseconds=5)
