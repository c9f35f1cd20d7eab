"""State configurations: the ground floor the engine, the diagrams and the testing kit share.

A *configuration* is where a transaction stands: a state's dotted path (``"shipping"``,
``"performance.delivery"``), or, inside a parallel state, a tuple with one configuration
per region (``("performance.payment.due", "performance.delivery.pending")``). Tuples, not
lists: a configuration is immutable and hashable, so transactions can share one and the
engine can key its tables by it. This module imports nothing else of ecomflow; it reads
states by their attributes (``name``, ``children``, ``initial``, ``parallel``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, final

import attrs

__all__ = [
    "Configuration",
    "Edge",
    "Leaves",
    "ancestors",
    "as_lists",
    "entry",
    "exited",
    "freeze",
    "leaves_of",
    "reachable",
    "state_name",
    "walk",
]

Configuration = Any
"""A state's path (``str``), or a tuple of configurations, one per parallel region."""

Leaves = tuple[str, ...]
"""The active innermost states of a configuration, in definition order."""


@final
@attrs.frozen
class Edge:
    """One arrow of a flow: ``trigger`` leads from ``source`` to ``dest`` if ``guards`` pass."""

    source: str
    trigger: str
    dest: str
    guards: tuple[str, ...]


def walk(states: Sequence[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted path, state)`` for every state of a tree, parents first."""
    for state in states:
        path = f"{prefix}{state.name}"
        yield path, state
        yield from walk(state.children, f"{path}.")


def ancestors(path: str) -> Iterator[str]:
    """Yield ``path`` and then each of its parents: ``a.b.c``, ``a.b``, ``a``."""
    while True:
        yield path
        if "." not in path:
            return
        path = path.rpartition(".")[0]


def entry(nodes: Mapping[str, Any], path: str) -> Configuration:
    """Return the configuration entering ``path`` leads to: a leaf, or a tuple for regions."""
    state = nodes[path]
    if not state.children:
        return path
    if state.parallel:
        return tuple(entry(nodes, f"{path}.{child.name}") for child in state.children)
    return entry(nodes, f"{path}.{state.initial}")


def leaves_of(configuration: Configuration) -> Leaves:
    """Return the active leaf states of a configuration (a path, or nested tuples of paths)."""
    if isinstance(configuration, str):
        return (configuration,)
    return tuple(leaf for part in configuration for leaf in leaves_of(part))


def state_name(configuration: Configuration) -> str:
    """Name a configuration: a state's path, or the active paths joined by ``|``."""
    if type(configuration) is str:
        return configuration
    return "|".join(leaves_of(configuration))


def freeze(configuration: Any) -> Configuration:
    """Return a configuration given as lists or tuples (JSON, the machine) as nested tuples."""
    if type(configuration) is str:
        return configuration
    return tuple(freeze(part) for part in configuration)


def as_lists(configuration: Configuration) -> Any:
    """Return a configuration as fresh nested lists (JSON's shape; the machine's own)."""
    if type(configuration) is str:
        return configuration
    return [as_lists(part) for part in configuration]


def exited(source: str, dest: str) -> str:
    """Return the outermost state a transition from ``source`` to ``dest`` leaves."""
    top = source
    for node in ancestors(source):
        if dest == node or dest.startswith(f"{node}."):
            break
        top = node
    return top


def reachable(
    states: Sequence[Any], initial: Configuration, edges: Iterable[Edge]
) -> tuple[Leaves, dict[Leaves, list[Edge]]]:
    """Every configuration reachable from ``initial``, with the edges leaving it.

    Configurations are given as their leaves in definition order. Each edge keeps the
    declared ``source`` and ``trigger`` and has as ``dest`` the name of the configuration
    it leads to (parallel leaves joined by ``|``). Guards are not evaluated: an edge is an
    arrow that some payload may take.
    """
    nodes = dict(walk(states))
    order = {path: index for index, path in enumerate(nodes)}
    edges = tuple(edges)
    start: Leaves = tuple(sorted(leaves_of(initial), key=order.__getitem__))
    graph: dict[Leaves, list[Edge]] = {}
    queue = deque([start])
    while queue:
        configuration = queue.popleft()
        if configuration in graph:
            continue
        active = {node for leaf in configuration for node in ancestors(leaf)}
        out: list[Edge] = []
        for edge in edges:
            if edge.source not in active:
                continue
            left = exited(edge.source, edge.dest)
            kept = [
                leaf for leaf in configuration if leaf != left and not leaf.startswith(f"{left}.")
            ]
            entered = leaves_of(entry(nodes, edge.dest))
            after = tuple(sorted({*kept, *entered}, key=order.__getitem__))
            out.append(Edge(edge.source, edge.trigger, "|".join(after), edge.guards))
            queue.append(after)
        graph[configuration] = out
    return start, graph
