"""Durable projections: rows and checkpoint saved together in the store, restored after a restart."""

import threading
from decimal import Decimal

import pytest

from ecomflow import FLOWS, ConcurrencyConflict, InvalidPayload, Money, StoreUnavailable
from ecomflow.projections import (
    ContractRegister,
    DurableProjection,
    Inbox,
    Ledger,
    Projector,
    ShipmentTracker,
    fold,
)
from ecomflow.store import MemoryStore, Repository, consume, open_store

KINDS = {
    "ledger": (Ledger, ("balance", "posting", "memo")),
    "shipments": (ShipmentTracker, ("shipment",)),
    "contracts": (ContractRegister, ("contract",)),
    "inbox": (Inbox, ("notice",)),
}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def url(request, tmp_path):
    """Each store in turn: memory, a SQLite file, a fresh PostgreSQL schema."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shop.db"
    return request.getfixturevalue("pg_dsn")


@pytest.fixture
def reopen(url):
    """A function opening the same store again, as a restarted process would; all closed after."""
    opened = []
    memory = MemoryStore()

    def open_again():
        store = memory if url == "memory://" else open_store(url)
        opened.append(store)
        return store

    yield open_again
    for store in opened:
        store.close()


def sell(repo, tx_id, price="88.00", quantity=5):
    """A paid, delivered and settled direct sale: money moves to the merchant."""
    total = Money(price, "CNY") * quantity
    repo.start("direct-sale", tx_id, merchant="Hangzhou Tea House")
    repo.execute(
        tx_id,
        "fill_order",
        customer_name="Li Lei",
        address="Beijing",
        goods_name="tea",
        quantity=quantity,
        specification="tin",
        unit_price=Money(price, "CNY"),
    )
    repo.execute(tx_id, "choose_payment", method="credit_card")
    repo.execute(tx_id, "approve_payment", amount=total, reference=f"AUTH-{tx_id}")
    repo.execute(tx_id, "dispatch", carrier="SF Express")
    repo.execute(tx_id, "deliver")
    repo.execute(tx_id, "settle", statement_ref=f"STMT-{tx_id}")


def rows_of(store, name, kinds):
    return {kind: store.projection_rows(name, kind) for kind in kinds}


def everything(store):
    return [record.event for record in store.read(limit=100_000)]


def test_the_built_in_projections_are_durable():
    for cls, _ in KINDS.values():
        assert isinstance(cls(), DurableProjection)


def test_a_restarted_ledger_resumes_with_the_right_balances(reopen):
    store = reopen()
    repo = Repository(store, FLOWS)
    sell(repo, "A-1")  # 440.00
    ledger = Ledger()
    assert Projector(store, ledger, name="ledger").run() == 4
    assert ledger.balance("Hangzhou Tea House", "CNY") == Decimal("440.00")
    sell(repo, "A-2")  # another 440.00, after the first run
    store.close()

    store = reopen()  # a new process: new store, new projection objects
    restarted = Ledger()
    assert Projector(store, restarted, name="ledger").run() == 4  # only the new events
    assert restarted.balance("Hangzhou Tea House", "CNY") == Decimal("880.00")
    assert restarted.balance("Li Lei", "CNY") == Decimal("-880.00")
    assert restarted.totals() == {"CNY": Decimal("0.00")}
    rebuilt = fold(Ledger(), everything(store))
    assert restarted.balances() == rebuilt.balances()
    assert [p.event_id for p in restarted.postings] == [p.event_id for p in rebuilt.postings]
    assert restarted.postings == rebuilt.postings
    assert [m.event_id for m in restarted.memos] == [m.event_id for m in rebuilt.memos]
    store.close()


def test_consume_runs_a_durable_projection_durably(reopen):
    store = reopen()
    repo = Repository(store, FLOWS)
    sell(repo, "A-1")
    assert consume(store, "ledger", Ledger(), batch=1) == 4
    sell(repo, "A-2")
    store.close()
    store = reopen()
    ledger = Ledger()
    assert consume(store, "ledger", ledger) == 4
    assert ledger.balance("Hangzhou Tea House", "CNY") == Decimal("880.00")
    assert consume(store, "ledger", ledger) == 0
    store.close()


def demo_store(reopen):
    store = reopen()
    repo = Repository(store, FLOWS)
    for name in ("direct-sale", "operation", "intermediary", "b2b"):
        tx, before = FLOWS.sample(name).demo(FLOWS[name])
        if before:
            store.append("exchange", before, -1)
        repo.add(tx)
    return store


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_rebuild_gives_the_same_rows_and_the_same_state(reopen, name):
    cls, kinds = KINDS[name]
    store = demo_store(reopen)
    projection = cls()
    projector = Projector(store, projection, name=name, batch=3)
    assert projector.run() > 0
    first = rows_of(store, name, kinds)
    assert any(first.values())
    checkpoint = store.checkpoint(name)
    assert checkpoint == projector.position > 0

    assert Projector(store, cls(), name=name).rebuild() > 0
    assert rows_of(store, name, kinds) == first
    assert store.checkpoint(name) == checkpoint

    restored = cls()
    assert Projector(store, restored, name=name).run() == 0
    in_memory = fold(cls(), everything(store))
    assert vars_of(restored) == vars_of(in_memory)
    store.close()


def vars_of(projection):
    """A projection's public state, comparable across instances."""
    if isinstance(projection, Ledger):
        return projection.balances(), projection.postings, [m.event_id for m in projection.memos]
    if isinstance(projection, ShipmentTracker):
        return dict(projection.history)
    if isinstance(projection, ContractRegister):
        return projection.status, projection.owner, projection.contracts
    return dict(projection.notices)


def test_money_is_stored_as_decimal_strings_with_its_currency():
    store = MemoryStore()
    sell(Repository(store, FLOWS), "A-1", price="0.10", quantity=3)
    Projector(store, Ledger(), name="ledger").run()
    row = store.projection_rows("ledger", "balance", '["Hangzhou Tea House", "CNY"]')
    assert row == {
        '["Hangzhou Tea House", "CNY"]': {
            "account": "Hangzhou Tea House",
            "currency": "CNY",
            "amount": "0.30",
        }
    }


def test_two_processes_racing_one_projection_never_double_count(reopen):
    store = reopen()
    repo = Repository(store, FLOWS)
    for number in range(3):
        sell(repo, f"A-{number}")
    first, second = Ledger(), Ledger()
    one = Projector(store, first, name="ledger", batch=2)
    other = Projector(reopen(), second, name="ledger", batch=2)
    assert one.run(limit=2) == 2  # one batch
    assert other.run() == 10  # restores the first batch and does the rest
    sell(repo, "A-3")
    # ``one`` still believes the checkpoint is where it left it: its save is refused, it
    # takes the stored state and continues from the other's checkpoint.
    assert one.run() == 4
    assert other.run() == 0
    expected = fold(Ledger(), everything(store)).balances()
    assert first.balances() == expected
    assert Projector(reopen(), Ledger(), name="ledger").run() == 0
    restarted = Ledger()
    Projector(reopen(), restarted, name="ledger").run()
    assert restarted.balances() == expected
    assert expected[("Hangzhou Tea House", "CNY")] == Decimal("1760.00")


def test_a_stale_save_is_refused_and_changes_nothing():
    store = MemoryStore()
    sell(Repository(store, FLOWS), "A-1")
    Projector(store, Ledger(), name="ledger").run()
    before = rows_of(store, "ledger", KINDS["ledger"][1])
    with pytest.raises(ConcurrencyConflict, match="is at position"):
        store.save_projection("ledger", 0, 99, {("balance", "x"): {"amount": "1"}})
    assert rows_of(store, "ledger", KINDS["ledger"][1]) == before


def test_threads_racing_one_projection_end_with_the_right_books(reopen):
    store = reopen()
    repo = Repository(store, FLOWS)
    for number in range(6):
        sell(repo, f"A-{number}")
    errors = []

    def work():
        try:
            Projector(reopen(), Ledger(), name="ledger", batch=1).run()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    restored = Ledger()
    assert Projector(reopen(), restored, name="ledger").run() == 0
    assert restored.balances() == fold(Ledger(), everything(store)).balances()
    assert restored.balance("Hangzhou Tea House", "CNY") == Decimal("2640.00")
    assert len(restored.postings) == 18


class FlakyStore(MemoryStore):
    """Fails the first save: the batch was applied in memory but never stored."""

    def __init__(self):
        super().__init__()
        self.fail = 1

    def save_projection(self, *args, **kwargs):
        if self.fail:
            self.fail -= 1
            raise StoreUnavailable("The database went away; try again.")
        super().save_projection(*args, **kwargs)


def test_a_batch_lost_in_a_crash_is_applied_again_once():
    store = FlakyStore()
    sell(Repository(store, FLOWS), "A-1")
    ledger = Ledger()
    projector = Projector(store, ledger, name="ledger")
    with pytest.raises(StoreUnavailable):
        projector.run()
    assert store.checkpoint("ledger") == 0 and store.projection_rows("ledger", "balance") == {}
    assert projector.run() == 4  # delivered again, counted once
    assert ledger.balance("Hangzhou Tea House", "CNY") == Decimal("440.00")
    assert len(ledger.postings) == 3


def test_an_event_delivered_twice_is_counted_once():
    store = MemoryStore()
    sell(Repository(store, FLOWS), "A-1")
    ledger = Ledger()
    Projector(store, ledger, name="ledger").run()
    for record in store.read():
        ledger.apply(record.event)  # at-least-once delivery from elsewhere
    assert ledger.changes() == {}
    assert ledger.balance("Hangzhou Tea House", "CNY") == Decimal("440.00")


@pytest.mark.parametrize(
    ("name", "batch", "message"),
    [
        ("led\x00ger", 10, "NUL"),
        ("ledger", 0, "positive int"),
        ("ledger", "10", "positive int"),
    ],
)
def test_a_projector_refuses_bad_arguments_and_writes_nothing(name, batch, message):
    store = MemoryStore()
    sell(Repository(store, FLOWS), "A-1")
    with pytest.raises(InvalidPayload, match=message):
        Projector(store, Ledger(), name=name, batch=batch)
    assert store.checkpoint("ledger") == 0 and store.projection_rows("ledger", "balance") == {}


def test_in_memory_use_is_unchanged_and_writes_nothing():
    store = MemoryStore()
    sell(Repository(store, FLOWS), "A-1")
    ledger = fold(Ledger(), everything(store))
    assert ledger.balance("Hangzhou Tea House", "CNY") == Decimal("440.00")
    assert store.projection_rows("ledger", "balance") == {} and store.checkpoint("ledger") == 0


def test_a_new_notice_writes_one_row_not_the_whole_inbox():
    store = demo_store(lambda: MemoryStore())
    inbox = Inbox()
    Projector(store, inbox, name="inbox").run()
    public = len(inbox.notices[Inbox.PUBLIC])
    assert public > 1
    rows = store.projection_rows("inbox", "notice")
    assert len(rows) == sum(len(notices) for notices in inbox.notices.values())
    last = inbox.notices[Inbox.PUBLIC][-1]
    event = next(r.event for r in store.read(limit=10_000) if r.event.name == last.name)
    copy = type(event)(
        event.tx_id,
        999,
        0,
        event.trigger,
        event.stream,
        event.name,
        event.data,
        event.occurred_at,
    )
    inbox.apply(copy)
    assert list(inbox.changes()) == [("notice", f'["{Inbox.PUBLIC}", "{copy.event_id}"]')]


class RefusingStore(MemoryStore):
    """Refuses every save with a conflict although nobody moved the checkpoint."""

    def save_projection(self, *args, **kwargs):
        raise ConcurrencyConflict("refused")


def test_a_conflict_that_is_not_a_race_is_raised_not_retried_forever():
    store = RefusingStore()
    sell(Repository(store, FLOWS), "A-1")
    ledger = Ledger()
    with pytest.raises(ConcurrencyConflict, match="refused"):
        Projector(store, ledger, name="ledger").run()
    assert ledger.postings == [] and store.checkpoint("ledger") == 0
