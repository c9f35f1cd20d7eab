"""Composite and parallel states, on a toy flow with no e-commerce in it."""

import attrs
import pytest

from ecomflow import (
    Emit,
    Flow,
    FlowDefinition,
    InvalidDefinition,
    Label,
    State,
    Stream,
    Transition,
    TransitionNotAllowed,
)

L = Label("x", "x")


@attrs.frozen
class Ctx:
    note: str = ""


def t(trigger, source, dest):
    return Transition(trigger, source, dest, L, emits=[Emit(Stream.INFORMATION, trigger)])


def definition(**overrides):
    fields = dict(
        name="nest",
        title=L,
        source="tests",
        context_type=Ctx,
        states=[
            State("idle", L),
            State("work", L, initial="draft", children=[State("draft", L), State("review", L)]),
            State(
                "ship",
                L,
                parallel=True,
                children=[
                    State(
                        "goods",
                        L,
                        initial="packing",
                        children=[State("packing", L), State("sent", L)],
                    ),
                    State(
                        "money",
                        L,
                        initial="unpaid",
                        children=[State("unpaid", L), State("paid", L)],
                    ),
                ],
            ),
            State("done", L, terminal=True),
            State("aborted", L, terminal=True),
        ],
        start=Transition(
            "begin",
            (),
            "idle",
            L,
            effect=lambda _, p: Ctx(),
            emits=[Emit(Stream.INFORMATION, "begun")],
        ),
        transitions=[
            t("open", "idle", "work"),
            t("submit", "work.draft", "work.review"),
            t("approve", "work.review", "ship"),
            t("send", "ship.goods.packing", "ship.goods.sent"),
            t("pay", "ship.money.unpaid", "ship.money.paid"),
            t("finish", "ship", "done"),
            t("abort", ("work", "ship"), "aborted"),  # from anywhere inside
        ],
    )
    fields.update(overrides)
    return FlowDefinition(**fields)


FLOW = Flow(definition())


def test_composite_states_are_entered_at_their_initial_child():
    tx = FLOW.start("N-1")
    assert tx.state == "idle"
    tx.fire("open")
    assert tx.state == "work.draft" and tx.in_state("work") and not tx.in_state("wor")
    assert tx.allowed_triggers() == ("submit", "abort")


def test_parallel_regions_run_side_by_side():
    tx = FLOW.start("N-2")
    for trigger in ("open", "submit", "approve"):
        tx.fire(trigger)
    assert tx.active_states == ("ship.goods.packing", "ship.money.unpaid")
    assert tx.state == "ship.goods.packing|ship.money.unpaid"
    assert set(tx.allowed_triggers()) == {"send", "pay", "finish", "abort"}
    tx.fire("pay")
    assert tx.active_states == ("ship.goods.packing", "ship.money.paid")
    with pytest.raises(TransitionNotAllowed) as info:
        tx.fire("pay")
    assert info.value.state == "ship.goods.packing|ship.money.paid"
    tx.fire("send")
    assert tx.active_states == ("ship.goods.sent", "ship.money.paid")
    assert FLOW.replay(tx.events) == tx
    tx.fire("finish")
    assert tx.state == "done" and tx.is_finished
    assert FLOW.replay(tx.events) == tx


def test_transactions_in_the_same_configuration_share_no_state():
    """The machine's answer for a configuration is remembered; orders sharing it stay apart.

    A configuration is an immutable tuple, so two orders may hold the same one: moving
    one gives it a new configuration and leaves the other where it was.
    """
    first, second = FLOW.start("N-4"), FLOW.start("N-5")
    for tx in (first, second):
        for trigger in ("open", "submit", "approve"):
            tx.fire(trigger)
    assert first._state == second._state and type(first._state) is tuple
    first.fire("pay")
    assert second.active_states == ("ship.goods.packing", "ship.money.unpaid")
    second.fire("send")
    assert first.active_states == ("ship.goods.packing", "ship.money.paid")
    assert second.active_states == ("ship.goods.sent", "ship.money.unpaid")
    assert FLOW.replay(first.events) == first and FLOW.replay(second.events) == second


def test_a_transition_from_a_composite_applies_to_every_state_inside():
    for path in (["open"], ["open", "submit"], ["open", "submit", "approve", "pay"]):
        tx = FLOW.start("N-3")
        for trigger in path:
            tx.fire(trigger)
        tx.fire("abort")
        assert tx.state == "aborted"


def test_one_shared_hierarchical_machine():
    assert FLOW.engine.nested and FLOW.engine.machine.models == []
    assert "work.review" in FLOW.states and "ship.money" in FLOW.states
    assert FLOW.terminal_states == {"done", "aborted"}


@pytest.mark.parametrize(
    ("states", "message"),
    [
        (
            [State("idle", L), State("w", L, initial="nope", children=[State("a", L)])],
            "composite state 'w' starts in unknown child 'nope'",
        ),
        (
            [State("idle", L), State("p", L, parallel=True, children=[State("a", L)])],
            "parallel state 'p' needs regions with children",
        ),
        (
            [State("idle", L), State("w", L, terminal=True, initial="a", children=[State("a", L)])],
            "composite state 'w' cannot be terminal",
        ),
        ([State("idle", L, initial="a")], "state 'idle' has no children to start in"),
    ],
)
def test_nested_definitions_are_validated(states, message):
    with pytest.raises(InvalidDefinition, match=message):
        definition(states=states, transitions=[t("go", "idle", "idle")])


def test_a_leaf_inside_a_region_needs_a_way_out_somewhere_above():
    states = [
        State("idle", L),
        State("w", L, initial="a", children=[State("a", L), State("b", L)]),
        State("end", L, terminal=True),
    ]
    with pytest.raises(InvalidDefinition, match="state 'w.b' is not terminal and has no way out"):
        definition(
            states=states,
            transitions=[t("go", "idle", "w"), t("ab", "w.a", "w.b"), t("stop", "w.a", "end")],
        )
    definition(
        states=states,
        transitions=[t("go", "idle", "w"), t("ab", "w.a", "w.b"), t("stop", "w", "end")],
    )


def test_diagrams_draw_the_nesting():
    mermaid = FLOW.diagram().splitlines()
    assert "    state work {" in mermaid and "        [*] --> work__draft" in mermaid
    assert "        --" in mermaid  # the parallel regions of ship
    assert "    ship --> done : x" in mermaid
    dot = FLOW.diagram(format="dot")
    assert 'subgraph "cluster_ship.money" {' in dot and "compound=true" in dot
    assert '"ship.goods.packing" -> "done" [label="x", ltail="cluster_ship"];' in dot
