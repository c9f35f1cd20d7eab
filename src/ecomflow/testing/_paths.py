"""Paths through a flow's graph, to drive every state and every transition (model-based)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from .._definition import ancestors, entry, leaves_of, walk
from .._errors import GuardRejected, InvalidPayload
from .._flow import Edge, Flow
from .._transaction import Transaction
from ._strategies import payloads

__all__ = ["drive", "shortest_paths", "simple_paths", "transactions", "transition_paths"]


def _graph(flow: Flow[Any]) -> dict[str, list[Edge]]:
    """Leaf state -> the edges leaving it (its own and its enclosing states'), per leaf."""
    nodes = dict(walk(flow.definition.states))
    leaves = [path for path, state in nodes.items() if not state.children]
    out: dict[str, list[Edge]] = {leaf: [] for leaf in leaves}
    for leaf in leaves:
        for node in ancestors(leaf):
            for edge in flow.edges:
                if edge.source == node:
                    for dest in leaves_of(entry(nodes, edge.dest)):
                        out[leaf].append(Edge(leaf, edge.trigger, dest, edge.guards))
    return out


def _starts(flow: Flow[Any]) -> tuple[str, ...]:
    return leaves_of(flow.engine.initial_state)


def shortest_paths(flow: Flow[Any]) -> dict[str, list[Edge]]:
    """Return the shortest sequence of edges from the start to each (innermost) state.

    In parallel states each region's states are reached on their own.
    """
    graph = _graph(flow)
    paths: dict[str, list[Edge]] = {leaf: [] for leaf in _starts(flow)}
    queue = deque(paths)
    while queue:
        leaf = queue.popleft()
        for edge in graph[leaf]:
            if edge.dest not in paths:
                paths[edge.dest] = [*paths[leaf], edge]
                queue.append(edge.dest)
    return paths


def transition_paths(flow: Flow[Any]) -> dict[tuple[str, str], list[Edge]]:
    """For each ``(state, trigger)``: the shortest path that ends by taking that transition."""
    reach = shortest_paths(flow)
    return {
        (edge.source, edge.trigger): [*reach[leaf], edge]
        for leaf, edges in _graph(flow).items()
        if leaf in reach
        for edge in edges
    }


def simple_paths(flow: Flow[Any], max_length: int) -> list[list[Edge]]:
    """Every path from the start that visits no state twice, up to ``max_length`` edges."""
    graph = _graph(flow)
    found: list[list[Edge]] = []

    def extend(path: list[Edge], seen: set[str], leaf: str) -> None:
        if path:
            found.append(path)
        if len(path) == max_length:
            return
        for edge in graph[leaf]:
            if edge.dest not in seen:
                extend([*path, edge], seen | {edge.dest}, edge.dest)

    for start in _starts(flow):
        extend([], {start}, start)
    return found


Draw = Callable[[st.SearchStrategy[Any]], Any]


def drive(
    flow: Flow[Any],
    path: list[Edge],
    draw: Draw,
    *,
    retries: int = 20,
    start: dict[str, Any] | None = None,
) -> Transaction[Any] | None:
    """Drive a new transaction along ``path`` with drawn payloads; None if it could not.

    Each step is tried on a copy with fresh payloads, up to ``retries`` times, and kept
    only when its guards accept it and the path's next trigger is then allowed (so an
    early choice — cash on delivery, say — fits what the path does later). Use inside a
    ``@given(st.data())`` test.
    """
    context = start if start is not None else draw(payloads(flow, flow.definition.start.trigger))
    tx: Transaction[Any] = flow.start("path", **context)
    for index, edge in enumerate(path):
        following = path[index + 1].trigger if index + 1 < len(path) else None
        for _ in range(retries):
            candidate: Transaction[Any] = flow.replay(tx.events)
            payload = draw(
                payloads(flow, edge.trigger, context=candidate.context, state=candidate.state)
            )
            try:
                candidate.fire(edge.trigger, **payload)
            except (GuardRejected, InvalidPayload):
                continue
            if edge.dest not in candidate.active_states:
                continue
            if following is not None and following not in candidate.allowed_triggers():
                continue
            tx = candidate
            break
        else:
            return None
    return tx


def transactions(flow: Flow[Any], state: str) -> st.SearchStrategy[Transaction[Any]]:
    """Strategy for transactions of ``flow`` driven to ``state`` along its shortest path."""
    path = shortest_paths(flow)[state]

    @st.composite
    def driven(draw: st.DrawFn) -> Transaction[Any]:
        tx = drive(flow, path, draw)
        assume(tx is not None)
        assert tx is not None
        return tx

    return driven()
