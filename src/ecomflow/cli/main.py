"""The ``ecomflow`` command: list, show, demo, simulate, ls, events, replay.

Every command that prints sentences to a person takes ``--lang en|zh``: with ``zh`` it
prints them in Chinese (identifiers such as transaction ids, trigger and state names and
currency codes stay as they are), and so is an error it meets (a refusal, say), where
the error has a Chinese message.
``demo`` and ``simulate`` drive a flow with its package's :class:`~ecomflow.flows.Sample`
(a flow without one gets a one-line error, not a traceback); a flow plug-in that fails to
load is one warning line on stderr, and the other flows work as before.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import timezone
from pathlib import Path
from typing import Any, NoReturn, TextIO

import attrs
from rich import box
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from .. import __version__
from .._definition import Label
from .._diagram import _INSTALL, FORMATS, LANGS, GraphvizNotFound
from .._errors import EcomflowError, InvalidPayload, NoSample, StoreError
from .._events import Event, Stream
from .._flow import Flow, Transaction
from ..flows import EXCHANGE, FLOWS
from ..flows._registry import PluginWarning
from ..projections import ContractRegister, Inbox, Ledger, ShipmentTracker
from ..store import EventStore, Recorded, Repository, open_store
from ..store._base import Query as _Query
from ..store._base import check_query as _check_query
from . import worker

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"ecomflow: error: {message}\n")


def _flow_name(value: str, *, exchange: bool = False) -> str:
    """Check a flow's name: one of FLOWS, or with ``exchange`` also an exchange's book.

    The refusal lists FLOWS only: the exchange's book is drawn from a store (``--tx``).
    """
    known: Mapping[str, Flow[Any]] = _shown() if exchange else FLOWS
    if value not in known:
        raise argparse.ArgumentTypeError(
            f"unknown flow {value!r}; choose from: {', '.join(sorted(FLOWS))}"
        )
    return value


def _shown() -> dict[str, Flow[Any]]:
    """Return the flows ``show`` draws: FLOWS and the exchange's book, as replay does."""
    return {**FLOWS, EXCHANGE.name: EXCHANGE}


def _shown_flow_name(value: str) -> str:
    """Check the name of a flow ``show`` draws: it knows an exchange, as replay does."""
    return _flow_name(value, exchange=True)


_DB_HELP = "store URL (default: $ECOMFLOW_DB, else sqlite:///ecomflow.db)"
_EPILOG = (
    "The store is the --db URL (memory://, sqlite:///FILE or postgresql://...), else "
    "$ECOMFLOW_DB, else sqlite:///ecomflow.db; the read-only commands (ls, events, replay) "
    "never create one. Exit status: 0 done, 1 replay found a problem, 2 an error."
)


def _parser() -> _Parser:
    parser = _Parser(
        prog="ecomflow",
        description="E-commerce transaction flows as guarded state machines.",
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="command"
    )

    def command(name: str, description: str) -> _Parser:
        sub: _Parser = commands.add_parser(name, help=description, description=description)
        return sub

    listing = command("list", "list the flows with their titles and seed sections")
    listing.add_argument("--lang", choices=LANGS, default="en")
    show = command("show", "draw a flow or a stored transaction: Mermaid, DOT or a picture")
    show.add_argument("flow", type=_shown_flow_name)
    show.add_argument(
        "--format",
        choices=(*FORMATS, *_PICTURES),
        default="mermaid",
        help="mermaid or dot print the source; svg, png or html write a picture drawn by "
        "Graphviz (apt-get install graphviz)",
    )
    show.add_argument("--lang", choices=LANGS, default="en")
    show.add_argument(
        "--tx", default=None, metavar="TX_ID", help="mark this stored transaction on the flow"
    )
    show.add_argument("--db", default=None, help=f"with --tx: {_DB_HELP}")
    show.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FILE",
        help="write here (default: the text to standard output, a picture to FLOW[-TX_ID].FORMAT)",
    )
    demo = command("demo", "walk a sample transaction through every step")
    demo.add_argument("flow", type=_flow_name)
    demo.add_argument("--lang", choices=LANGS, default="en")
    simulate = command("simulate", "drive random transactions of a flow into a store")
    simulate.add_argument("flow", type=_flow_name)
    simulate.add_argument("--orders", type=_positive, default=100)
    simulate.add_argument("--db", default=None, help=_DB_HELP)
    simulate.add_argument("--seed", type=int, default=None)
    simulate.add_argument("--lang", choices=LANGS, default="en")
    events = command("events", "list one stored transaction's events")
    events.add_argument("tx_id")
    events.add_argument("--db", default=None, help=_DB_HELP)
    events.add_argument(
        "-v", "--verbose", action="store_true", help="also show causation and correlation ids"
    )
    events.add_argument("--lang", choices=LANGS, default="en")
    ls = command("ls", "list stored transactions by flow, state or actor, a page at a time")
    ls.add_argument("--flow", default=None, help="only this flow")
    ls.add_argument("--state", default=None, help="this state or any state inside it")
    ls.add_argument("--actor", default=None, help="only transactions with an event by this actor")
    ls.add_argument("--limit", type=_page_size, default=50, help="rows per page (1 to 10,000)")
    ls.add_argument("--after", default=None, help="the cursor printed by the previous page")
    ls.add_argument("--db", default=None, help=_DB_HELP)
    ls.add_argument("--lang", choices=LANGS, default="en")
    replay = command("replay", "rebuild every stored transaction and projection; check the books")
    replay.add_argument("--db", default=None, help=_DB_HELP)
    replay.add_argument("--lang", choices=LANGS, default="en")
    worker.add_parser(command, _DB_HELP)
    return parser


def _page_size(value: str) -> int:
    number = _positive(value)
    if number > 10_000:
        raise argparse.ArgumentTypeError(f"must be at most 10000 (got {value!r})")
    return number


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number (got {value!r})")
    return number


def _list(lang: str, out: TextIO) -> None:
    width = max(len(name) for name in FLOWS)
    for name, flow in sorted(FLOWS.items()):
        title = flow.title.zh if lang == "zh" else f"{flow.title.en} / {flow.title.zh}"
        out.write(f"{name:<{width}}  {title}  {flow.source}\n")


def _event_labels(*flows: Flow[Any]) -> dict[str, Label]:
    """Return the label of every event the flows record, by event name."""
    return {
        emit.name: emit.label
        for flow in flows
        for transition in (flow.definition.start, *flow.definition.transitions)
        for emit in transition.emits
        if emit.label is not None
    }


def _print_events(
    events: Sequence[Event], lang: str, out: TextIO, labels: Mapping[str, Label]
) -> None:
    for event in events:
        stream = event.stream.zh if lang == "zh" else event.stream.value
        data = json.dumps(event.data, ensure_ascii=False, sort_keys=True)
        label = labels.get(event.name) if lang == "zh" else None
        name = event.name if label is None else f"{label.zh} {event.name}"
        out.write(f"    [{stream}] {name} {data}\n")


def _demo(name: str, lang: str, out: TextIO) -> None:
    flow = FLOWS[name]
    sample = FLOWS.sample(name)  # NoSample, before anything is printed
    labels = _event_labels(flow, EXCHANGE)
    out.write(f"{flow.title(lang)} ({flow.name}, {flow.source})\n")
    tx, prelude = sample.start_demo(flow)
    if prelude:
        where = prelude[0].tx_id
        out.write(
            f"交易开始前，{where} 上：\n"
            if lang == "zh"
            else f"Before the transaction, on {where}:\n"
        )
        _print_events(prelude, lang, out, labels)
    first = " + ".join(flow.state(name).label(lang) for name in tx.active_states)
    out.write(f"0. {flow.definition.start.label(lang)} -> {first}\n")
    _print_events(tx.events, lang, out, labels)
    for number, (trigger, payload) in enumerate(sample.steps, start=1):
        before = tx.state
        events = tx.fire(trigger, **payload)  # a step the flow refuses is a one-line error
        step = flow.engine.transition(before, trigger).label(lang)
        label = " + ".join(flow.state(name).label(lang) for name in tx.active_states)
        out.write(f"{number}. {step} ({trigger}): {before} -> {tx.state} ({label})\n")
        _print_events(events, lang, out, labels)
    touched = sorted({event.stream for event in tx.events}, key=lambda stream: stream.value)
    if lang == "zh":
        ended = " + ".join(flow.state(name).label("zh") for name in tx.active_states)
        out.write(
            f"结束于「{ended}」({tx.state})，共 {tx.version} 次转换；{len(tx.events)} 个事件，"
            f"涉及 {len(touched)} 个流：{'、'.join(stream.zh for stream in touched)}。\n"
        )
        return
    out.write(
        f"Finished in state {tx.state!r} after {tx.version} transitions; "
        f"{len(tx.events)} events in {len(touched)} streams: "
        f"{', '.join(stream.value for stream in touched)}.\n"
    )


_PICTURES = ("svg", "png", "html")
_WROTE = {"en": "Wrote {path}", "zh": "已写入 {path}"}


def _show(args: argparse.Namespace, out: TextIO) -> None:
    """Print a flow's diagram, or write its picture; with ``--tx``, the transaction marked."""
    if args.db is not None and args.tx is None:
        raise InvalidPayload(
            "Cannot show a flow from a store: --db needs --tx TX_ID.",
            zh="无法从存储中显示流程：--db 需要同时给出 --tx TX_ID。",
        )
    if args.format == "png" and args.output == "-":
        raise InvalidPayload(
            "Cannot write a png picture to standard output: name a file with -o FILE.",
            zh="无法把 png 图片写到标准输出：请用 -o FILE 指定文件。",
        )
    flow = _shown()[args.flow]
    tx = None if args.tx is None else _stored(args.tx, args.flow, args.db)
    text_format = args.format if args.format in FORMATS else "dot"
    diagram = (
        flow.diagram(text_format, args.lang) if tx is None else tx.diagram(text_format, args.lang)
    )
    content: str | bytes
    if args.format in FORMATS:
        content = diagram + "\n"
    elif args.format == "html":
        content = diagram.page(*(() if tx is None else (tx.board(args.lang)._repr_html_(),)))
    elif args.format == "svg":
        content = diagram.render("svg").decode("utf-8")
    else:
        content = diagram.render("png")
    path = args.output
    if isinstance(content, str) and (path == "-" or (path is None and args.format in FORMATS)):
        out.write(content)
        return
    if path is None:
        stem = args.flow if tx is None else f"{args.flow}-{tx.id}"
        path = re.sub(r"[^A-Za-z0-9._-]", "_", stem) + f".{args.format}"
    try:
        if isinstance(content, bytes):
            Path(path).write_bytes(content)
        else:
            Path(path).write_text(content, encoding="utf-8")
    except OSError as error:
        raise InvalidPayload(
            f"Cannot write {path!r}: {error.strerror or error}.",
            zh=f"无法写入 {path!r}（{error.strerror or error}）。",
        ) from None
    out.write(_WROTE[args.lang].format(path=path) + "\n")


def _stored(tx_id: str, flow: str, url: str | None) -> Transaction[Any]:
    """Return stored transaction ``tx_id`` of ``flow``, rebuilt from its events."""
    store = open_store(url, create=False)
    try:
        found, events = store.load(tx_id)
    except KeyError:
        raise _no_transaction(tx_id) from None
    finally:
        store.close()
    if found != flow:
        raise InvalidPayload(
            f"Cannot show transaction {tx_id!r} on the {flow} flow: it is a {found} "
            f"transaction; run ecomflow show {found} --tx {tx_id}.",
            zh=f"无法在 {flow} 流程上显示交易 {tx_id!r}：它是 {found} 交易；"
            f"请运行 ecomflow show {found} --tx {tx_id}。",
        )
    tx: Transaction[Any] = _shown()[flow].replay(events)
    return tx


def _no_transaction(tx_id: str) -> StoreError:
    return StoreError(f"No transaction {tx_id!r} in the store.", zh=f"存储中没有交易 {tx_id!r}。")


def _simulate(
    name: str, orders: int, url: str | None, seed: int | None, lang: str, out: TextIO
) -> None:
    scenario = FLOWS.scenario(name)  # NoSample, before a store is opened
    rng = random.Random(seed)
    store = open_store(url)
    repo = Repository(store, FLOWS)
    run = uuid.uuid4().hex[:6]
    states: Counter[str] = Counter()
    streams: Counter[str] = Counter()
    ledger = Ledger()  # in memory: the books of this run's transactions only

    def count(event: Event) -> None:
        streams[event.stream.value] += 1
        ledger.apply(event)

    # Only what this run commits is counted (from the repository's subscribers, after
    # each commit): nothing else of the store is read, however big it is.
    repo.subscribe(count)
    start = time.perf_counter()
    console = Console(file=out)
    # A bar only on a terminal: elsewhere rich would leave an empty line before the report.
    try:
        with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task(
                f"正在模拟 {name}" if lang == "zh" else f"simulating {name}", total=orders
            )
            for number in range(1, orders + 1):
                tx = scenario(rng, repo, f"{name}-{run}-{number}")
                states[tx.state] += 1
                bar.advance(task)
    finally:
        store.close()
    seconds = time.perf_counter() - start
    events = sum(streams.values())
    totals = ", ".join(f"{cur} {total}" for cur, total in sorted(ledger.totals().items()))
    balanced = all(total == 0 for total in ledger.totals().values())
    if lang == "zh":
        out.write(
            f"模拟了 {orders} 笔 {name} 交易，用时 {seconds:.2f} 秒"
            f"（每秒 {orders / seconds:,.0f} 笔交易、{events / seconds:,.0f} 个事件）。\n"
        )
        reached = "、".join(
            f"{_state_label(name, s, 'zh')} {n} 笔" for s, n in states.most_common()
        )
        out.write(f"到达的状态：{reached}。\n")
        per_stream = "、".join(f"{Stream(s).zh} {streams[s]} 个" for s in sorted(streams))
        out.write(f"各流的事件：{per_stream}。\n")
        totals_zh = "，".join(f"{cur} {total}" for cur, total in sorted(ledger.totals().items()))
        out.write(
            f"账本：本次运行 {len(ledger.postings)} 笔过账；合计 {totals_zh or '无'}"
            f"（{'平衡' if balanced else '不平衡'}）。\n"
        )
        return
    out.write(
        f"Simulated {orders} {name} transactions in {seconds:.2f} s "
        f"({orders / seconds:,.0f} transactions/s, {events / seconds:,.0f} events/s).\n"
    )
    out.write("States reached: " + ", ".join(f"{s} {n}" for s, n in states.most_common()) + "\n")
    out.write(
        "Events per stream: " + ", ".join(f"{s} {streams[s]}" for s in sorted(streams)) + "\n"
    )
    out.write(
        f"Ledger: {len(ledger.postings)} postings in this run; totals {totals or 'none'} "
        f"({'balanced' if balanced else 'NOT BALANCED'}).\n"
    )


def _events(tx_id: str, url: str | None, verbose: bool, lang: str, out: TextIO) -> None:
    store = open_store(url, create=False)
    try:
        flow, events = store.load(tx_id)
    except KeyError:
        raise _no_transaction(tx_id) from None
    finally:
        store.close()
    zh = lang == "zh"
    labels = _event_labels(*_shown().values()) if zh else {}
    out.write(
        f"{tx_id}（{flow}），{len(events)} 个事件\n"
        if zh
        else f"{tx_id} ({flow}), {len(events)} events\n"
    )
    for event in events:
        data = json.dumps(event.data, ensure_ascii=False, sort_keys=True)
        by = (
            ""
            if event.actor is None
            else (f" 执行者 {event.actor}" if zh else f" by {event.actor}")
        )
        label = labels.get(event.name)
        name = f"{label.zh} {event.name}" if label is not None else event.name
        stream = event.stream.zh if zh else event.stream.value
        out.write(
            f"  v{event.version}.{event.seq} {event.occurred_at.isoformat()} "
            f"[{stream}] {name}{by} {data}\n"
        )
        if verbose and zh:
            out.write(
                f"      执行者 {_or_none(event.actor)}，起因 {_or_none(event.causation_id)}，"
                f"关联 {_or_none(event.correlation_id)}，触发器 {event.trigger}，"
                f"流程版本 {event.flow_version}\n"
            )
        elif verbose:
            out.write(
                f"      actor {_or_none(event.actor)}, causation {_or_none(event.causation_id)}, "
                f"correlation {_or_none(event.correlation_id)}, trigger {event.trigger}, "
                f"flow version {event.flow_version}\n"
            )


def _or_none(value: str | None) -> str:
    return "-" if value is None else value


_LS_HEADINGS = {
    "en": ("id", "flow", "state", "version", "updated (UTC)", "summary"),
    "zh": ("编号", "流程", "状态", "版本", "更新时间 (UTC)", "摘要"),
}
_LS_TEXTS = {
    "en": ("No transactions found.", "Next page: --after {cursor}"),
    "zh": ("没有找到交易。", "下一页：--after {cursor}"),
}


def _ls(args: argparse.Namespace, out: TextIO) -> None:
    query = _Query(
        flow=args.flow,
        state=args.state,
        actor=args.actor,
        limit=min(args.limit + 1, 10_000) if args.limit < 10_000 else args.limit,
        after=args.after,
    )
    _check_query(attrs.evolve(query, limit=args.limit))  # refuse before opening the store
    store = open_store(args.db, create=False)
    try:
        rows = store.find(query)
        page, more = rows[: args.limit], len(rows) > args.limit
        if len(page) == 10_000:  # the largest page: one row past it says if there is more
            more = bool(store.find(attrs.evolve(query, limit=1, after=page[-1].cursor)))
    finally:
        store.close()
    none, next_page = _LS_TEXTS[args.lang]
    if not page:
        out.write(none + "\n")
        return
    table = Table(*_LS_HEADINGS[args.lang], box=box.SIMPLE_HEAD, pad_edge=False)
    for row in page:
        cells = (
            row.tx_id,
            row.flow,
            _state_label(row.flow, row.state, args.lang),
            str(row.version),
            row.updated_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            _summary_text(row.summary),
        )
        table.add_row(*(Text(cell) for cell in cells))  # stored text, never rich markup
    if _is_terminal(out):
        Console(file=out, highlight=False).print(table)
    else:  # no terminal width to fit: lines as long as the rows, without trailing blanks
        text = io.StringIO()
        Console(file=text, width=1000, highlight=False, color_system=None).print(table)
        lines = [line.rstrip() for line in text.getvalue().splitlines()]
        out.write("\n".join(line for line in lines if line) + "\n")
    if more:
        out.write(next_page.format(cursor=page[-1].cursor) + "\n")


def _is_terminal(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def _state_label(flow: str, state: str, lang: str) -> str:
    """Return ``state`` with its label in ``lang`` when the flow defines it."""
    if not state:
        return "?"
    definition = FLOWS.get(flow)
    if definition is None:
        return state
    labels = []
    for part in state.split("|"):
        try:
            labels.append(definition.state(part).label(lang))
        except KeyError:
            return state
    return f"{state} ({' + '.join(labels)})"


def _summary_text(summary: Mapping[str, Any]) -> str:
    parts = []
    for key in sorted(summary):
        value = summary[key]
        if isinstance(value, Mapping) and set(value) == {"amount", "currency"}:
            text = f"{value['currency']} {value['amount']}"
        elif isinstance(value, str):
            text = value
        elif value is None:
            text = "-"
        else:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def _replay(url: str | None, lang: str, out: TextIO) -> int:
    store = open_store(url, create=False)
    projections = (Ledger(), ShipmentTracker(), ContractRegister(), Inbox())
    flows: dict[str, str] = {}
    known_flows = _shown()  # an exchange's book is replayed too
    replay = _Replay()
    count = 0
    try:
        for record in _all(store):  # each event is read once, and folded in as it comes
            count += 1
            event = record.event
            flows.setdefault(event.tx_id, record.flow)
            if record.flow in known_flows:
                replay.add(known_flows[record.flow], event)
            for projection in projections:
                projection.apply(event)
    finally:
        store.close()
    replay.finish()
    failures = [
        f"{tx_id}: {' '.join(replay.failed[tx_id].message_in(lang).split())}"
        for tx_id in flows
        if tx_id in replay.failed
    ]
    known = replay.count
    ledger = projections[0]
    assert isinstance(ledger, Ledger)
    unbalanced = [p.event_id for p in ledger.postings if p.total != 0]
    totals = {cur: total for cur, total in ledger.totals().items() if total != 0}
    others = len(flows) - known
    balanced = not unbalanced and not totals
    if lang == "zh":
        out.write(
            f"重放了 {count} 个事件，涉及 {known} 笔交易：{known - len(failures)} 笔重建成功，"
            f"{len(failures)} 笔失败"
            + (f"；另有 {others} 笔属于本进程不认识的流程" if others else "")
            + "。\n"
        )
        out.write(f"账本：{len(ledger.postings)} 笔过账，{'平衡' if balanced else '不平衡'}。\n")
    else:
        _replay_summary(out, count, known, len(failures), others, len(ledger.postings), balanced)
    for failure in failures[:10]:
        out.write(f"  {failure}\n")
    return 1 if failures or unbalanced or totals else 0


def _replay_summary(
    out: TextIO, count: int, known: int, failed: int, others: int, postings: int, balanced: bool
) -> None:
    """Write ``replay``'s English summary."""
    out.write(
        f"Replayed {count} events of {known} transactions: "
        f"{known - failed} rebuilt, {failed} failed"
        + (f"; {others} of flows this process does not know" if others else "")
        + ".\n"
    )
    out.write(f"Ledger: {postings} postings, {'balanced' if balanced else 'NOT BALANCED'}.\n")


_FOLD_AT = 8
"""``replay`` folds a transaction's events in once it holds this many complete ones."""


class _Replay:
    """Rebuilds every transaction from its events in log order, holding no history.

    Each transaction keeps its state, version and context so far, and its newest events
    (at most :data:`_FOLD_AT` and the rest of their version) until the next version (or
    the end of the log) shows they are complete; then they are folded in. Memory: one
    state and a few events per transaction, not its history.
    """

    def __init__(self) -> None:
        self.states: dict[str, tuple[Any, int, Any]] = {}
        self.pending: dict[str, tuple[Any, list[Event]]] = {}
        self.failed: dict[str, EcomflowError] = {}
        self.count = 0

    def add(self, flow: Any, event: Event) -> None:
        """Take ``event`` of ``flow``'s transaction ``event.tx_id`` (in log order)."""
        tx_id = event.tx_id
        if tx_id in self.failed:
            return
        waiting = self.pending.get(tx_id)
        if waiting is None:
            if tx_id not in self.states:
                self.count += 1
            self.pending[tx_id] = (flow, [event])
        elif waiting[1][-1].version == event.version or len(waiting[1]) < _FOLD_AT:
            waiting[1].append(event)
        else:  # the versions held are complete: fold them in, a few at a time (cheaper)
            self._fold(tx_id)
            if tx_id not in self.failed:
                self.pending[tx_id] = (flow, [event])

    def finish(self) -> None:
        """Fold what every transaction still holds (the log has ended)."""
        for tx_id in list(self.pending):
            self._fold(tx_id)

    def _fold(self, tx_id: str) -> None:
        flow, events = self.pending.pop(tx_id)
        engine = flow.engine
        try:
            _, state, version, context = engine.replay(
                engine.upcast(events), self.states.get(tx_id)
            )
        except EcomflowError as error:
            self.failed[tx_id] = error
            self.states.pop(tx_id, None)
            return
        self.states[tx_id] = (state, version, context)


_PAGE = 10_000
"""How many events ``replay`` reads at a time."""


def _all(store: EventStore, after: int = 0) -> Iterator[Recorded]:
    position = after
    while records := store.read(after=position, limit=_PAGE):
        yield from records
        position = records[-1].position


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    0: done; 1: ``replay`` found a transaction it cannot rebuild or books that do not
    balance; 2: bad arguments or an ecomflow error, printed as one line on stderr;
    141 (128 + SIGPIPE, as for any Unix tool): the reader of the output went away.
    Output goes to ``out`` (default: standard output, where characters the terminal
    cannot encode — Chinese on an ASCII terminal — are replaced by ``?``).
    """
    if out is None:
        out = sys.stdout
        _replace_unencodable(out)
    try:
        try:
            return _run(argv, out)
        finally:
            out.flush()  # inside the try: a reader that has gone away is noticed here
    except BrokenPipeError:
        _discard_output(out)
        return 141


def _load_flows() -> None:
    """Load every flow, plug-ins included; one that fails to load is a warning line on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        len(FLOWS)
    for warning in caught:
        if issubclass(warning.category, PluginWarning):
            sys.stderr.write(f"ecomflow: warning: {' '.join(str(warning.message).split())}\n")
        else:  # not ours to reword
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )


def _run(argv: Sequence[str] | None, out: TextIO) -> int:
    _load_flows()
    args = _parser().parse_args(argv)
    lang = getattr(args, "lang", "en")
    try:
        if args.command == "list":
            _list(lang, out)
        elif args.command == "show":
            _show(args, out)
        elif args.command == "demo":
            _demo(args.flow, args.lang, out)
        elif args.command == "simulate":
            _simulate(args.flow, args.orders, args.db, args.seed, lang, out)
        elif args.command == "events":
            _events(args.tx_id, args.db, args.verbose, lang, out)
        elif args.command == "ls":
            _ls(args, out)
        elif args.command == "worker":
            return worker.run(args, out)
        else:
            return _replay(args.db, lang, out)
    except EcomflowError as error:
        message = " ".join(_message(error, lang).split())
        sys.stderr.write(
            f"ecomflow：错误：{message}\n" if lang == "zh" else f"ecomflow: error: {message}\n"
        )
        return 2
    return 0


def _message(error: EcomflowError, lang: str) -> str:
    """Return ``error``'s message in ``lang``.

    Two errors raised outside the command line are said in Chinese here: a flow without a
    sample, and Graphviz not installed.
    """
    if lang == "zh" and error.zh is None:
        if isinstance(error, NoSample):
            return f"流程 {error.flow} 没有示例（sample），无法演示或模拟。"
        if isinstance(error, GraphvizNotFound):
            return (
                f"无法画图：没有安装 Graphviz 的 dot 程序；请安装 graphviz 软件包（{_INSTALL}）。"
            )
    return error.message_in(lang)


def _replace_unencodable(stream: TextIO) -> None:
    """Let ``stream`` print ``?`` for what its encoding lacks instead of raising."""
    if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
        stream.reconfigure(errors="replace")


def _discard_output(stream: TextIO) -> None:
    """Point ``stream``'s descriptor at the null device, so the exit flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, stream.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # no descriptor (io.UnsupportedOperation is both)
        pass


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
