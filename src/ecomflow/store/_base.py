"""The event store interface shared by every backend.

One log of events for all four streams. Each event has a global ``position`` (its
place in the log), a unique ``event_id`` (``tx_id:version:seq``) and belongs to one
transaction of one flow. Appends are atomic per transition and carry the version the
writer expects: a stale expectation raises :class:`ConcurrencyConflict` and writes
nothing. This module knows nothing of flows or guards.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, final

import attrs

from .._errors import (
    ConcurrencyConflict,
    CorruptHistory,
    IdempotencyMismatch,
    InvalidPayload,
    StoreError,
)
from .._events import Event, Stream
from .._sensitive import check_text, find_sensitive

__all__ = ["EventStore", "KeyRecord", "Recorded", "check_append", "check_batch"]


@final
@attrs.frozen
class Recorded:
    """An event as stored: its global ``position`` in the log and its ``flow``."""

    position: int
    flow: str
    event: Event


@final
@attrs.frozen
class KeyRecord:
    """What an idempotency key was first used for.

    The key's request: transaction ``tx_id``, ``trigger`` and the payload's
    ``fingerprint`` (``""`` when none was given, as by stores of schema version 1), and
    the ``version`` its events were recorded at.
    """

    tx_id: str
    version: int
    trigger: str
    fingerprint: str

    def describe(self) -> dict[str, str]:
        """Return the request as :class:`IdempotencyMismatch` reports it."""
        return {"tx_id": self.tx_id, "trigger": self.trigger, "fingerprint": self.fingerprint}


def check_append(
    flow: str, events: Sequence[Event], expected_version: int, idempotency_key: str | None
) -> int:
    """Check an append before anything is written; return the last version appended.

    Refuses, with :class:`StoreError`, a batch :func:`check_batch` refuses; with
    :class:`InvalidPayload`, a transaction id, an idempotency key, or a string anywhere
    in an event's data, that holds a NUL byte or looks like a full card number. Each event's data is
    scanned once here, for every backend.
    """
    last = check_batch(flow, events, expected_version)
    check_text(events[0].tx_id, "transaction id")  # check_batch: one transaction
    if idempotency_key is not None:
        check_text(idempotency_key, "idempotency key")
    for event in events:
        found = find_sensitive(event.data)
        if found is not None:
            field, problem = found
            raise InvalidPayload(
                f"Cannot store event {event.event_id!r} of transaction {event.tx_id!r}: "
                f"its field {field!r} {problem}."
            )
    return last


def check_key_use(
    key: str, recorded: KeyRecord, tx_id: str, trigger: str, fingerprint: str
) -> ConcurrencyConflict:
    """Return the error for appending with ``key`` already recorded as ``recorded``.

    :class:`IdempotencyMismatch` is raised when the key was used for another request;
    for the same request (a duplicate that lost the race) the returned
    :class:`ConcurrencyConflict` says its outcome is recorded.
    """
    attempt = KeyRecord(tx_id, recorded.version, trigger, fingerprint)
    if not same_request(recorded, attempt):
        raise mismatch(key, recorded, attempt)
    return ConcurrencyConflict(
        f"Idempotency key {key!r} was already used for this request on transaction "
        f"{tx_id!r} (version {recorded.version}); its outcome is recorded."
    )


def same_request(recorded: KeyRecord, attempt: KeyRecord) -> bool:
    """Return whether ``attempt`` is the request ``recorded`` holds.

    A fingerprint of ``""`` (a key recorded without one) matches any payload, and a
    trigger of ``""`` (a key a schema-1 process wrote into a migrated store) any
    trigger: :meth:`Repository.execute` reads both from the key's events.
    """
    return (
        recorded.tx_id == attempt.tx_id
        and (not recorded.trigger or recorded.trigger == attempt.trigger)
        and (not recorded.fingerprint or recorded.fingerprint == attempt.fingerprint)
    )


def mismatch(key: str, recorded: KeyRecord, attempt: KeyRecord) -> IdempotencyMismatch:
    """Return the error for ``key``, recorded as ``recorded``, reused for ``attempt``."""
    if recorded.tx_id != attempt.tx_id:
        what = f"transaction {attempt.tx_id!r}"
    elif recorded.trigger != attempt.trigger:
        what = f"trigger {attempt.trigger!r}"
    else:
        what = "a different payload"
    return IdempotencyMismatch(
        f"Idempotency key {key!r} was first used for {recorded.trigger!r} on transaction "
        f"{recorded.tx_id!r} (version {recorded.version}), not for {what}; nothing was "
        "applied: use a new key for a new request.",
        key=key,
        first_use=recorded.describe(),
        attempt=attempt.describe(),
    )


def _plain(value: object) -> object:
    """Return a mapping or sequence json cannot encode as a dict or list (e.g. a frozen map)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def json_text(data: object) -> str:
    """Return ``data`` as the JSON text stored: sorted keys, UTF-8 kept as it is."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=_plain)


def event_rows(
    flow: str,
    events: Sequence[Event],
    data: Callable[[Any], object],
    time: Callable[[datetime], object],
) -> list[tuple[object, ...]]:
    """Return the rows of the events table for ``events``, encoding data and time.

    Call :func:`check_append` first: this only encodes.
    """
    rows: list[tuple[object, ...]] = []
    for event in events:
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


def recorded_from_row(
    row: Sequence[Any],
    data: Callable[[Any], object] = lambda value: value,
    time: Callable[[Any], object] = lambda value: value,
) -> Recorded:
    """Return the :class:`Recorded` a row of the events table holds, decoding data and time.

    ``row`` holds the columns ``position, flow, tx_id, version, seq, trigger, stream,
    name, data, occurred_at``. A row that does not parse (data that is not a JSON
    object, an unknown stream, a timestamp that is not an aware ISO 8601 time) raises
    :class:`CorruptHistory` naming the transaction and the store position.
    """
    position, flow, tx_id, version, seq, trigger, stream, name, raw_data, raw_time = row
    try:
        decoded = data(raw_data)
        if not isinstance(decoded, dict):
            raise ValueError(f"its data is a {type(decoded).__name__}, not a JSON object")
        occurred_at = time(raw_time)
        if not isinstance(occurred_at, datetime) or occurred_at.utcoffset() is None:
            raise ValueError(f"its time {raw_time!r} is not an aware ISO 8601 timestamp")
        event = Event(tx_id, version, seq, trigger, Stream(stream), name, decoded, occurred_at)
    except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
        raise CorruptHistory(
            f"The stored event at position {position} of transaction {tx_id!r} does not "
            f"parse ({error}); restore it from a backup.",
            tx_id=str(tx_id),
            position=int(position),
        ) from None
    return Recorded(int(position), flow, event)


_EVENTS = (
    "position",
    "event_id",
    "tx_id",
    "flow",
    "version",
    "seq",
    "trigger",
    "stream",
    "name",
    "data",
    "occurred_at",
)
SCHEMA_VERSION = 2
"""The table layout this ecomflow writes; older stores are migrated when opened."""

# Schema version 1 -> 2, the same SQL on SQLite and PostgreSQL: keys learn their trigger
# (from their events) and an empty fingerprint, which the repository rebuilds from the
# recorded payload when needed. The caller sets the schema version in the same transaction.
MIGRATE_1_TO_2 = (
    "ALTER TABLE idempotency ADD COLUMN trigger TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE idempotency ADD COLUMN fingerprint TEXT NOT NULL DEFAULT ''",
    """UPDATE idempotency SET trigger = COALESCE((SELECT e.trigger FROM events e
        WHERE e.tx_id = idempotency.tx_id AND e.version = idempotency.version LIMIT 1), '')""",
)

LAYOUTS: dict[int, dict[str, tuple[str, ...]]] = {
    2: {
        "schema_version": ("version",),
        "events": _EVENTS,
        "idempotency": ("key", "tx_id", "version", "trigger", "fingerprint"),
        "checkpoints": ("consumer", "position"),
    },
    1: {
        "schema_version": ("version",),
        "events": _EVENTS,
        "idempotency": ("key", "tx_id", "version"),
        "checkpoints": ("consumer", "position"),
    },
}
"""The columns of each table, in order, by schema version (the same in every database)."""


def layout_version(
    where: str, tables: dict[str, tuple[str, ...]], recorded: Callable[[], int | None]
) -> int:
    """Return the schema version of a store whose tables were read (``0`` when it has none).

    ``tables`` maps each of ecomflow's table names found to its columns; ``recorded()``
    reads the version in ``schema_version`` (only called when that table exists);
    ``where`` names the store. Raises :class:`StoreError` for a newer version, or tables
    that are not the layout of the version recorded.
    """
    if not tables:
        return 0
    found = recorded() if "schema_version" in tables else None
    version = 0 if found is None else int(found)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where[0].upper()}{where[1:]} has schema version {version}; this ecomflow "
            f"knows up to {SCHEMA_VERSION}. Upgrade ecomflow."
        )
    check_layout(where, tables, version)
    return version


def check_layout(where: str, tables: dict[str, tuple[str, ...]], version: int) -> None:
    """Raise :class:`StoreError` unless ``tables`` are the layout of schema ``version``.

    ``tables`` maps each of ecomflow's table names found to its columns, ``version`` is
    the schema version recorded (``0`` when none is), ``where`` names the store.
    """
    expected = LAYOUTS.get(version)
    if expected is not None and all(tables.get(t) == c for t, c in expected.items()):
        return
    found = "; ".join(f"{t}({', '.join(c)})" for t, c in sorted(tables.items()))
    if version == 0:
        problem = (
            f"it already has tables that ecomflow did not create (found {found}); keep "
            "ecomflow's store in a file, database or schema of its own"
        )
    else:
        problem = (
            f"its tables are not the layout of ecomflow schema version {version} (found "
            f"{found}); it was made by an older pre-release or altered by hand: export its "
            "events and open a new store"
        )
    raise StoreError(f"Cannot open {where}: {problem}.")


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


def check_newest(
    tx_id: str, flow: str, expected_version: int, newest: Sequence[Any] | None
) -> None:
    """Check a transaction's newest stored ``(version, flow)`` row against an append.

    Raises :class:`ConcurrencyConflict` when the stored version is not the expected one
    and :class:`StoreError` when the transaction belongs to another flow.
    """
    actual = -1 if newest is None else newest[0]
    if actual != expected_version:
        raise conflict(tx_id, expected_version, actual)
    if newest is not None and newest[1] != flow:
        raise StoreError(f"Transaction {tx_id!r} belongs to flow {newest[1]!r}.")


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
        fingerprint: str = "",
    ) -> None:
        """Append one transaction's next events atomically.

        ``expected_version`` is the version the transaction had before these events
        (``-1`` for a new one). When it is stale, :class:`ConcurrencyConflict` is
        raised and nothing is written. ``idempotency_key``, if given, is recorded in the
        same database transaction with the transaction id, the trigger of the last
        events and ``fingerprint`` (of the request's payload; :meth:`Repository.execute`
        computes it). A key already recorded is checked in
        that transaction too: for another request it raises
        :class:`~ecomflow.IdempotencyMismatch`, for the same one ConcurrencyConflict
        (its outcome is recorded); either way nothing is written. A NUL byte or a full
        card number in the key or the events raises :class:`~ecomflow.InvalidPayload`.
        """

    @abc.abstractmethod
    def load(self, tx_id: str) -> tuple[str, list[Event]]:
        """Return ``(flow, events)`` of transaction ``tx_id``; KeyError if unknown.

        A stored row that does not parse raises :class:`~ecomflow.CorruptHistory`.
        """

    @abc.abstractmethod
    def version(self, tx_id: str) -> int:
        """Return the stored version of ``tx_id``, ``-1`` if it has no events."""

    @abc.abstractmethod
    def find_idempotency_key(self, key: str) -> KeyRecord | None:
        """Return what ``key`` was first used for, or ``None``."""

    @abc.abstractmethod
    def read(
        self, after: int = 0, streams: Iterable[Stream] | None = None, limit: int = 1000
    ) -> list[Recorded]:
        """Return up to ``limit`` events after position ``after``, oldest first.

        A stored row that does not parse raises :class:`~ecomflow.CorruptHistory`.
        """

    @abc.abstractmethod
    def checkpoint(self, consumer: str) -> int:
        """Return the last position ``consumer`` has processed (``0`` at first)."""

    @abc.abstractmethod
    def save_checkpoint(self, consumer: str, position: int) -> None:
        """Record that ``consumer`` has processed everything up to ``position``.

        A consumer name with a NUL byte or a full card number raises
        :class:`~ecomflow.InvalidPayload`.
        """

    def close(self) -> None:  # noqa: B027 - an optional hook
        """Release the store's resources."""

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
