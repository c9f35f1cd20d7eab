"""The event store interface shared by every backend.

One log of events for all four streams. Each event has a global ``position`` (its
place in the log), a unique ``event_id`` (``tx_id:version:seq``) and belongs to one
transaction of one flow. Appends are atomic per transition and carry the version the
writer expects: a stale expectation raises :class:`ConcurrencyConflict` and writes
nothing. This module knows nothing of flows or guards.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, final

import attrs

from .._errors import ConcurrencyConflict, StoreError
from .._events import Event, Stream
from .._sensitive import find_card_number

__all__ = ["EventStore", "Recorded", "check_batch"]


@final
@attrs.frozen
class Recorded:
    """An event as stored: its global ``position`` in the log and its ``flow``."""

    position: int
    flow: str
    event: Event


def event_rows(
    flow: str,
    events: Sequence[Event],
    data: Callable[[Any], object],
    time: Callable[[datetime], object],
) -> list[tuple[object, ...]]:
    """Return the rows of the events table for ``events``, encoding data and time.

    A card-number-like value anywhere in an event's data raises :class:`StoreError`
    before anything is written.
    """
    rows: list[tuple[object, ...]] = []
    for event in events:
        field = find_card_number(event.data)
        if field is not None:
            raise StoreError(f"Event {event.event_id!r} holds a card-number-like {field}.")
        rows.append(
            (
                event.event_id,
                event.tx_id,
                flow,
                event.version,
                event.seq,
                event.trigger,
                event.stream.value,
                event.name,
                data(event.data),
                time(event.occurred_at),
            )
        )
    return rows


def check_batch(flow: str, events: Sequence[Event], expected_version: int) -> int:
    """Check that ``events`` are one transaction's next versions; return the last version.

    Raises :class:`StoreError` for an empty batch, mixed transactions, or versions
    that do not follow ``expected_version`` gaplessly.
    """
    if not events:
        raise StoreError(f"Cannot append to flow {flow!r}: no events given.")
    tx_id = events[0].tx_id
    version, seq = expected_version, -1
    for event in events:
        if event.tx_id != tx_id:
            raise StoreError(
                f"Cannot append event {event.event_id!r} with events of transaction {tx_id!r}."
            )
        if event.version == version and event.seq == seq + 1:
            seq += 1
        elif event.version == version + 1 and event.seq == 0:
            version, seq = version + 1, 0
        else:
            raise StoreError(
                f"Cannot append event {event.event_id!r} to transaction {tx_id!r}: it does "
                f"not follow version {version}, seq {seq}."
            )
    if version == expected_version:
        raise StoreError(
            f"Cannot append to transaction {tx_id!r}: the events do not go beyond version "
            f"{expected_version}."
        )
    return version


def conflict(tx_id: str, expected: int, actual: int) -> ConcurrencyConflict:
    """Return the error for a stale expected version."""
    return ConcurrencyConflict(
        f"Transaction {tx_id!r} is at version {actual}, not {expected} as expected; "
        "reload it and try again."
    )


class EventStore(abc.ABC):
    """Append-only storage of events, read by transaction or by position."""

    @abc.abstractmethod
    def append(
        self,
        flow: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        idempotency_key: str | None = None,
    ) -> None:
        """Append one transaction's next events atomically.

        ``expected_version`` is the version the transaction had before these events
        (``-1`` for a new one). When it is stale, :class:`ConcurrencyConflict` is
        raised and nothing is written. ``idempotency_key``, if given, is recorded with
        the append; appending with a key already used raises ConcurrencyConflict too.
        """

    @abc.abstractmethod
    def load(self, tx_id: str) -> tuple[str, list[Event]]:
        """Return ``(flow, events)`` of transaction ``tx_id``; KeyError if unknown."""

    @abc.abstractmethod
    def version(self, tx_id: str) -> int:
        """Return the stored version of ``tx_id``, ``-1`` if it has no events."""

    @abc.abstractmethod
    def find_idempotency_key(self, key: str) -> tuple[str, int] | None:
        """Return ``(tx_id, version)`` recorded with ``key``, or ``None``."""

    @abc.abstractmethod
    def read(
        self, after: int = 0, streams: Iterable[Stream] | None = None, limit: int = 1000
    ) -> list[Recorded]:
        """Return up to ``limit`` events after position ``after``, oldest first."""

    @abc.abstractmethod
    def checkpoint(self, consumer: str) -> int:
        """Return the last position ``consumer`` has processed (``0`` at first)."""

    @abc.abstractmethod
    def save_checkpoint(self, consumer: str, position: int) -> None:
        """Record that ``consumer`` has processed everything up to ``position``."""

    def close(self) -> None:  # noqa: B027 - an optional hook
        """Release the store's resources."""

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
