"""The ``ecomflow`` command: list the flows, draw one, or walk a sample transaction."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from ._demos import DEMOS, start_demo
from ._diagram import FORMATS, LANGS
from ._errors import EcomflowError
from ._events import Event
from .flows import FLOWS

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"ecomflow: error: {message}\n")


def _flow_name(value: str) -> str:
    if value not in FLOWS:
        raise argparse.ArgumentTypeError(
            f"unknown flow {value!r}; choose from: {', '.join(sorted(FLOWS))}"
        )
    return value


def _parser() -> _Parser:
    parser = _Parser(
        prog="ecomflow",
        description="E-commerce transaction flows as guarded state machines.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("list", help="list the flows")
    show = commands.add_parser("show", help="print a flow's diagram")
    show.add_argument("flow", type=_flow_name)
    show.add_argument("--format", choices=FORMATS, default="mermaid")
    show.add_argument("--lang", choices=LANGS, default="en")
    demo = commands.add_parser("demo", help="walk a sample transaction through every step")
    demo.add_argument("flow", type=_flow_name)
    demo.add_argument("--lang", choices=LANGS, default="en")
    return parser


def _list(out: TextIO) -> None:
    width = max(len(name) for name in FLOWS)
    for name, flow in FLOWS.items():
        out.write(f"{name:<{width}}  {flow.title.en} / {flow.title.zh}  {flow.source}\n")


def _print_events(events: Sequence[Event], lang: str, out: TextIO) -> None:
    for event in events:
        stream = event.stream.zh if lang == "zh" else event.stream.value
        data = json.dumps(event.data, ensure_ascii=False, sort_keys=True)
        out.write(f"    [{stream}] {event.name} {data}\n")


def _demo(name: str, lang: str, out: TextIO) -> None:
    flow = FLOWS[name]
    out.write(f"{flow.title(lang)} ({flow.name}, {flow.source})\n")
    tx, prelude = start_demo(name)
    if prelude:
        out.write(f"Before the transaction, on {prelude[0].tx_id}:\n")
        _print_events(prelude, lang, out)
    first = " + ".join(flow.state(name).label(lang) for name in tx.active_states)
    out.write(f"0. {flow.definition.start.label(lang)} -> {first}\n")
    _print_events(tx.events, lang, out)
    for number, (trigger, payload) in enumerate(DEMOS[name][1], start=1):
        step = flow.engine.transition(tx.state, trigger).label(lang)
        before = tx.state
        events = tx.fire(trigger, **payload)
        label = " + ".join(flow.state(name).label(lang) for name in tx.active_states)
        out.write(f"{number}. {step} ({trigger}): {before} -> {tx.state} ({label})\n")
        _print_events(events, lang, out)
    touched = sorted({event.stream.value for event in tx.events})
    out.write(
        f"Finished in state {tx.state!r} after {tx.version} transitions; "
        f"{len(tx.events)} events in {len(touched)} streams: {', '.join(touched)}.\n"
    )


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    out = sys.stdout if out is None else out
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            _list(out)
        elif args.command == "show":
            out.write(FLOWS[args.flow].diagram(args.format, args.lang) + "\n")
        else:
            _demo(args.flow, args.lang, out)
    except EcomflowError as error:
        sys.stderr.write(f"ecomflow: error: {error}\n")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
