"""Projections: folds over the four streams that a shop's ledger and shipping code read.

- :class:`Ledger` (MONEY 资金流): double-entry postings; every posting sums to zero.
- :class:`ShipmentTracker` (LOGISTICS 物流): each transaction's shipment history and status.
- :class:`ContractRegister` (COMMERCE 商流): each transaction's commercial status and owner.
- :class:`Inbox` (INFORMATION 信息流): who was told what, and when.

Each applies :class:`Event` objects one at a time, ignores an event it has already seen,
and gives the same result rebuilt from the start. Used with :func:`fold` or ``apply``, a
projection lives **in memory** only: a new process starts empty. Run by a
:class:`Projector` (or :func:`ecomflow.store.consume`) it is **durable**: its state is
kept as rows (``kind``, ``key``, JSON value; money as strings) in the store's own
database, written in one database transaction with its checkpoint, so a restarted process
resumes with the right balances and a rebuild from position 0 gives the same rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar, final

import attrs

from ._errors import CorruptHistory
from ._events import Event, Stream
from .store._consumer import DurableProjection, Projector
from .vocabulary import DEAL_OPENED, OWNERSHIP_TRANSFERRED

__all__ = [
    "ContractRegister",
    "DurableProjection",
    "Inbox",
    "Ledger",
    "Notice",
    "Posting",
    "Projection",
    "Projector",
    "ShipmentTracker",
    "fold",
]

_DEAL_OPENED = frozenset(kind.name for kind in DEAL_OPENED)

RowReader = Callable[[str], Mapping[str, Mapping[str, Any]]]
"""What :meth:`restore` is given: a kind of row -> ``{key: JSON value}``."""


class Projection(Protocol):
    """Anything that folds events of some streams."""

    streams: frozenset[Stream]

    def apply(self, event: Event) -> None:
        """Fold one event in (idempotently)."""


class _Seen:
    """Remembers event ids so an event delivered twice is applied once."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def first_time(self, event: Event) -> bool:
        """Return True the first time ``event`` is seen."""
        event_id = event.event_id
        if event_id in self._ids:
            return False
        self._ids.add(event_id)
        return True

    def add(self, event_id: str) -> None:
        """Remember ``event_id`` (restored from a stored row)."""
        self._ids.add(event_id)


class _Rows:
    """Tracks which rows of a durable projection changed since they were last saved."""

    def __init__(self) -> None:
        self._dirty: set[tuple[str, str]] = set()

    def _touch(self, kind: str, key: str) -> None:
        self._dirty.add((kind, key))

    def _row(self, kind: str, key: str) -> Mapping[str, Any] | None:
        raise NotImplementedError  # pragma: no cover - every projection defines it

    def changes(self) -> dict[tuple[str, str], Mapping[str, Any] | None]:
        """Return the rows changed since the last call (``(kind, key)`` -> JSON value)."""
        changed = {entry: self._row(*entry) for entry in sorted(self._dirty)}
        self._dirty.clear()
        return changed


def _money(event: Event, money: Mapping[str, Any]) -> tuple[Decimal, str]:
    """Return the amount and currency of ``event``'s ``amount`` field, or raise CorruptHistory."""
    amount, currency = money.get("amount"), money.get("currency")
    try:
        value = Decimal(amount) if isinstance(amount, str) else None
    except ArithmeticError:
        value = None
    if value is None or not value.is_finite() or not isinstance(currency, str) or not currency:
        raise CorruptHistory(
            f"Cannot post event {event.event_id!r} ({event.name}) to the ledger: its amount "
            f"{amount!r} in {currency!r} is not a decimal amount with a currency; repair the "
            "stored event.",
            tx_id=event.tx_id,
            position=f"{event.version}:{event.seq}",
        )
    return value, currency


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


@final
@attrs.frozen
class Posting:
    """A balanced double-entry posting: ``legs`` of (account, signed amount) sum to zero."""

    event_id: str
    tx_id: str
    name: str
    currency: str
    legs: tuple[tuple[str, Decimal], ...]

    @property
    def total(self) -> Decimal:
        """The sum of the legs: always zero."""
        return sum((amount for _, amount in self.legs), Decimal(0))


@final
class Ledger(_Rows):
    """Double-entry ledger of the MONEY stream.

    An event whose data has ``amount`` (``{"amount": "…", "currency": "…"}``), ``from``
    and ``to`` moves money: it posts ``-amount`` to ``from`` and ``+amount`` to ``to``.
    Other MONEY events (authorizations, declines, fee memos) are kept as ``memos``.
    In memory unless run by a :class:`Projector`, which keeps rows of kinds ``balance``
    (key ``["account", "currency"]`` as JSON), ``posting`` and ``memo`` (key: event id).
    """

    streams = frozenset({Stream.MONEY})

    def __init__(self) -> None:
        super().__init__()
        self.clear()

    def clear(self) -> None:
        """Forget everything (the state of a new, empty ledger)."""
        self.postings: list[Posting] = []
        self.memos: list[Event] = []
        self._balances: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        # event id -> its place among postings or memos; also what was seen already
        self._number: dict[str, int] = {}
        self._dirty.clear()

    def apply(self, event: Event) -> None:
        """Post ``event`` (once).

        A posting whose amount is not a decimal with a currency raises
        :class:`~ecomflow.CorruptHistory` and changes nothing (the event is not taken as seen).
        """
        if event.stream is not Stream.MONEY or event.event_id in self._number:
            return
        data = event.data
        money = data.get("amount")
        if not (isinstance(money, dict) and data.get("from") and data.get("to")):
            self._number[event.event_id] = len(self.memos)
            self.memos.append(event)
            self._touch("memo", event.event_id)
            return
        amount, currency = _money(event, money)
        legs = ((str(data["from"]), -amount), (str(data["to"]), amount))
        posting = Posting(event.event_id, event.tx_id, event.name, currency, legs)
        self._number[event.event_id] = len(self.postings)
        self.postings.append(posting)
        self._touch("posting", event.event_id)
        for account, value in legs:
            self._balances[(account, currency)] += value
            self._touch("balance", json.dumps([account, currency], ensure_ascii=False))

    def _row(self, kind: str, key: str) -> Mapping[str, Any] | None:
        if kind == "balance":
            account, currency = json.loads(key)
            amount = self._balances.get((account, currency), Decimal(0))
            return {"account": account, "currency": currency, "amount": str(amount)}
        number = self._number[key]
        if kind == "posting":
            posting = self.postings[number]
            return {
                "number": number,
                "tx_id": posting.tx_id,
                "name": posting.name,
                "currency": posting.currency,
                "legs": [[account, str(amount)] for account, amount in posting.legs],
            }
        return {"number": number, "event": self.memos[number].to_json()}

    def restore(self, rows: RowReader) -> None:
        """Rebuild the ledger from its stored rows (see :class:`Projector`)."""
        for value in rows("balance").values():
            key = (str(value["account"]), str(value["currency"]))
            self._balances[key] = Decimal(value["amount"])
        postings = sorted(rows("posting").items(), key=lambda item: int(item[1]["number"]))
        for event_id, value in postings:
            legs = tuple((str(account), Decimal(amount)) for account, amount in value["legs"])
            self._number[event_id] = len(self.postings)
            self.postings.append(
                Posting(event_id, value["tx_id"], value["name"], value["currency"], legs)
            )
        for event_id, value in sorted(rows("memo").items(), key=lambda i: int(i[1]["number"])):
            self._number[event_id] = len(self.memos)
            self.memos.append(Event.from_json(value["event"]))

    def balance(self, account: str, currency: str) -> Decimal:
        """Return ``account``'s balance in ``currency`` (positive: it received money)."""
        return self._balances.get((account, currency), Decimal(0))

    def balances(self) -> dict[tuple[str, str], Decimal]:
        """Return every (account, currency) balance that is not zero."""
        return {key: value for key, value in self._balances.items() if value}

    def totals(self) -> dict[str, Decimal]:
        """Return the sum of all balances per currency: zero when the books balance."""
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for (_, currency), value in self._balances.items():
            totals[currency] += value
        return dict(totals)


@final
class ShipmentTracker(_Rows):
    """Each transaction's LOGISTICS history: ``(time, event name, data)``, and its status.

    In memory unless run by a :class:`Projector`: then one ``shipment`` row per
    transaction (key: its id).
    """

    streams = frozenset({Stream.LOGISTICS})

    def __init__(self) -> None:
        super().__init__()
        self.clear()

    def clear(self) -> None:
        """Forget everything."""
        self.history: dict[str, list[tuple[datetime, str, dict[str, Any]]]] = defaultdict(list)
        self._ids: dict[str, list[str]] = defaultdict(list)
        self._seen = _Seen()
        self._dirty.clear()

    def apply(self, event: Event) -> None:
        """Record ``event`` (once)."""
        if event.stream is Stream.LOGISTICS and self._seen.first_time(event):
            self.history[event.tx_id].append((event.occurred_at, event.name, dict(event.data)))
            self._ids[event.tx_id].append(event.event_id)
            self._touch("shipment", event.tx_id)

    def _row(self, kind: str, key: str) -> Mapping[str, Any] | None:
        steps = zip(self._ids[key], self.history[key], strict=True)
        return {
            "history": [
                {"event_id": event_id, "occurred_at": at.isoformat(), "name": name, "data": data}
                for event_id, (at, name, data) in steps
            ]
        }

    def restore(self, rows: RowReader) -> None:
        """Rebuild the tracker from its stored rows (see :class:`Projector`)."""
        for tx_id, value in rows("shipment").items():
            for step in value["history"]:
                entry = (_time(step["occurred_at"]), str(step["name"]), dict(step["data"]))
                self.history[tx_id].append(entry)
                self._ids[tx_id].append(step["event_id"])
                self._seen.add(step["event_id"])

    def status(self, tx_id: str) -> str | None:
        """Return the name of the last logistics event of ``tx_id``, or None."""
        history = self.history.get(tx_id)
        return history[-1][1] if history else None


@final
class ContractRegister(_Rows):
    """Each transaction's COMMERCE status, and who owns the goods after a transfer.

    In memory unless run by a :class:`Projector`: then one ``contract`` row per
    transaction (key: its id).
    """

    streams = frozenset({Stream.COMMERCE})

    def __init__(self) -> None:
        super().__init__()
        self.clear()

    def clear(self) -> None:
        """Forget everything."""
        self.status: dict[str, str] = {}
        self.owner: dict[str, str] = {}
        self.contracts: dict[str, dict[str, Any]] = {}
        self._ids: dict[str, list[str]] = defaultdict(list)
        self._seen = _Seen()
        self._dirty.clear()

    def apply(self, event: Event) -> None:
        """Record ``event`` (once)."""
        if event.stream is not Stream.COMMERCE or not self._seen.first_time(event):
            return
        self.status[event.tx_id] = event.name
        if event.name == OWNERSHIP_TRANSFERRED.name and "to" in event.data:
            self.owner[event.tx_id] = str(event.data["to"])
        if event.name in _DEAL_OPENED:
            self.contracts[event.tx_id] = dict(event.data)
        self._ids[event.tx_id].append(event.event_id)
        self._touch("contract", event.tx_id)

    def _row(self, kind: str, key: str) -> Mapping[str, Any] | None:
        return {
            "status": self.status[key],
            "owner": self.owner.get(key),
            "contract": self.contracts.get(key),
            "events": list(self._ids[key]),
        }

    def restore(self, rows: RowReader) -> None:
        """Rebuild the register from its stored rows (see :class:`Projector`)."""
        for tx_id, value in rows("contract").items():
            self.status[tx_id] = str(value["status"])
            if value.get("owner") is not None:
                self.owner[tx_id] = str(value["owner"])
            if value.get("contract") is not None:
                self.contracts[tx_id] = dict(value["contract"])
            for event_id in value["events"]:
                self._ids[tx_id].append(event_id)
                self._seen.add(event_id)


@final
@attrs.frozen
class Notice:
    """Something a party was told."""

    tx_id: str
    name: str
    occurred_at: datetime
    data: dict[str, Any]


@final
class Inbox(_Rows):
    """Who was told what, from the INFORMATION stream; notices without ``to`` are public.

    In memory unless run by a :class:`Projector`: then one ``notice`` row per notice
    and recipient (key: ``["recipient", "event id"]`` as JSON), so a busy public inbox
    costs one row per new notice.
    """

    streams = frozenset({Stream.INFORMATION})
    PUBLIC = "(public)"

    def __init__(self) -> None:
        super().__init__()
        self.clear()

    def clear(self) -> None:
        """Forget everything."""
        self.notices: dict[str, list[Notice]] = defaultdict(list)
        self._where: dict[str, tuple[str, int, str]] = {}  # row key -> recipient, place, id
        self._seen = _Seen()
        self._dirty.clear()

    def apply(self, event: Event) -> None:
        """File ``event`` (once) under each recipient."""
        if event.stream is not Stream.INFORMATION or not self._seen.first_time(event):
            return
        recipients = event.data.get("to", self.PUBLIC)
        listed = recipients if isinstance(recipients, (list, tuple)) else [recipients]
        for recipient in dict.fromkeys(str(name) for name in listed):  # each one once
            notice = Notice(event.tx_id, event.name, event.occurred_at, dict(event.data))
            inbox = self.notices[recipient]
            key = json.dumps([recipient, event.event_id], ensure_ascii=False)
            self._where[key] = (recipient, len(inbox), event.event_id)
            inbox.append(notice)
            self._touch("notice", key)

    def _row(self, kind: str, key: str) -> Mapping[str, Any] | None:
        recipient, number, event_id = self._where[key]
        notice = self.notices[recipient][number]
        return {
            "recipient": recipient,
            "number": number,
            "event_id": event_id,
            "tx_id": notice.tx_id,
            "name": notice.name,
            "occurred_at": notice.occurred_at.isoformat(),
            "data": notice.data,
        }

    def restore(self, rows: RowReader) -> None:
        """Rebuild the inbox from its stored rows (see :class:`Projector`)."""
        stored = sorted(
            rows("notice").items(), key=lambda item: (item[1]["recipient"], item[1]["number"])
        )
        for key, item in stored:
            recipient = str(item["recipient"])
            notice = Notice(
                str(item["tx_id"]),
                str(item["name"]),
                _time(item["occurred_at"]),
                dict(item["data"]),
            )
            self._where[key] = (recipient, len(self.notices[recipient]), item["event_id"])
            self.notices[recipient].append(notice)
            self._seen.add(item["event_id"])


P = TypeVar("P", bound=Projection)


def fold(projection: P, events: Iterable[Event]) -> P:
    """Apply ``events`` to ``projection`` in order (in memory); return it."""
    for event in events:
        projection.apply(event)
    return projection
