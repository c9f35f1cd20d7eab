"""Projections: folds over the four streams that a shop's ledger and shipping code read.

- :class:`Ledger` (MONEY 资金流): double-entry postings; every posting sums to zero.
- :class:`ShipmentTracker` (LOGISTICS 物流): each transaction's shipment history and status.
- :class:`ContractRegister` (COMMERCE 商流): each transaction's commercial status and owner.
- :class:`Inbox` (INFORMATION 信息流): who was told what, and when.

Each applies :class:`Event` objects one at a time, ignores an event it has already seen
(consumers are at-least-once), and gives the same result rebuilt from the start.
:func:`ecomflow.store.consume` runs one over a store from a stored checkpoint.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar, final

import attrs

from ._events import Event, Stream

__all__ = [
    "ContractRegister",
    "Inbox",
    "Ledger",
    "Notice",
    "Posting",
    "Projection",
    "ShipmentTracker",
    "fold",
]


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
class Ledger:
    """Double-entry ledger of the MONEY stream.

    An event whose data has ``amount`` (``{"amount": "…", "currency": "…"}``), ``from``
    and ``to`` moves money: it posts ``-amount`` to ``from`` and ``+amount`` to ``to``.
    Other MONEY events (authorizations, declines, fee memos) are kept as ``memos``.
    """

    streams = frozenset({Stream.MONEY})

    def __init__(self) -> None:
        self.postings: list[Posting] = []
        self.memos: list[Event] = []
        self._balances: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self._seen = _Seen()

    def apply(self, event: Event) -> None:
        """Post ``event`` (once)."""
        if event.stream is not Stream.MONEY or not self._seen.first_time(event):
            return
        data = event.data
        money = data.get("amount")
        if not (isinstance(money, dict) and data.get("from") and data.get("to")):
            self.memos.append(event)
            return
        amount, currency = Decimal(money["amount"]), money["currency"]
        legs = ((str(data["from"]), -amount), (str(data["to"]), amount))
        posting = Posting(event.event_id, event.tx_id, event.name, currency, legs)
        self.postings.append(posting)
        for account, value in legs:
            self._balances[(account, currency)] += value

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
class ShipmentTracker:
    """Each transaction's LOGISTICS history: ``(time, event name, data)``, and its status."""

    streams = frozenset({Stream.LOGISTICS})

    def __init__(self) -> None:
        self.history: dict[str, list[tuple[datetime, str, dict[str, Any]]]] = defaultdict(list)
        self._seen = _Seen()

    def apply(self, event: Event) -> None:
        """Record ``event`` (once)."""
        if event.stream is Stream.LOGISTICS and self._seen.first_time(event):
            self.history[event.tx_id].append((event.occurred_at, event.name, dict(event.data)))

    def status(self, tx_id: str) -> str | None:
        """Return the name of the last logistics event of ``tx_id``, or None."""
        history = self.history.get(tx_id)
        return history[-1][1] if history else None


@final
class ContractRegister:
    """Each transaction's COMMERCE status, and who owns the goods after a transfer."""

    streams = frozenset({Stream.COMMERCE})

    def __init__(self) -> None:
        self.status: dict[str, str] = {}
        self.owner: dict[str, str] = {}
        self.contracts: dict[str, dict[str, Any]] = {}
        self._seen = _Seen()

    def apply(self, event: Event) -> None:
        """Record ``event`` (once)."""
        if event.stream is not Stream.COMMERCE or not self._seen.first_time(event):
            return
        self.status[event.tx_id] = event.name
        if event.name == "ownership_transferred" and "to" in event.data:
            self.owner[event.tx_id] = str(event.data["to"])
        if event.name in ("contract_concluded", "trade_matched", "order_placed"):
            self.contracts[event.tx_id] = dict(event.data)


@final
@attrs.frozen
class Notice:
    """Something a party was told."""

    tx_id: str
    name: str
    occurred_at: datetime
    data: dict[str, Any]


@final
class Inbox:
    """Who was told what, from the INFORMATION stream; notices without ``to`` are public."""

    streams = frozenset({Stream.INFORMATION})
    PUBLIC = "(public)"

    def __init__(self) -> None:
        self.notices: dict[str, list[Notice]] = defaultdict(list)
        self._seen = _Seen()

    def apply(self, event: Event) -> None:
        """File ``event`` (once) under each recipient."""
        if event.stream is not Stream.INFORMATION or not self._seen.first_time(event):
            return
        recipients = event.data.get("to", self.PUBLIC)
        for recipient in recipients if isinstance(recipients, list) else [recipients]:
            notice = Notice(event.tx_id, event.name, event.occurred_at, dict(event.data))
            self.notices[str(recipient)].append(notice)


P = TypeVar("P", bound=Projection)


def fold(projection: P, events: Iterable[Event]) -> P:
    """Apply ``events`` to ``projection`` in order; return it."""
    for event in events:
        projection.apply(event)
    return projection
