"""Projections over the four streams, built incrementally or rebuilt from the store."""

from decimal import Decimal

import pytest

from ecomflow import FLOWS, Money, Stream
from ecomflow.projections import ContractRegister, Inbox, Ledger, ShipmentTracker, fold
from ecomflow.store import MemoryStore, Repository, SQLiteStore, consume


def all_demo_events():
    events = []
    for name in ("direct-sale", "operation", "intermediary", "b2b"):
        tx, before = FLOWS.sample(name).demo(FLOWS[name])
        events.extend(before)
        events.extend(tx.events)
    return events


def test_the_ledger_balances_and_every_posting_sums_to_zero():
    ledger = fold(Ledger(), all_demo_events())
    assert ledger.postings and all(p.total == 0 for p in ledger.postings)
    assert all(total == 0 for total in ledger.totals().values())
    # the exchange keeps its fee: the buyer paid value, the seller got value - fee
    assert ledger.balance("Suzhou Flour Mill", "CNY") == Decimal("-1600.00")
    assert ledger.balance("Jiaxing Rice Farm", "CNY") == Decimal("1592.00")
    assert ledger.balance("Hangzhou Grain Exchange", "CNY") == Decimal("8.00")
    assert {e.name for e in ledger.memos} >= {"payment_authorized", "fee_recorded"}


def test_projections_ignore_an_event_delivered_twice():
    events = all_demo_events()
    once = fold(Ledger(), events)
    twice = fold(Ledger(), events + events[::2])
    assert twice.balances() == once.balances() and len(twice.postings) == len(once.postings)


def test_tracker_register_and_inbox():
    events = all_demo_events()
    tracker = fold(ShipmentTracker(), events)
    register = fold(ContractRegister(), events)
    inbox = fold(Inbox(), events)
    assert tracker.status("direct-sale-demo-1") == "delivered"
    assert [name for _, name, _ in tracker.history["Hangzhou Grain Exchange-T1"]] == [
        "released_from_warehouse",
        "in_transit",
        "delivered",
    ]
    assert register.owner["direct-sale-demo-1"] == "Li Lei"
    assert register.status["b2b-demo-1"] == "claim_filed"  # its last COMMERCE event
    assert register.contracts["b2b-demo-1"]["quantity"] == 200
    assert any(n.name == "buyer_notified" for n in inbox.notices["Wang Fang"])
    assert any(n.name == "market_data_published" for n in inbox.notices[Inbox.PUBLIC])


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_consumer_resumes_from_its_checkpoint_and_matches_a_rebuild(kind, tmp_path):
    store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "s.db")
    repo = Repository(store, FLOWS)
    ledger = Ledger()
    for number in range(3):
        tx_id = f"A-{number}"
        repo.start("direct-sale", tx_id, merchant="Tea House")
        repo.execute(
            tx_id,
            "fill_order",
            customer_name="Li",
            address="Beijing",
            goods_name="tea",
            quantity=1,
            specification="tin",
            unit_price=Money("30", "CNY"),
        )
        repo.execute(tx_id, "choose_payment", method="cash_on_delivery")
        repo.execute(tx_id, "dispatch")
        repo.execute(tx_id, "deliver", collected=Money("30", "CNY"))
        assert consume(store, "ledger", ledger, batch=2) > 0  # in small batches, resuming
    assert consume(store, "ledger", ledger) == 0  # nothing new
    rebuilt = fold(Ledger(), (r.event for r in store.read(limit=10_000)))
    assert rebuilt.balances() == ledger.balances()
    assert ledger.balance("courier", "CNY") == Decimal("90.00")  # holds the cash until settled
    restarted = Ledger()  # a restarted consumer with a fresh projection re-reads nothing
    assert consume(store, "ledger", restarted) == 0
    last_money = store.read(streams=[Stream.MONEY], limit=10_000)[-1].position
    assert store.checkpoint("ledger") == last_money
