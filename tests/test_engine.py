import gc
import weakref

import attrs
import pytest
from transitions import Machine

from ecomflow import (
    CorruptHistory,
    EcomflowError,
    EventBus,
    GuardRejected,
    InvalidPayload,
    Stream,
    SubscriberError,
    TransitionNotAllowed,
)
from tests.toy import TOY


def snapshot(tx):
    return (tx.state, tx.version, tx.events, tx.context)


def test_one_shared_machine_and_no_registered_models(clock):
    machine = TOY.engine.machine
    assert isinstance(machine, Machine)
    txs = [TOY.start(f"T-{i}", owner="o", clock=clock) for i in range(50)]
    for tx in txs:
        tx.fire("add", amount=1)
    assert machine.models == []  # never add_model
    assert all(tx.flow.engine.machine is machine for tx in txs)
    assert "to_a" not in machine.events  # no auto transitions


def test_fire_moves_state_and_records_events(clock):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    assert (tx.state, tx.version) == ("a", 0)
    assert [(e.version, e.stream, e.name, e.trigger) for e in tx.events] == [
        (0, Stream.INFORMATION, "begun", "begin")
    ]
    events = tx.fire("add", amount=7)
    assert tx.state == "b" and tx.version == 1 and tx.context.total == 7
    assert [(e.seq, e.name, dict(e.data)) for e in events] == [
        (0, "added", {"total": 7, "amount": 7}),  # the payload wins over derived data
        (1, "big", {}),
    ]
    assert len({e.occurred_at for e in events}) == 1  # one transition, one timestamp
    tx.fire("add", amount=2)
    assert [e.name for e in tx.events[-1:]] == ["added"]  # "big" is conditional


def test_transition_not_allowed_names_state_trigger_and_allowed(clock):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    with pytest.raises(TransitionNotAllowed) as info:
        tx.fire("finish")
    error = info.value
    assert (error.trigger, error.state, error.allowed) == ("finish", "a", ("add",))
    assert str(error) == (
        "Cannot finish transaction 'T-1' in state 'a': nothing was added yet; allowed: add."
    )


def test_unknown_trigger_is_not_allowed_and_no_machine_error_leaks(clock):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    for trigger in ["nope", "", "to_b", "begin", "__init__", "trigger"]:
        with pytest.raises(TransitionNotAllowed, match="has no such trigger|not a step"):
            tx.fire(trigger)
    tx.fire("add", amount=1)
    tx.fire("finish")
    with pytest.raises(TransitionNotAllowed, match="none, the transaction is finished"):
        tx.fire("add", amount=1)


def test_guard_rejected_lists_every_failing_guard(clock):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    tx.fire("add", amount=10)
    tx.fire("add", amount=10)
    before = snapshot(tx)
    with pytest.raises(GuardRejected) as info:
        tx.fire("add", amount=11)
    assert info.value.reasons == (
        ("not_full", "the total reached 20"),
        ("small", "amount 11 is over 10"),
    )
    assert "the total reached 20 (not_full); amount 11 is over 10 (small)" in str(info.value)
    assert snapshot(tx) == before


def test_allowed_triggers_evaluates_context_guards(clock):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    assert tx.allowed_triggers() == ("add",)
    tx.fire("add", amount=10)
    assert tx.allowed_triggers() == ("add", "finish")
    tx.fire("add", amount=10)
    assert tx.allowed_triggers() == ("finish",)  # not_full refuses now


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "missing field 'amount'"),
        ({"amount": 1, "colour": "red"}, "unknown field 'colour'; accepted: amount"),
        ({"amount": -1}, "'amount' must be >= 0"),
        ({"amount": "4111111111111111"}, "amount looks like a full card number"),
    ],
)
def test_invalid_payload_changes_nothing(clock, payload, message):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    before = snapshot(tx)
    with pytest.raises(InvalidPayload, match=message) as info:
        tx.fire("add", **payload)
    assert str(info.value).startswith("Cannot add transaction 'T-1' in state 'a': ")
    assert isinstance(info.value, ValueError) and isinstance(info.value, EcomflowError)
    assert snapshot(tx) == before


def test_a_trigger_without_payload_refuses_fields(clock):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    tx.fire("add", amount=1)
    with pytest.raises(InvalidPayload, match="unknown field 'x'; accepted: no payload"):
        tx.fire("finish", x=1)


def test_start_validates_id_and_context(clock):
    with pytest.raises(InvalidPayload, match="its id must be a non-empty string"):
        TOY.start("", owner="ann")
    with pytest.raises(InvalidPayload, match="missing field 'owner'"):
        TOY.start("T-1")
    with pytest.raises(InvalidPayload, match="owner looks like a full card number"):
        TOY.start("T-1", owner="5500 0000 0000 0004")


def test_replay_is_a_pure_fold_and_equals_the_original(clock):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    tx.fire("add", amount=7)
    tx.fire("add", amount=3)
    tx.fire("finish")
    again = TOY.replay(tx.events)
    assert again == tx
    assert (again.state, again.version, again.context) == ("done", 3, tx.context)
    assert again is not tx and again.events == tx.events


def test_replay_refuses_broken_histories(clock):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    tx.fire("add", amount=7)
    tx.fire("add", amount=3)
    events = list(tx.events)
    with pytest.raises(InvalidPayload, match="empty event list"):
        TOY.replay([])
    broken = [
        ([events[0], *events[3:]], "2:0", "comes where 1:0 should"),  # version 1 missing
        ([events[0], events[2], events[1], *events[3:]], "1:1", "comes where 1:0 should"),
        (
            [events[0], events[1], attrs.evolve(events[2], seq=2), *events[3:]],
            "1:2",
            "comes where 1:1 should",
        ),
        (events[1:2], "1:0", "comes where 0:0 should"),
        ([attrs.evolve(events[0], trigger="add")], "0:0", "begins with 'add', not 'begin'"),
        (
            [events[0], attrs.evolve(events[1], trigger="finish")],
            "1:0",
            "fires 'finish', which the toy flow does not allow from state 'a'",
        ),
        (
            [events[0], attrs.evolve(events[1], data={"amount": "many"})],
            "1:0",
            "does not hold a valid Step",
        ),
    ]
    for history, position, message in broken:
        with pytest.raises(CorruptHistory, match=message) as info:
            TOY.replay(history)
        assert (info.value.tx_id, info.value.position) == ("T-1", position)
    other = TOY.start("T-2", owner="bob", clock=clock)
    with pytest.raises(CorruptHistory, match="the event at 0:0 .'begun'. belongs to transaction"):
        TOY.replay([events[0], other.events[0]])


def test_bus_delivers_each_event_once_in_order_per_stream(clock):
    bus = EventBus()
    everything, money = [], []
    bus.subscribe(everything.append)
    subscription = bus.subscribe(money.append, Stream.MONEY)
    tx = TOY.start("T-1", owner="ann", clock=clock, bus=bus)
    tx.fire("add", amount=7)
    assert everything == list(tx.events)
    assert money == [e for e in tx.events if e.stream is Stream.MONEY]
    subscription.cancel()
    subscription.cancel()  # idempotent
    tx.fire("add", amount=1)
    assert len(money) == 1 and everything == list(tx.events)


def test_a_failing_subscriber_does_not_stop_the_others(clock):
    bus = EventBus()
    seen = []

    def broken(event):
        raise RuntimeError("ledger down")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    tx = TOY.start("T-1", owner="ann", clock=clock)
    tx._bus = bus
    with pytest.raises(SubscriberError, match="moved to state 'b' .version 1.") as info:
        tx.fire("add", amount=7)
    assert [type(e) for e in info.value.errors] == [RuntimeError, RuntimeError]
    assert seen == list(tx.events[1:])  # the transition was applied and delivered


def test_a_dropped_transaction_is_freed_by_refcounting_alone(clock):
    gc.collect()
    gc.disable()
    try:
        tx = TOY.start("T-1", owner="ann", clock=clock)
        tx.fire("add", amount=7)
        ref = weakref.ref(tx)
        del tx
        assert ref() is None
    finally:
        gc.enable()


def test_repr_and_equality(clock):
    tx = TOY.start("T-1", owner="ann", clock=clock)
    assert repr(tx) == "<Transaction 'T-1' of 'toy': state='a' version=0>"
    assert tx != TOY.start("T-2", owner="ann", clock=clock)
    assert tx != "T-1"
    with pytest.raises(TypeError):
        hash(tx)
