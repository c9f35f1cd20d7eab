"""Paths through a flow's graph, to drive every state and every transition (model-based)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from .._deadlines import armed_deadlines
from .._errors import GuardRejected, InvalidPayload
from .._flow import Flow, Transaction
from .._graph import Edge, Leaves, reachable
from ._clock import ManualClock, instants, pauses
from ._strategies import payloads

__all__ = ["drive", "shortest_paths", "simple_paths", "transactions", "transition_paths"]


Configuration = Leaves
"""The active innermost states, in definition order: one, or one per parallel region."""


def _graph(flow: Flow[Any]) -> tuple[Configuration, dict[Configuration, list[Edge]]]:
    """Every configuration reachable from the start, with the edges leaving it."""
    return reachable(flow.definition.states, flow.engine.initial_state, flow.edges)


def _waits(flow: Flow[Any]) -> set[tuple[str, str]]:
    """Return the ``(source, trigger)`` of transitions whose guards read only the history.

    No payload makes such a guard pass ("both sides are done"): what the transaction did
    before must, so a path takes them from the farthest configuration it can reach.
    """
    waits: set[tuple[str, str]] = set()
    for transition in flow.definition.transitions:
        guards = transition.guards
        if guards and not any(g.uses_payload or g.uses_clock for g in guards):
            for source in transition.source:
                waits.add((source, transition.trigger))
    return waits


def _reach(
    flow: Flow[Any],
) -> tuple[dict[Configuration, list[Edge]], dict[Configuration, list[Edge]]]:
    """Return the graph and a path from the start to each reachable configuration.

    Paths are shortest, except that a transition whose guards read only the history is
    taken from the farthest configuration reached without it, one at a time, those that
    leave the fewest states first.
    """
    start, graph = _graph(flow)
    waits = _waits(flow)
    paths: dict[Configuration, list[Edge]] = {start: []}
    frontier = [start]
    while frontier:
        queue = deque(frontier)
        while queue:
            configuration = queue.popleft()
            for edge in graph[configuration]:
                after = tuple(edge.dest.split("|"))
                if after not in paths and (edge.source, edge.trigger) not in waits:
                    paths[after] = [*paths[configuration], edge]
                    queue.append(after)
        # Then one history-guarded transition, from the farthest configuration reached;
        # those leaving the fewest states first ("both sides are done" waits for both).
        farthest: dict[Configuration, tuple[tuple[int, int], list[Edge]]] = {}
        for configuration, path in paths.items():
            for edge in graph[configuration]:
                after = tuple(edge.dest.split("|"))
                rank = (len(set(configuration) - set(after)), -len(path))
                if after not in paths and (after not in farthest or rank <= farthest[after][0]):
                    farthest[after] = (rank, [*path, edge])
        frontier = []
        if farthest:
            after, (_, path) = min(
                farthest.items(), key=lambda item: (item[1][0][0], len(item[1][1]))
            )
            paths[after] = path
            frontier.append(after)
    return graph, paths


def shortest_paths(flow: Flow[Any]) -> dict[str, list[Edge]]:
    """Return the shortest sequence of edges from the start to each (innermost) state.

    In parallel states a path leads to the nearest configuration holding the state; the
    other regions are wherever that path leaves them.
    """
    found: dict[str, list[Edge]] = {}
    for configuration, path in _reach(flow)[1].items():  # shortest first
        for leaf in configuration:
            found.setdefault(leaf, path)
    return found


def transition_paths(flow: Flow[Any]) -> dict[tuple[str, str], list[Edge]]:
    """For each ``(state, trigger)``: the shortest path that ends by taking that transition.

    ``state`` is a reachable configuration's name (``Transaction.state``), so in a flat flow
    there is one path per transition and in a nested one a transition declared on a
    composite state is tried from each configuration inside it — a guard such as "both
    sides are done" holds in only some of them. The last edge keeps the declared
    ``source``: collect ``(edge.source, edge.trigger)`` of the paths a test could drive and
    compare with ``flow.edges`` to assert every transition was exercised.
    """
    graph, reach = _reach(flow)
    return {
        ("|".join(configuration), edge.trigger): [*path, edge]
        for configuration, path in reach.items()
        for edge in graph[configuration]
    }


def simple_paths(flow: Flow[Any], max_length: int) -> list[list[Edge]]:
    """Every path from the start that visits no configuration twice, up to ``max_length``."""
    start, graph = _graph(flow)
    found: list[list[Edge]] = []

    def extend(path: list[Edge], seen: set[Configuration], configuration: Configuration) -> None:
        if path:
            found.append(path)
        if len(path) == max_length:
            return
        for edge in graph[configuration]:
            after = tuple(edge.dest.split("|"))
            if after not in seen:
                extend([*path, edge], seen | {after}, after)

    extend([], {start}, start)
    return found


Draw = Callable[[st.SearchStrategy[Any]], Any]


def drive(
    flow: Flow[Any],
    path: list[Edge],
    draw: Draw,
    *,
    retries: int = 20,
    restarts: int = 3,
    start: dict[str, Any] | None = None,
    clock: ManualClock | None = None,
    tx_id: str = "path",
) -> Transaction[Any] | None:
    """Drive a new transaction along ``path`` with drawn payloads; None if it could not.

    Each step is tried on a copy with fresh payloads, up to ``retries`` times, and kept
    only when its guards accept it and the path's next trigger is then allowed (so an
    early choice — cash on delivery, say — fits what the path does later). A step that
    no payload gets through usually means an earlier choice does not fit (prepayment
    terms on a path that pays after delivery): the walk then starts over, up to
    ``restarts`` times. Time passes between steps by drawn pauses on ``clock`` (a new
    :class:`ManualClock` at a drawn instant by default), so validity and notice periods
    both hold and lapse. ``draw`` is ``data.draw`` inside a ``@given(st.data())`` test,
    or ``draw`` in an ``st.composite``. ``start`` is the start payload (drawn by
    default) and ``tx_id`` the transaction's id.
    """
    clock = clock if clock is not None else ManualClock(draw(instants()))
    trigger = flow.definition.start.trigger
    context = start if start is not None else draw(payloads(flow, trigger, now=clock()))
    for _ in range(restarts):
        tx = _walk(flow, path, draw, retries, flow.start(tx_id, clock=clock, **context), clock)
        if tx is not None:
            return tx
    return None


def _walk(
    flow: Flow[Any],
    path: list[Edge],
    draw: Draw,
    retries: int,
    tx: Transaction[Any],
    clock: ManualClock,
) -> Transaction[Any] | None:
    """Take ``path`` from ``tx``, step by step; None at the first step nothing gets through."""
    for index, edge in enumerate(path):
        following = path[index + 1].trigger if index + 1 < len(path) else None
        before = clock()
        for _ in range(retries):
            clock.now = before
            clock.advance(draw(pauses()))
            due = _due(tx, edge.trigger)
            if due is not None and clock.now < due:
                clock.now = due  # a deadline fires when it is due: wait for it
            candidate = tx._fork(clock)
            payload = draw(
                payloads(
                    flow,
                    edge.trigger,
                    context=candidate.context,
                    state=candidate.state,
                    now=clock(),
                )
            )
            try:
                candidate.fire(edge.trigger, **payload)
            except (GuardRejected, InvalidPayload):
                continue
            if set(candidate.active_states) != set(edge.dest.split("|")):
                continue
            if (
                following is not None
                and following not in candidate.allowed_triggers()
                and _due(candidate, following) is None  # a deadline armed is allowed later
            ):
                continue
            tx = candidate
            break
        else:
            return None
    return tx


def _due(tx: Transaction[Any], trigger: str) -> datetime | None:
    """Return when ``tx``'s deadline for ``trigger`` falls due, ``None`` if none is armed."""
    return next((d.due_at for d in armed_deadlines(tx) if d.trigger == trigger), None)


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
