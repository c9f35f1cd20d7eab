"""Diagrams of a flow, or of one transaction on it: Mermaid or Graphviz DOT, English or Chinese.

:func:`draw` gives a flow's graph; :func:`trace` reads a transaction's events to find where
it stands and which transitions it took, and ``draw(..., trace=...)`` marks both. A
:class:`Diagram` is the source text; it displays itself in Jupyter (Mermaid as Markdown, an
SVG when Graphviz's ``dot`` is installed, offline HTML always) and :meth:`Diagram.render`
turns it into an SVG or PNG picture through ``dot``, with a CJK font so Chinese is drawn.
"""

from __future__ import annotations

import functools
import html
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, final

import attrs

from ._deadlines import timer_label
from ._definition import FlowDefinition, State, Transition
from ._errors import EcomflowError, InvalidPayload
from ._events import Event
from ._graph import Edge, ancestors, entry, leaves_of, walk

__all__ = [
    "FONTS",
    "Diagram",
    "Fired",
    "GraphvizError",
    "GraphvizNotFound",
    "Trace",
    "Traceable",
    "draw",
    "html_page",
    "render",
    "trace",
]

Format = Literal["mermaid", "dot"]
Lang = Literal["en", "zh"]
FORMATS: tuple[str, ...] = ("mermaid", "dot")
LANGS: tuple[str, ...] = ("en", "zh")
PICTURES: tuple[str, ...] = ("svg", "png")
"""The picture formats :func:`render` asks ``dot`` for."""

FONTS: tuple[str, ...] = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "PingFang SC",
    "Microsoft YaHei",
    "sans-serif",
)
"""The fonts a picture names, first found first: each draws Chinese (Debian: fonts-wqy-microhei)."""

_FONTNAME = ",".join(FONTS)
_INSTALL = "apt-get install graphviz, or brew install graphviz"
# Marks: amber for where the transaction stands, a pale tint for where it has been.
_CURRENT = ("#ffd43b", "#e67700")
_VISITED = "#fff3bf"
_FIRED = "#d9480f"


class GraphvizError(EcomflowError, OSError):
    """Graphviz's ``dot`` could not draw a picture (also an :class:`OSError`)."""


class GraphvizNotFound(GraphvizError, FileNotFoundError):
    """Graphviz's ``dot`` program is not installed: install the ``graphviz`` package."""


# -- a transaction's path ----------------------------------------------------------------


@final
@attrs.frozen
class Fired:
    """One transition a transaction took: step ``version``, along ``edge`` (as declared)."""

    version: int
    edge: Edge
    transition: Transition = attrs.field(eq=False, repr=False)


@final
@attrs.frozen
class Trace:
    """Where a transaction stands and how it got there, read from its events.

    ``current`` are the active innermost states; ``path`` the transitions fired after the
    start, one per version in order (``path[0]`` is version 1); ``visited`` every
    innermost state it has been in; ``started`` whether its history begins at the start.
    A transaction restored from a snapshot without its history (:meth:`Flow.restore` with
    no ``history``) cannot tell the way it came: its path is empty.
    """

    tx_id: str
    version: int
    current: tuple[str, ...]
    path: tuple[Fired, ...]
    visited: frozenset[str]
    started: bool


class Traceable(Protocol):
    """What :func:`trace` reads of a transaction (a :class:`~ecomflow.Transaction` is one)."""

    @property
    def id(self) -> str:
        """The transaction's id."""

    @property
    def flow(self) -> Any:
        """The :class:`~ecomflow.Flow` it follows."""

    @property
    def version(self) -> int:
        """How many transitions it has fired."""

    @property
    def active_states(self) -> tuple[str, ...]:
        """Its active innermost states."""

    @property
    def events(self) -> Sequence[Event]:
        """Its events, in order."""


def trace(tx: Traceable) -> Trace:
    """Return the :class:`Trace` of ``tx``: its current states and the transitions it fired.

    The path is what the flow's engine did with the recorded triggers, replayed from the
    initial state: a trigger declared from a composite state is drawn from that state.
    """
    flow = tx.flow
    engine = flow.engine
    declared = {(edge.source, edge.trigger): edge for edge in flow.edges}
    by_version: dict[int, str] = {}
    for event in tx.events:
        by_version.setdefault(event.version, event.trigger)
    started = 0 in by_version
    path: list[Fired] = []
    visited: set[str] = set(tx.active_states)
    if started:
        configuration = engine.initial_state
        visited.update(leaves_of(configuration))
        for version in sorted(by_version)[1:]:
            trigger = by_version[version]
            move = engine._move(configuration, trigger)
            edge = _declared_edge(declared, configuration, trigger)
            if move is None or edge is None:  # pragma: no cover - replay refused it already
                break
            path.append(Fired(version, edge, move[0].spec))
            configuration = move[1]
            visited.update(leaves_of(configuration))
    return Trace(tx.id, tx.version, tx.active_states, tuple(path), frozenset(visited), started)


def _declared_edge(
    declared: Mapping[tuple[str, str], Edge], configuration: Any, trigger: str
) -> Edge | None:
    """Return the arrow ``trigger`` takes from ``configuration``, looked up as the engine does."""
    for leaf in leaves_of(configuration):
        for node in ancestors(leaf):
            edge = declared.get((node, trigger))
            if edge is not None:
                return edge
    return None


def _steps(marks: Trace | None) -> dict[tuple[str, str], list[int]]:
    """Map each fired arrow ``(source, trigger)`` to the steps that took it."""
    steps: dict[tuple[str, str], list[int]] = {}
    for fired in () if marks is None else marks.path:
        steps.setdefault((fired.edge.source, fired.edge.trigger), []).append(fired.version)
    return steps


def _numbered(label: str, steps: Sequence[int]) -> str:
    return f"({', '.join(map(str, steps))}) {label}" if steps else label


_TEXTS = {
    "en": ("Transaction {tx} after {n} step(s): now {states}", "current", "visited", "step"),
    "zh": ("交易 {tx} 第 {n} 步后，当前：{states}", "当前", "经过", "步骤"),
}


def _subtitle(definition: FlowDefinition, marks: Trace, lang: str) -> str:
    states = " + ".join(definition.state(leaf).label(lang) for leaf in marks.current)
    return _TEXTS[lang][0].format(tx=marks.tx_id, n=marks.version, states=states)


# -- Mermaid ---------------------------------------------------------------------------------


def _edge_label(transition: Transition, lang: str) -> str:
    label = transition.label(lang)
    timer = timer_label(transition)  # a deadline: "after 30 min" / "30分钟后"
    if timer is not None:
        label += f" ({timer(lang)})"
    if transition.guards:
        label += " [" + ", ".join(guard.label(lang) for guard in transition.guards) + "]"
    return label


def _mermaid_text(text: str) -> str:
    # Mermaid ends a transition label at ';' and a state label at '"'.
    return text.replace('"', "'").replace(";", ",")


def _mermaid_id(path: str) -> str:
    return path.replace(".", "__")


def _mermaid_states(
    states: Sequence[State], prefix: str, lang: str, depth: int, current: Sequence[str] = ()
) -> list[str]:
    pad = "    " * depth
    lines: list[str] = []
    for state in states:
        path = f"{prefix}{state.name}"
        sid = _mermaid_id(path)
        # Mermaid cannot style a state inside a composite one: the label says it too.
        mark = "▶ " if path in current else ""
        lines.append(f'{pad}state "{mark}{_mermaid_text(state.label(lang))}" as {sid}')
        if not state.children:
            continue
        lines.append(f"{pad}state {sid} {{")
        if state.parallel:
            for index, region in enumerate(state.children):
                if index:
                    lines.append(f"{pad}    --")
                lines.extend(_mermaid_states([region], f"{path}.", lang, depth + 1, current))
        else:
            lines.append(f"{pad}    [*] --> {_mermaid_id(f'{path}.{state.initial}')}")
            lines.extend(_mermaid_states(state.children, f"{path}.", lang, depth + 1, current))
        lines.append(f"{pad}}}")
    return lines


def _mermaid(definition: FlowDefinition, lang: str, marks: Trace | None) -> str:
    lines = ["stateDiagram-v2", f"    %% {definition.title(lang)} ({definition.source})"]
    if marks is not None:
        lines.append(f"    %% {_mermaid_text(_subtitle(definition, marks, lang))}")
        lines.append(
            f"    classDef current fill:{_CURRENT[0]},stroke:{_CURRENT[1]},stroke-width:3px,"
            "font-weight:bold"
        )
        lines.append(f"    classDef visited fill:{_VISITED},stroke:{_CURRENT[1]}")
    current = () if marks is None else marks.current
    lines.extend(_mermaid_states(definition.states, "", lang, 1, current))
    start = _mermaid_text(definition.start.label(lang))
    if marks is not None and marks.started:
        start = _numbered(start, [0])
    lines.append(f"    [*] --> {_mermaid_id(definition.initial)} : {start}")
    steps = _steps(marks)
    for transition in definition.transitions:
        label = _mermaid_text(_edge_label(transition, lang))
        for source in transition.source:
            numbered = _numbered(label, steps.get((source, transition.trigger), ()))
            lines.append(
                f"    {_mermaid_id(source)} --> {_mermaid_id(transition.dest)} : {numbered}"
            )
    for path, state in walk(definition.states):
        if state.terminal:
            lines.append(f"    {_mermaid_id(path)} --> [*]")
    if marks is not None:
        visited = [path for path, _ in walk(definition.states) if path in marks.visited]
        passed = [_mermaid_id(path) for path in visited if path not in marks.current]
        if passed:
            lines.append(f"    class {','.join(passed)} visited")
        lines.append(f"    class {','.join(map(_mermaid_id, marks.current))} current")
    return "\n".join(lines)


# -- Graphviz DOT -----------------------------------------------------------------------------


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot_states(
    states: Sequence[State],
    prefix: str,
    lang: str,
    depth: int,
    lines: list[str],
    marks: Trace | None,
) -> None:
    pad = "    " * depth
    for state in states:
        path = f"{prefix}{state.name}"
        label = _dot_text(state.label(lang))
        if state.children:
            style = ", style=dashed" if state.parallel else ""
            if marks is not None and any(
                leaf.startswith(f"{path}.") for leaf in marks.current
            ):  # the composite the transaction is in
                style += f', color="{_CURRENT[1]}", penwidth=2'
            lines.append(f'{pad}subgraph "cluster_{path}" {{')
            lines.append(f'{pad}    graph [label="{label}"{style}];')
            _dot_states(state.children, f"{path}.", lang, depth + 1, lines, marks)
            lines.append(f"{pad}}}")
            continue
        shape = ", peripheries=2" if state.terminal else ""
        if marks is not None and path in marks.current:
            shape += (
                f', style="rounded,filled,bold", fillcolor="{_CURRENT[0]}", '
                f'color="{_CURRENT[1]}", penwidth=3, class="current"'
            )
        elif marks is not None and path in marks.visited:
            shape += f', style="rounded,filled", fillcolor="{_VISITED}", class="visited"'
        lines.append(f'{pad}"{path}" [label="{label}"{shape}];')


def _dot(definition: FlowDefinition, lang: str, marks: Trace | None) -> str:
    nodes = dict(walk(definition.states))

    def end(path: str, side: str, other: str) -> tuple[str, str]:
        """Return the node an edge attaches to: a composite clips at its cluster.

        Not where the other end is inside it: Graphviz cannot clip an edge there.
        """
        if not nodes[path].children:
            return path, ""
        node = leaves_of(entry(nodes, path))[0]
        return node, "" if other.startswith(f"{path}.") else f', {side}="cluster_{path}"'

    title = _dot_text(f"{definition.title(lang)} ({definition.source})")
    if marks is not None:
        title += "\\n" + _dot_text(_subtitle(definition, marks, lang))
    lines = [
        f'digraph "{definition.name}" {{',
        f'    graph [label="{title}", labelloc=t, rankdir=TB, compound=true, '
        f'fontname="{_FONTNAME}", fontsize=16, nodesep=0.35, ranksep=0.4];',
        f'    node [shape=box, style=rounded, fontname="{_FONTNAME}", fontsize=12];',
        f'    edge [fontname="{_FONTNAME}", fontsize=10];',
        '    "__start__" [shape=point, label=""];',
    ]
    _dot_states(definition.states, "", lang, 1, lines, marks)
    fired = f', color="{_FIRED}", fontcolor="{_FIRED}", penwidth=2.5, class="fired"'
    start = definition.start.label(lang)
    mark = ""
    if marks is not None and marks.started:
        start, mark = _numbered(start, [0]), fired
    target, clip = end(definition.initial, "lhead", "")
    lines.append(f'    "__start__" -> "{target}" [label="{_dot_text(start)}"{clip}{mark}];')
    steps = _steps(marks)
    for transition in definition.transitions:
        for source in transition.source:
            numbers = steps.get((source, transition.trigger), ())
            label = _dot_text(_numbered(_edge_label(transition, lang), numbers))
            tail, tail_clip = end(source, "ltail", transition.dest)
            head, head_clip = end(transition.dest, "lhead", source)
            mark = fired if numbers else ""
            lines.append(f'    "{tail}" -> "{head}" [label="{label}"{tail_clip}{head_clip}{mark}];')
    lines.append("}")
    return "\n".join(lines)


# -- offline HTML -----------------------------------------------------------------------------

_HEADINGS = {
    "en": ("States", "Transitions", "from", "transition", "to", "steps"),
    "zh": ("状态", "转换", "从", "转换", "到", "步骤"),
}


def _html_tree(
    states: Sequence[State], prefix: str, lang: str, marks: Trace | None, out: list[str]
) -> None:
    out.append("<ul>")
    for state in states:
        path = f"{prefix}{state.name}"
        text = f"{html.escape(state.label(lang))} <code>{html.escape(path)}</code>"
        kind = ""
        if marks is not None and path in marks.current:
            kind = ' class="current" style="font-weight:bold;background:' + _CURRENT[0] + '"'
            text += f" ◀ {_TEXTS[lang][1]}"
        elif marks is not None and path in marks.visited:
            kind = f' class="visited" style="background:{_VISITED}"'
        out.append(f"<li{kind}>{text}")
        if state.children:
            _html_tree(state.children, f"{path}.", lang, marks, out)
        out.append("</li>")
    out.append("</ul>")


def _html_table(definition: FlowDefinition, lang: str, marks: Trace | None) -> str:
    """Return the flow as HTML lists and a table, for where no picture can be drawn."""
    states, transitions, source, label, dest, numbers = _HEADINGS[lang]
    title = html.escape(f"{definition.title(lang)} ({definition.source})")
    caption = f"<strong>{title}</strong>"
    if marks is not None:
        caption += f"<br>{html.escape(_subtitle(definition, marks, lang))}"
    out = [f'<figure class="ecomflow-diagram"><figcaption>{caption}</figcaption>']
    out.append(f"<p>{states}</p>")
    _html_tree(definition.states, "", lang, marks, out)
    out.append(f"<p>{transitions}</p>")
    out.append('<table class="transitions">')
    out.append(f"<tr><th>{source}</th><th>{label}</th><th>{dest}</th><th>{numbers}</th></tr>")
    steps = _steps(marks)
    rows = [(definition.start, "[*]")] + [
        (transition, source)
        for transition in definition.transitions
        for source in transition.source
    ]
    for transition, start in rows:
        taken = steps.get((start, transition.trigger), [])
        if transition is definition.start and marks is not None and marks.started:
            taken = [0]
        kind = f' class="fired" style="font-weight:bold;color:{_FIRED}"' if taken else ""
        out.append(
            f"<tr{kind}><td><code>{html.escape(start)}</code></td>"
            f"<td>{html.escape(_edge_label(transition, lang))} "
            f"<code>{html.escape(transition.trigger)}</code></td>"
            f"<td><code>{html.escape(transition.dest)}</code></td>"
            f"<td>{', '.join(map(str, taken))}</td></tr>"
        )
    out.append("</table></figure>")
    return "\n".join(out)


# -- rendering through Graphviz ---------------------------------------------------------------


def render(dot: str, format: str = "svg", *, timeout: float = 60) -> bytes:
    """Return the picture Graphviz's ``dot`` draws from DOT source, as ``svg`` or ``png``.

    Raises :class:`GraphvizNotFound` (naming the package to install) when ``dot`` is not
    on the ``PATH``, and :class:`GraphvizError` when it fails.
    """
    if format not in PICTURES:
        raise InvalidPayload(
            f"Cannot render a picture as {format!r}: the formats are {', '.join(PICTURES)}."
        )
    picture = "an SVG picture" if format == "svg" else "a PNG picture"
    program = shutil.which("dot")
    if program is None:
        raise GraphvizNotFound(
            f"Cannot draw {picture}: Graphviz's dot program is not installed; "
            f"install the graphviz package ({_INSTALL})."
        )
    options = ["-Gdpi=144"] if format == "png" else []
    try:
        done = subprocess.run(
            [program, f"-T{format}", *options],
            input=dot.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise GraphvizError(f"Cannot draw {picture}: {program} failed ({error}).") from None
    if done.returncode != 0:
        problem = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphvizError(
            f"Cannot draw {picture}: {program} exited with status {done.returncode}"
            f" ({problem[0] if problem else 'no message'})."
        )
    return done.stdout


_SVG_START = re.compile(r"<svg\b")


def _inline_svg(svg: str) -> str:
    """Return an SVG document as an element to inline in HTML: no prolog, no DTD link."""
    match = _SVG_START.search(svg)
    body = svg[match.start() :] if match else svg
    return body.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1)


def svg_data_uri(svg: str) -> str:
    """Return ``svg`` as a ``data:`` address for an ``<img src>``, escaped for an attribute.

    Only what a URL or an attribute cannot hold is escaped (``%``, ``#``, line breaks, and
    the attribute's own quotes and markup), so Chinese labels stay readable in the page.
    """
    encoded = (
        svg.replace("%", "%25")
        .replace("#", "%23")
        .replace("\r", "%0D")
        .replace("\n", "%0A")
        .replace("\t", "%09")
    )
    return "data:image/svg+xml;charset=utf-8," + html.escape(encoded, quote=True)


def html_page(title: str, lang: str, *fragments: str) -> str:
    """Return a self-contained HTML page of ``fragments``: nothing is loaded from elsewhere."""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>body{{font-family:{html.escape(_FONTNAME)};margin:2em;}} "
        "table{border-collapse:collapse;} td,th{border:1px solid #ccc;padding:0.2em 0.5em;"
        "vertical-align:top;}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n" + "\n".join(fragments) + "\n</body>\n</html>\n"
    )


# -- the Diagram ------------------------------------------------------------------------------


@final
@attrs.frozen
class _Drawing:
    """What a diagram was drawn from, so it can be drawn again in another syntax."""

    definition: FlowDefinition
    lang: str
    marks: Trace | None


class Diagram(str):
    """The source text of a diagram, which also displays itself and renders as a picture.

    It is a ``str``, so it prints, compares and writes to a file as one. In Jupyter it
    shows as a Mermaid block (``_repr_markdown_``), as an SVG when Graphviz's ``dot`` is
    installed (``_repr_svg_``) and as HTML that needs nothing from the internet
    (``_repr_html_``: the SVG inlined, else the states and transitions as lists and a
    table). :meth:`render` draws an SVG or PNG picture with ``dot``.
    """

    syntax: str
    """``"mermaid"`` or ``"dot"``."""

    _drawing: _Drawing | None

    def __new__(cls, source: str, syntax: str, *, _drawing: _Drawing | None = None) -> Diagram:
        self = super().__new__(cls, source)
        self.syntax = syntax
        self._drawing = _drawing
        return self

    @property
    def current(self) -> tuple[str, ...]:
        """The states marked as where the transaction stands (none for a flow's diagram)."""
        marks = None if self._drawing is None else self._drawing.marks
        return () if marks is None else marks.current

    @property
    def path(self) -> tuple[Edge, ...]:
        """The arrows marked as fired after the start, one per step, in order."""
        marks = None if self._drawing is None else self._drawing.marks
        return () if marks is None else tuple(fired.edge for fired in marks.path)

    @property
    def dot(self) -> str:
        """The Graphviz DOT source of this drawing (itself when it is one)."""
        if self.syntax == "dot" or self._drawing is None:
            return str(self)
        drawing = self._drawing
        return _dot(drawing.definition, drawing.lang, drawing.marks)

    def render(self, format: str = "svg") -> bytes:
        """Return the picture as ``svg`` or ``png`` bytes, drawn by Graphviz's ``dot``.

        Raises :class:`GraphvizNotFound` when ``dot`` is not installed, and
        :class:`InvalidPayload` for a Mermaid diagram made from text alone (``dot`` draws
        DOT only).
        """
        if self.syntax != "dot" and self._drawing is None:
            raise InvalidPayload(
                "Cannot render a Mermaid diagram made from text alone: draw it with "
                "format='dot', or from its flow."
            )
        return render(self.dot, format)

    def page(self, *extras: str) -> str:
        """Return a self-contained HTML page: the title, the SVG picture, ``extras``, a table.

        ``extras`` are HTML fragments put under the picture (a transaction's board); the
        states and transitions follow as lists and a table. Nothing is loaded from
        elsewhere. Needs Graphviz's ``dot``, as :meth:`render`.
        """
        svg = _inline_svg(self.render("svg").decode("utf-8"))
        fragments = [f'<div class="ecomflow-diagram">{svg}</div>', *extras]
        if self._drawing is not None:
            drawing = self._drawing
            definition, lang, marks = drawing.definition, drawing.lang, drawing.marks
            summary = _HEADINGS[lang][0] + " / " + _HEADINGS[lang][1]
            table = _html_table(definition, lang, marks)
            fragments.append(f"<details><summary>{summary}</summary>\n{table}\n</details>")
        lang = "en" if self._drawing is None else self._drawing.lang
        return html_page(self._title(), lang, *fragments)

    def _title(self) -> str:
        """Return the flow's title and source, and the transaction's id when one is marked."""
        if self._drawing is None:
            return "ecomflow"
        definition, marks = self._drawing.definition, self._drawing.marks
        title = f"{definition.title(self._drawing.lang)} ({definition.source})"
        return title if marks is None else f"{title} — {marks.tx_id}"

    @functools.cached_property
    def _svg(self) -> str | None:
        if (self.syntax != "dot" and self._drawing is None) or shutil.which("dot") is None:
            return None
        try:
            return _inline_svg(self.render("svg").decode("utf-8"))
        except GraphvizError:
            return None

    def _repr_markdown_(self) -> str:
        fence = "mermaid" if self.syntax == "mermaid" else "dot"
        return f"```{fence}\n{self}\n```"

    def _repr_svg_(self) -> str | None:
        """Return the picture as SVG when Graphviz's ``dot`` is installed, else ``None``."""
        return self._svg

    def _repr_html_(self) -> str:
        """Return HTML that loads nothing: the SVG as an image, else lists and a table of the flow.

        The picture is an ``<img>`` whose ``src`` is the SVG itself (a ``data:`` address, the
        labels kept readable), not an inline ``<svg>``: JupyterLab sanitizes the HTML of a
        notebook it does not trust, as every notebook fresh from a repository, and drops
        inline ``<svg>`` elements but keeps images.
        """
        svg = self._svg
        if svg is not None:
            alt = self._title()
            return (
                f'<div class="ecomflow-diagram"><img alt="{html.escape(alt)}" '
                f'style="max-width:100%;height:auto" src="{svg_data_uri(svg)}"></div>'
            )
        if self._drawing is not None:
            drawing = self._drawing
            return _html_table(drawing.definition, drawing.lang, drawing.marks)
        return f'<pre class="ecomflow-diagram">{html.escape(self)}</pre>'

    def _repr_mimebundle_(self, **_: Any) -> dict[str, str]:
        bundle = {"text/plain": str(self), "text/markdown": self._repr_markdown_()}
        if self.syntax == "dot":
            bundle["text/vnd.graphviz"] = str(self)
        svg = self._svg
        if svg is not None:
            bundle["image/svg+xml"] = svg
        bundle["text/html"] = self._repr_html_()
        return bundle


def draw(
    definition: FlowDefinition,
    format: str = "mermaid",
    lang: str = "en",
    *,
    marks: Trace | None = None,
) -> Diagram:
    """Draw ``definition`` as a :class:`Diagram`, guards shown on the edges.

    With ``marks`` (a transaction's :func:`trace`), its current states are highlighted,
    the states it passed through tinted, and each arrow it took bold and numbered with
    the steps that took it (``(0)`` is the start).
    """
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
    if format == "mermaid":
        source = _mermaid(definition, lang, marks)
    else:
        source = _dot(definition, lang, marks)
    return Diagram(source, format, _drawing=_Drawing(definition, lang, marks))
