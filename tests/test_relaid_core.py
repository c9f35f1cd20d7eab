"""The re-laid core (issue 12): layers without circles, a pure engine, typed methods declared once.

- no module of ``src/ecomflow`` imports another that imports it back (no circle, type-only
  imports included), and the ground floor (configurations, the engine, flows and
  transactions) imports nothing above it;
- the engine returns the next configuration, context and events and changes nothing it is
  given, so a transaction owns its state;
- ``@trigger`` declarations are checked against their transitions when a flow compiles;
- ``EventType`` refuses a bad declaration and emits exactly what it declares.
"""

from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

from ecomflow import (
    Emit,
    EventType,
    Flow,
    FlowDefinition,
    InvalidDefinition,
    Label,
    Money,
    State,
    Stream,
    Transaction,
    TransitionNotAllowed,
    trigger,
)
from ecomflow._graph import as_lists, entry, freeze, leaves_of, reachable, state_name, walk
from ecomflow.flows import FLOWS

SRC = Path(__file__).resolve().parents[1] / "src" / "ecomflow"

GROUND = {
    "ecomflow._graph",
    "ecomflow._errors",
    "ecomflow._messages",
    "ecomflow._events",
    "ecomflow._money",
    "ecomflow._sensitive",
    "ecomflow._frozen",
    "ecomflow._codec",
    "ecomflow._compiled",
    "ecomflow.fields",
    "ecomflow._definition",
    "ecomflow._deadlines",
    "ecomflow._bus",
    "ecomflow._diagram",
    "ecomflow._board",
    "ecomflow._engine",
    "ecomflow._flow",
}
"""The core: what a flow is built from and runs on. It knows no flow, store or tool."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Every ecomflow module and the ecomflow modules it imports (type-only imports too)."""
    modules = {_module_name(path): path for path in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            found.update(c for c in candidates if c in modules and c != name)
        graph[name] = found
    return graph


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import circle of ``graph`` (its modules in order), or ``None``."""
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph[module]):
            if target.startswith(f"{module}.") or module.startswith(f"{target}."):
                continue  # a package and its own modules: the face hands names on
            if state.get(target) == 1:
                return [*trail[trail.index(target) :], target]
            if target not in state:
                found = visit(target, [*trail, target])
                if found:
                    return found
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module, [module])
            if found:
                return found
    return None


def test_no_module_imports_one_that_imports_it_back():
    graph = _imports()
    assert "ecomflow._engine" in graph and "ecomflow._flow" in graph
    assert _circle(graph) is None


def test_the_circle_check_finds_the_circle_issue_12_reported():
    before = {  # the engine <-> transaction <-> flow circle of the old house
        "ecomflow._engine": {"ecomflow._transaction"},
        "ecomflow._transaction": {"ecomflow._flow"},
        "ecomflow._flow": {"ecomflow._engine", "ecomflow._transaction"},
    }
    assert _circle(before) == [
        "ecomflow._engine",
        "ecomflow._transaction",
        "ecomflow._flow",
        "ecomflow._engine",
    ]


def test_the_ground_floor_imports_nothing_above_it():
    graph = _imports()
    for module in sorted(GROUND):
        above = sorted(target for target in graph[module] if target not in GROUND)
        assert not above, f"{module} imports {above}, which stand above the core"
    assert "ecomflow._flow" not in graph["ecomflow._engine"], "the engine knows no transaction"
    assert graph["ecomflow._graph"] == set(), "configurations are the ground floor"


def test_the_engine_returns_the_next_state_and_changes_nothing_it_is_given():
    flow = FLOWS["b2b"]
    tx = flow.start("E-1", buyer="Suzhou Textile Mill", seller="Xinjiang Cotton Co-op")
    before = (tx._state, tx.version, tx.context, tuple(tx.events))
    at = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
    configuration, context, events = flow.engine.fire(
        tx.id,
        tx._state,
        tx.version,
        tx.context,
        "prepare",
        {"by": "buyer", "note": "read three catalogues"},
        lambda: at,
    )
    assert (tx._state, tx.version, tx.context, tuple(tx.events)) == before
    assert state_name(configuration) == "preparation.ready"
    assert [event.version for event in events] == [1] * len(events)
    assert all(event.occurred_at == at for event in events)
    assert context is not tx.context or events  # a step records what happened
    with pytest.raises(TransitionNotAllowed):
        flow.engine.fire(tx.id, tx._state, tx.version, tx.context, "sign", {}, lambda: at)
    assert (tx._state, tx.version, tx.context, tuple(tx.events)) == before


def test_configurations_are_immutable_values_computed_once():
    flow = FLOWS["b2b"]
    nodes = dict(walk(flow.definition.states))
    for path, state in nodes.items():
        configuration = entry(nodes, path)
        assert freeze(as_lists(configuration)) == configuration
        hash(configuration)
        if state.parallel:
            assert type(configuration) is tuple and len(leaves_of(configuration)) > 1
    start, graph = reachable(flow.definition.states, flow.engine.initial_state, flow.edges)
    assert start == leaves_of(flow.engine.initial_state)
    assert any(len(configuration) > 1 for configuration in graph)  # parallel regions


# -- @trigger ----------------------------------------------------------------------------


@attrs.frozen
class _Note:
    text: str
    urgent: bool = False


def _definition() -> FlowDefinition:
    from ecomflow import Transition

    sent = EventType("note_sent", Stream.INFORMATION, Label("Note sent", "便条已发送"))
    opened = EventType("desk_opened", Stream.INFORMATION, Label("Desk opened", "开台"))
    return FlowDefinition(
        name="desk",
        title=Label("Desk", "前台"),
        source="test",
        states=[State("open", Label("Open", "营业")), State("done", Label("Done", "完成"), True)],
        start=Transition(
            "open_desk", (), "open", Label("Open", "开台"), [opened.emit()], payload=None
        ),
        transitions=[
            Transition("send", "open", "done", Label("Send", "发送"), [sent.emit()], payload=_Note),
        ],
        context_type=type(None),
    )


def test_a_typed_method_fires_its_trigger_with_keywords():
    class Desk(Transaction[None]):
        @trigger
        def send(self, *, text: str, urgent: bool = False, actor: str | None = None) -> None:
            """Send the note."""

    flow = Flow(_definition(), Desk)
    tx = flow.start("D-1")
    events = tx.send(text="hello", actor="clerk")
    assert [event.name for event in events] == ["note_sent"]
    assert events[0].data == {"text": "hello", "urgent": False} and events[0].actor == "clerk"
    assert Desk.send.__doc__ == "Send the note." and Desk.send.parameters == {
        "text",
        "urgent",
        "actor",
    }


def test_a_typed_method_with_a_positional_parameter_is_refused():
    with pytest.raises(InvalidDefinition, match="'text' must be keyword-only"):

        class Desk(Transaction[None]):
            @trigger
            def send(self, text: str) -> None:
                """Send the note."""


@pytest.mark.parametrize(
    ("name", "declaration", "problem"),
    [
        ("send", lambda self, *, text, colour: None, "'colour' is not a field of its payload"),
        ("send", lambda self, *, urgent=False: None, "'text' is required but not a parameter"),
        ("shred", lambda self, *, text: None, "has no trigger 'shred'"),
        ("open_desk", lambda self: None, "'open_desk' is the desk flow's start"),
        ("send", lambda self, *, text, urgent=True: None, "'urgent' declares the default True"),
        ("send", lambda self, *, text="hi": None, "'text' declares the default 'hi'"),
        ("send", lambda self, *, text, actor="clerk": None, "'actor' declares the default"),
    ],
)
def test_a_typed_method_that_does_not_match_its_transition_is_refused(
    name: str, declaration: Any, problem: str
):
    declaration.__name__ = declaration.__qualname__ = name
    Desk = type("Desk", (Transaction,), {"__slots__": (), name: trigger(declaration)})
    with pytest.raises(InvalidDefinition, match=problem):
        Flow(_definition(), Desk)


# -- EventType ---------------------------------------------------------------------------


def test_an_event_type_emits_what_it_declares_and_matches_its_events():
    placed = EventType("order_placed", Stream.COMMERCE, Label("Order placed", "订单成立"))
    emit = placed.emit()
    assert emit == Emit(Stream.COMMERCE, "order_placed") and emit.label == placed.label
    tx = FLOWS["direct-sale"].start("V-1", merchant="Hangzhou Tea House")
    tx.fire(
        "fill_order",
        customer_name="Li Lei",
        address="Beijing",
        goods_name="tea",
        quantity=1,
        specification="tin",
        unit_price=Money("10.00", "CNY"),
    )
    assert [event for event in tx.events if placed.matches(event)]
    other_stream = EventType("order_placed", Stream.INFORMATION)
    assert not [event for event in tx.events if other_stream.matches(event)]


@pytest.mark.parametrize(
    ("name", "stream", "problem"),
    [
        ("order placed", Stream.COMMERCE, "must be an identifier"),
        ("class", Stream.COMMERCE, "must be an identifier"),
        ("order_placed", "commerce", "must be a Stream"),
    ],
)
def test_a_bad_event_type_is_refused(name: str, stream: Any, problem: str):
    with pytest.raises(InvalidDefinition, match=problem):
        EventType(name, stream)


@pytest.mark.parametrize("steps", [[("settle",)], [(1, {})], [("settle", "statement")]])
def test_a_sample_step_that_is_not_a_trigger_and_its_keywords_is_refused(steps: Any):
    from ecomflow.flows import Sample

    with pytest.raises(InvalidDefinition, match="is not a \\(trigger, keyword arguments\\) pair"):
        Sample(steps=steps)
