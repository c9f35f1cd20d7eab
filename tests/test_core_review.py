"""Review of issue 11's core: a cached, restored or replayed transaction is the same one.

A repository hands out a transaction from its cache (the object a command left), from
a snapshot or by replaying stored events. Whichever it was, the next command must see
the same context down to the types of its values, or the command's outcome would depend
on which process ran it.
"""

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ecomflow import (
    FLOWS,
    Emit,
    Event,
    Flow,
    FlowDefinition,
    Guard,
    GuardRejected,
    Label,
    State,
    Stream,
    Transition,
)
from ecomflow.store import MemoryStore, Repository, open_store
from ecomflow.testing import ManualClock
from ecomflow.testing import _invariants as invariants
from ecomflow.testing._paths import drive, shortest_paths

BERLIN = ZoneInfo("Europe/Berlin")


def identical(a, b, path="context"):
    """Return ``None`` if ``a`` and ``b`` are equal with equal types all the way down.

    ``==`` is not enough: aware datetimes compare as instants (a ``ZoneInfo`` time equals
    a fixed-offset one) and ``Decimal("1.0") == Decimal("1.00")``.
    """
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {a!r} vs {type(b).__name__} {b!r}"
    if isinstance(a, datetime):
        same = a == b and a.utcoffset() == b.utcoffset() and type(a.tzinfo) is type(b.tzinfo)
        return None if same else f"{path}: {a!r} vs {b!r}"
    if isinstance(a, Decimal):
        return None if a.as_tuple() == b.as_tuple() else f"{path}: {a!r} vs {b!r}"
    if attrs.has(type(a)):
        parts = [(f.name, getattr(a, f.name), getattr(b, f.name)) for f in attrs.fields(type(a))]
    elif isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        parts = [(str(i), x, y) for i, (x, y) in enumerate(zip(a, b, strict=True))]
    elif isinstance(a, dict):
        if set(a) != set(b):
            return f"{path}: keys {sorted(a)} vs {sorted(b)}"
        parts = [(repr(key), a[key], b[key]) for key in a]
    else:
        return None if a == b else f"{path}: {a!r} vs {b!r}"
    for name, x, y in parts:
        found = identical(x, y, f"{path}.{name}")
        if found is not None:
            return found
    return None


@attrs.frozen
class Stamp:
    stamped_at: datetime | None = None


def _half_year_passed(context, _, now):
    due = context.stamped_at + timedelta(days=180)  # wall-clock arithmetic in a zone
    return None if now > due else f"not before {due.isoformat()}"


HALF_YEAR = Guard(
    "half_year_passed",
    _half_year_passed,
    Label("half a year passed", "已过半年"),
    uses_payload=False,
    uses_clock=True,
)

STAMPED = Flow(
    FlowDefinition(
        name="stamped",
        title=Label("Stamped", "盖章"),
        source="tests",
        context_type=Stamp,
        states=[
            State("open", Label("open", "开")),
            State("stamped", Label("stamped", "已盖章")),
            State("closed", Label("closed", "关"), terminal=True),
        ],
        start=Transition(
            "open", (), "open", Label("open", "开"), emits=[Emit(Stream.INFORMATION, "opened")]
        ),
        transitions=[
            Transition(
                "stamp",
                "open",
                "stamped",
                Label("stamp", "盖章"),
                effect=lambda c, p, now: Stamp(stamped_at=now),
                effect_uses_clock=True,
                emits=[Emit(Stream.COMMERCE, "stamped")],
            ),
            Transition(
                "close",
                "stamped",
                "closed",
                Label("close", "关"),
                guards=[HALF_YEAR],
                emits=[Emit(Stream.COMMERCE, "closed")],
            ),
        ],
    )
)


def test_a_cached_and_a_stored_transaction_decide_alike_on_a_clock_with_a_time_zone(tmp_path):
    # A Berlin shop stamps in winter; half a year later (summer time) it may close.
    clock = ManualClock(datetime(2026, 1, 10, 10, 0, tzinfo=BERLIN))
    store = open_store(f"sqlite:///{tmp_path}/shop.db")  # times come back from JSON text
    warm = Repository(store, {"stamped": STAMPED}, clock=clock)
    warm.start("stamped", "S-1")
    warm.execute("S-1", "stamp")
    cold = Repository(store, {"stamped": STAMPED}, clock=clock)
    assert identical(warm.load("S-1").context, cold.load("S-1").context) is None
    assert identical(warm.load("S-1").context, STAMPED.replay(store.load("S-1")[1]).context) is None
    # 08:30 UTC on 9 July: 10:00 Berlin wall-clock time plus 180 days is 08:00 UTC in
    # summer time, 09:00 UTC by the winter offset. Both processes must give one answer.
    clock.now = datetime(2026, 7, 9, 8, 30, tzinfo=timezone.utc).astimezone(BERLIN)
    outcomes = []
    for repo in (warm, cold, Repository(store, {"stamped": STAMPED}, clock=clock)):
        try:
            repo.load("S-1").fire("close")
            outcomes.append("closed")
        except GuardRejected:
            outcomes.append("refused")
    assert len(set(outcomes)) == 1, outcomes
    store.close()


def test_events_fired_on_a_zoned_clock_are_stamped_as_the_store_returns_them():
    clock = ManualClock(datetime(2026, 3, 28, 23, 0, tzinfo=BERLIN))
    tx = STAMPED.start("S-2", clock=clock)
    clock.advance(timedelta(hours=5))  # across the switch to summer time
    tx.fire("stamp")
    stored = [Event.from_json(json.loads(json.dumps(event.to_json()))) for event in tx.events]
    assert [e.occurred_at.utcoffset() for e in tx.events] == [
        timedelta(hours=1),
        timedelta(hours=2),
    ]
    for memory, back in zip(tx.events, stored, strict=True):
        assert identical(memory.occurred_at, back.occurred_at) is None
    assert identical(tx.context, STAMPED.replay(stored).context) is None


TARGETS = [(name, state) for name, flow in sorted(FLOWS.items()) for state in shortest_paths(flow)]
ZONES = [timezone.utc, timezone(timedelta(hours=8)), BERLIN, ZoneInfo("America/New_York")]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # a failure prints its draws
)
@given(data=st.data(), target=st.sampled_from(TARGETS), zone=st.sampled_from(ZONES))
def test_memory_store_replay_and_snapshot_give_identical_contexts(data, target, zone):
    name, state = target
    flow = FLOWS[name]
    start = data.draw(st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)), label="start")
    clock = ManualClock(start.replace(tzinfo=zone))
    tx = drive(flow, shortest_paths(flow)[state], data.draw, clock=clock)
    if tx is None:
        return
    stored = [Event.from_json(json.loads(json.dumps(event.to_json()))) for event in tx.events]
    replayed = flow.replay(stored)
    assert identical(tx.context, replayed.context) is None
    for version in range(tx.version + 1):
        prefix = [event for event in stored if event.version <= version]
        snapshot = json.loads(json.dumps(flow.snapshot(flow.replay(prefix))))
        tail = [event for event in stored if event.version > version]
        restored = flow.restore(snapshot, tail, history=lambda prefix=prefix: list(prefix))
        assert identical(replayed.context, restored.context) is None
        assert restored.state == replayed.state and restored.version == replayed.version
        assert restored.events == replayed.events
        assert [_outcome(check, restored) for check in CHECKS] == [
            _outcome(check, replayed) for check in CHECKS
        ]


CHECKS = [
    invariants.terminal_states_absorb,
    invariants.versions_are_gapless,
    invariants.replay_gives_the_same_transaction,
    invariants.events_are_json,
    invariants.ledger_balances,
    invariants.no_shipping_before_payment,
    invariants.books_by_party,
    invariants.flow_rules_hold,
    invariants.payouts_within_what_was_paid,
    invariants.contract_concluded_at_most_once,
    invariants.counter_offer_ends_the_standing_offer,
]


def _outcome(check, tx):
    """Return what ``check`` says of ``tx``: ``None``, or the message it raised."""
    try:
        check(tx)
    except AssertionError as error:
        return str(error)
    return None


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (datetime(2026, 1, 1, tzinfo=BERLIN), datetime(2026, 1, 1, tzinfo=BERLIN), True),
        (
            datetime(2026, 1, 1, tzinfo=BERLIN),
            datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1))),
            False,
        ),
        (Decimal("1.0"), Decimal("1.00"), False),
        ((1, 2), [1, 2], False),
        (Stamp(), Stamp(), True),
        ({"a": [Decimal("1")]}, {"a": [Decimal("1")]}, True),
    ],
)
def test_identical_tells_what_equality_hides(a, b, same):
    assert (identical(a, b) is None) is same


def test_paging_while_transactions_move_skips_none_and_repeats_only_the_moved(store, clock):
    from .toy import COUNTER

    repo = Repository(store, {"counter": COUNTER}, clock=clock)
    names = [f"K-{number:02}" for number in range(12)]
    for name in names:
        repo.start("counter", name)
    seen, moved, after = [], set(), None
    while True:
        page = repo.find(limit=3, after=after)
        keys = [(row.updated_at, row.tx_id) for row in page]
        assert keys == sorted(keys)
        seen += [row.tx_id for row in page]
        if page.next is None:
            break
        after = page.next
        # Between pages, one transaction already listed and one not listed yet move on.
        unseen = [name for name in names if name not in seen]
        for name in (seen[0], *unseen[-1:]):
            repo.execute(name, "bump")
            moved.add(name)
    assert set(seen) == set(names)  # none skipped
    repeated = {name for name in seen if seen.count(name) > 1}
    assert repeated and repeated <= moved  # listed again at the end: only the moved ones


def test_reindex_beside_a_writer_keeps_the_writers_row(store):
    from ecomflow.store._base import Head

    from .test_repository_find import ORDER

    flow = FLOWS["direct-sale"]
    tx = flow.start("R-1", merchant="Tea House")
    store.append("direct-sale", list(tx.events), -1)  # no head: state "" as after a migration
    repo = Repository(store, FLOWS)
    writer = Repository(store, FLOWS)
    put_head = store.put_head
    raced = []

    def racing(tx_id: str, version: int, head: Head) -> bool:
        if not raced:  # a command lands between reindex's load and its write
            raced.append(writer.execute(tx_id, "fill_order", **ORDER))
        return put_head(tx_id, version, head)

    store.put_head = racing
    try:
        assert repo.reindex() == 0  # its row of version 0 came too late: not written
    finally:
        del store.put_head
    (row,) = repo.find(flow="direct-sale")
    assert (row.state, row.version, row.summary["total"]) == ("order_filled", 1, "60.00")
    assert repo.reindex() == 0 and len(repo.find(state="")) == 0


@pytest.mark.parametrize("retries", [-1, 1.5, "3", None, True])
def test_execute_refuses_a_bad_retries_count_and_changes_nothing(retries):
    from ecomflow import InvalidPayload

    from .toy import COUNTER

    store = MemoryStore()
    repo = Repository(store, {"counter": COUNTER})
    repo.start("counter", "K-1")
    with pytest.raises(InvalidPayload, match="retries"):
        repo.execute("K-1", "bump", retries=retries)
    assert store.version("K-1") == 0
    assert repo.execute("K-1", "bump", retries=0)[0].version == 1


def test_a_repeated_request_returns_the_first_actor_and_changes_nothing():
    from .toy import COUNTER

    store = MemoryStore()
    repo = Repository(store, {"counter": COUNTER})
    repo.start("counter", "K-1", actor="till")
    first = repo.execute("K-1", "bump", idempotency_key="k-1", actor="alice")
    again = Repository(store, {"counter": COUNTER}).execute(
        "K-1", "bump", idempotency_key="k-1", actor="bob"
    )
    assert again == first and {event.actor for event in again} == {"alice"}
    assert {event.causation_id for event in again} == {"k-1"}
    assert store.version("K-1") == 1
    assert [event.actor for event in store.load("K-1")[1] if event.version == 0] == ["till"] * len(
        [event for event in store.load("K-1")[1] if event.version == 0]
    )


def test_refusals_conflicts_and_failing_subscribers_leave_the_cache_true(tmp_path):
    from ecomflow import ConcurrencyConflict, InvalidPayload, SubscriberError

    from .toy import COUNTER

    flows = {"counter": COUNTER}
    store = open_store(f"sqlite:///{tmp_path}/shop.db")
    repo = Repository(store, flows, snapshot_every=1)
    repo.start("counter", "K-1")
    repo.execute("K-1", "bump")
    tx = repo.load("K-1")
    with pytest.raises(InvalidPayload):
        tx.fire("bump", surprise=1)  # refused: nothing changed, here or in the cache
    assert (tx.version, repo.load("K-1").version) == (1, 1)
    tx.fire("bump")  # moved on in memory, not saved: the cache does not see it
    assert repo.load("K-1").version == 1
    Repository(store, flows).execute("K-1", "bump")  # another process takes version 2
    with pytest.raises(ConcurrencyConflict):
        repo.save(tx)
    assert repo.load("K-1") == COUNTER.replay(store.load("K-1")[1])
    repo.subscribe(lambda event: 1 / 0)
    with pytest.raises(SubscriberError):
        repo.execute("K-1", "bump")  # committed, then a subscriber failed
    warm = repo.load("K-1")
    assert warm.version == 3 and warm == COUNTER.replay(store.load("K-1")[1])
    assert store.load_latest("K-1").snapshot.version == 3
    assert Repository(store, flows).load("K-1") == warm  # restored from that snapshot
    store.close()
