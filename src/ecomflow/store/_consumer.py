"""Consumers: read a store from a stored checkpoint, in order.

Two kinds. :func:`consume` feeds any object with an ``apply`` method and saves a
checkpoint after each batch: at least once, and the object's state is its own business
(in memory, it is gone after a restart). A :class:`DurableProjection` (the four in
:mod:`ecomflow.projections`) is run by a :class:`Projector` instead: its rows and its
checkpoint are written in one database transaction of the store itself, so a restarted
process resumes with the state it had, and nothing is counted twice.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from .._errors import ConcurrencyConflict, InvalidPayload
from .._events import Event, Stream
from .._sensitive import check_text
from ._base import EventStore

__all__ = ["DurableProjection", "Projector", "Rows", "consume"]

Rows = Mapping[tuple[str, str], Mapping[str, Any] | None]
"""A projection's row changes: ``(kind, key)`` to the row's JSON value, ``None`` deletes."""


@runtime_checkable
class DurableProjection(Protocol):
    """A projection that can keep its state in the store's ``projection_rows``.

    ``apply`` folds an event in; ``changes`` returns (and forgets) the rows changed since
    it was last called; ``restore`` rebuilds the state from stored rows, ``rows(kind)``
    returning ``{key: value}``; ``clear`` empties the state (before a restore or rebuild).
    """

    streams: frozenset[Stream]

    def apply(self, event: Event) -> None:
        """Fold one event in."""

    def changes(self) -> dict[tuple[str, str], Mapping[str, Any] | None]:
        """Return the rows changed since the last call, and forget them."""

    def restore(self, rows: Any) -> None:
        """Rebuild the state from ``rows(kind) -> {key: value}``."""

    def clear(self) -> None:
        """Forget every row and pending change."""


P = TypeVar("P", bound=DurableProjection)


def _check_batch(batch: object) -> None:
    if type(batch) is not int or batch < 1:
        raise InvalidPayload(f"A projector's batch must be a positive int (got {batch!r}).")


class Projector(Generic[P]):
    """Runs a :class:`DurableProjection` over a store under ``name``, durably.

    Each batch of events is applied and then its changed rows are written together with
    the checkpoint by :meth:`EventStore.save_projection`, in one database transaction:
    after a crash either both are there or neither. The first :meth:`run` restores the
    projection from the stored rows, so a new process (a restart) continues where the
    last one stopped. When another process ran the same projection meanwhile, the save
    raises :class:`ConcurrencyConflict`; :meth:`run` then restores the stored state and
    goes on from the other process's checkpoint, so no event is counted twice. When
    ``apply`` or the save fails, the batch is dropped in memory too (the projection is
    restored from the store) and the error raised: the next run applies it once. Every
    changed row is scanned before it is saved: a NUL byte or what looks like a full card
    number raises :class:`InvalidPayload` and nothing is saved.

    >>> from ecomflow import FLOWS, Money
    >>> from ecomflow.projections import Ledger, Projector
    >>> from ecomflow.store import MemoryStore, Repository
    >>> repo = Repository(MemoryStore(), FLOWS)
    >>> _ = repo.start("direct-sale", "A-1", merchant="Tea House")
    >>> _ = repo.execute("A-1", "fill_order", customer_name="Li", address="Beijing",
    ...                  goods_name="tea", quantity=1, specification="tin",
    ...                  unit_price=Money("50", "CNY"))
    >>> _ = repo.execute("A-1", "choose_payment", method="cash_on_delivery")
    >>> _ = repo.execute("A-1", "dispatch")
    >>> _ = repo.execute("A-1", "deliver", collected=Money("50", "CNY"))
    >>> Projector(repo.store, Ledger(), name="ledger").run()
    1
    >>> restarted = Ledger()  # a new process: the rows are read back from the store
    >>> Projector(repo.store, restarted, name="ledger").run()
    0
    >>> restarted.balance("courier", "CNY")
    Decimal('50.00')
    """

    def __init__(self, store: EventStore, projection: P, *, name: str, batch: int = 500):
        check_text(name, "projection name")
        _check_batch(batch)
        self.store = store
        self.projection = projection
        self.name = name
        self.batch = batch
        self._position: int | None = None  # None: not restored from the store yet

    @property
    def position(self) -> int:
        """The last position the projection holds (restoring it first if needed)."""
        if self._position is None:
            self._restore()
        assert self._position is not None
        return self._position

    def _restore(self) -> None:
        # The checkpoint first, then the rows: if another process saves in between, the
        # rows may be newer than the checkpoint, but our next save (expecting the older
        # checkpoint) is then refused and we restore again.
        position = self.store.checkpoint(self.name)
        self.projection.clear()
        self.projection.restore(lambda kind: self.store.projection_rows(self.name, kind))
        self.projection.changes()  # what restoring touched is stored already
        self._position = position

    def _forget(self, *, restore: bool) -> None:
        """Drop what was applied but not stored: hold what the store holds again.

        Restored now when ``restore`` (and the store answers); otherwise emptied, and
        restored before the next batch.
        """
        self._position = None
        if restore:
            try:
                self._restore()
                return
            except Exception:  # the store is down too: restored by the next run
                self._position = None
        self.projection.clear()

    def run(self, *, limit: int | None = None) -> int:
        """Apply every event after the checkpoint (at most ``limit``); return how many.

        Counts the events of the projection's streams that this call saved.
        """
        count = 0
        streams = self.projection.streams
        while limit is None or count < limit:
            position = self.position
            size = self.batch if limit is None else min(self.batch, limit - count)
            records = self.store.read(after=position, streams=streams, limit=size)
            if not records:
                break
            try:
                for record in records:
                    self.projection.apply(record.event)
                # The store checks every row (JSON data, no NUL, no card number) before
                # it writes anything, alike in every backend.
                changes = self.projection.changes()
                self.store.save_projection(self.name, position, records[-1].position, changes)
            except ConcurrencyConflict:
                self._position = None  # another process moved on: take its state
                if self.position == position:  # nobody moved it: not a race, do not spin
                    raise
                continue
            except BaseException as error:
                # The batch is not stored (apply or the save failed): it must not stay
                # half-applied in memory either.
                self._forget(restore=isinstance(error, Exception))
                raise
            self._position = records[-1].position
            count += len(records)
        return count

    def rebuild(self) -> int:
        """Delete the stored rows and checkpoint, then run from position 0; return the count."""
        self.store.reset_projection(self.name)
        self._position = None
        return self.run()


_PROJECTORS: weakref.WeakKeyDictionary[Any, Projector[Any]] = weakref.WeakKeyDictionary()
"""The projector that last ran each projection object through :func:`consume`."""


def _projector(store: EventStore, name: str, projection: Any, batch: int) -> Projector[Any]:
    """Return a projector for ``projection``: the one of the last call when it ran the same.

    So a shop polling ``consume(store, "ledger", ledger)`` reads the stored rows once,
    not on every call (restoring reads all of them).
    """
    try:
        known = _PROJECTORS.get(projection)
    except TypeError:  # cannot be weakly referenced: a new projector each time
        return Projector(store, projection, name=name, batch=batch)
    if known is None or known.store is not store or known.name != name:
        known = Projector(store, projection, name=name, batch=batch)
        _PROJECTORS[projection] = known
    else:
        _check_batch(batch)
        known.batch = batch
    return known


def consume(
    store: EventStore,
    consumer: str,
    projection: object,
    *,
    streams: Iterable[Stream] | None = None,
    batch: int = 500,
) -> int:
    """Feed ``projection.apply`` every event after ``consumer``'s checkpoint; return how many.

    A :class:`DurableProjection` (the four of :mod:`ecomflow.projections`) given without
    ``streams`` is run by a :class:`Projector` named ``consumer``: its state is restored
    from the store and saved with the checkpoint atomically. Called again with the same
    projection object and store, it continues from where the last call left the
    projection instead of reading its rows back.

    Any other projection lives in memory: the checkpoint is saved after each batch, so
    after a crash the consumer resumes where it left off and may see the last batch again
    (projections must be idempotent), and a restarted process must rebuild the
    projection's state itself. ``streams`` defaults to the projection's own.
    """
    if streams is None and isinstance(projection, DurableProjection):
        return _projector(store, consumer, projection, batch).run()
    apply = projection.apply  # type: ignore[attr-defined]
    wanted = streams if streams is not None else getattr(projection, "streams", None)
    position = store.checkpoint(consumer)
    count = 0
    while True:
        records = store.read(after=position, streams=wanted, limit=batch)
        if not records:
            return count
        for record in records:
            apply(record.event)
        position = records[-1].position
        store.save_checkpoint(consumer, position)
        count += len(records)
