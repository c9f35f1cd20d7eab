"""A transaction's board: its events in four lanes, one per stream (信息流 商流 资金流 物流).

Each row is a step (the start, then one per transition fired) and each lane holds the
events the step recorded in that stream, labelled in English or Chinese. A :class:`Board`
prints as an aligned text table and displays itself in Jupyter as Markdown or HTML.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, final

import attrs

from ._definition import FlowDefinition, Label
from ._diagram import LANGS, Traceable, trace
from ._errors import InvalidPayload
from ._events import Event, Stream

__all__ = ["LANES", "Board", "BoardRow", "board"]

LANES: tuple[Stream, ...] = (Stream.INFORMATION, Stream.COMMERCE, Stream.MONEY, Stream.LOGISTICS)
"""The four lanes, in the seeds' order: 信息流, 商流, 资金流, 物流."""

_LANE_NAMES = {
    "en": ("information", "commerce", "money", "logistics"),
    "zh": tuple(stream.zh for stream in LANES),
}
_HEADINGS = {"en": ("step", "transition"), "zh": ("步骤", "转换")}
_COLOURS = ("#e7f5ff", "#fff4e6", "#ebfbee", "#f3f0ff")  # one tint per lane


def _to_cells(value: Any) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(cell) for cell in value)


@final
@attrs.frozen
class BoardRow:
    """One step of a transaction: its version, transition and the events of each lane.

    ``cells`` holds one tuple of event labels per lane of :data:`LANES`.
    """

    version: int
    trigger: str
    label: str
    cells: tuple[tuple[str, ...], ...] = attrs.field(converter=_to_cells)


def _to_rows(value: Iterable[BoardRow]) -> tuple[BoardRow, ...]:
    return tuple(value)


@final
@attrs.frozen
class Board:
    """A transaction's events in four lanes (信息流 / 商流 / 资金流 / 物流), a row per step.

    ``str(board)`` is an aligned text table (Chinese counted two columns wide);
    in Jupyter it shows as a Markdown or HTML table. :meth:`lane` gives one stream's
    event labels in order.
    """

    tx_id: str
    title: str
    lang: str
    rows: tuple[BoardRow, ...] = attrs.field(converter=_to_rows)

    def lane(self, stream: Stream) -> tuple[str, ...]:
        """Return the labels of the events recorded in ``stream``, in order."""
        index = LANES.index(stream)
        return tuple(label for row in self.rows for label in row.cells[index])

    def _headings(self) -> tuple[str, ...]:
        return (*_HEADINGS[self.lang], *_LANE_NAMES[self.lang])

    def _caption(self) -> str:
        return f"{self.title}: {self.tx_id}"

    def __str__(self) -> str:
        table: list[tuple[str, ...]] = [self._headings()]
        for row in self.rows:
            height = max(1, *(len(cell) for cell in row.cells))
            for at in range(height):
                first = (str(row.version), f"{row.label} ({row.trigger})") if not at else ("", "")
                table.append((*first, *(cell[at] if at < len(cell) else "" for cell in row.cells)))
        widths = [max(_width(line[column]) for line in table) for column in range(len(table[0]))]
        lines = [self._caption()]
        for number, texts in enumerate(table):
            cells = (_pad(text, width) for text, width in zip(texts, widths, strict=True))
            lines.append("  ".join(cells).rstrip())
            if number == 0:
                lines.append("  ".join("-" * width for width in widths))
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        def cell(texts: tuple[str, ...]) -> str:
            return "<br>".join(_markdown(text) for text in texts)

        lines = [f"**{_markdown(self._caption())}**", ""]
        lines.append("| " + " | ".join(self._headings()) + " |")
        lines.append("|" + "---|" * len(self._headings()))
        for row in self.rows:
            step = f"{_markdown(row.label)} `{row.trigger}`"
            cells = " | ".join(cell(texts) for texts in row.cells)
            lines.append(f"| {row.version} | {step} | {cells} |")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Return an HTML table that loads nothing: the lanes tinted, the triggers in code."""
        headings = "".join(f"<th>{html.escape(text)}</th>" for text in _HEADINGS[self.lang])
        headings += "".join(
            f'<th style="background:{colour}">{html.escape(name)}</th>'
            for name, colour in zip(_LANE_NAMES[self.lang], _COLOURS, strict=True)
        )
        out = [
            '<table class="ecomflow-board">',
            f"<caption>{html.escape(self._caption())}</caption>",
            f"<tr>{headings}</tr>",
        ]
        for row in self.rows:
            cells = "".join(
                f'<td style="background:{colour}">'
                + "<br>".join(html.escape(text) for text in texts)
                + "</td>"
                for texts, colour in zip(row.cells, _COLOURS, strict=True)
            )
            out.append(
                f"<tr><td>{row.version}</td><td>{html.escape(row.label)} "
                f"<code>{html.escape(row.trigger)}</code></td>{cells}</tr>"
            )
        out.append("</table>")
        return "\n".join(out)


def _width(text: str) -> int:
    """Return how many terminal columns ``text`` takes: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _markdown(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|")


def _event_labels(definition: FlowDefinition) -> dict[tuple[Stream, str], Label]:
    labels: dict[tuple[Stream, str], Label] = {}
    for transition in (definition.start, *definition.transitions):
        for emit in transition.emits:
            if emit.label is not None:
                labels.setdefault((emit.stream, emit.name), emit.label)
    return labels


def _event_text(event: Event, labels: Mapping[tuple[Stream, str], Label], lang: str) -> str:
    label = labels.get((event.stream, event.name))
    text = event.name if label is None else label(lang)
    if event.actor is not None:
        text += f" ({event.actor})"
    return text


def board(tx: Traceable, lang: str = "en") -> Board:
    """Return ``tx``'s :class:`Board`: its events per step and stream, labelled in ``lang``."""
    if lang not in LANGS:
        raise InvalidPayload(
            f"Cannot draw the board of transaction {tx.id!r}: language {lang!r} is not one "
            f"of {', '.join(LANGS)}."
        )
    definition = tx.flow.definition
    labels = _event_labels(definition)
    steps = {fired.version: fired.transition for fired in trace(tx).path}
    by_version: dict[int, list[Event]] = {}
    for event in tx.events:
        by_version.setdefault(event.version, []).append(event)
    rows: list[BoardRow] = []
    for version, events in by_version.items():
        transition = definition.start if version == 0 else steps.get(version)
        label = events[0].trigger if transition is None else transition.label(lang)
        cells = tuple(
            tuple(_event_text(event, labels, lang) for event in events if event.stream is stream)
            for stream in LANES
        )
        rows.append(BoardRow(version, events[0].trigger, label, cells))
    return Board(tx.id, tx.flow.title(lang), lang, tuple(rows))
