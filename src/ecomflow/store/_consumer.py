"""Consumers: read a store from a stored checkpoint, at least once, in order."""

from __future__ import annotations

from collections.abc import Iterable

from .._events import Stream
from ._base import EventStore

__all__ = ["consume"]


def consume(
    store: EventStore,
    consumer: str,
    projection: object,
    *,
    streams: Iterable[Stream] | None = None,
    batch: int = 500,
) -> int:
    """Feed ``projection.apply`` every event after ``consumer``'s checkpoint; return how many.

    The checkpoint is saved after each batch, so after a crash the consumer resumes where
    it left off and may see the last batch again: projections must be idempotent (the ones
    in :mod:`ecomflow.projections` are). ``streams`` defaults to the projection's own.
    """
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
