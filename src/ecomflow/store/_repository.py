"""Repository: load transactions by replay, save their new events, run commands with retry.

Subscribers of a repository (:meth:`Repository.subscribe`) see each event once, in
order, after the store committed it.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, final

import attrs

from .._bus import EventBus, Handler, Subscription
from .._errors import (
    ConcurrencyConflict,
    GuardRejected,
    InvalidPayload,
    StoreError,
    SubscriberError,
    TransitionNotAllowed,
)
from .._events import Clock, Event, Stream
from .._fingerprint import fingerprint, recorded_fingerprint
from .._flow import Flow
from .._sensitive import check_text
from .._transaction import Transaction
from ._base import EventStore, KeyRecord, mismatch, same_request

__all__ = ["Repository"]


@final
class Repository:
    """Loads and saves transactions of ``flows`` (name → Flow) in ``store``.

    Pass the flows in (usually ``ecomflow.FLOWS``): the store layer does not import
    them. A transaction remembers the version it was loaded or saved at, so saving a
    stale copy raises :class:`ConcurrencyConflict` instead of overwriting history.

    Every event a command stores (:meth:`start`, :meth:`add`, :meth:`save`,
    :meth:`execute`) is then published on :attr:`bus` — the ``bus`` given here, or a
    new one — once, in commit order: subscribe with :meth:`subscribe`. Nothing is
    published for a refused or conflicting command or a repeated request. This is
    in process only; across restarts, read the store with :func:`~ecomflow.store.consume`.
    """

    def __init__(
        self,
        store: EventStore,
        flows: Mapping[str, Flow[Any]],
        *,
        clock: Clock | None = None,
        bus: EventBus | None = None,
    ) -> None:
        if bus is not None and not isinstance(bus, EventBus):
            raise InvalidPayload(f"Cannot make a repository: bus {bus!r} is not an EventBus.")
        self.store = store
        self.flows = flows
        self.clock = clock
        self.bus: EventBus = EventBus() if bus is None else bus
        """Where committed events are published; see :meth:`subscribe`."""
        # id(tx) -> (weak reference, version saved): transactions are unhashable.
        self._saved: dict[int, tuple[weakref.ref[Transaction[Any]], int]] = {}
        # Committed batches waiting for delivery, per thread: a handler that runs a
        # command queues its events behind the ones being delivered (commit order).
        self._delivery = threading.local()

    def subscribe(self, handler: Handler, *streams: Stream) -> Subscription:
        """Call ``handler`` with each event of ``streams`` (all if none) once it is stored.

        Returns the :class:`~ecomflow.Subscription`; ``cancel()`` it to stop. A
        handler that raises does not undo the commit: the command raises
        :class:`~ecomflow.SubscriberError` after every handler had the events.
        """
        return self.bus.subscribe(handler, *streams)

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
        if "bus" in context:
            # A transaction's own bus publishes when a trigger fires, before any
            # commit, and a later load would not have it: the repository publishes.
            raise InvalidPayload(
                f"Cannot start {flow} transaction {tx_id!r} with a bus of its own: "
                "a repository publishes every command's events after commit to its own "
                "subscribers; use repo.subscribe(handler) or Repository(store, flows, bus=bus)."
            )
        tx: Transaction[Any] = self.flows[flow].start(tx_id, clock=self.clock, **context)
        self._remember(tx, -1)
        self.save(tx)
        return tx

    def add(self, tx: Transaction[Any]) -> None:
        """Store a transaction started elsewhere (by an exchange, say) with all its events."""
        if tx.flow.name not in self.flows:
            raise StoreError(f"Transaction {tx.id!r} is of flow {tx.flow.name!r}, not known here.")
        if tx._bus is self.bus:
            # It published when its triggers fired; saving would deliver each event twice.
            raise InvalidPayload(
                f"Cannot add transaction {tx.id!r} in state {tx.state!r}: it publishes on "
                "this repository's bus itself, so its events would be delivered twice; "
                "start it without a bus and the repository publishes them after commit."
            )
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
        """Append the events ``tx`` recorded since it was loaded or last saved, atomically.

        ``idempotency_key`` is recorded with the last trigger and no payload fingerprint;
        :meth:`execute` binds a key to its whole request.
        """
        self._save(tx, idempotency_key, "")

    def _save(self, tx: Transaction[Any], key: str | None, fingerprint: str) -> None:
        base = self._base(tx)
        if base is None:
            raise StoreError(
                f"Transaction {tx.id!r} was not loaded or started through this repository."
            )
        new = [event for event in tx.events if event.version > base]
        if not new:
            return
        self.store.append(tx.flow.name, new, base, idempotency_key=key, fingerprint=fingerprint)
        self._remember(tx, tx.version)
        self._publish(tx, new)

    def _publish(self, tx: Transaction[Any], events: Sequence[Event]) -> None:
        """Deliver committed ``events`` of ``tx``, after any batch already being delivered.

        Raises :class:`SubscriberError` once the queue is drained if a handler failed;
        the events stay committed.
        """
        queue: deque[tuple[Transaction[Any], Sequence[Event]]] | None = getattr(
            self._delivery, "queue", None
        )
        if queue is not None:  # called from a handler: the outer call delivers it
            queue.append((tx, events))
            return
        queue = self._delivery.queue = deque([(tx, events)])
        failed: list[tuple[Transaction[Any], Sequence[BaseException]]] = []
        try:
            while queue:
                batch_tx, batch = queue.popleft()
                errors = self.bus.publish(batch)
                if errors:
                    failed.append((batch_tx, errors))
        finally:
            self._delivery.queue = None
        if failed:
            first_tx = failed[0][0]
            errors = [error for _, batch_errors in failed for error in batch_errors]
            raise SubscriberError(
                f"Transaction {first_tx.id!r} moved to state {first_tx.state!r} (version "
                f"{first_tx.version}) and was stored, but {len(errors)} subscriber(s) "
                f"failed; first: {errors[0]!r}.",
                errors=errors,
                transaction=first_tx,
            )

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
        An ``idempotency_key`` belongs to one request: this transaction, this trigger and
        this payload (its fingerprint; defaults given or omitted are the same request).
        The same request again (a payment gateway's repeated callback, even one racing
        the first) applies nothing and returns the events recorded then; another
        request with the key raises :class:`~ecomflow.IdempotencyMismatch` and applies
        nothing. The key is checked again in the database transaction that appends.
        """
        if idempotency_key is not None:
            check_text(idempotency_key, "idempotency key")
        for attempt in range(retries + 1):
            if idempotency_key is not None:
                recorded = self._outcome(idempotency_key, tx_id, trigger, payload)
                if recorded is not None:
                    return recorded
            tx = self.load(tx_id)
            try:
                events = tx.fire(trigger, **payload)
            except (TransitionNotAllowed, GuardRejected):
                # A duplicate may load after the first writer committed and find the
                # trigger no longer allowed: its outcome is the recorded one.
                if idempotency_key is not None:
                    recorded = self._outcome(idempotency_key, tx_id, trigger, payload)
                    if recorded is not None:
                        return recorded
                raise
            try:
                self._save(
                    tx,
                    idempotency_key,
                    fingerprint(tx.flow, trigger, payload) if idempotency_key is not None else "",
                )
            except ConcurrencyConflict:
                if idempotency_key is not None:
                    recorded = self._outcome(idempotency_key, tx_id, trigger, payload)
                    if recorded is not None:
                        return recorded
                if attempt == retries:
                    raise
                continue
            return events
        raise AssertionError("unreachable")  # pragma: no cover

    def _outcome(
        self, key: str, tx_id: str, trigger: str, payload: dict[str, Any]
    ) -> tuple[Event, ...] | None:
        """Return the events recorded with ``key`` for this request, ``None`` if unused.

        Raises :class:`~ecomflow.IdempotencyMismatch` when ``key`` was used for
        another request.
        """
        found = self.store.find_idempotency_key(key)
        if found is None:
            return None
        flow_name, events = self.store.load(found.tx_id)
        recorded = [event for event in events if event.version == found.version]
        first_flow = self.flows.get(flow_name)
        if found.tx_id == tx_id:
            flow = first_flow
        else:
            try:
                flow = self.flows.get(self.store.load(tx_id)[0])
            except KeyError:
                flow = None
        attempt = KeyRecord(tx_id, found.version, trigger, fingerprint(flow, trigger, payload))
        if not found.trigger and recorded:
            # A key a schema-1 process wrote after the store was migrated: no trigger.
            found = attrs.evolve(found, trigger=recorded[-1].trigger)
        if not found.fingerprint and first_flow is not None and recorded:
            # A key recorded without a fingerprint (by Repository.save, or a store of
            # schema version 1): rebuild the request from its recorded payload.
            found = attrs.evolve(
                found, fingerprint=recorded_fingerprint(first_flow, recorded[0]) or ""
            )
        if not same_request(found, attempt):
            raise mismatch(key, found, attempt)
        return tuple(recorded)
