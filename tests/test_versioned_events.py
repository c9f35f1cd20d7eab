"""Versioned events: a flow changes, stored transactions still load (issue 11).

Version 1 of a small parcel flow writes transactions to a (memory) store; version 2
renames an event, adds a payload field with a default and splits a state in two. The
transactions load, continue and replay with version 2; snapshots written by version 1
are ignored; an event of an unknown newer version raises UnknownFlowVersion.
"""

import attrs
import pytest

from ecomflow import (
    CorruptHistory,
    Emit,
    Flow,
    FlowDefinition,
    IdempotencyMismatch,
    InvalidDefinition,
    Label,
    State,
    Stream,
    Transition,
    UnknownFlowVersion,
)
from ecomflow.store import MemoryStore, Repository


@attrs.frozen
class Open:
    owner: str


@attrs.frozen
class PayV1:
    amount: int


@attrs.frozen
class PayV2:
    amount: int
    currency: str = "CNY"  # new in version 2


@attrs.frozen
class Parcel:
    owner: str
    paid: int = 0
    currency: str = "CNY"
    picked: bool = False


def _pay(c, p):
    return attrs.evolve(c, paid=c.paid + p.amount, currency=getattr(p, "currency", "CNY"))


def _v1():
    return FlowDefinition(
        name="parcel",
        title=Label("Parcel", "包裹"),
        source="tests",
        context_type=Parcel,
        states=[
            State("open", Label("open", "开")),
            State("paid", Label("paid", "已付")),
            State("shipped", Label("shipped", "已发"), terminal=True),
        ],
        start=Transition(
            "open",
            (),
            "open",
            Label("open", "开"),
            payload=Open,
            effect=lambda _, p: Parcel(owner=p.owner),
            emits=[Emit(Stream.INFORMATION, "opened")],
        ),
        transitions=[
            Transition(
                "pay",
                ("open", "paid"),
                "paid",
                Label("pay", "付"),
                payload=PayV1,
                effect=_pay,
                emits=[Emit(Stream.MONEY, "paid")],
            ),
            Transition(
                "ship",
                "paid",
                "shipped",
                Label("ship", "发"),
                emits=[Emit(Stream.LOGISTICS, "shipped")],
            ),
        ],
    )


def _rename_paid(event):
    if event.name != "paid":
        return event
    return attrs.evolve(event, name="payment_received", data={**event.data, "currency": "CNY"})


def _v2(**overrides):
    paid = State(
        "paid",
        Label("paid", "已付"),
        children=[
            State("awaiting_pick", Label("awaiting pick", "待拣货")),
            State("picked", Label("picked", "已拣货")),
        ],
        initial="awaiting_pick",
    )
    fields = dict(
        name="parcel",
        title=Label("Parcel", "包裹"),
        source="tests",
        context_type=Parcel,
        version=2,
        upcasters={1: _rename_paid},
        states=[State("open", Label("open", "开")), paid, _v1().states[2]],
        start=_v1().start,
        transitions=[
            Transition(
                "pay",
                ("open", "paid"),
                "paid",
                Label("pay", "付"),
                payload=PayV2,
                effect=_pay,
                emits=[Emit(Stream.MONEY, "payment_received")],
            ),
            Transition(
                "pick",
                "paid.awaiting_pick",
                "paid.picked",
                Label("pick", "拣货"),
                effect=lambda c, _: attrs.evolve(c, picked=True),
                emits=[Emit(Stream.LOGISTICS, "picked")],
            ),
            Transition(
                "ship",
                "paid",
                "shipped",
                Label("ship", "发"),
                emits=[Emit(Stream.LOGISTICS, "shipped")],
            ),
        ],
    )
    fields.update(overrides)
    return FlowDefinition(**fields)


V1, V2 = Flow(_v1()), Flow(_v2())


@pytest.fixture
def written_by_v1():
    """A memory store holding two parcels written by version 1, with a v1 snapshot."""
    store = MemoryStore()
    repo = Repository(store, {"parcel": V1}, snapshot_every=2)
    repo.start("parcel", "P-1", owner="li")
    repo.execute("P-1", "pay", amount=5)
    repo.execute("P-1", "pay", amount=7)  # version 2: a v1 snapshot of state "paid"
    repo.start("parcel", "P-2", owner="wang")
    repo.execute("P-2", "pay", amount=3)
    repo.execute("P-2", "ship")
    assert store.load_latest("P-1").snapshot.flow_version == 1
    return store


def test_version_is_recorded_on_every_event():
    tx = V2.start("X", owner="li")
    tx.fire("pay", amount=1)
    assert {event.flow_version for event in tx.events} == {2}
    assert V2.version == 2 and V1.version == 1


def test_v2_loads_continues_and_replays_what_v1_wrote(written_by_v1):
    store = written_by_v1
    repo = Repository(store, {"parcel": V2}, snapshot_every=2)
    tx = repo.load("P-1")
    assert tx.state == "paid.awaiting_pick"  # the split state's initial child
    assert tx.context == Parcel(owner="li", paid=12, currency="CNY")
    assert [e.name for e in tx.events] == ["opened", "payment_received", "payment_received"]
    assert {e.flow_version for e in tx.events} == {2}  # upcast into version 2's shape
    assert tx.events[1].data == {"amount": 5, "currency": "CNY"}
    events = repo.execute("P-1", "pick")
    assert [(e.name, e.flow_version) for e in events] == [("picked", 2)]
    repo.execute("P-1", "pay", amount=1, currency="USD")
    stored = store.load("P-1")[1]
    assert [e.flow_version for e in stored] == [1, 1, 1, 2, 2]  # history is never rewritten
    replayed = V2.replay(stored)
    assert replayed.state == "paid.awaiting_pick"
    assert replayed.context == Parcel(owner="li", paid=13, currency="USD", picked=True)
    assert Repository(store, {"parcel": V2}).load("P-1") == replayed
    assert repo.load("P-2").state == "shipped"
    assert [row.tx_id for row in repo.find(state="paid")] == ["P-1"]


def test_v1_snapshot_is_ignored_by_v2(written_by_v1):
    store = written_by_v1
    snapshot = store.load_latest("P-1").snapshot
    assert snapshot.data["state"] == "paid"  # not a state of version 2 (it has children now)
    tx = Repository(store, {"parcel": V2}).load("P-1")
    assert tx == V2.replay(store.load("P-1")[1])
    # ...whereas restoring it by hand would be refused as corrupt:
    with pytest.raises(CorruptHistory, match="snapshot"):
        V2.restore(snapshot.data)


def test_an_event_of_an_unknown_newer_version_raises(written_by_v1):
    store = written_by_v1
    stored = store.load("P-1")[1]
    newer = [*stored[:2], attrs.evolve(stored[2], flow_version=3)]
    with pytest.raises(UnknownFlowVersion) as caught:
        V2.replay(newer)
    error = caught.value
    assert (error.tx_id, error.position, error.flow_version, error.known) == ("P-1", "2:0", 3, 2)
    assert isinstance(error, CorruptHistory)
    assert "upgrade the code" in str(error)
    with pytest.raises(UnknownFlowVersion):
        V1.replay(V2.start("N", owner="x").events)
    # A repository of version 1 cannot load what version 2 wrote.
    repo2 = Repository(store, {"parcel": V2})
    repo2.execute("P-1", "pick")
    with pytest.raises(UnknownFlowVersion):
        Repository(store, {"parcel": V1}).load("P-1")


def test_upcasters_chain_and_a_broken_one_is_corrupt_history():
    seen = []

    def two_to_three(event):
        seen.append(event.name)
        return attrs.evolve(event, name=event.name.replace("payment_received", "settled"))

    pay3 = attrs.evolve(_v2().transitions[0], emits=[Emit(Stream.MONEY, "settled")])
    v3 = Flow(
        _v2(
            version=3,
            upcasters={1: _rename_paid, 2: two_to_three},
            transitions=[pay3, *_v2().transitions[1:]],
        )
    )
    tx = V1.start("C", owner="li")
    tx.fire("pay", amount=2)
    assert [e.name for e in v3.replay(tx.events).events] == ["opened", "settled"]
    assert "payment_received" in seen  # 1 -> 2 ran before 2 -> 3
    broken = Flow(_v2(upcasters={1: lambda event: None}))
    with pytest.raises(CorruptHistory, match="upcast from flow version 1"):
        broken.replay(tx.events)
    raising = Flow(_v2(upcasters={1: lambda event: 1 / 0}))
    with pytest.raises(CorruptHistory, match="cannot be upcast"):
        raising.replay(tx.events)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"version": 0}, "version must be an int"),
        ({"version": "2"}, "version must be an int"),
        ({"upcasters": {2: _rename_paid}}, "upcaster from version 2"),
        ({"upcasters": {0: _rename_paid}}, "upcaster from version 0"),
        ({"upcasters": {1: "not callable"}}, "not callable"),
    ],
)
def test_bad_versions_are_invalid_definitions(overrides, problem):
    with pytest.raises(InvalidDefinition, match=problem):
        _v2(**overrides)


def test_a_repeated_request_after_the_upgrade_returns_the_events_upcast():
    store = MemoryStore()
    Repository(store, {"parcel": V1}).start("parcel", "P-9", owner="li")
    first = Repository(store, {"parcel": V1}).execute("P-9", "pay", amount=5, idempotency_key="k")
    assert [e.name for e in first] == ["paid"]
    again = Repository(store, {"parcel": V2}).execute("P-9", "pay", amount=5, idempotency_key="k")
    assert [(e.name, e.flow_version) for e in again] == [("payment_received", 2)]
    assert store.version("P-9") == 1  # nothing applied twice
    with pytest.raises(IdempotencyMismatch):  # another payload is still another request
        Repository(store, {"parcel": V2}).execute("P-9", "pay", amount=6, idempotency_key="k")
