"""Diagrams drawn from a flow definition: Mermaid or Graphviz DOT, English or Chinese."""

from __future__ import annotations

from typing import Any, Literal

from ._definition import FlowDefinition, Transition
from ._errors import InvalidPayload

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


def _mermaid(definition: FlowDefinition, lang: str) -> str:
    lines = ["stateDiagram-v2", f"    %% {definition.title(lang)} ({definition.source})"]
    for state in definition.states:
        lines.append(f'    state "{_mermaid_text(state.label(lang))}" as {state.name}')
    lines.append(
        f"    [*] --> {definition.initial} : {_mermaid_text(definition.start.label(lang))}"
    )
    for transition in definition.transitions:
        label = _mermaid_text(_edge_label(transition, lang))
        for source in transition.source:
            lines.append(f"    {source} --> {transition.dest} : {label}")
    for state in definition.states:
        if state.terminal:
            lines.append(f"    {state.name} --> [*]")
    return "\n".join(lines)


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot(definition: FlowDefinition, lang: str) -> str:
    title = _dot_text(f"{definition.title(lang)} ({definition.source})")
    lines = [
        f'digraph "{definition.name}" {{',
        f'    graph [label="{title}", labelloc=t, rankdir=LR];',
        '    node [shape=box, style=rounded, fontname="sans-serif"];',
        '    edge [fontname="sans-serif", fontsize=10];',
        '    "__start__" [shape=point, label=""];',
    ]
    for state in definition.states:
        shape = ", peripheries=2" if state.terminal else ""
        lines.append(f'    "{state.name}" [label="{_dot_text(state.label(lang))}"{shape}];')
    start = _dot_text(definition.start.label(lang))
    lines.append(f'    "__start__" -> "{definition.initial}" [label="{start}"];')
    for transition in definition.transitions:
        label = _dot_text(_edge_label(transition, lang))
        for source in transition.source:
            lines.append(f'    "{source}" -> "{transition.dest}" [label="{label}"];')
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
