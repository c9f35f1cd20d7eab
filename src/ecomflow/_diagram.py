"""Diagrams drawn from a flow definition: Mermaid or Graphviz DOT, English or Chinese."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ._definition import FlowDefinition, State, Transition
from ._errors import InvalidPayload
from ._graph import entry, leaves_of, walk

__all__ = ["Diagram", "draw"]

Format = Literal["mermaid", "dot"]
Lang = Literal["en", "zh"]
FORMATS: tuple[str, ...] = ("mermaid", "dot")
LANGS: tuple[str, ...] = ("en", "zh")


class Diagram(str):
    """The source text of a diagram, which also displays itself in Jupyter.

    It is a ``str``, so it prints, compares and writes to a file as one; in a
    notebook a Mermaid diagram renders as a picture and a DOT one as its source.
    """

    syntax: str
    """``"mermaid"`` or ``"dot"``."""

    def __new__(cls, source: str, syntax: str) -> Diagram:
        self = super().__new__(cls, source)
        self.syntax = syntax
        return self

    def _repr_markdown_(self) -> str:
        fence = "mermaid" if self.syntax == "mermaid" else "dot"
        return f"```{fence}\n{self}\n```"

    def _repr_mimebundle_(self, **_: Any) -> dict[str, str]:
        bundle = {"text/plain": str(self), "text/markdown": self._repr_markdown_()}
        if self.syntax == "dot":
            bundle["text/vnd.graphviz"] = str(self)
        return bundle


def _edge_label(transition: Transition, lang: str) -> str:
    label = transition.label(lang)
    if transition.guards:
        label += " [" + ", ".join(guard.label(lang) for guard in transition.guards) + "]"
    return label


def _mermaid_text(text: str) -> str:
    # Mermaid ends a transition label at ';' and a state label at '"'.
    return text.replace('"', "'").replace(";", ",")


def _mermaid_id(path: str) -> str:
    return path.replace(".", "__")


def _mermaid_states(states: Sequence[State], prefix: str, lang: str, depth: int) -> list[str]:
    pad = "    " * depth
    lines: list[str] = []
    for state in states:
        path = f"{prefix}{state.name}"
        sid = _mermaid_id(path)
        lines.append(f'{pad}state "{_mermaid_text(state.label(lang))}" as {sid}')
        if not state.children:
            continue
        lines.append(f"{pad}state {sid} {{")
        if state.parallel:
            for index, region in enumerate(state.children):
                if index:
                    lines.append(f"{pad}    --")
                lines.extend(_mermaid_states([region], f"{path}.", lang, depth + 1))
        else:
            lines.append(f"{pad}    [*] --> {_mermaid_id(f'{path}.{state.initial}')}")
            lines.extend(_mermaid_states(state.children, f"{path}.", lang, depth + 1))
        lines.append(f"{pad}}}")
    return lines


def _mermaid(definition: FlowDefinition, lang: str) -> str:
    lines = ["stateDiagram-v2", f"    %% {definition.title(lang)} ({definition.source})"]
    lines.extend(_mermaid_states(definition.states, "", lang, 1))
    start = _mermaid_text(definition.start.label(lang))
    lines.append(f"    [*] --> {_mermaid_id(definition.initial)} : {start}")
    for transition in definition.transitions:
        label = _mermaid_text(_edge_label(transition, lang))
        for source in transition.source:
            lines.append(f"    {_mermaid_id(source)} --> {_mermaid_id(transition.dest)} : {label}")
    for path, state in walk(definition.states):
        if state.terminal:
            lines.append(f"    {_mermaid_id(path)} --> [*]")
    return "\n".join(lines)


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_states(
    states: Sequence[State], prefix: str, lang: str, depth: int, lines: list[str]
) -> None:
    pad = "    " * depth
    for state in states:
        path = f"{prefix}{state.name}"
        label = _dot_text(state.label(lang))
        if state.children:
            style = ", style=dashed" if state.parallel else ""
            lines.append(f'{pad}subgraph "cluster_{path}" {{')
            lines.append(f'{pad}    graph [label="{label}"{style}];')
            _dot_states(state.children, f"{path}.", lang, depth + 1, lines)
            lines.append(f"{pad}}}")
        else:
            shape = ", peripheries=2" if state.terminal else ""
            lines.append(f'{pad}"{path}" [label="{label}"{shape}];')


def _dot(definition: FlowDefinition, lang: str) -> str:
    nodes = dict(walk(definition.states))

    def end(path: str, side: str) -> tuple[str, str]:
        """Return the node an edge attaches to: a composite clips at its cluster."""
        if not nodes[path].children:
            return path, ""
        return leaves_of(entry(nodes, path))[0], f', {side}="cluster_{path}"'

    title = _dot_text(f"{definition.title(lang)} ({definition.source})")
    lines = [
        f'digraph "{definition.name}" {{',
        f'    graph [label="{title}", labelloc=t, rankdir=LR, compound=true];',
        '    node [shape=box, style=rounded, fontname="sans-serif"];',
        '    edge [fontname="sans-serif", fontsize=10];',
        '    "__start__" [shape=point, label=""];',
    ]
    _dot_states(definition.states, "", lang, 1, lines)
    start = _dot_text(definition.start.label(lang))
    target, clip = end(definition.initial, "lhead")
    lines.append(f'    "__start__" -> "{target}" [label="{start}"{clip}];')
    for transition in definition.transitions:
        label = _dot_text(_edge_label(transition, lang))
        for source in transition.source:
            tail, tail_clip = end(source, "ltail")
            head, head_clip = end(transition.dest, "lhead")
            lines.append(f'    "{tail}" -> "{head}" [label="{label}"{tail_clip}{head_clip}];')
    lines.append("}")
    return "\n".join(lines)


def draw(definition: FlowDefinition, format: str = "mermaid", lang: str = "en") -> Diagram:
    """Draw ``definition`` as a :class:`Diagram`, guards shown on the edges."""
    if format not in FORMATS:
        raise InvalidPayload(
            f"Cannot draw flow {definition.name!r}: format {format!r} is not one of "
            f"{', '.join(FORMATS)}."
        )
    if lang not in LANGS:
        raise InvalidPayload(
            f"Cannot draw flow {definition.name!r}: language {lang!r} is not one of "
            f"{', '.join(LANGS)}."
        )
    source = _mermaid(definition, lang) if format == "mermaid" else _dot(definition, lang)
    return Diagram(source, format)
