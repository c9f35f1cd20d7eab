"""Subscriptions through the repository: every command publishes, after its commit."""

import pytest

from ecomflow import (
    FLOWS,
    ConcurrencyConflict,
    EventBus,
    InvalidPayload,
    Stream,
    SubscriberError,
    TransitionNotAllowed,
)
from ecomflow.store import MemoryStore, Repository
from tests.toy import COUNTER

FLOWS_HERE = {**FLOWS, "counter": COUNTER}


def names(events):
    return [(event.tx_id, event.version, event.name) for event in events]


def test_a_bus_given_to_start_is_not_silently_forgotten(store):
    """Found: repo.start accepted bus=, and every later command published nothing to it."""
    repo = Repository(store, FLOWS_HERE)
    bus = EventBus()
    seen = []
    bus.subscribe(seen.append)
    with pytest.raises(InvalidPayload, match=r"repo\.subscribe") as info:
        repo.start("counter", "T-1", bus=bus)
    assert "'T-1'" in str(info.value) and "counter" in str(info.value)
    assert seen == [] and store.version("T-1") == -1


def test_a_bus_given_to_the_repository_sees_every_command(store):
    bus = EventBus()
    seen = []
    bus.subscribe(seen.append)
    repo = Repository(store, FLOWS_HERE, bus=bus)
    assert repo.bus is bus
    repo.start("counter", "T-1")
    repo.execute("T-1", "bump")
    tx = repo.load("T-1")
    tx.fire("bump")
    assert len(seen) == 3  # fired, not saved: nothing yet
    repo.save(tx)
    other = COUNTER.start("T-2")
    repo.add(other)
    assert names(seen) == [
        ("T-1", 0, "begun"),
        ("T-1", 1, "bumped"),
        ("T-1", 1, "echo"),
        ("T-1", 2, "bumped"),
        ("T-1", 2, "echo"),
        ("T-2", 0, "begun"),
    ]
    assert [record.event for record in store.read()] == seen


def test_subscribe_filters_streams_and_cancels(store):
    repo = Repository(store, FLOWS_HERE)
    money, everything = [], []
    subscription = repo.subscribe(money.append, Stream.MONEY)
    repo.subscribe(everything.append)
    repo.start("counter", "T-1")
    repo.execute("T-1", "bump")
    subscription.cancel()
    repo.execute("T-1", "bump")
    assert names(money) == [("T-1", 1, "bumped")]
    assert len(everything) == 5
    with pytest.raises(ValueError, match="'loud'"):
        repo.subscribe(money.append, "loud")


def test_a_duplicate_request_applies_and_publishes_nothing(store):
    repo = Repository(store, FLOWS_HERE)
    seen = []
    repo.subscribe(seen.append)
    repo.start("counter", "T-1")
    first = repo.execute("T-1", "bump", idempotency_key="k-1", by="bank")
    again = repo.execute("T-1", "bump", idempotency_key="k-1", by="bank")
    assert again == first
    assert names(seen) == [("T-1", 0, "begun"), ("T-1", 1, "bumped"), ("T-1", 1, "echo")]


def test_a_refused_or_conflicting_command_publishes_nothing(store):
    repo = Repository(store, FLOWS_HERE)
    seen = []
    repo.start("counter", "T-1")
    repo.subscribe(seen.append)
    stale = repo.load("T-1")
    repo.execute("T-1", "bump")
    stale.fire("bump")
    with pytest.raises(ConcurrencyConflict):
        repo.save(stale)
    with pytest.raises(ConcurrencyConflict):
        repo.start("counter", "T-1")  # the id is taken
    repo.execute("T-1", "shut")
    with pytest.raises(TransitionNotAllowed):
        repo.execute("T-1", "bump")
    assert names(seen) == [("T-1", 1, "bumped"), ("T-1", 1, "echo"), ("T-1", 2, "shut")]
    assert store.version("T-1") == 2


class RacingStore(MemoryStore):
    """A store where another writer commits just before the next ``race`` appends."""

    def __init__(self):
        super().__init__()
        self.race = 0

    def append(self, flow, events, expected_version, **kwargs):
        if self.race and expected_version >= 0:
            self.race -= 1
            _, stored = self.load(events[0].tx_id)
            rival = COUNTER.replay(stored)
            rival.fire("bump", by="rival")
            super().append(flow, rival.events[len(stored) :], expected_version)
        super().append(flow, events, expected_version, **kwargs)


def test_a_retried_command_publishes_each_committed_event_once():
    store = RacingStore()
    repo = Repository(store, FLOWS_HERE)
    seen = []
    repo.start("counter", "T-1")
    repo.subscribe(seen.append)
    store.race = 2
    events = repo.execute("T-1", "bump", by="me")
    # The rivals' commits did not go through this repository: only ours is published.
    assert [event.version for event in events] == [3, 3]
    assert names(seen) == [("T-1", 3, "bumped"), ("T-1", 3, "echo")]
    store.race = 1
    with pytest.raises(ConcurrencyConflict):
        repo.execute("T-1", "bump", retries=0)
    assert len(seen) == 2 and store.version("T-1") == 4


def test_a_failing_subscriber_does_not_undo_the_commit(store):
    repo = Repository(store, FLOWS_HERE)
    seen = []

    def broken(event):
        raise RuntimeError(f"ledger down at {event.name}")

    repo.subscribe(broken, Stream.MONEY)
    repo.subscribe(seen.append)
    repo.start("counter", "T-1")
    with pytest.raises(SubscriberError, match=r"'T-1'.*version 1.*stored.*1 subscriber") as info:
        repo.execute("T-1", "bump")
    assert [str(error) for error in info.value.errors] == ["ledger down at bumped"]
    assert info.value.transaction.version == 1
    assert names(seen)[1:] == [("T-1", 1, "bumped"), ("T-1", 1, "echo")]
    assert store.version("T-1") == 1
    tx = repo.load("T-1")
    tx.fire("shut")
    repo.save(tx)  # the repository knows the failed delivery's version was committed
    assert store.version("T-1") == 2 and names(seen)[-1] == ("T-1", 2, "shut")


def test_a_handler_that_runs_a_command_sees_events_in_commit_order(store):
    """A process manager: on each bump of T-1, shut T-2. Everyone sees commit order."""
    repo = Repository(store, FLOWS_HERE)
    first, second = [], []

    def react(event):
        first.append(event)
        if event.name == "bumped" and event.tx_id == "T-1":
            repo.execute("T-2", "shut")

    repo.start("counter", "T-1")
    repo.start("counter", "T-2")
    repo.subscribe(react)
    repo.subscribe(second.append)
    repo.execute("T-1", "bump")
    expected = [("T-1", 1, "bumped"), ("T-1", 1, "echo"), ("T-2", 1, "shut")]
    assert names(first) == expected and names(second) == expected
    positions = [(r.event.tx_id, r.event.version, r.event.name) for r in store.read(after=2)]
    assert positions == expected  # the same order as the store


def test_a_transaction_from_the_repository_carries_no_bus(store):
    """Its events reach subscribers when saved, not when fired (before any commit)."""
    repo = Repository(store, FLOWS_HERE)
    seen = []
    repo.subscribe(seen.append)
    tx = repo.start("counter", "T-1")
    tx.fire("bump")
    assert len(seen) == 1
    assert len(repo.load("T-1").events) == 1


def test_a_transaction_on_the_repositorys_own_bus_is_refused_by_add(store):
    """Its events were published when fired; adding it would deliver them twice."""
    repo = Repository(store, FLOWS_HERE)
    seen = []
    repo.subscribe(seen.append)
    tx = COUNTER.start("T-1", bus=repo.bus)
    with pytest.raises(InvalidPayload, match=r"'T-1' in state 'open'.*delivered twice"):
        repo.add(tx)
    assert names(seen) == [("T-1", 0, "begun")] and store.version("T-1") == -1
    repo.add(COUNTER.start("T-2", bus=EventBus()))  # another bus: its own business
    assert names(seen)[-1] == ("T-2", 0, "begun")
