"""Review of durable projections: crashes inside apply, refused rows, reuse, every flow's books."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from ecomflow import FLOWS, CorruptHistory, Event, Stream
from ecomflow.projections import (
    Ledger,
    Projector,
)
from ecomflow.store import MemoryStore, Repository, open_store

from .test_durable_projections import sell


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request, tmp_path):
    """A store of each kind, closed after the test."""
    if request.param == "memory":
        opened = MemoryStore()
    elif request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path}/shop.db")
    else:
        opened = open_store(request.getfixturevalue("pg_dsn"))
    yield opened
    opened.close()


class Breaking:
    """A durable projection around a Ledger whose apply fails at the ``fail_at``-th event."""

    streams = frozenset({Stream.MONEY})

    def __init__(self, fail_at):
        self.ledger = Ledger()
        self.fail_at = fail_at
        self.seen = 0

    def apply(self, event):
        self.seen += 1
        if self.seen == self.fail_at:
            raise RuntimeError("the projection's code broke")
        self.ledger.apply(event)

    def changes(self):
        return self.ledger.changes()

    def restore(self, rows):
        self.ledger.restore(rows)

    def clear(self):
        self.ledger.clear()


def test_an_exception_inside_apply_leaves_the_state_the_store_holds(store):
    repo = Repository(store, FLOWS)
    sell(repo, "A-1")
    projection = Breaking(fail_at=3)  # after two events of the batch were applied
    projector = Projector(store, projection, name="ledger")
    with pytest.raises(RuntimeError, match="broke"):
        projector.run()
    assert store.checkpoint("ledger") == 0
    # Nothing of the failed batch is held in memory: the state is what the store holds.
    assert projection.ledger.postings == [] and projection.ledger.memos == []
    assert projection.ledger.balances() == {}
    assert projection.ledger.changes() == {}
    assert projector.run() == 4  # the whole batch again, counted once
    assert projection.ledger.balance("Hangzhou Tea House", "CNY") == Decimal("440.00")
    assert len(projection.ledger.postings) == 3 and len(projection.ledger.memos) == 1
    restarted = Ledger()
    assert Projector(store, restarted, name="ledger").run() == 0
    assert restarted.balances() == projection.ledger.balances()


T0 = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)


def money_event(tx_id, version, amount, **extra):
    """A MONEY event moving ``amount`` CNY from Li Lei to the Tea House."""
    data = {"amount": {"amount": amount, "currency": "CNY"}, "from": "Li Lei", "to": "Tea House"}
    return Event(tx_id, version, 0, "pay", Stream.MONEY, "paid", {**data, **extra}, T0)


def test_a_money_event_the_ledger_cannot_read_is_refused_and_not_forgotten():
    ledger = Ledger()
    bad = money_event("A-1", 0, "about ten")
    with pytest.raises(CorruptHistory, match=r"'A-1:0:0'.*amount 'about ten'"):
        ledger.apply(bad)
    assert ledger.postings == [] and ledger.memos == [] and ledger.changes() == {}
    good = money_event("A-1", 0, "10.00")  # the same event id, repaired: not skipped as seen
    ledger.apply(good)
    assert ledger.balance("Tea House", "CNY") == Decimal("10.00")
