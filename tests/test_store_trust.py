"""Issue 10, the store's part: idempotency bound to its request, rows that do not parse,
values no store keeps, and only ecomflow's own errors from every backend."""

import json
import multiprocessing
import sqlite3
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from types import MappingProxyType

import attrs
import pytest

from ecomflow import (
    FLOWS,
    CorruptHistory,
    Event,
    IdempotencyMismatch,
    InvalidPayload,
    Money,
    Stream,
)
from ecomflow._fingerprint import fingerprint
from ecomflow.store import PostgresStore, Repository, SQLiteStore, open_store
from tests.toy import COUNTER

FLOWS_HERE = {**FLOWS, "counter": COUNTER}
APPROVAL = {"amount": Money("10", "CNY"), "reference": "AUTH-1"}


def card_sale(repo, tx_id):
    """Start a direct sale and bring it to where the gateway's callback is awaited."""
    repo.start("direct-sale", tx_id, merchant="Tea House")
    repo.execute(
        tx_id,
        "fill_order",
        customer_name="Li",
        address="Beijing",
        goods_name="tea",
        quantity=1,
        specification="tin",
        unit_price=Money("10", "CNY"),
    )
    repo.execute(tx_id, "choose_payment", method="credit_card", token="tok_1")


# -- 1. an idempotency key belongs to one request ----------------------------------------


def test_the_same_request_again_returns_what_was_recorded(store):
    repo = Repository(store, FLOWS_HERE)
    card_sale(repo, "A-1")
    first = repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **APPROVAL)
    repo.execute("A-1", "dispatch")  # the state moved on; the duplicate still gets its answer
    again = repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **APPROVAL)
    assert again == first and [e.version for e in first] == [3, 3]
    assert store.version("A-1") == 4


def test_a_default_given_or_omitted_is_the_same_request(store):
    repo = Repository(store, FLOWS_HERE)
    card_sale(repo, "A-1")
    repo.start("direct-sale", "A-2", merchant="Tea House")
    repo.execute(
        "A-2",
        "fill_order",
        customer_name="Li",
        address="Beijing",
        goods_name="tea",
        quantity=1,
        specification="tin",
        unit_price=Money("10", "CNY"),
    )
    first = repo.execute("A-2", "choose_payment", idempotency_key="c-1", method="cash_on_delivery")
    again = repo.execute(
        "A-2",
        "choose_payment",
        idempotency_key="c-1",
        method="cash_on_delivery",
        card_last4=None,
        token=None,
    )
    assert again == first and store.version("A-2") == 2


def test_a_key_reused_on_another_transaction_is_refused_and_applies_nothing(store):
    repo = Repository(store, FLOWS_HERE)
    card_sale(repo, "A-1")
    card_sale(repo, "A-2")
    repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **APPROVAL)
    before = len(store.read())
    with pytest.raises(
        IdempotencyMismatch, match="'gw-1' was first used for 'approve_payment'"
    ) as info:
        repo.execute("A-2", "approve_payment", idempotency_key="gw-1", **APPROVAL)
    assert "transaction 'A-2'" in str(info.value)
    assert info.value.key == "gw-1"
    assert info.value.first_use["tx_id"] == "A-1"
    assert info.value.attempt["tx_id"] == "A-2"
    assert info.value.first_use["fingerprint"] == info.value.attempt["fingerprint"]
    assert store.version("A-2") == 2 and len(store.read()) == before
    assert repo.load("A-2").state == "payment_method_chosen"


def test_a_key_reused_for_another_trigger_is_refused(store):
    repo = Repository(store, FLOWS_HERE)
    card_sale(repo, "A-1")
    repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **APPROVAL)
    with pytest.raises(IdempotencyMismatch, match="not for trigger 'dispatch'") as info:
        repo.execute("A-1", "dispatch", idempotency_key="gw-1")
    assert info.value.first_use["trigger"] == "approve_payment"
    assert info.value.attempt["trigger"] == "dispatch"
    assert store.version("A-1") == 3


def test_a_key_reused_with_another_amount_is_refused(store):
    repo = Repository(store, FLOWS_HERE)
    card_sale(repo, "A-1")
    repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **APPROVAL)
    other = {**APPROVAL, "amount": Money("20", "CNY")}
    with pytest.raises(IdempotencyMismatch, match="not for a different payload") as info:
        repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **other)
    assert info.value.first_use["fingerprint"] != info.value.attempt["fingerprint"]
    assert store.version("A-1") == 3


def test_a_store_checks_the_key_in_its_own_transaction(store):
    """Straight to the store: a used key is checked where the events are appended."""
    events = list(COUNTER.start("C-1").events)
    store.append("counter", events, -1, idempotency_key="k", fingerprint="f1")
    other = list(COUNTER.start("C-2").events)
    with pytest.raises(IdempotencyMismatch):
        store.append("counter", other, -1, idempotency_key="k", fingerprint="f1")
    assert store.version("C-2") == -1
    recorded = store.find_idempotency_key("k")
    assert (recorded.tx_id, recorded.version, recorded.trigger, recorded.fingerprint) == (
        "C-1",
        0,
        "begin",
        "f1",
    )


def test_the_fingerprint_does_not_depend_on_the_state_or_on_defaults():
    flow = FLOWS["direct-sale"]
    # dispatch leaves from two states; one trigger, one payload class, one fingerprint
    assert fingerprint(flow, "dispatch", {}) == fingerprint(
        flow, "dispatch", {"carrier": None, "tracking_ref": None}
    )
    assert fingerprint(flow, "dispatch", {}) != fingerprint(flow, "dispatch", {"carrier": "SF"})
    same = fingerprint(flow, "approve_payment", APPROVAL)
    assert same == fingerprint(flow, "approve_payment", dict(reversed(APPROVAL.items())))
    assert len(same) == 64
    # a payload that does not build never matches one that did
    assert fingerprint(flow, "approve_payment", {"amount": 10}).startswith("unbuilt:")


@pytest.mark.parametrize(
    "key", ["4111 1111 1111 1111", "4111111111111111", "gw\x00-1"], ids=["card", "plain", "nul"]
)
def test_a_key_that_may_not_be_stored_is_refused_before_anything_is_written(store, key):
    repo = Repository(store, FLOWS_HERE)
    card_sale(repo, "A-1")
    before = len(store.read())
    with pytest.raises(InvalidPayload, match="idempotency key"):
        repo.execute("A-1", "approve_payment", idempotency_key=key, **APPROVAL)
    with pytest.raises(InvalidPayload, match="idempotency key"):
        store.append("counter", list(COUNTER.start("C-1").events), -1, idempotency_key=key)
    assert len(store.read()) == before


@pytest.mark.parametrize("name", ["4111-1111-1111-1111", "ledger\x00"], ids=["card", "nul"])
def test_a_checkpoint_name_that_may_not_be_stored_is_refused(store, name):
    with pytest.raises(InvalidPayload, match="checkpoint name"):
        store.save_checkpoint(name, 3)
    assert store.checkpoint("ledger") == 0


# -- two deliveries of one callback at once ------------------------------------------------


def _deliver(url, index, rounds, barrier, results):
    """One gateway process: deliver each round's approval when every process is ready."""
    repo = Repository(open_store(url), FLOWS_HERE)
    for n in range(rounds):
        barrier.wait(timeout=30)
        # Staggered starts, fixed per round, so that the deliveries meet at every point
        # of each other's way: before the load, between load and append, after the commit.
        time.sleep(((n * (index + 1)) % 11) * 0.0001)
        try:
            outcome = repo.execute(
                f"R-{n}", "approve_payment", idempotency_key=f"gw-{n}", **APPROVAL
            )
        except Exception as error:
            outcome = repr(error)
        results.put((index, n, outcome))
    repo.store.close()


def _race(url, rounds, workers):
    """Deliver the same approval from ``workers`` processes at once, ``rounds`` times."""
    setup = Repository(open_store(url), FLOWS_HERE)
    for n in range(rounds):
        card_sale(setup, f"R-{n}")
    setup.store.close()  # children must not inherit an open connection
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_deliver, args=(url, i, rounds, barrier, results))
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    outcomes = {}
    for _ in range(rounds * workers):
        index, n, outcome = results.get(timeout=60)
        outcomes[index, n] = outcome
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    failures = [o for o in outcomes.values() if isinstance(o, str)]
    assert not failures, f"{len(failures)} deliveries failed, e.g. {failures[0]}"
    store = open_store(url)
    for n in range(rounds):
        events = outcomes[0, n]
        assert all(outcomes[i, n] == events for i in range(workers))  # the same events
        assert [e.version for e in events] == [3, 3]
        assert store.version(f"R-{n}") == 3  # exactly one append
    store.close()


def test_concurrent_deliveries_of_one_callback_all_get_the_recorded_outcome(location):
    started = time.monotonic()
    _race(location, rounds=100, workers=3)
    assert time.monotonic() - started < 60


def test_a_duplicate_that_loads_after_the_first_commit_gets_the_recorded_outcome(store):
    """The race above, one interleaving pinned: the duplicate looked the key up just
    before the first delivery committed, and loads the transaction just after."""
    repo = Repository(store, FLOWS_HERE)
    card_sale(repo, "A-1")
    first = repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **APPROVAL)
    real, calls = store.find_idempotency_key, []

    def looked_up_too_early(key):
        calls.append(key)
        return None if len(calls) == 1 else real(key)

    store.find_idempotency_key = looked_up_too_early
    again = repo.execute("A-1", "approve_payment", idempotency_key="gw-1", **APPROVAL)
    assert again == first and len(calls) == 2 and store.version("A-1") == 3
    calls.clear()
    with pytest.raises(IdempotencyMismatch):  # and a different request still is refused
        repo.execute(
            "A-1",
            "approve_payment",
            idempotency_key="gw-1",
            reference="x",
            amount=Money("9", "CNY"),
        )


def test_a_duplicate_whose_trigger_is_still_allowed_is_caught_by_the_append(store):
    """A trigger that can fire again (a counter's bump): the duplicate fires, and the
    append's own check of the key, in its database transaction, stops it."""
    repo = Repository(store, FLOWS_HERE)
    repo.start("counter", "C-1")
    first = repo.execute("C-1", "bump", idempotency_key="b-1", by="gateway")
    real = store.find_idempotency_key
    calls = []

    def looked_up_too_early(key):
        calls.append(key)
        return None if len(calls) == 1 else real(key)

    store.find_idempotency_key = looked_up_too_early
    assert repo.execute("C-1", "bump", idempotency_key="b-1", by="gateway") == first
    assert store.version("C-1") == 1 and len(calls) == 2
    calls.clear()
    with pytest.raises(IdempotencyMismatch, match="a different payload"):
        repo.execute("C-1", "bump", idempotency_key="b-1", by="someone else")
    assert store.version("C-1") == 1


def test_a_transaction_id_that_may_not_be_stored_is_refused_by_every_store(store):
    # Flow.start refuses such an id already; a store refuses a hand-made event too.
    good = COUNTER.start("C-9").events[0]
    events = [attrs.evolve(good, tx_id="4111 1111 1111 1111")]
    with pytest.raises(InvalidPayload, match="transaction id"):
        store.append("counter", events, -1)
    assert store.read() == []


def test_looking_up_a_nul_byte_finds_nothing_in_every_store(store):
    _two_bumps(store)
    with pytest.raises(KeyError):
        store.load("C-1\x00")
    assert store.version("C-1\x00") == -1
    assert store.find_idempotency_key("k\x00") is None
    assert store.checkpoint("ledger\x00") == 0


def test_event_data_in_any_mapping_type_is_stored_as_json(store):
    """Recorded data may be frozen (a read-only mapping of tuples); every store keeps JSON."""
    data = MappingProxyType({"owner": "Li", "lines": (MappingProxyType({"sku": "tea"}),)})
    event = Event(
        "T-1", 0, 0, "begin", Stream.INFORMATION, "begun", data, datetime.now(timezone.utc)
    )
    store.append("counter", [event], -1)
    (stored,) = store.load("T-1")[1]
    plain = json.loads(
        json.dumps(stored.data, default=lambda v: dict(v) if isinstance(v, Mapping) else list(v))
    )
    assert plain == {"owner": "Li", "lines": [{"sku": "tea"}]}


# -- 3. a row that does not parse -----------------------------------------------------------


def _corrupt_sqlite(path, sql):
    raw = sqlite3.connect(path)
    raw.execute(sql)
    raw.commit()
    raw.close()


def _corrupt_postgres(dsn, sql):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as raw:
        raw.execute(sql)


SQLITE_DAMAGE = {
    "json": "UPDATE events SET data = '{\"by\": ' WHERE position = 3",
    "not-an-object": "UPDATE events SET data = '[1, 2]' WHERE position = 3",
    "stream": "UPDATE events SET stream = 'gossip' WHERE position = 3",
    "timestamp": "UPDATE events SET occurred_at = 'yesterday' WHERE position = 3",
    "naive-timestamp": "UPDATE events SET occurred_at = '2026-11-24T08:00:00' WHERE position = 3",
}
POSTGRES_DAMAGE = {
    "not-an-object": "UPDATE events SET data = '\"text\"'::jsonb WHERE position = 3",
    "stream": "UPDATE events SET stream = 'gossip' WHERE position = 3",
}


def _check_corrupt(store):
    with pytest.raises(CorruptHistory, match="position 3 of transaction 'C-1'") as info:
        store.load("C-1")
    assert (info.value.tx_id, info.value.position) == ("C-1", 3)
    with pytest.raises(CorruptHistory, match="position 3 of transaction 'C-1'"):
        store.read()
    assert [r.position for r in store.read(limit=2)] == [1, 2]  # rows before it still read


def _two_bumps(store):
    events = list(COUNTER.start("C-1").events)
    store.append("counter", events, -1)
    tx = COUNTER.replay(events)
    tx.fire("bump")
    store.append("counter", tx.events[len(events) :], 0)


@pytest.mark.parametrize("damage", sorted(SQLITE_DAMAGE))
def test_a_sqlite_row_that_does_not_parse_is_corrupt_history(tmp_path, damage):
    path = tmp_path / "shop.db"
    with SQLiteStore(path) as store:
        _two_bumps(store)
        _corrupt_sqlite(path, SQLITE_DAMAGE[damage])
        _check_corrupt(store)


@pytest.mark.parametrize("damage", sorted(POSTGRES_DAMAGE))
def test_a_postgres_row_that_does_not_parse_is_corrupt_history(pg_dsn, damage):
    with PostgresStore(pg_dsn) as store:
        _two_bumps(store)
        _corrupt_postgres(pg_dsn, POSTGRES_DAMAGE[damage])
        _check_corrupt(store)


# -- 6. values no store keeps ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("Li\x00Wei", "holds a NUL byte"),
        ("4111 1111 1111 1111", "looks like a full card number"),
        ({"nested": ["ok", "x\x00"]}, "holds a NUL byte"),
    ],
    ids=["nul", "card", "nested-nul"],
)
def test_every_store_refuses_the_same_values_and_writes_nothing(store, value, problem):
    event = Event(
        "T-9",
        0,
        0,
        "begin",
        Stream.INFORMATION,
        "begun",
        {"owner": value},
        datetime(2026, 11, 24, tzinfo=timezone.utc),
    )
    with pytest.raises(InvalidPayload, match=f"event 'T-9:0:0' of transaction 'T-9'.*{problem}"):
        store.append("counter", [event], -1)
    assert store.read() == [] and store.version("T-9") == -1
