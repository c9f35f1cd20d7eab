"""Snapshots and the repository's cache: a command at version 10,000 costs what one at 1 does.

Memory store only (``CountingStore``): the SQLite and PostgreSQL stores are being
rewritten for schema version 3 elsewhere.
"""

import json

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecomflow import FLOWS, CorruptHistory, InvalidPayload, Money
from ecomflow.flows.direct_sale import FLOW as DIRECT_SALE
from ecomflow.store import MemoryStore, Repository
from ecomflow.store._base import Snapshot
from ecomflow.testing import transactions
from ecomflow.testing._paths import shortest_paths

ORDER = dict(
    customer_name="Li",
    address="Beijing",
    goods_name="tea",
    quantity=2,
    specification="tin",
    unit_price=Money("30", "CNY"),
)

TARGETS = [(name, state) for name, flow in sorted(FLOWS.items()) for state in shortest_paths(flow)]


class CountingStore(MemoryStore):
    """A memory store that counts the calls and the events it hands out."""

    def __init__(self):
        super().__init__()
        self.calls = {}
        self.events_read = 0

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    def load(self, tx_id):
        self._count("load")
        flow, events = super().load(tx_id)
        self.events_read += len(events)
        return flow, events

    def load_latest(self, tx_id):
        self._count("load_latest")
        latest = super().load_latest(tx_id)
        self.events_read += len(latest.events)
        return latest

    def version(self, tx_id):
        self._count("version")
        return super().version(tx_id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), target=st.sampled_from(TARGETS))
def test_a_restored_transaction_equals_the_replayed_one_at_every_version(data, target):
    name, state = target
    flow = FLOWS[name]
    tx = data.draw(transactions(flow, state))
    events = list(tx.events)
    summary = flow.summary(tx)  # every flow declares one: JSON data, money as strings
    assert summary and json.loads(json.dumps(summary)) == summary
    for version in range(tx.version + 1):
        prefix = [e for e in events if e.version <= version]
        snapshot = json.loads(json.dumps(flow.snapshot(flow.replay(prefix))))
        tail = [e for e in events if e.version > version]
        calls = []

        def history(prefix=prefix, calls=calls):
            calls.append(1)
            return list(prefix)

        restored = flow.restore(snapshot, tail, history=history, clock=tx.clock)
        assert (restored.state, restored.version, restored.context) == (
            tx.state,
            tx.version,
            tx.context,
        )
        assert restored.active_states == tx.active_states
        assert calls == []  # the earlier events are read only when asked for
        assert restored == tx
        assert calls == [1]
        assert restored.events == tx.events


def _long_sale(declines):
    """A direct sale moved to version ``2 * declines + 1`` (declined again and again)."""
    tx = DIRECT_SALE.start("L-1", merchant="Tea House")
    tx.fill_order(**ORDER)
    for _ in range(declines):
        tx.choose_payment(method="credit_card", card_last4="1234")
        tx.decline_payment(reason="insufficient funds")
    return tx


def test_execute_at_version_10000_reads_no_whole_history():
    store = CountingStore()
    writer = Repository(store, FLOWS)
    writer.add(_long_sale(5000))  # version 10,001; the append holds a snapshot
    assert store.load_latest("L-1").snapshot.version == 10_001
    repo = Repository(store, FLOWS)  # a new process: nothing cached
    store.calls.clear()
    store.events_read = 0
    repo.execute("L-1", "choose_payment", method="credit_card", card_last4="1234")
    assert store.calls == {"load_latest": 1}
    assert store.events_read == 0  # the snapshot is at the last version
    for _ in range(150):  # crosses a multiple of 100: another snapshot is written
        repo.execute("L-1", "decline_payment", reason="no")
        repo.execute("L-1", "choose_payment", method="credit_card", card_last4="1234")
    assert store.calls == {"load_latest": 1, "version": 300}  # then the cache, checked
    assert store.events_read == 0
    assert store.load_latest("L-1").snapshot.version == 10_300
    cold = Repository(store, FLOWS)
    store.events_read = 0
    tx = cold.load("L-1")
    read = store.events_read
    stored = store.load("L-1")[1]
    assert read == len([e for e in stored if e.version > 10_300]) == 3
    assert tx == DIRECT_SALE.replay(stored)


def test_the_cache_is_checked_against_the_store_and_hands_out_copies():
    store = MemoryStore()
    one, two = Repository(store, FLOWS), Repository(store, FLOWS)
    one.start("direct-sale", "C-1", merchant="Tea House")
    first = one.load("C-1")
    second = one.load("C-1")
    assert first is not second and first == second
    first.fire("fill_order", **ORDER)  # changing a copy changes neither the cache nor the other
    assert one.load("C-1").version == 0 and second.version == 0
    two.execute("C-1", "fill_order", **ORDER)  # another process moves it on
    assert one.load("C-1").state == "order_filled"
    one.execute("C-1", "cancel", reason="changed my mind")
    assert one.load("C-1") == DIRECT_SALE.replay(store.load("C-1")[1])


def test_a_corrupt_snapshot_raises_corrupt_history():
    store = MemoryStore()
    repo = Repository(store, FLOWS, snapshot_every=1)
    repo.start("direct-sale", "S-1", merchant="Tea House")
    repo.execute("S-1", "fill_order", **ORDER)
    good = store.load_latest("S-1").snapshot
    bad_contexts = [
        {**good.data, "context": {"merchant": 5, "surprise": 1}},
        {**good.data, "state": "nowhere"},
        {**good.data, "state": 7},
        {**good.data, "format": 99},
        {**good.data, "version": 0},  # says 0, stored as the snapshot of version 1
        {**good.data, "tx_id": "S-2"},  # another transaction's
    ]
    for data in bad_contexts:
        store._snapshots["S-1"] = attrs.evolve(good, data=data)
        with pytest.raises(CorruptHistory, match="snapshot") as caught:
            Repository(store, FLOWS).load("S-1")
        assert caught.value.tx_id == "S-1"
    store._snapshots["S-1"] = Snapshot(good.version, good.flow_version, good.data)
    assert Repository(store, FLOWS).load("S-1").state == "order_filled"


def test_snapshot_every_and_cache_size_can_be_turned_off_and_are_checked():
    store = CountingStore()
    repo = Repository(store, FLOWS, snapshot_every=0, cache_size=0)
    repo.start("direct-sale", "O-1", merchant="Tea House")
    for _ in range(3):
        repo.execute("O-1", "fill_order", **ORDER) if repo.load("O-1").version == 0 else None
    assert store.load_latest("O-1").snapshot is None
    assert "version" not in store.calls
    for bad in (-1, 1.5, "100", None):
        with pytest.raises(InvalidPayload, match="snapshot_every"):
            Repository(store, FLOWS, snapshot_every=bad)
        with pytest.raises(InvalidPayload, match="cache_size"):
            Repository(store, FLOWS, cache_size=bad)


def test_threads_sharing_a_cached_repository_lose_no_command():
    import threading

    from .toy import COUNTER

    store = MemoryStore()
    flows = {"counter": COUNTER}
    shared = Repository(store, flows, snapshot_every=7)
    other = Repository(store, flows, snapshot_every=5)  # a second process on the same store
    shared.start("counter", "K-1")
    errors = []

    def work(repo, name):
        try:
            for _ in range(40):
                repo.execute("K-1", "bump", by=name, retries=1000)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [
        threading.Thread(target=work, args=(repo, f"w{i}"))
        for i, repo in enumerate([shared, shared, other, other])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    replayed = COUNTER.replay(store.load("K-1")[1])
    assert replayed.version == 160 and replayed.context.n == 160
    assert shared.load("K-1") == replayed == other.load("K-1")
    assert Repository(store, flows).load("K-1") == replayed  # from the newest snapshot
