"""Review of issue 14 (durable deadlines): each defect found, as a test that failed first."""

from datetime import datetime, timedelta, timezone

import attrs
import pytest

from ecomflow import (
    EcomflowError,
    EventType,
    Flow,
    FlowDefinition,
    InvalidDefinition,
    InvalidPayload,
    Label,
    State,
    Stream,
    Transition,
    armed_deadlines,
)
from ecomflow.store import DeadlineWorker, Repository, SQLiteStore
from ecomflow.testing import ManualClock

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
HELD = EventType("held", Stream.COMMERCE, Label("Stock held", "库存已预留"))
RELEASED = EventType("released", Stream.LOGISTICS, Label("Stock released", "库存已释放"))


def reservation(name="reservation", start="hold", **timed):
    """A two-state flow whose only step after the start is timed with ``timed``."""
    return Flow(
        FlowDefinition(
            name=name,
            title=Label("Stock reservation", "库存预留"),
            source="review",
            states=[
                State("held", Label("held", "已预留")),
                State("released", Label("released", "已释放"), terminal=True),
            ],
            start=Transition(start, (), "held", Label("hold", "预留"), emits=[HELD]),
            transitions=[
                Transition(
                    "release",
                    "held",
                    "released",
                    Label("release", "释放"),
                    emits=[RELEASED],
                    **timed,
                )
            ],
            context_type=object,
        )
    )


# -- a due deadline behind a full batch of rows the worker leaves ----------------------------


def test_rows_a_worker_leaves_do_not_hide_due_deadlines_behind_them(store):
    """A worker that knows only flow "b" still fires b's deadline behind a batch of a's rows.

    Before: the worker read the first ``batch`` due rows, left them all (a flow it does not
    know), found nothing fresh and stopped, so every later deadline never fired.
    """
    first = reservation("a", after=timedelta(minutes=5))
    later = reservation("b", after=timedelta(minutes=10))
    clock = ManualClock(T0)
    writer = Repository(store, {"a": first, "b": later}, clock=clock)
    for i in range(3):
        writer.start("a", f"A-{i}")
    writer.start("b", "B-1")
    worker = DeadlineWorker(Repository(store, {"b": later}, clock=clock), batch=2)
    clock.now += timedelta(minutes=20)
    assert worker.run_due() == 1
    assert writer.load("B-1").state == "released"
    assert sorted(d.tx_id for d in store.deadlines()) == ["A-0", "A-1", "A-2"]


# -- a transaction that cannot be loaded stops nothing else --------------------------------


def test_a_transaction_that_cannot_be_loaded_does_not_stop_the_worker(store):
    """One history the worker's flow cannot replay is left (and counted); the rest fire.

    Before: CorruptHistory escaped run_due, so `ecomflow worker` exited, and after each
    restart stopped at the same row: no deadline after it ever fired.
    """
    old = reservation(after=timedelta(minutes=5))
    clock = ManualClock(T0)
    Repository(store, {"reservation": old}, clock=clock).start("reservation", "R-1")
    # the flow changed: the start is now called "reserve", so R-1's history no longer replays
    new = reservation(start="reserve", after=timedelta(minutes=10))
    repo = Repository(store, {"reservation": new}, clock=clock)
    repo.start("reservation", "R-2")
    worker = DeadlineWorker(repo)
    clock.now += timedelta(minutes=20)
    assert worker.run_due() == 1
    assert repo.load("R-2").state == "released"
    assert worker.failed == 1
    assert [d.tx_id for d in store.deadlines()] == ["R-1"]  # kept: fixing the flow fires it


# -- a callable time of the wrong kind -------------------------------------------------------


@pytest.mark.parametrize(
    ("timed", "problem"),
    [
        ({"until": lambda c: datetime(2026, 11, 26, 10)}, "aware datetime"),
        ({"until": lambda c: "tomorrow"}, "aware datetime"),
        ({"after": lambda c: 30}, "timedelta"),
        ({"after": lambda c: timedelta(minutes=-5)}, "positive"),
    ],
)
def test_a_callable_time_of_the_wrong_kind_is_an_invalid_definition(timed, problem):
    """until= giving a naive time, after= giving minutes as an int: InvalidDefinition.

    Before: a TypeError from comparing or adding datetimes, out of allowed_triggers().
    """
    flow = reservation(timer=Label("at some time", "某时"), **timed)
    tx = flow.start("R-1", clock=ManualClock(T0))
    for call in (tx.allowed_triggers, lambda: armed_deadlines(tx), lambda: tx.fire("release")):
        with pytest.raises(InvalidDefinition, match=problem) as caught:
            call()
        assert isinstance(caught.value, EcomflowError)
        assert "'release'" in str(caught.value)
    assert tx.state == "held" and len(tx.events) == 1


# -- a context change that does not re-enter the timed state ---------------------------------


@attrs.frozen
class Terms:
    """How long the offer stands, in minutes."""

    minutes: int = 60


NOTED = EventType("noted", Stream.COMMERCE, Label("noted", "已记录"))


def negotiation():
    """An offer (region one) that lapses after ``minutes``, which region two changes."""
    return Flow(
        FlowDefinition(
            name="negotiation",
            title=Label("negotiation", "谈判"),
            source="review",
            states=[
                State(
                    "work",
                    Label("work", "进行中"),
                    parallel=True,
                    children=[
                        State(
                            "offer",
                            Label("offer", "报价"),
                            initial="open",
                            children=[
                                State("open", Label("open", "有效")),
                                State("lapsed", Label("lapsed", "失效")),
                            ],
                        ),
                        State(
                            "talk",
                            Label("talk", "洽谈"),
                            initial="idle",
                            children=[
                                State("idle", Label("idle", "空闲")),
                                State("agreed", Label("agreed", "已约定")),
                            ],
                        ),
                    ],
                ),
                State("done", Label("done", "完成"), terminal=True),
            ],
            start=Transition(
                "begin",
                (),
                "work",
                Label("begin", "开始"),
                effect=lambda c, p: Terms(),
                emits=[NOTED],
            ),
            transitions=[
                Transition(
                    "lapse",
                    "work.offer.open",
                    "work.offer.lapsed",
                    Label("lapse", "失效"),
                    after=lambda c: timedelta(minutes=c.minutes),
                    timer=Label("when the terms say", "按约定时间"),
                    emits=[NOTED],
                ),
                Transition(
                    "set_minutes",
                    "work.talk.idle",
                    "work.talk.agreed",
                    Label("set the time", "约定时间"),
                    payload=Terms,
                    effect=lambda c, p: p,
                    emits=[NOTED],
                ),
                Transition("finish", "work", "done", Label("finish", "完成"), emits=[NOTED]),
            ],
            context_type=Terms,
        )
    )


@pytest.mark.parametrize("minutes", [10, 90])
def test_the_stored_deadline_follows_a_context_change_in_another_region(store, minutes):
    """The worker fires when the transaction itself says the deadline is due, not before/after.

    Before: the row kept the time computed at entry (60 min) while allowed_triggers() and
    fire_due() used the context now: shortened to 10 min, a test's ManualClock closed the
    offer at 09:16 but the worker only at 10:00; lengthened to 90, the worker reloaded
    the transaction at every poll from 10:00 on.
    """
    clock = ManualClock(T0)
    repo = Repository(store, {"negotiation": negotiation()}, clock=clock)
    repo.start("negotiation", "N-1")
    clock.now += timedelta(minutes=1)
    repo.execute("N-1", "set_minutes", minutes=minutes)
    due = T0 + timedelta(minutes=minutes)
    assert [d.due_at for d in armed_deadlines(repo.load("N-1"))] == [due]
    assert [(d.due_at, d.armed_version) for d in store.deadlines()] == [(due, 0)]
    worker = DeadlineWorker(repo)
    clock.now = due - timedelta(seconds=1)
    assert worker.run_due() == 0
    clock.now = due
    assert worker.run_due() == 1
    assert repo.load("N-1").state == "work.offer.lapsed|work.talk.agreed"


# -- a row left by one worker is free for another --------------------------------------------


def test_a_worker_that_does_not_know_a_flow_leaves_its_rows_to_one_that_does(store):
    """The docs: "a row of a flow it does not know is left for a worker that does".

    Before: the worker claimed the row anyway and, polling every second, renewed its own
    10-second claim for ever: the worker that knows the flow never got it.
    """
    first = reservation("a", after=timedelta(minutes=5))
    other = reservation("b", after=timedelta(minutes=5))
    clock = ManualClock(T0)
    Repository(store, {"a": first}, clock=clock).start("a", "A-1")
    stranger = DeadlineWorker(Repository(store, {"b": other}, clock=clock), name="stranger")
    knower = DeadlineWorker(Repository(store, {"a": first}, clock=clock), name="knower")
    clock.now += timedelta(minutes=5)
    assert stranger.run_due() == 0
    clock.now += timedelta(seconds=1)  # the next poll, well within the 10-second lease
    assert stranger.run_due() == 0
    assert knower.run_due() == 1
    assert store.deadlines() == []


# -- the worker's refusals in both languages -----------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        {"batch": 0},
        {"clock": "now"},
        {"lease": -1},
        {"lease": float("nan")},
    ],
)
def test_the_worker_refuses_bad_settings_in_both_languages(settings):
    """Before: English only (and a bad lease was only refused at the first poll)."""
    from ecomflow.store import MemoryStore

    with pytest.raises(InvalidPayload) as caught:
        DeadlineWorker(Repository(MemoryStore(), {}), **settings)
    assert caught.value.zh is not None and "期限处理器" in caught.value.zh


def test_the_worker_refuses_a_bad_poll_in_both_languages():
    from ecomflow.store import MemoryStore

    with pytest.raises(InvalidPayload) as caught:
        DeadlineWorker(Repository(MemoryStore(), {})).run(0)
    assert caught.value.zh is not None and "轮询" in caught.value.zh


@pytest.mark.parametrize(
    "args", [["--batch", "0"], ["--db", "sqlite:///{tmp}/none.db"], ["--db", "memory://"]]
)
def test_ecomflow_worker_lang_zh_says_its_refusals_in_chinese(tmp_path, capsys, args):
    """`ecomflow worker --lang zh` with a bad batch or no store: no English sentence."""
    from ecomflow.cli.main import main

    SQLiteStore(tmp_path / "shop.db").close()
    argv = ["worker", "--db", f"sqlite:///{tmp_path}/shop.db", "--once", "--lang", "zh"]
    assert main([*argv, *(a.format(tmp=tmp_path) for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ecomflow：错误：")
    assert not any(word in err for word in ("Cannot", "No store", "must", "does not"))


@pytest.mark.parametrize("settings", [{"name": ""}, {"name": 5}, {"actor": " "}])
def test_the_worker_refuses_a_name_or_actor_that_names_nobody(settings):
    """Before: accepted; every worker named "" shared one claim, an int name reached SQL."""
    from ecomflow.store import MemoryStore

    with pytest.raises(InvalidPayload) as caught:
        DeadlineWorker(Repository(MemoryStore(), {}), **settings)
    assert caught.value.zh is not None


# -- the benchmark says what it measured ---------------------------------------------------


def test_the_fire_benchmark_names_the_durability_it_ran_with(monkeypatch, capsys):
    """Before: SYNC=NORMAL ran the worker without fsync but still printed "SQLite (FULL)",
    and the rate was one run, not a median."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_deadlines.py"
    spec = importlib.util.spec_from_file_location("bench_deadlines", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "FIRE", 20)
    monkeypatch.setenv("SYNC", "NORMAL")
    bench.bench_fire()
    out = capsys.readouterr().out
    assert "SQLite (NORMAL)" in out and "FULL" not in out
    assert "median of 3 runs" in out
    assert "fired 20 (0 left)" in out


# -- a ManualClock attached to something that reads another clock ---------------------------


def test_a_manual_clock_refuses_what_it_cannot_move():
    """A worker or transaction on another clock would never see this one advance.

    Before: attached silently; advance() then fired nothing, and the test author saw an
    unpaid order that never closed.
    """
    from ecomflow import FLOWS
    from ecomflow.flows import direct_sale
    from ecomflow.store import MemoryStore

    clock = ManualClock(T0)
    for target in (
        DeadlineWorker(Repository(MemoryStore(), FLOWS)),  # the repository has no clock
        direct_sale.FLOW.start("T-1", merchant="Tea House"),  # nor the transaction
    ):
        with pytest.raises(InvalidPayload) as caught:
            clock.attach(target)
        assert caught.value.zh is not None and "时钟" in caught.value.zh
    assert clock.run_due() == 0
    worker = DeadlineWorker(Repository(MemoryStore(), FLOWS), clock=clock)
    assert clock.attach(worker) is worker


# -- left for the lead: transactions armed before their flow had a deadline ---------------


def test_a_transaction_in_a_timed_state_from_before_the_upgrade_gets_its_deadline(store):
    """Stored before its flow had the timer: rearm() writes the row, and the worker fires it."""
    clock = ManualClock(T0)
    before = reservation()  # release is not timed yet
    old = Repository(store, {"reservation": before}, clock=clock)
    old.start("reservation", "R-1")
    old.start("reservation", "R-2")
    after = reservation(after=timedelta(minutes=5))
    repo = Repository(store, {"reservation": after}, clock=clock)
    clock.now += timedelta(minutes=20)
    assert DeadlineWorker(repo).run_due() == 0  # no row: nothing tells the worker
    assert store.deadlines() == []
    assert repo.rearm() == 2
    armed = store.deadlines()
    assert [(d.tx_id, d.armed_version, d.due_at) for d in armed] == [
        ("R-1", 0, T0 + timedelta(minutes=5)),
        ("R-2", 0, T0 + timedelta(minutes=5)),
    ]
    assert repo.rearm() == 0 and store.deadlines() == armed  # a second run writes nothing
    assert DeadlineWorker(repo).run_due() == 2
    assert [repo.load(tx_id).version for tx_id in ("R-1", "R-2")] == [1, 1]
    assert store.deadlines() == [] and repo.rearm() == 0  # fired: nothing to arm again
