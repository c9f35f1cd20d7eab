"""``ecomflow worker``: fire a store's due deadlines, next to a shop, until stopped.

It polls the store every ``--poll`` seconds and fires what is due through a
:class:`~ecomflow.store.DeadlineWorker` (each deadline exactly once, never early; see
docs/deadlines.md). SIGTERM or SIGINT (Ctrl-C) stops it after the deadline in hand;
``--once`` fires what is due now and exits; ``--rearm`` first arms the missing deadlines
of transactions stored before their flow had its timers. Several workers may share one PostgreSQL
store: they divide the due deadlines between them.
"""

from __future__ import annotations

import argparse
import signal
from types import FrameType
from typing import Any, TextIO

from .._diagram import LANGS
from ..flows import FLOWS
from ..store import DeadlineWorker, Repository, open_store

__all__ = ["add_parser", "run"]

_TEXT = {
    "started": (
        "worker {name} started on {url}: firing due deadlines every {poll} s",
        "期限处理器 {name} 已在 {url} 启动：每 {poll} 秒触发到期的期限",
    ),
    "fired": (
        "fired {fired} deadline(s), dropped {dropped} whose transaction had moved on",
        "已触发 {fired} 个期限，丢弃 {dropped} 个（其交易已离开该状态）",
    ),
    "stopped": ("worker {name} stopped", "期限处理器 {name} 已停止"),
    "rearmed": (
        "armed {armed} missing deadline(s) of stored transactions",
        "已为已存储的交易补设 {armed} 个缺失的期限",
    ),
}


def _say(out: TextIO, lang: str, key: str, **values: Any) -> None:
    en, zh = _TEXT[key]
    out.write((zh if lang == "zh" else en).format(**values) + "\n")
    out.flush()


def _seconds(value: str) -> float:
    """Parse a poll interval: a positive number of seconds, at most an hour."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 < number <= 3600:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 3600 (got {value!r})")
    return number


def add_parser(command: Any, db_help: str) -> None:
    """Declare ``worker`` and its options with ``command(name, description)``."""
    worker = command("worker", "fire due deadlines (unpaid orders, offers, claim periods)")
    worker.add_argument("--db", default=None, help=db_help)
    worker.add_argument(
        "--poll", type=_seconds, default=1.0, help="seconds between looks (default 1)"
    )
    worker.add_argument("--once", action="store_true", help="fire what is due now, then exit")
    worker.add_argument("--batch", type=int, default=100, help="due rows read at a time")
    worker.add_argument("--name", default=None, help="this worker's name in its claims")
    worker.add_argument(
        "--lease",
        type=_seconds,
        default=10.0,
        help="seconds a claimed row stays this worker's (default 10)",
    )
    worker.add_argument(
        "--rearm",
        action="store_true",
        help="first arm the missing deadlines of stored transactions (after an upgrade)",
    )
    worker.add_argument("--lang", choices=LANGS, default="en")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``ecomflow worker`` with parsed ``args``; return the exit code (0)."""
    store = open_store(args.db, create=False)
    try:
        repo = Repository(store, FLOWS)
        worker = DeadlineWorker(repo, batch=args.batch, name=args.name, lease=args.lease)
        url = args.db or "$ECOMFLOW_DB"
        if args.rearm:
            _say(out, args.lang, "rearmed", armed=repo.rearm())
        if args.once:
            worker.run_due()
        else:

            def stop(signum: int, frame: FrameType | None) -> None:
                worker.stop()

            previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
            try:
                _say(out, args.lang, "started", name=worker.name, url=url, poll=args.poll)
                worker.run(args.poll)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            _say(out, args.lang, "stopped", name=worker.name)
        _say(out, args.lang, "fired", fired=worker.fired, dropped=worker.dropped)
    finally:
        store.close()
    return 0
