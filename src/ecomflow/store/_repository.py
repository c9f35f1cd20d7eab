"""Repository: load transactions by replay, save their new events, run commands with retry."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any, final

from .._errors import ConcurrencyConflict, StoreError
from .._events import Clock, Event
from .._flow import Flow
from .._transaction import Transaction
from ._base import EventStore

__all__ = ["Repository"]


@final
class Repository:
    """Loads and saves transactions of ``flows`` (name → Flow) in ``store``.

    Pass the flows in (usually ``ecomflow.FLOWS``): the store layer does not import
    them. A transaction remembers the version it was loaded or saved at, so saving a
    stale copy raises :class:`ConcurrencyConflict` instead of overwriting history.
    """

    def __init__(
        self, store: EventStore, flows: Mapping[str, Flow[Any]], *, clock: Clock | None = None
    ) -> None:
        self.store = store
        self.flows = flows
        self.clock = clock
        # id(tx) -> (weak reference, version saved): transactions are unhashable.
        self._saved: dict[int, tuple[weakref.ref[Transaction[Any]], int]] = {}

    def _remember(self, tx: Transaction[Any], version: int) -> None:
        key = id(tx)

        def forget(_: object) -> None:
            self._saved.pop(key, None)

        self._saved[key] = (weakref.ref(tx, forget), version)

    def _base(self, tx: Transaction[Any]) -> int | None:
        entry = self._saved.get(id(tx))
        return entry[1] if entry is not None and entry[0]() is tx else None

    def start(self, flow: str, tx_id: str, /, **context: Any) -> Transaction[Any]:
        """Start transaction ``tx_id`` of ``flow`` and store its first events."""
        if flow not in self.flows:
            raise StoreError(f"Unknown flow {flow!r}; known: {', '.join(sorted(self.flows))}.")
        tx: Transaction[Any] = self.flows[flow].start(tx_id, clock=self.clock, **context)
        self._remember(tx, -1)
        self.save(tx)
        return tx

    def add(self, tx: Transaction[Any]) -> None:
        """Store a transaction started elsewhere (by an exchange, say) with all its events."""
        if tx.flow.name not in self.flows:
            raise StoreError(f"Transaction {tx.id!r} is of flow {tx.flow.name!r}, not known here.")
        self._remember(tx, -1)
        self.save(tx)

    def load(self, tx_id: str) -> Transaction[Any]:
        """Rebuild transaction ``tx_id`` from its stored events; KeyError if unknown."""
        flow, events = self.store.load(tx_id)
        if flow not in self.flows:
            raise StoreError(f"Transaction {tx_id!r} is of flow {flow!r}, which is not known here.")
        tx: Transaction[Any] = self.flows[flow].replay(events, clock=self.clock)
        self._remember(tx, tx.version)
        return tx

    def save(self, tx: Transaction[Any], *, idempotency_key: str | None = None) -> None:
        """Append the events ``tx`` recorded since it was loaded or last saved, atomically."""
        base = self._base(tx)
        if base is None:
            raise StoreError(
                f"Transaction {tx.id!r} was not loaded or started through this repository."
            )
        new = [event for event in tx.events if event.version > base]
        if not new:
            return
        self.store.append(tx.flow.name, new, base, idempotency_key=idempotency_key)
        self._remember(tx, tx.version)

    def execute(
        self,
        tx_id: str,
        trigger: str,
        /,
        *,
        idempotency_key: str | None = None,
        retries: int = 3,
        **payload: Any,
    ) -> tuple[Event, ...]:
        """Load ``tx_id``, fire ``trigger`` with ``payload`` and save, retrying on conflicts.

        After a conflict the transaction is reloaded and its guards are checked again.
        A command whose ``idempotency_key`` was already applied (a payment gateway's
        repeated callback) applies nothing and returns the events it recorded then.
        """
        for attempt in range(retries + 1):
            recorded = self._recorded(idempotency_key)
            if recorded is not None:
                return recorded
            tx = self.load(tx_id)
            events = tx.fire(trigger, **payload)
            try:
                self.save(tx, idempotency_key=idempotency_key)
            except ConcurrencyConflict:
                if attempt == retries:
                    raise
                continue
            return events
        raise AssertionError("unreachable")  # pragma: no cover

    def _recorded(self, key: str | None) -> tuple[Event, ...] | None:
        if key is None:
            return None
        found = self.store.find_idempotency_key(key)
        if found is None:
            return None
        tx_id, version = found
        _, events = self.store.load(tx_id)
        return tuple(event for event in events if event.version == version)
