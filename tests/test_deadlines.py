"""Deadlines: timed transitions in definitions, their arming in every store, the worker."""

import threading
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from ecomflow import (
    FLOWS,
    ConcurrencyConflict,
    EventType,
    FlowDefinition,
    GuardRejected,
    InvalidDefinition,
    InvalidPayload,
    Label,
    Money,
    State,
    Stream,
    Transition,
    armed_deadlines,
    fire_due,
)
from ecomflow._flow import Flow
from ecomflow.flows import b2b, direct_sale
from ecomflow.flows.b2b.sample import SAMPLE
from ecomflow.store import DeadlineWorker, Repository, SQLiteStore
from ecomflow.testing import ManualClock

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
ORDER = {
    "customer_name": "Li Lei",
    "address": "Beijing",
    "goods_name": "tea",
    "quantity": 1,
    "specification": "tin",
    "unit_price": Money("88.00", "CNY"),
}


def order(clock, tx_id="T-1"):
    tx = direct_sale.FLOW.start(tx_id, clock=clock, merchant="Tea House")
    tx.fill_order(**ORDER)
    return tx


# -- the definition -------------------------------------------------------------------------

DONE = EventType("done", Stream.COMMERCE, Label("done", "完成"))


def definition(**timed):
    return FlowDefinition(
        name="t",
        title=Label("t", "t"),
        source="",
        states=[State("a", Label("a", "甲")), State("b", Label("b", "乙"), terminal=True)],
        start=Transition("begin", (), "a", Label("begin", "开始"), emits=[DONE]),
        transitions=[Transition("go", "a", "b", Label("go", "走"), emits=[DONE], **timed)],
        context_type=object,
    )


@attrs.frozen
class Needs:
    reason: str


@pytest.mark.parametrize(
    ("timed", "problem"),
    [
        ({"after": timedelta(0)}, "must be a positive delay"),
        ({"after": timedelta(minutes=-5)}, "must be a positive delay"),
        ({"after": 30}, "give a timedelta"),
        ({"after": timedelta(1), "until": lambda c: None}, "both after= and until="),
        ({"until": lambda c: None}, "give timer=Label"),
        ({"until": 5, "timer": Label("x", "x")}, "until= is not callable"),
        ({"after": timedelta(1), "requires_actor": True}, "cannot require an actor"),
        ({"after": timedelta(1), "payload": Needs}, "its field 'reason' needs a default"),
    ],
)
def test_a_timed_transition_that_cannot_be_armed_is_refused(timed, problem):
    with pytest.raises(InvalidDefinition, match=problem):
        definition(**timed)


def test_a_timed_transition_must_leave_its_state():
    with pytest.raises(InvalidDefinition, match="leads inside its source"):
        FlowDefinition(
            name="t",
            title=Label("t", "t"),
            source="",
            states=[
                State(
                    "a",
                    Label("a", "甲"),
                    children=[State("x", Label("x", "x")), State("y", Label("y", "y"))],
                    initial="x",
                ),
                State("b", Label("b", "乙"), terminal=True),
            ],
            start=Transition("begin", (), "a", Label("begin", "开始"), emits=[DONE]),
            transitions=[
                Transition("tick", "a", "a.y", Label("t", "t"), emits=[DONE], after=timedelta(1)),
                Transition("end", "a", "b", Label("e", "e"), emits=[DONE]),
            ],
            context_type=object,
        )


def test_a_flow_without_timed_transitions_has_no_timers():
    assert FLOWS["operation"]._timers is None
    assert direct_sale.FLOW._timers is not None


# -- in memory: due check, arming, disarming ------------------------------------------------


def test_an_unpaid_order_closes_itself_after_30_minutes_and_not_before():
    clock = ManualClock(T0)
    tx = order(clock)
    assert [(d.trigger, d.due_at, d.armed_version) for d in armed_deadlines(tx)] == [
        ("expire", T0 + timedelta(minutes=30), 1)
    ]
    clock.advance(timedelta(minutes=29, seconds=59))
    assert "expire" not in tx.allowed_triggers()
    with pytest.raises(GuardRejected) as refused:
        tx.fire("expire")
    assert refused.value.reasons[0][0] == "deadline"
    assert "not due until 2026-11-26T09:30:00+00:00" in str(refused.value)
    assert refused.value.reasons_in("zh")[0][1] == "2026-11-26T09:30:00+00:00之前不能超时关闭订单"
    assert "之前不能超时关闭订单（deadline）" in refused.value.message_in("zh")
    assert tx.version == 1 and tx.state == "order_filled"  # nothing changed
    clock.advance(timedelta(seconds=1))
    assert "expire" in tx.allowed_triggers()
    events = fire_due(tx)
    assert tx.state == "expired" and tx.is_finished
    assert [(e.stream, e.name) for e in events] == [
        (Stream.COMMERCE, "order_expired"),
        (Stream.INFORMATION, "buyer_notified"),
    ]
    assert {e.actor for e in events} == {"clock"}
    assert events[0].occurred_at == T0 + timedelta(minutes=30)
    assert events[0].data["total"] == "88.00"
    assert armed_deadlines(tx) == [] and fire_due(tx) == ()
    assert direct_sale.FLOW.replay(tx.events) == tx


def test_leaving_the_state_disarms_and_entering_again_re_arms():
    clock = ManualClock(T0)
    tx = order(clock)
    clock.advance(timedelta(minutes=20))
    tx.choose_payment(method="credit_card", card_last4="4242")
    assert armed_deadlines(tx)[0].due_at == T0 + timedelta(minutes=50)  # re-armed on entry
    clock.advance(timedelta(minutes=10))
    tx.decline_payment(reason="over the limit")
    assert armed_deadlines(tx)[0].armed_version == 3
    clock.advance(timedelta(minutes=1))
    tx.choose_payment(method="debit_card", token="tok_1")
    clock.advance(timedelta(minutes=5))
    tx.approve_payment(amount=Money("88.00", "CNY"), reference="A-1")
    assert armed_deadlines(tx) == []  # paid: nothing left to expire
    clock.advance(timedelta(days=30))
    assert fire_due(tx) == () and tx.state == "payment_authorized"


def test_cash_on_delivery_is_not_closed_unpaid():
    clock = ManualClock(T0)
    tx = order(clock)
    tx.choose_payment(method="cash_on_delivery")
    assert armed_deadlines(tx) == []
    clock.advance(timedelta(hours=5))
    assert fire_due(tx) == () and tx.state == "payment_method_chosen"
    with pytest.raises(GuardRejected):
        tx.fire("expire")


def test_the_time_to_pay_is_a_flow_option():
    slow = direct_sale.flow(pay_within=timedelta(hours=2))
    assert direct_sale.flow() is direct_sale.FLOW
    clock = ManualClock(T0)
    tx = slow.start("T-1", clock=clock, merchant="Tea House")
    tx.fill_order(**ORDER)
    assert armed_deadlines(tx)[0].due_at == T0 + timedelta(hours=2)
    with pytest.raises(InvalidDefinition):
        direct_sale.flow(pay_within=timedelta(0))


def test_a_clock_fires_the_transactions_attached_to_it():
    clock = ManualClock(T0)
    tx = clock.attach(order(clock))
    clock.advance(timedelta(minutes=31))
    assert tx.state == "expired"
    assert tx.events[-1].occurred_at == T0 + timedelta(minutes=31)
    with pytest.raises(TypeError):
        clock.attach("not a worker")


def test_the_diagrams_label_timed_transitions_in_both_languages():
    assert "close the unpaid order (after 30 min)" in direct_sale.FLOW.diagram()
    assert "超时关闭订单 (30分钟后)" in direct_sale.FLOW.diagram("dot", "zh")
    assert "(at offer expiry)" in b2b.FLOW.diagram()
    assert "(报价到期时)" in b2b.FLOW.diagram("dot", "zh")


# -- b2b: the offer lapses and the claim period ends, on the contract's clock ---------------


def test_an_offer_lapses_once_at_its_validity_and_a_late_acceptance_still_counts():
    clock = ManualClock(T0)
    tx = b2b.FLOW.start("B-1", clock=clock, **SAMPLE.start)
    tx.fire("prepare", by="buyer", note="compared catalogues")
    tx.fire(
        "offer",
        by="seller",
        goods="tea",
        quantity=100,
        price=Money("10.00", "USD"),
        valid_until=T0 + timedelta(days=7),
    )
    tx.fire("arrive")
    (deadline,) = armed_deadlines(tx)
    assert (deadline.trigger, deadline.due_at) == ("lapse", T0 + timedelta(days=7))
    clock.advance(timedelta(days=6))
    assert fire_due(tx) == ()
    clock.advance(timedelta(days=2))
    (lapsed,) = fire_due(tx)
    assert (lapsed.name, lapsed.stream, lapsed.actor) == ("offer_lapsed", Stream.COMMERCE, "clock")
    assert lapsed.occurred_at == T0 + timedelta(days=8)
    assert tx.state == "negotiation.offer_standing" and armed_deadlines(tx) == []
    clock.advance(timedelta(days=30))
    assert fire_due(tx) == ()  # once per offer
    assert "accept_late" in tx.allowed_triggers() and "accept" in tx.flow.triggers


def test_the_claim_period_ends_two_years_after_receipt():
    now = T0
    clock = ManualClock(now)
    tx = b2b.FLOW.start("B-2", clock=clock, **SAMPLE.start)
    for trigger, payload in SAMPLE.steps:
        if trigger == "file_claim":
            break
        tx.fire(trigger, **payload)
    assert tx.state == "performed"
    (deadline,) = armed_deadlines(tx)
    assert deadline.trigger == "end_claim_period"
    assert deadline.due_at == tx.context.received_at + b2b.NOTICE_PERIOD
    clock.now = deadline.due_at
    events = fire_due(tx)
    assert [e.name for e in events] == ["claim_period_ended", "trade_closed"]
    assert tx.state == "closed"


# -- stores: armed in the append's database transaction -------------------------------------


def test_every_store_arms_and_disarms_with_the_append(store):
    clock = ManualClock(T0)
    repo = Repository(store, FLOWS, clock=clock)
    repo.start("direct-sale", "S-1", merchant="Tea House")
    assert store.deadlines() == []
    repo.execute("S-1", "fill_order", **ORDER)
    (armed,) = store.deadlines("S-1")
    assert armed == armed_deadlines(repo.load("S-1"))[0]
    assert armed.due_at == T0 + timedelta(minutes=30) and armed.flow == "direct-sale"
    clock.advance(timedelta(minutes=5))
    repo.execute("S-1", "choose_payment", method="credit_card", card_last4="4242")
    (again,) = store.deadlines()
    assert (again.armed_version, again.due_at) == (2, T0 + timedelta(minutes=35))
    assert store.due_deadlines(T0 + timedelta(minutes=34)) == []
    assert store.due_deadlines(T0 + timedelta(minutes=35)) == [again]
    repo.execute("S-1", "cancel", reason="changed my mind")
    assert store.deadlines() == []


def test_a_refused_append_leaves_the_deadlines_as_they_were(store):
    clock = ManualClock(T0)
    repo = Repository(store, FLOWS, clock=clock)
    repo.start("direct-sale", "S-1", merchant="Tea House")
    repo.execute("S-1", "fill_order", **ORDER)
    stale = repo.load("S-1")
    repo.execute("S-1", "cancel", reason="first")
    stale.choose_payment(method="credit_card", card_last4="4242")
    with pytest.raises(ConcurrencyConflict):
        repo.save(stale)
    assert store.deadlines() == []


def test_due_deadlines_are_claimed_by_one_worker_at_a_time(store):
    clock = ManualClock(T0)
    repo = Repository(store, FLOWS, clock=clock)
    for n in range(5):
        repo.start("direct-sale", f"S-{n}", merchant="Tea House")
        repo.execute(f"S-{n}", "fill_order", **ORDER)
        clock.advance(timedelta(seconds=1))
    later = T0 + timedelta(hours=1)
    first = store.due_deadlines(later, 3, owner="w1", lease=60)
    second = store.due_deadlines(later, 3, owner="w2", lease=60)
    assert [d.tx_id for d in first] == ["S-0", "S-1", "S-2"]  # soonest first
    assert [d.tx_id for d in second] == ["S-3", "S-4"]
    assert store.due_deadlines(later, 10, owner="w1", lease=60) == first  # its own again
    assert len(store.due_deadlines(later + timedelta(seconds=61), 10, owner="w3")) == 5
    assert len(store.due_deadlines(later, 10)) == 5  # reading without a claim
    stale = attrs.evolve(first[0], armed_version=0)
    assert not store.drop_deadline(stale)
    assert store.drop_deadline(first[0]) and not store.drop_deadline(first[0])
    with pytest.raises(InvalidPayload):
        store.due_deadlines(datetime(2026, 1, 1), 10)
    with pytest.raises(InvalidPayload):
        store.due_deadlines(later, 0)


# -- the worker -----------------------------------------------------------------------------


def test_the_worker_fires_each_due_deadline_once_and_drops_moved_ones(store):
    clock = ManualClock(T0)
    repo = Repository(store, FLOWS, clock=clock)
    worker = clock.attach(DeadlineWorker(repo, batch=2))
    for n in range(5):
        repo.start("direct-sale", f"W-{n}", merchant="Tea House")
        repo.execute(f"W-{n}", "fill_order", **ORDER)
    repo.execute("W-4", "choose_payment", method="cash_on_delivery")
    clock.advance(timedelta(minutes=29))
    assert worker.fired == 0
    clock.advance(timedelta(minutes=1))
    assert worker.fired == 4
    for n in range(4):
        tx = repo.load(f"W-{n}")
        assert tx.state == "expired"
        assert [e.occurred_at for e in tx.events if e.trigger == "expire"] == [
            T0 + timedelta(minutes=30)
        ] * 2
    assert repo.load("W-4").state == "payment_method_chosen"
    assert store.deadlines() == []
    clock.advance(timedelta(hours=1))
    assert worker.fired == 4


def test_a_deadline_whose_transaction_moved_on_is_dropped_not_fired(store):
    clock = ManualClock(T0)
    repo = Repository(store, FLOWS, clock=clock)
    repo.start("direct-sale", "M-1", merchant="Tea House")
    repo.execute("M-1", "fill_order", **ORDER)
    (armed,) = store.deadlines()
    clock.advance(timedelta(minutes=10))
    repo.execute("M-1", "choose_payment", method="credit_card", card_last4="4242")
    clock.advance(timedelta(minutes=25))  # the old deadline is due, the new one is not
    worker = DeadlineWorker(repo)
    assert worker.fire(armed) is False
    assert repo.load("M-1").state == "payment_method_chosen"
    assert store.deadlines()[0].armed_version == 2  # the re-armed row is kept


def test_two_workers_racing_fire_once(store):
    clock = ManualClock(T0)
    repo = Repository(store, FLOWS, clock=clock)
    repo.start("direct-sale", "R-1", merchant="Tea House")
    repo.execute("R-1", "fill_order", **ORDER)
    (armed,) = store.deadlines()
    clock.advance(timedelta(hours=1))
    one, two = DeadlineWorker(repo, name="one"), DeadlineWorker(repo, name="two")
    loaded = repo.load("R-1")  # two loads the transaction, then one fires first
    assert one.fire(armed) is True
    loaded._clock = clock
    loaded.fire("expire", actor="clock")
    with pytest.raises(ConcurrencyConflict):
        repo.save(loaded)
    assert two.fire(armed) is False
    expired = [e for e in repo.load("R-1").events if e.name == "order_expired"]
    assert len(expired) == 1


def test_workers_in_threads_share_the_due_deadlines(tmp_path):
    store = SQLiteStore(tmp_path / "shop.db")
    clock = ManualClock(T0)
    repo = Repository(store, FLOWS, clock=clock)
    for n in range(40):
        repo.start("direct-sale", f"P-{n}", merchant="Tea House")
        repo.execute(f"P-{n}", "fill_order", **ORDER)
    clock.advance(timedelta(hours=1))
    workers = [DeadlineWorker(Repository(store, FLOWS, clock=clock), batch=5) for _ in range(3)]
    threads = [threading.Thread(target=w.run_due) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(w.fired for w in workers) == 40
    for n in range(40):
        assert [e.name for e in store.load(f"P-{n}")[1]].count("order_expired") == 1
    store.close()


def test_the_worker_refuses_bad_settings():
    from ecomflow.store import MemoryStore

    with pytest.raises(InvalidPayload):
        DeadlineWorker(MemoryStore())
    real = Repository(MemoryStore(), FLOWS)
    with pytest.raises(InvalidPayload):
        DeadlineWorker(real, batch=0)
    with pytest.raises(InvalidPayload):
        DeadlineWorker(real).run(poll=0)


def test_a_flow_of_another_process_is_left_alone():
    from ecomflow.store import MemoryStore

    store = MemoryStore()
    clock = ManualClock(T0)
    repo = Repository(store, FLOWS, clock=clock)
    repo.start("direct-sale", "O-1", merchant="Tea House")
    repo.execute("O-1", "fill_order", **ORDER)
    clock.advance(timedelta(hours=1))
    other = Repository(store, {"b2b": FLOWS["b2b"]}, clock=clock)
    assert DeadlineWorker(other).run_due() == 0
    assert len(store.deadlines()) == 1


def test_a_flow_built_with_an_own_definition_runs_its_deadlines():
    flow = Flow(definition(after=timedelta(minutes=5)))
    clock = ManualClock(T0)
    tx = clock.attach(flow.start("X-1", clock=clock))
    clock.advance(timedelta(minutes=5))
    assert tx.state == "b"


def test_a_batch_of_appends_refuses_only_the_stale_one(store):
    clock = ManualClock(T0)
    repo = Repository(store, FLOWS, clock=clock)
    for n in range(3):
        repo.start("direct-sale", f"B-{n}", merchant="Tea House")
        repo.execute(f"B-{n}", "fill_order", **ORDER)
    clock.advance(timedelta(hours=1))
    loaded = [repo.load(f"B-{n}") for n in range(3)]
    repo.execute("B-1", "choose_payment", method="credit_card", card_last4="4242")
    for tx in loaded:
        tx.fire("expire", actor="clock")
    results = repo._save_all(loaded)
    assert [conflict is None for _, _, conflict in results] == [True, False, True]
    assert isinstance(results[1][2], ConcurrencyConflict)
    assert [repo.load(f"B-{n}").state for n in range(3)] == [
        "expired",
        "payment_method_chosen",
        "expired",
    ]
    assert [(d.tx_id, d.armed_version) for d in store.deadlines()] == [("B-1", 2)]
