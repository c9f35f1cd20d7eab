"""Review of durable projections: crashes inside apply, refused rows, reuse, every flow's books."""

import os
import random
import subprocess
import sys
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from ecomflow import FLOWS, CorruptHistory, Event, InvalidPayload, StoreUnavailable, Stream
from ecomflow.projections import (
    ContractRegister,
    Inbox,
    Ledger,
    Projector,
    ShipmentTracker,
    fold,
)
from ecomflow.store import MemoryStore, Repository, consume, open_store

from .test_durable_projections import everything, sell

SRC = Path(__file__).resolve().parent.parent / "src"
SIMULATED = ("b2b", "direct-sale", "intermediary", "operation")  # the flows' own scenarios


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


class Noting:
    """A durable projection of our own that keeps each MONEY event's ``note`` as a row."""

    streams = frozenset({Stream.MONEY})

    def __init__(self):
        self.clear()

    def apply(self, event):
        self.notes[event.event_id] = event.data.get("note", "")
        self.dirty.add(event.event_id)

    def changes(self):
        changed = {("note", key): {"note": self.notes[key]} for key in sorted(self.dirty)}
        self.dirty.clear()
        return changed

    def restore(self, rows):
        self.notes.update({key: value["note"] for key, value in rows("note").items()})

    def clear(self):
        self.notes, self.dirty = {}, set()


@pytest.mark.parametrize(
    ("note", "problem"),
    [("card 4111 1111 1111 1111", "card number"), ("a\x00b", "NUL")],
)
def test_a_projection_row_holding_a_card_number_or_nul_is_refused_and_nothing_is_saved(
    store, note, problem
):
    good = money_event("A-1", 0, "10.00", note="first")
    store.append("direct-sale", [good], -1)
    projection = Noting()
    projector = Projector(store, projection, name="notes")
    assert projector.run() == 1
    # A row computed by the projection (not an event's data, which the store scans on
    # append) would carry what may never be stored.
    projection.apply(money_event("A-1", 1, "10.00", note=note))
    projection.notes["A-1:0:0"] = note
    projection.dirty.add("A-1:0:0")
    store.append("direct-sale", [money_event("A-1", 1, "10.00")], 0)
    with pytest.raises(
        InvalidPayload, match=f"row 'A-1:0:0' \\(note\\) of projection 'notes'.*{problem}"
    ):
        projector.run()
    assert store.checkpoint("notes") == 1
    assert store.projection_rows("notes", "note") == {"A-1:0:0": {"note": "first"}}
    assert projection.notes == {"A-1:0:0": "first"}  # what the store holds, nothing more


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("4111 1111 1111 1111", {"note": "x"}, "row key of projection 'notes' given looks like"),
        ("A-1:0:0", ["not", "an", "object"], "must be a JSON object"),
    ],
)
def test_a_projection_row_with_a_card_number_key_or_no_object_is_refused(key, value, message):
    store = MemoryStore()
    store.append("direct-sale", [money_event("A-1", 0, "10.00")], -1)
    projection = Noting()
    projection.changes = lambda: {("note", key): value}
    with pytest.raises(InvalidPayload, match=message):
        Projector(store, projection, name="notes").run()
    assert store.checkpoint("notes") == 0 and store.projection_rows("notes", "note") == {}


class CountingStore(MemoryStore):
    """Counts the rows of durable projections read back."""

    def __init__(self):
        super().__init__()
        self.rows_read = 0

    def projection_rows(self, projection, kind, key=None):
        rows = super().projection_rows(projection, kind, key)
        self.rows_read += len(rows)
        return rows


def test_consume_called_again_with_the_same_projection_does_not_reload_its_rows():
    store = CountingStore()
    repo = Repository(store, FLOWS)
    sell(repo, "A-1")
    ledger = Ledger()
    assert consume(store, "ledger", ledger) == 4
    sell(repo, "A-2")
    read = store.rows_read
    assert consume(store, "ledger", ledger) == 4  # a shop's polling loop
    assert consume(store, "ledger", ledger) == 0
    assert store.rows_read == read  # nothing read back: the projection holds it already
    assert ledger.balance("Hangzhou Tea House", "CNY") == Decimal("880.00")
    other = Ledger()  # another object (another process) restores from the rows
    assert consume(store, "ledger", other) == 0
    assert store.rows_read > read and other.balances() == ledger.balances()
    # Another store (reopened): restored from that store, not trusted blindly.
    assert consume(MemoryStore(), "ledger", ledger) == 0
    assert ledger.balances() == {}


PROJECTIONS = {
    "ledger": (Ledger, ("balance", "posting", "memo")),
    "shipments": (ShipmentTracker, ("shipment",)),
    "contracts": (ContractRegister, ("contract",)),
    "inbox": (Inbox, ("notice",)),
}


def public_state(projection):
    """What a shop's code reads from a projection, comparable across instances."""
    if isinstance(projection, Ledger):
        return projection.balances(), projection.postings, [m.to_json() for m in projection.memos]
    if isinstance(projection, ShipmentTracker):
        return dict(projection.history)
    if isinstance(projection, ContractRegister):
        return projection.status, projection.owner, projection.contracts
    return dict(projection.notices)


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_restarted_and_rebuilt_projections_agree_on_every_flow(store, seed):
    rng = random.Random(seed)
    repo = Repository(store, FLOWS)
    running = {name: cls() for name, (cls, _) in PROJECTIONS.items()}
    projectors = {
        name: Projector(store, projection, name=name, batch=rng.randint(1, 7))
        for name, projection in running.items()
    }
    tx_ids = []
    for number in range(12):
        flow = SIMULATED[number % len(SIMULATED)]
        tx_ids.append(FLOWS.scenario(flow)(rng, repo, f"{flow}-{seed}-{number}").id)
        for projector in projectors.values():  # run while the shop is writing
            projector.run(limit=rng.randint(1, 30))
    for projector in projectors.values():
        projector.run()
    events = everything(store)
    for name, (cls, kinds) in PROJECTIONS.items():
        rows = {kind: store.projection_rows(name, kind) for kind in kinds}
        restarted = cls()
        assert Projector(store, restarted, name=name).run() == 0
        folded = fold(cls(), events)
        assert public_state(running[name]) == public_state(folded), name
        assert public_state(restarted) == public_state(folded), name
        assert Projector(store, cls(), name=name, batch=5).rebuild() > 0
        assert {kind: store.projection_rows(name, kind) for kind in kinds} == rows, name
    # Every party's balance, not only the totals: what each flow's books declare.
    expected = defaultdict(Decimal)
    for tx_id in tx_ids:
        tx = repo.load(tx_id)
        books = tx.flow.definition.books
        assert books is not None, tx.flow.name
        for account, money in books(tx.context, tx.state).items():
            expected[(account, money.currency)] += money.amount
    ledger = Ledger()
    Projector(store, ledger, name="ledger").run()
    assert ledger.balances() == {key: value for key, value in expected.items() if value}
    assert all(total == 0 for total in ledger.totals().values())


PROJECT_IN_A_PROCESS = """
import sys
from ecomflow.projections import Ledger, Projector
from ecomflow.store import open_store

store = open_store(sys.argv[1], create=False)
try:
    count = Projector(store, Ledger(), name="ledger", batch=1).run()
finally:
    store.close()
print(count)
"""


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_processes_racing_one_projection_never_double_count_and_all_finish(kind, tmp_path, request):
    url = f"sqlite:///{tmp_path}/shop.db" if kind == "sqlite" else request.getfixturevalue("pg_dsn")
    store = open_store(url)
    repo = Repository(store, FLOWS)
    for number in range(8):
        sell(repo, f"A-{number}")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", PROJECT_IN_A_PROCESS, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(SRC)},
            text=True,
        )
        for _ in range(4)
    ]
    results = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0] * 4, results
    # Together they saved every event once: the counts they report add up exactly.
    assert sum(int(out) for out, _ in results) == 8 * 4
    restored = Ledger()
    assert Projector(store, restored, name="ledger").run() == 0
    assert restored.balances() == fold(Ledger(), everything(store)).balances()
    assert restored.balance("Hangzhou Tea House", "CNY") == Decimal("3520.00")
    assert len(restored.postings) == 8 * 3 and len(restored.memos) == 8
    store.close()


def test_a_notice_to_the_same_recipient_twice_is_filed_once_and_restored_the_same():
    store = MemoryStore()
    told = Event("A-1", 0, 0, "tell", Stream.INFORMATION, "told", {"to": ["Li", "Li", "Wang"]}, T0)
    store.append("direct-sale", [told], -1)
    inbox = Inbox()
    Projector(store, inbox, name="inbox").run()
    assert [len(inbox.notices["Li"]), len(inbox.notices["Wang"])] == [1, 1]
    restored = Inbox()
    Projector(store, restored, name="inbox").run()
    assert dict(restored.notices) == dict(inbox.notices) == dict(fold(Inbox(), [told]).notices)


class DownStore(MemoryStore):
    """A store that goes down: saves fail, and (when ``reads_fail``) so do row reads."""

    def __init__(self):
        super().__init__()
        self.down = False
        self.reads_fail = False

    def save_projection(self, *args, **kwargs):
        if self.down:
            raise StoreUnavailable("The database went away; try again.")
        super().save_projection(*args, **kwargs)

    def projection_rows(self, *args, **kwargs):
        if self.down and self.reads_fail:
            raise StoreUnavailable("The database went away; try again.")
        return super().projection_rows(*args, **kwargs)


@pytest.mark.parametrize("reads_fail", [False, True])
def test_a_failed_save_leaves_no_unsaved_batch_in_memory(reads_fail):
    store = DownStore()
    repo = Repository(store, FLOWS)
    sell(repo, "A-1")
    ledger = Ledger()
    projector = Projector(store, ledger, name="ledger")
    assert projector.run() == 4
    sell(repo, "A-2")
    store.down, store.reads_fail = True, reads_fail
    with pytest.raises(StoreUnavailable):
        projector.run()
    if reads_fail:  # cannot read what the store holds: holds nothing rather than too much
        assert ledger.balances() == {} and ledger.postings == []
    else:  # what the store holds, without the batch it refused
        assert ledger.balance("Hangzhou Tea House", "CNY") == Decimal("440.00")
        assert len(ledger.postings) == 3
    assert ledger.changes() == {}
    store.down = False
    assert projector.run() == 4
    assert ledger.balance("Hangzhou Tea House", "CNY") == Decimal("880.00")
    assert len(ledger.postings) == 6 and len(ledger.memos) == 2


def test_a_projection_row_that_is_not_json_data_is_refused_alike_by_every_store(store):
    store.append("direct-sale", [money_event("A-1", 0, "10.00")], -1)
    projection = Noting()
    projection.changes = lambda: {("note", "A-1:0:0"): {"amount": Decimal("10.00")}}
    with pytest.raises(InvalidPayload, match=r"row 'A-1:0:0' \(note\) of projection 'notes'"):
        Projector(store, projection, name="notes").run()
    assert store.checkpoint("notes") == 0 and store.projection_rows("notes", "note") == {}
