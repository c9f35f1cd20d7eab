"""Repository: load transactions, save their new events, run commands with retry, find them.

Subscribers of a repository (:meth:`Repository.subscribe`) see each event once, in
order, after the store committed it. Commands cost the same at version 10,000 as at
version 1: a loaded transaction is kept in a cache checked against the store's version,
and every ``snapshot_every`` versions its state is saved with the append, so a load reads
the snapshot and the events after it.
"""

from __future__ import annotations

import functools
import threading
import uuid
import weakref
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, final

import attrs

from .._bus import EventBus, Handler, Subscription
from .._deadlines import DeadlineChanges
from .._errors import (
    ConcurrencyConflict,
    CorruptHistory,
    GuardRejected,
    InvalidPayload,
    StoreError,
    SubscriberError,
    TransitionNotAllowed,
)
from .._events import Clock, Event, Stream, utc_now
from .._fingerprint import fingerprint, recorded_fingerprint
from .._flow import Flow, Transaction, check_who
from .._sensitive import check_text
from ._base import (
    Append,
    EventStore,
    Head,
    KeyRecord,
    Query,
    Summary,
    mismatch,
    same_request,
)

__all__ = ["Page", "Repository"]


@final
@attrs.frozen
class Page:
    """One page of :meth:`Repository.find`: its ``items`` and the cursor of the ``next`` page.

    ``next`` is ``None`` on the last page; pass it as ``after`` to get the next one.
    A page is iterable and has a length.
    """

    items: tuple[Summary, ...]
    next: str | None

    def __iter__(self) -> Iterator[Summary]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def _new_id() -> str:
    """Return a new random command id: 32 letters (a uuid4 without digits).

    Without digits it can never look like a card number, which the store refuses.
    """
    return uuid.uuid4().hex.translate(_LETTERS)


@attrs.frozen
class _Cached:
    """A loaded transaction as the cache keeps it: immutable parts, its events left in the store."""

    flow: Flow[Any]
    state: Any
    version: int
    context: Any
    correlation: str


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

    Every append also writes the transaction's row of the current-state table (its
    state, flow version and the flow's summary fields), which :meth:`find` lists, and
    every ``snapshot_every`` versions (``0``: never) a snapshot of its state. Up to
    ``cache_size`` loaded transactions (``0``: none) are kept; one is used only when the
    store still holds its version, and each load returns a fresh copy.

    Who did what: :meth:`start` and :meth:`execute` take ``actor``, ``causation_id``
    (default: the idempotency key, else a new random id per command) and
    ``correlation_id`` (default: the one the transaction was started with, else its
    id), stamped on every event they record.
    """

    def __init__(
        self,
        store: EventStore,
        flows: Mapping[str, Flow[Any]],
        *,
        clock: Clock | None = None,
        bus: EventBus | None = None,
        snapshot_every: int = 100,
        cache_size: int = 1000,
    ) -> None:
        if bus is not None and not isinstance(bus, EventBus):
            raise InvalidPayload(f"Cannot make a repository: bus {bus!r} is not an EventBus.")
        for name, value in (("snapshot_every", snapshot_every), ("cache_size", cache_size)):
            if type(value) is not int or value < 0:
                raise InvalidPayload(
                    f"Cannot make a repository: {name} must be an int from 0 (0 turns it "
                    f"off), not {value!r}."
                )
        self.snapshot_every = snapshot_every
        """Save a snapshot with the append that reaches each multiple of this version."""
        self.cache_size = cache_size
        """How many loaded transactions are kept (checked by version before use)."""
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.store = store
        self.flows = flows
        self.clock = clock
        self.bus: EventBus = EventBus() if bus is None else bus
        """Where committed events are published; see :meth:`subscribe`."""
        # id(tx) -> (weak reference, version saved): transactions are unhashable.
        # The configuration saved is kept too: an append arms and disarms deadlines by
        # the moves from it (None before the first append).
        self._saved: dict[int, tuple[weakref.ref[Transaction[Any]], int, Any]] = {}
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

        self._saved[key] = (weakref.ref(tx, forget), version, None if version < 0 else tx._state)

    def _base(self, tx: Transaction[Any]) -> int | None:
        entry = self._saved.get(id(tx))
        return entry[1] if entry is not None and entry[0]() is tx else None

    def start(
        self,
        flow: str,
        tx_id: str,
        /,
        *,
        actor: str | None = None,
        causation_id: str | None = None,
        correlation_id: str | None = None,
        **context: Any,
    ) -> Transaction[Any]:
        """Start transaction ``tx_id`` of ``flow`` and store its first events.

        ``actor``, ``causation_id`` (default: a new random id) and ``correlation_id``
        (default: ``tx_id``) say who did it; see :meth:`Flow.start`.
        """
        if flow not in self.flows:
            raise StoreError(
                f"Unknown flow {flow!r}; known: {', '.join(sorted(self.flows))}.",
                zh=f"未知流程 {flow!r}；已知：{', '.join(sorted(self.flows))}。",
            )
        if "bus" in context:
            # A transaction's own bus publishes when a trigger fires, before any
            # commit, and a later load would not have it: the repository publishes.
            raise InvalidPayload(
                f"Cannot start {flow} transaction {tx_id!r} with a bus of its own: "
                "a repository publishes every command's events after commit to its own "
                "subscribers; use repo.subscribe(handler) or Repository(store, flows, bus=bus)."
            )
        tx: Transaction[Any] = self.flows[flow].start(
            tx_id,
            clock=self.clock,
            actor=actor,
            causation_id=_new_id() if causation_id is None else causation_id,
            correlation_id=correlation_id,
            **context,
        )
        self._remember(tx, -1)
        self.save(tx)
        return tx

    def add(self, tx: Transaction[Any]) -> None:
        """Store a transaction started elsewhere (by an exchange, say) with all its events."""
        if tx.flow.name not in self.flows:
            raise StoreError(
                f"Transaction {tx.id!r} is of flow {tx.flow.name!r}, not known here.",
                zh=f"交易 {tx.id!r} 属于流程 {tx.flow.name!r}，这里不认识该流程。",
            )
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
        """Return transaction ``tx_id`` as stored now; KeyError if unknown.

        From the cache when the store still holds the cached version, else from its
        newest snapshot and the events after it, else by replaying every event (a
        snapshot written by another version of the flow is ignored). Each call returns
        a new object; its :attr:`~Transaction.events` are read from the store when read.
        """
        cached = self._cached(tx_id)
        tx: Transaction[Any]
        if cached is not None and cached.version == self.store.version(tx_id):
            tx = cached.flow.transaction_type(
                cached.flow,
                tx_id,
                cached.state,  # immutable: shared
                cached.version,
                cached.context,
                [],
                utc_now if self.clock is None else self.clock,
                None,
                cached.correlation,
                functools.partial(self._history, tx_id, cached.flow, cached.version),
            )
        else:
            tx = self._load_latest(tx_id)
            self._cache_put(tx)
        self._remember(tx, tx.version)
        return tx

    def _load_latest(self, tx_id: str) -> Transaction[Any]:
        latest = self.store.load_latest(tx_id)
        flow = self._flow_of(tx_id, latest.flow)
        snapshot = latest.snapshot
        clock = self.clock
        if snapshot is not None and snapshot.flow_version == flow.version:
            tx: Transaction[Any] = flow.restore(
                snapshot.data,
                latest.events,
                history=functools.partial(self._history, tx_id, flow, snapshot.version),
                clock=clock,
            )
            if (
                tx.id != tx_id
                or tx.version < snapshot.version
                or (not latest.events and tx.version != snapshot.version)
            ):
                raise CorruptHistory(
                    f"Cannot load {flow.name} transaction {tx_id!r}: its snapshot is of "
                    f"transaction {tx.id!r} at version {tx.version}, but it is stored as the "
                    f"snapshot of version {snapshot.version}; delete the snapshot to replay "
                    "the events instead.",
                    zh=f"无法加载 {flow.name} 交易 {tx_id!r}：其快照属于版本 {tx.version} 的交易 "
                    f"{tx.id!r}，却被存为版本 {snapshot.version} 的快照；"
                    "请删除该快照，改为重放事件。",
                    tx_id=tx_id,
                    position="snapshot",
                )
            return tx
        events = latest.events if snapshot is None else self.store.load(tx_id)[1]
        replayed: Transaction[Any] = flow.replay(events, clock=clock)
        return replayed

    def _flow_of(self, tx_id: str, flow: str) -> Flow[Any]:
        if flow not in self.flows:
            raise StoreError(
                f"Transaction {tx_id!r} is of flow {flow!r}, which is not known here.",
                zh=f"交易 {tx_id!r} 属于流程 {flow!r}，这里不认识该流程。",
            )
        return self.flows[flow]

    def _history(self, tx_id: str, flow: Flow[Any], version: int) -> list[Event]:
        """Return ``tx_id``'s stored events up to ``version``, upcast: a restored one's past."""
        _, events = self.store.load(tx_id)
        return list(flow.engine.upcast([event for event in events if event.version <= version]))

    def _cached(self, tx_id: str) -> _Cached | None:
        if not self.cache_size:
            return None
        with self._cache_lock:
            found = self._cache.get(tx_id)
            if found is not None:
                self._cache.move_to_end(tx_id)
            return found

    def _cache_put(self, tx: Transaction[Any]) -> None:
        if not self.cache_size:
            return
        entry = _Cached(tx.flow, tx._state, tx.version, tx.context, tx.correlation_id)
        with self._cache_lock:
            self._cache[tx.id] = entry
            self._cache.move_to_end(tx.id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _cache_drop(self, tx_id: str) -> None:
        with self._cache_lock:
            self._cache.pop(tx_id, None)

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
        new = tx._events_after(base)
        if not new:
            return
        head = self._head(tx, base, new)
        try:
            self.store.append(
                tx.flow.name, new, base, idempotency_key=key, fingerprint=fingerprint, head=head
            )
        except BaseException:
            self._cache_drop(tx.id)
            raise
        self._remember(tx, tx.version)
        self._cache_put(tx)
        self._publish(tx, new)

    def _head(self, tx: Transaction[Any], base: int, new: Sequence[Event]) -> Head:
        """Return the :class:`Head` an append of ``tx``'s ``new`` events (from ``base``) writes."""
        flow = tx.flow
        every = self.snapshot_every
        snapshot = (
            flow.snapshot(tx) if every and tx.version // every > max(base, 0) // every else None
        )
        timers = flow._timers
        deadlines = (
            None
            if timers is None
            else timers.changes(
                self._saved[id(tx)][2], new, tx.context, tx.id, history=lambda: tx.events
            )
        )
        return Head(tx.state, flow.version, flow.summary(tx), snapshot, deadlines)

    def _save_all(
        self, txs: Sequence[Transaction[Any]]
    ) -> list[tuple[Transaction[Any], Sequence[Event], ConcurrencyConflict | None]]:
        """Append the new events of each of ``txs``, committed together where the store can.

        For the deadline worker: one commit for many fires. Returns, per transaction,
        its new events and ``None`` (stored) or the :class:`ConcurrencyConflict` that
        refused it; nothing is published yet (the caller publishes what was stored).
        """
        batch = []
        for tx in txs:
            base = self._base(tx)
            if base is None:
                raise StoreError(
                    f"Transaction {tx.id!r} was not loaded or started through this repository."
                )
            new = tx._events_after(base)
            if new:
                batch.append((tx, new, Append(tx.flow.name, new, base, self._head(tx, base, new))))
        try:
            results = self.store.append_batch([append for _, _, append in batch])
        except BaseException:
            for tx, _, _ in batch:
                self._cache_drop(tx.id)
            raise
        done: list[tuple[Transaction[Any], Sequence[Event], ConcurrencyConflict | None]] = []
        for (tx, new, _), result in zip(batch, results, strict=True):
            if result is None:
                self._remember(tx, tx.version)
                self._cache_put(tx)
            else:
                self._cache_drop(tx.id)
            done.append((tx, new, result))
        return done

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
        actor: str | None = None,
        causation_id: str | None = None,
        correlation_id: str | None = None,
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

        ``actor``, ``causation_id`` (default: the idempotency key, else a new random id)
        and ``correlation_id`` are stamped on the events; see :meth:`Transaction.fire`.
        """
        if type(retries) is not int or retries < 0:
            raise InvalidPayload(
                f"Cannot {trigger} transaction {tx_id!r}: retries must be an int from 0 "
                f"(how many times to retry after a conflict), not {retries!r}."
            )
        if idempotency_key is not None:
            check_text(idempotency_key, "idempotency key")
        if causation_id is None:
            causation_id = _new_id() if idempotency_key is None else idempotency_key
        check_who(f"Cannot {trigger} transaction {tx_id!r}", actor, causation_id, correlation_id)
        for attempt in range(retries + 1):
            if idempotency_key is not None:
                recorded = self._outcome(idempotency_key, tx_id, trigger, payload)
                if recorded is not None:
                    return recorded
            tx = self.load(tx_id)
            try:
                events = tx.fire(
                    trigger,
                    actor=actor,
                    causation_id=causation_id,
                    correlation_id=correlation_id,
                    **payload,
                )
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

    def find(
        self,
        *,
        flow: str | None = None,
        state: str | None = None,
        updated_after: datetime | None = None,
        updated_before: datetime | None = None,
        actor: str | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> Page:
        """Return one :class:`Page` of the transactions that match, oldest update first.

        ``state`` matches the state and every state inside it (``"performance"``
        matches ``"performance.delivery"``); ``actor`` matches transactions with an event
        by that actor; ``updated_after``/``updated_before`` (aware datetimes) bound the
        last update, exclusive. ``after`` is the previous page's :attr:`Page.next`. An
        index seek in the database stores: it does not replay anything.

        Pages are ordered by last update: a transaction updated while you page moves to
        the end, so a later page lists it — again, if an earlier page already had it.
        None is ever skipped; de-duplicate by ``tx_id`` if you need each once.
        """
        query = Query(flow, state, updated_after, updated_before, actor, limit, after)
        items = tuple(self.store.find(query))
        more = len(items) == limit and type(limit) is int
        return Page(items, items[-1].cursor if more and items else None)

    def reindex(self) -> int:
        """Recompute the current-state row of every transaction whose state is unknown.

        After a store is migrated from schema version 2 its transactions are listed with
        state ``""``: this loads each one (by replay) and writes its state, flow version
        and summary (:meth:`EventStore.put_head`). Transactions of flows not known here
        are left as they are. Returns how many rows were written; safe to run again.
        """
        written = 0
        after: str | None = None
        while True:
            page = self.store.find(Query(state="", limit=500, after=after))
            for row in page:
                if row.flow not in self.flows:
                    continue
                tx = self._load_latest(row.tx_id)
                flow = tx.flow
                head = Head(tx.state, flow.version, flow.summary(tx))
                if self.store.put_head(row.tx_id, tx.version, head):
                    written += 1
            if len(page) < 500:
                return written
            after = page[-1].cursor

    def rearm(self) -> int:
        """Arm the missing deadlines of stored transactions; return how many rows it wrote.

        A transaction that entered a timed state before its flow had the timer (an order
        left unpaid before the direct sale gained ``expire``) has no deadline row, and no
        worker would fire it. Run this once after such an upgrade (``ecomflow worker
        --rearm`` does): it replays every transaction of a flow with timed transitions and
        writes the rows it lacks, at its current version and in one database transaction
        with its current-state row (:meth:`EventStore.put_head`), so a transaction that
        moves meanwhile is left to its own append. Rows already there are left as they
        are. Safe to run again: the second run writes nothing.
        """
        written = 0
        for name, flow in self.flows.items():
            timers = flow._timers
            if timers is None:
                continue
            after: str | None = None
            while True:
                page = self.store.find(Query(flow=name, limit=500, after=after))
                for row in page:
                    tx = self.load(row.tx_id)
                    have = {d.trigger for d in self.store.deadlines(row.tx_id)}
                    missing = tuple(d for d in timers.armed(tx) if d.trigger not in have)
                    if not missing:
                        continue
                    head = Head(
                        tx.state,
                        flow.version,
                        flow.summary(tx),
                        deadlines=DeadlineChanges((), missing),
                    )
                    if self.store.put_head(row.tx_id, tx.version, head):
                        written += len(missing)
                if len(page) < 500:
                    break
                after = page[-1].cursor
        return written

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
        older = False
        if first_flow is not None:  # in the shape the flow knows now, as a load returns them
            older = any(event.flow_version < first_flow.version for event in recorded)
            recorded = list(first_flow.engine.upcast(recorded))
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
        if older and first_flow is not None and recorded and not same_request(found, attempt):
            # Recorded by an older version of the flow: its payload, upcast, is the request
            # in the shape the flow knows now (a new field takes its default).
            found = attrs.evolve(
                found, fingerprint=recorded_fingerprint(first_flow, recorded[0]) or ""
            )
        if not same_request(found, attempt):
            raise mismatch(key, found, attempt)
        return tuple(recorded)
