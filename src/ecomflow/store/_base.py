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

from .._deadlines import Deadline, DeadlineChanges
from .._errors import (
    ConcurrencyConflict,
    CorruptHistory,
    IdempotencyMismatch,
    InvalidPayload,
    StoreError,
)
from .._events import Event, Stream
from .._sensitive import check_text, find_sensitive, unstorable

__all__ = [
    "Append",
    "Deadline",
    "DeadlineChanges",
    "EventStore",
    "Head",
    "KeyRecord",
    "Latest",
    "Query",
    "Recorded",
    "Snapshot",
    "Summary",
    "check_append",
    "check_batch",
]


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


@final
@attrs.frozen
class Head:
    """What an append tells the current-state table (and the snapshots) about its transaction.

    The :class:`~ecomflow.store.Repository` gives one with every append: the ``state``
    reached, the ``flow_version`` of the definition, the flow's ``summary`` fields (JSON
    data, e.g. the order total and the parties) and, every so many versions, a
    ``snapshot`` (JSON data the flow restores the transaction from, at the append's last
    version). An append without a head records the state as ``""`` (unknown).
    ``deadlines``, for a flow with timed transitions, are the deadline rows the append
    deletes and writes (``None``: it touches none).
    """

    state: str
    flow_version: int = 1
    summary: Mapping[str, Any] = attrs.field(factory=dict)
    snapshot: Mapping[str, Any] | None = None
    deadlines: DeadlineChanges | None = None


@final
@attrs.frozen
class Append:
    """One append of :meth:`EventStore.append_batch`: the arguments of :meth:`EventStore.append`."""

    flow: str
    events: Sequence[Event]
    expected_version: int
    head: Head | None = None


@final
@attrs.frozen
class Snapshot:
    """A transaction's state and context saved at ``version`` by flow ``flow_version``."""

    version: int
    flow_version: int
    data: Mapping[str, Any]


@final
@attrs.frozen
class Latest:
    """What loading a transaction the short way reads, in one database transaction.

    Its ``flow``, its newest ``snapshot`` (``None`` when there is none) and the
    ``events`` after the snapshot's version (all of them when there is no snapshot).
    """

    flow: str
    snapshot: Snapshot | None
    events: list[Event]


@final
@attrs.frozen
class Summary:
    """One row of the current-state table: a transaction as :meth:`EventStore.find` lists it.

    ``state`` is ``""`` when it is not known (events appended without a :class:`Head`,
    or a store migrated from schema version 2 and not yet reindexed).
    """

    tx_id: str
    flow: str
    flow_version: int
    state: str
    version: int
    created_at: datetime
    updated_at: datetime
    summary: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def cursor(self) -> str:
        """The keyset cursor after this row: pass it as ``after`` for the next page."""
        return encode_cursor(self.updated_at, self.tx_id)


@final
@attrs.frozen
class Query:
    """What :meth:`EventStore.find` looks for; every field left ``None`` matches all.

    ``state`` matches the state or any state inside it (``"performance"`` matches
    ``"performance.delivery"``); ``actor`` matches transactions with an event by that
    actor; ``updated_after``/``updated_before`` bound the last update (exclusive). Rows
    come oldest update first, then by id; ``after`` is the :attr:`Summary.cursor` of the
    last row of the previous page, ``limit`` the page size (1 to 10,000).
    """

    flow: str | None = None
    state: str | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    actor: str | None = None
    limit: int = 100
    after: str | None = None


def check_query(query: Query) -> None:
    """Raise :class:`InvalidPayload` unless ``query`` can be run (a sane limit, aware times)."""
    if not isinstance(query, Query):
        raise InvalidPayload(f"Cannot find transactions by {query!r}: pass a Query.")
    limit = query.limit
    if type(limit) is not int or not 1 <= limit <= 10_000:
        raise InvalidPayload(
            f"Cannot find transactions: limit must be an int from 1 to 10,000 (got {limit!r})."
        )
    for name in ("updated_after", "updated_before"):
        when = getattr(query, name)
        if when is not None and (not isinstance(when, datetime) or when.utcoffset() is None):
            raise InvalidPayload(
                f"Cannot find transactions: {name} must be an aware datetime (got {when!r})."
            )
    for name in ("flow", "state", "actor", "after"):
        value = getattr(query, name)
        if value is not None and not isinstance(value, str):
            raise InvalidPayload(
                f"Cannot find transactions: {name} must be a string (got {value!r})."
            )
    if query.after is not None:
        decode_cursor(query.after)


def encode_cursor(updated_at: datetime, tx_id: str) -> str:
    """Return the opaque keyset cursor for the row ``(updated_at, tx_id)``."""
    return f"{updated_at.isoformat()}|{tx_id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Return ``(updated_at, tx_id)`` from a cursor; :class:`InvalidPayload` if malformed."""
    text, bar, tx_id = cursor.partition("|") if isinstance(cursor, str) else ("", "", "")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if not bar or when is None or when.utcoffset() is None or unstorable(tx_id):
        raise InvalidPayload(
            f"Cannot find transactions after {cursor!r}: it is not a cursor; pass the "
            "cursor of the last summary of the previous page."
        )
    return when, tx_id


def check_read(
    after: int, streams: Iterable[Stream] | None, limit: int
) -> frozenset[Stream] | None:
    """Check the arguments of :meth:`EventStore.read`; return the streams wanted (``None``: all).

    ``limit`` must be an int of at least 1 and ``after`` an int; ``streams`` is an
    iterable of :class:`~ecomflow.Stream` members or their names. Anything else raises
    :class:`InvalidPayload`, the same in every store.
    """
    if type(limit) is not int or limit < 1:
        raise InvalidPayload(
            f"Cannot read events: limit must be an int of at least 1 (got {limit!r})."
        )
    if type(after) is not int:
        raise InvalidPayload(f"Cannot read events after {after!r}: give a position (an int).")
    if streams is None:
        return None
    if isinstance(streams, (str, Stream)) or not isinstance(streams, Iterable):
        raise InvalidPayload(
            f"Cannot read events of streams {streams!r}: pass a list of streams, e.g. "
            "[Stream.MONEY]."
        )
    wanted: set[Stream] = set()
    for stream in streams:
        try:
            wanted.add(stream if isinstance(stream, Stream) else Stream(stream))
        except (ValueError, TypeError):
            names = ", ".join(member.value for member in Stream)
            raise InvalidPayload(
                f"Cannot read events of stream {stream!r}: it is not a stream; use one of {names}."
            ) from None
    return frozenset(wanted)


def projection_texts(
    projection: str, changes: Mapping[tuple[str, str], Mapping[str, Any] | None]
) -> list[tuple[str, str, str | None]]:
    """Return ``changes`` as ``(kind, key, JSON text or None to delete)``, checked first.

    A projection name, kind or key that holds a NUL byte or looks like a full card
    number, or a value that is not JSON data or holds one, raises
    :class:`InvalidPayload` before anything is written, the same in every store.
    """
    check_text(projection, "projection name")
    rows: list[tuple[str, str, str | None]] = []
    for (kind, key), value in changes.items():
        check_text(kind, f"row kind of projection {projection!r}")
        check_text(key, f"row key of projection {projection!r}")
        if value is None:
            rows.append((kind, key, None))
            continue
        if not isinstance(value, Mapping):
            raise InvalidPayload(
                f"Cannot save row {key!r} ({kind}) of projection {projection!r}: its value "
                f"must be a JSON object (a mapping), not {type(value).__name__}; nothing "
                "was saved."
            )
        found = find_sensitive(value)
        if found is not None:
            raise InvalidPayload(
                f"Cannot save row {key!r} ({kind}) of projection {projection!r}: its field "
                f"{found[0]!r} {found[1]}; nothing was saved."
            )
        try:
            rows.append((kind, key, json_text(value)))
        except (TypeError, ValueError) as error:
            raise InvalidPayload(
                f"Cannot save row {key!r} ({kind}) of projection {projection!r}: it is not "
                f"JSON data ({error}); nothing was saved."
            ) from None
    return rows


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


_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=_plain)


def json_text(data: object) -> str:
    """Return ``data`` as the JSON text stored: sorted keys, UTF-8 kept as it is.

    One encoder for every call (``json.dumps`` with options builds a new one each time).
    """
    return _ENCODER.encode(data)


def head_texts(tx_id: str, head: Head | None) -> tuple[str, str | None]:
    """Return the JSON texts of ``head``'s summary and snapshot (``None`` when it has none).

    Called before anything is written: a value JSON cannot encode, a NUL byte or a
    full card number raises :class:`InvalidPayload` naming the transaction.
    """
    if head is None:
        return "{}", None
    if not isinstance(head, Head):
        raise InvalidPayload(
            f"Cannot store the current state of transaction {tx_id!r} from {head!r}: pass a "
            "Head (or None)."
        )
    texts: list[str | None] = []
    for what, value in (("summary", head.summary), ("snapshot", head.snapshot)):
        if value is None:
            texts.append(None)
            continue
        found = find_sensitive(value) if isinstance(value, Mapping) else None
        if found is not None:
            raise InvalidPayload(
                f"Cannot store the {what} of transaction {tx_id!r}: its field {found[0]!r} "
                f"{found[1]}."
            )
        try:
            text = json_text(value)
        except (TypeError, ValueError) as error:
            raise InvalidPayload(
                f"Cannot store the {what} of transaction {tx_id!r}: it is not JSON data "
                f"({error}); give the flow's {what} as dicts, lists, strings and numbers."
            ) from None
        if not text.startswith("{"):
            raise InvalidPayload(
                f"Cannot store the {what} of transaction {tx_id!r}: it is not a JSON object."
            )
        texts.append(text)
    summary, snapshot = texts
    assert summary is not None  # Head.summary is a mapping
    return summary, snapshot


def put_head_texts(tx_id: str, version: int, head: Head) -> tuple[str, str | None]:
    """Check the arguments of :meth:`EventStore.put_head`; return :func:`head_texts`.

    A ``tx_id`` no store may hold, a ``version`` that is not an int or a ``head`` that
    is not a :class:`Head` raise :class:`InvalidPayload`, the same in every store.
    """
    check_text(tx_id, "transaction id")
    if type(version) is not int:
        raise InvalidPayload(
            f"Cannot write the current state of transaction {tx_id!r} at version "
            f"{version!r}: give the version as an int."
        )
    if head is None:
        raise InvalidPayload(
            f"Cannot write the current state of transaction {tx_id!r}: pass a Head."
        )
    return head_texts(tx_id, head)


INSERT_COLUMNS = (
    "tx_id, flow, flow_version, version, seq, trigger, stream, name, data, occurred_at, "
    "actor, causation_id, correlation_id"
)
"""The columns :func:`event_rows` fills, in order (``position`` is the database's)."""

READ_COLUMNS = (
    "position, flow, tx_id, version, seq, trigger, stream, name, data, occurred_at, "
    "actor, causation_id, correlation_id, flow_version"
)
"""The columns :func:`recorded_from_row` reads, in order."""


def event_rows(
    flow: str,
    events: Sequence[Event],
    data: Callable[[Any], object],
    time: Callable[[datetime], object],
) -> list[tuple[object, ...]]:
    """Return the rows of the events table for ``events`` (:data:`INSERT_COLUMNS`).

    Call :func:`check_append` first: this only encodes data and time.
    """
    return [
        (
            event.tx_id,
            flow,
            event.flow_version,
            event.version,
            event.seq,
            event.trigger,
            event.stream.value,
            event.name,
            data(event.data),
            time(event.occurred_at),
            event.actor,
            event.causation_id,
            event.correlation_id,
        )
        for event in events
    ]


def recorded_from_row(
    row: Sequence[Any],
    data: Callable[[Any], object] = lambda value: value,
    time: Callable[[Any], object] = lambda value: value,
) -> Recorded:
    """Return the :class:`Recorded` a row of the events table holds, decoding data and time.

    ``row`` holds the columns :data:`READ_COLUMNS`. A row that does not parse (data
    that is not a JSON object, an unknown stream, a timestamp that is not an aware ISO
    8601 time) raises :class:`CorruptHistory` naming the transaction and the position.
    """
    (
        position,
        flow,
        tx_id,
        version,
        seq,
        trigger,
        stream,
        name,
        raw_data,
        raw_time,
        actor,
        causation_id,
        correlation_id,
        flow_version,
    ) = row
    try:
        decoded = data(raw_data)
        if not isinstance(decoded, dict):
            raise ValueError(f"its data is a {type(decoded).__name__}, not a JSON object")
        occurred_at = time(raw_time)
        if not isinstance(occurred_at, datetime) or occurred_at.utcoffset() is None:
            raise ValueError(f"its time {raw_time!r} is not an aware ISO 8601 timestamp")
        event = Event(
            tx_id,
            version,
            seq,
            trigger,
            Stream(stream),
            name,
            decoded,
            occurred_at,
            actor,
            causation_id,
            correlation_id,
            int(flow_version),
        )
    except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
        raise CorruptHistory(
            f"The stored event at position {position} of transaction {tx_id!r} does not "
            f"parse ({error}); restore it from a backup.",
            zh=f"交易 {tx_id!r} 在位置 {position} 存储的事件无法解析（{error}）；请从备份恢复。",
            tx_id=str(tx_id),
            position=int(position),
        ) from None
    return Recorded(int(position), flow, event)


_EVENTS_2 = (
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
_EVENTS_3 = (
    "position",
    "tx_id",
    "flow",
    "flow_version",
    "version",
    "seq",
    "trigger",
    "stream",
    "name",
    "data",
    "occurred_at",
    "actor",
    "causation_id",
    "correlation_id",
)
SCHEMA_VERSION = 3
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
    3: {
        "schema_version": ("version",),
        "events": _EVENTS_3,
        "idempotency": ("key", "tx_id", "version", "trigger", "fingerprint"),
        "checkpoints": ("consumer", "position"),
        "transactions": (
            "tx_id",
            "flow",
            "flow_version",
            "state",
            "version",
            "created_at",
            "updated_at",
            "summary",
        ),
        "snapshots": ("tx_id", "flow_version", "version", "data"),
        "projection_rows": ("projection", "kind", "key", "value"),
    },
    2: {
        "schema_version": ("version",),
        "events": _EVENTS_2,
        "idempotency": ("key", "tx_id", "version", "trigger", "fingerprint"),
        "checkpoints": ("consumer", "position"),
    },
    1: {
        "schema_version": ("version",),
        "events": _EVENTS_2,
        "idempotency": ("key", "tx_id", "version"),
        "checkpoints": ("consumer", "position"),
    },
}
"""The columns of each table, in order, by schema version (the same in every database)."""


def layout_version(
    where: str,
    tables: dict[str, tuple[str, ...]],
    recorded: Callable[[], int | None],
    layouts: Mapping[int, Mapping[str, tuple[str, ...]]] = LAYOUTS,
) -> int:
    """Return the schema version of a store whose tables were read (``0`` when it has none).

    ``tables`` maps each of ecomflow's table names found to its columns; ``recorded()``
    reads the version in ``schema_version`` (only called when that table exists);
    ``where`` names the store; ``layouts`` are the expected tables by version (a backend
    with columns of its own passes its own). Raises :class:`StoreError` for a newer
    version, or tables that are not the layout of the version recorded.
    """
    if not tables:
        return 0
    found = recorded() if "schema_version" in tables else None
    version = 0 if found is None else int(found)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where[0].upper()}{where[1:]} has schema version {version}; this ecomflow "
            f"knows up to {SCHEMA_VERSION}. Upgrade ecomflow.",
            zh=f"{where} 的模式版本为 {version}；这个 ecomflow 最多认识 {SCHEMA_VERSION}。"
            "请升级 ecomflow。",
        )
    check_layout(where, tables, version, layouts)
    return version


def check_layout(
    where: str,
    tables: dict[str, tuple[str, ...]],
    version: int,
    layouts: Mapping[int, Mapping[str, tuple[str, ...]]] = LAYOUTS,
) -> None:
    """Raise :class:`StoreError` unless ``tables`` are the layout of schema ``version``.

    ``tables`` maps each of ecomflow's table names found to its columns, ``version`` is
    the schema version recorded (``0`` when none is), ``where`` names the store.
    """
    expected = layouts.get(version)
    if expected is not None and all(tables.get(t) == c for t, c in expected.items()):
        return
    found = "; ".join(f"{t}({', '.join(c)})" for t, c in sorted(tables.items()))
    if version == 0:
        problem = (
            f"it already has tables that ecomflow did not create (found {found}); keep "
            "ecomflow's store in a file, database or schema of its own"
        )
        problem_zh = (
            f"其中已有不是 ecomflow 创建的表（发现 {found}）；请把 ecomflow 的存储放在"
            "单独的文件、数据库或模式中"
        )
    else:
        problem = (
            f"its tables are not the layout of ecomflow schema version {version} (found "
            f"{found}); it was made by an older pre-release or altered by hand: export its "
            "events and open a new store"
        )
        problem_zh = (
            f"其表不是 ecomflow 模式版本 {version} 的布局（发现 {found}）；它由较旧的预发布版"
            "创建或被手工修改过：请导出其事件并打开一个新存储"
        )
    raise StoreError(f"Cannot open {where}: {problem}.", zh=f"无法打开 {where}：{problem_zh}。")


def check_batch(flow: str, events: Sequence[Event], expected_version: int) -> int:
    """Check that ``events`` are one transaction's next versions; return the last version.

    Raises :class:`StoreError` for an empty batch, mixed transactions, or versions
    that do not follow ``expected_version`` gaplessly.
    """
    if not events:
        raise StoreError(
            f"Cannot append to flow {flow!r}: no events given.",
            zh=f"无法追加到流程 {flow!r}：没有给出事件。",
        )
    tx_id = events[0].tx_id
    version, seq = expected_version, -1
    for event in events:
        if event.tx_id != tx_id:
            raise StoreError(
                f"Cannot append event {event.event_id!r} with events of transaction {tx_id!r}.",
                zh=f"无法把事件 {event.event_id!r} 与交易 {tx_id!r} 的事件一起追加。",
            )
        if event.version == version and event.seq == seq + 1:
            seq += 1
        elif event.version == version + 1 and event.seq == 0:
            version, seq = version + 1, 0
        else:
            raise StoreError(
                f"Cannot append event {event.event_id!r} to transaction {tx_id!r}: it does "
                f"not follow version {version}, seq {seq}.",
                zh=f"无法把事件 {event.event_id!r} 追加到交易 {tx_id!r}：它不接在版本 {version}、"
                f"序号 {seq} 之后。",
            )
    if version == expected_version:
        raise StoreError(
            f"Cannot append to transaction {tx_id!r}: the events do not go beyond version "
            f"{expected_version}.",
            zh=f"无法追加到交易 {tx_id!r}：这些事件没有超出版本 {expected_version}。",
        )
    return version


def conflict(tx_id: str, expected: int, actual: int) -> ConcurrencyConflict:
    """Return the error for a stale expected version."""
    return ConcurrencyConflict(
        f"Transaction {tx_id!r} is at version {actual}, not {expected} as expected; "
        "reload it and try again.",
        zh=f"交易 {tx_id!r} 处于版本 {actual}，而不是预期的 {expected}；请重新加载后再试。",
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
        raise StoreError(
            f"Transaction {tx_id!r} belongs to flow {newest[1]!r}.",
            zh=f"交易 {tx_id!r} 属于流程 {newest[1]!r}。",
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
        fingerprint: str = "",
        head: Head | None = None,
    ) -> None:
        """Append one transaction's next events atomically.

        In the same database transaction the current-state table's row of the
        transaction is written from ``head`` (state ``""`` without one) and, when
        ``head.snapshot`` is given, the transaction's snapshot is replaced.

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
    def load_latest(self, tx_id: str) -> Latest:
        """Return ``tx_id``'s newest snapshot and the events after it; KeyError if unknown.

        One database transaction, so the snapshot and the events agree.
        """

    @abc.abstractmethod
    def find(self, query: Query) -> list[Summary]:
        """Return one page of the current-state table matching ``query`` (an index seek)."""

    @abc.abstractmethod
    def save_projection(
        self,
        projection: str,
        expected: int,
        position: int,
        changes: Mapping[tuple[str, str], Mapping[str, Any] | None],
    ) -> None:
        """Write a durable projection's ``changes`` and checkpoint in one transaction.

        ``changes`` maps ``(kind, key)`` to the row's new JSON value, or ``None`` to
        delete it; the checkpoint of ``projection`` moves from ``expected`` to
        ``position``. When the stored checkpoint is not ``expected`` (another process
        moved it), :class:`ConcurrencyConflict` is raised and nothing is written.
        """

    @abc.abstractmethod
    def projection_rows(
        self, projection: str, kind: str, key: str | None = None
    ) -> dict[str, Mapping[str, Any]]:
        """Return ``projection``'s rows of ``kind`` by key (only ``key``'s when given)."""

    @abc.abstractmethod
    def reset_projection(self, projection: str) -> None:
        """Delete ``projection``'s rows and checkpoint, to rebuild it from position 0."""

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

    @abc.abstractmethod
    def put_head(self, tx_id: str, version: int, head: Head) -> bool:
        """Write ``tx_id``'s current-state row from ``head``, if it is still at ``version``.

        For :meth:`Repository.reindex` after a migration: no event is written, the row's
        times stay; when ``head.snapshot`` is given the transaction's snapshot is
        replaced (at ``version``) in the same database transaction. Returns whether the
        row was written (``False`` when the transaction is unknown or has moved on). A
        head an append would refuse (a summary or snapshot that is not JSON data, holds
        a NUL byte or a full card number), or such a ``tx_id``, raises
        :class:`~ecomflow.InvalidPayload` and writes nothing.
        """

    def append_batch(self, appends: Sequence[Append]) -> list[ConcurrencyConflict | None]:
        """Append each of ``appends``; return, for each, ``None`` (written) or its conflict.

        Each append is checked and written as :meth:`append` does, on its own: a stale
        expected version refuses that one (its :class:`ConcurrencyConflict` is returned)
        and not the others. A store may commit them together (SQLite: one commit, each
        append in a savepoint), so that many small appends cost one flush to disk. Any
        other error is raised; the appends before it may have been written.
        """
        results: list[ConcurrencyConflict | None] = []
        for append in appends:
            try:
                self.append(append.flow, append.events, append.expected_version, head=append.head)
            except ConcurrencyConflict as conflict:
                results.append(conflict)
            else:
                results.append(None)
        return results

    # -- deadlines (see ecomflow.store.DeadlineWorker) ----------------------------------------

    def deadlines(self, tx_id: str | None = None) -> list[Deadline]:
        """Return the armed deadlines (of ``tx_id`` only, when given), soonest first."""
        raise StoreError(f"{type(self).__name__} keeps no deadlines.")

    def due_deadlines(
        self,
        now: datetime,
        limit: int = 100,
        *,
        owner: str | None = None,
        lease: float = 0.0,
    ) -> list[Deadline]:
        """Return up to ``limit`` deadlines due at ``now`` (``due_at <= now``), soonest first.

        An index seek on the due time. With an ``owner``, the rows returned are claimed
        for ``lease`` seconds: another owner is not given them until the lease ends (so
        several workers share the due deadlines; on PostgreSQL with ``FOR UPDATE SKIP
        LOCKED``). A claim is only a way to share work: firing stays safe without it.
        """
        raise StoreError(f"{type(self).__name__} keeps no deadlines.")

    def drop_deadline(self, deadline: Deadline) -> bool:
        """Delete ``deadline``'s row if it is still armed at its version; return whether it was.

        For a deadline that cannot fire any more (its guard refuses, its flow is unknown).
        """
        raise StoreError(f"{type(self).__name__} keeps no deadlines.")

    def release_deadline(self, deadline: Deadline, owner: str) -> bool:
        """End ``owner``'s claim on ``deadline``'s row now; return whether it held one.

        For a row a worker leaves (a flow it does not know, a history it cannot load):
        another worker may claim it at once. A store that claims nothing has nothing to
        release (``False``).
        """
        return False

    def close(self) -> None:  # noqa: B027 - an optional hook
        """Release the store's resources."""

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def check_due_query(now: datetime, limit: int, owner: str | None, lease: float) -> None:
    """Check the arguments of :meth:`EventStore.due_deadlines`, the same in every store."""
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise InvalidPayload(f"Cannot find due deadlines at {now!r}: give an aware datetime.")
    if type(limit) is not int or not 1 <= limit <= 10_000:
        raise InvalidPayload(
            f"Cannot find due deadlines: limit must be an int from 1 to 10,000 (got {limit!r})."
        )
    if owner is not None:
        check_text(owner, "deadline worker name")
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not 0 <= lease <= 3600:
        raise InvalidPayload(
            f"Cannot claim due deadlines: lease must be 0 to 3600 seconds (got {lease!r})."
        )


def check_deadline_changes(tx_id: str, changes: DeadlineChanges) -> None:
    """Refuse, as :class:`InvalidPayload`, deadline rows of another transaction or naive times."""
    for deadline in changes.arm:
        if deadline.tx_id != tx_id or deadline.due_at.utcoffset() is None:
            raise InvalidPayload(
                f"Cannot arm deadline {deadline.trigger!r} with the events of transaction "
                f"{tx_id!r}: it is of transaction {deadline.tx_id!r} or its time is not aware."
            )
