"""An event store in memory: for tests, notebooks and the simulator's dry runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, final

from .._errors import ConcurrencyConflict
from .._events import Event, Stream
from .._sensitive import check_text
from ._base import (
    Deadline,
    DeadlineChanges,
    EventStore,
    Head,
    KeyRecord,
    Latest,
    Query,
    Recorded,
    Snapshot,
    Summary,
    check_append,
    check_deadline_changes,
    check_due_query,
    check_key_use,
    check_newest,
    check_query,
    check_read,
    decode_cursor,
    head_texts,
    projection_texts,
    put_head_texts,
)

__all__ = ["MemoryStore"]


@final
class MemoryStore(EventStore):
    """Keeps the log in a list; thread-safe; gone when the process ends.

    Every feature of the database stores is here (the current-state table, snapshots,
    durable projections); :meth:`find` scans, which is fine at the sizes a test holds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: list[Recorded] = []
        self._by_tx: dict[str, list[Event]] = {}
        self._flows: dict[str, str] = {}
        self._keys: dict[str, KeyRecord] = {}
        self._checkpoints: dict[str, int] = {}
        self._heads: dict[str, Summary] = {}
        self._actors: dict[str, set[str]] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._projections: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        # (tx_id, trigger) -> [deadline, claimed by, claimed until]
        self._deadlines: dict[tuple[str, str], list[Any]] = {}

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
        """Append one transaction's next events atomically (see :class:`EventStore`)."""
        last = check_append(flow, events, expected_version, idempotency_key)
        tx_id, trigger = events[0].tx_id, events[-1].trigger
        summary, snapshot = _decoded(head_texts(tx_id, head))  # as a database keeps them
        changes = None if head is None else head.deadlines
        if changes is not None:
            check_deadline_changes(tx_id, changes)
        with self._lock:
            if idempotency_key is not None and idempotency_key in self._keys:
                recorded = self._keys[idempotency_key]
                raise check_key_use(idempotency_key, recorded, tx_id, trigger, fingerprint)
            stored = self._by_tx.get(tx_id)
            newest = (stored[-1].version, self._flows[tx_id]) if stored else None
            check_newest(tx_id, flow, expected_version, newest)
            for event in events:
                self._log.append(Recorded(len(self._log) + 1, flow, event))
                if event.actor is not None:
                    self._actors.setdefault(event.actor, set()).add(tx_id)
            self._by_tx.setdefault(tx_id, []).extend(events)
            self._flows[tx_id] = flow
            if idempotency_key is not None:
                self._keys[idempotency_key] = KeyRecord(tx_id, last, trigger, fingerprint)
            previous = self._heads.get(tx_id)
            self._heads[tx_id] = Summary(
                tx_id,
                flow,
                head.flow_version if head is not None else events[-1].flow_version,
                head.state if head is not None else "",
                last,
                previous.created_at if previous is not None else events[0].occurred_at,
                events[-1].occurred_at,
                summary,
            )
            if head is not None and snapshot is not None:
                self._snapshots[tx_id] = Snapshot(last, head.flow_version, snapshot)
            if changes is not None:
                self._write_deadlines(tx_id, changes)

    def _write_deadlines(self, tx_id: str, changes: DeadlineChanges) -> None:
        """Delete the rows of ``changes.disarm`` and write ``changes.arm`` (lock held)."""
        for trigger in changes.disarm:
            self._deadlines.pop((tx_id, trigger), None)
        for deadline in changes.arm:
            self._deadlines[(tx_id, deadline.trigger)] = [deadline, None, None]

    def put_head(self, tx_id: str, version: int, head: Head) -> bool:
        """Write ``tx_id``'s current-state row from ``head`` if it is at ``version``."""
        summary, snapshot = _decoded(put_head_texts(tx_id, version, head))
        if head.deadlines is not None:
            check_deadline_changes(tx_id, head.deadlines)
        with self._lock:
            row = self._heads.get(tx_id)
            if row is None or row.version != version:
                return False
            self._heads[tx_id] = Summary(
                tx_id,
                row.flow,
                head.flow_version,
                head.state,
                version,
                row.created_at,
                row.updated_at,
                summary,
            )
            if snapshot is not None:
                self._snapshots[tx_id] = Snapshot(version, head.flow_version, snapshot)
            if head.deadlines is not None:
                self._write_deadlines(tx_id, head.deadlines)
            return True

    def load(self, tx_id: str) -> tuple[str, list[Event]]:
        """Return ``(flow, events)`` of ``tx_id``; KeyError if unknown."""
        with self._lock:
            return self._flows[tx_id], list(self._by_tx[tx_id])

    def load_latest(self, tx_id: str) -> Latest:
        """Return ``tx_id``'s newest snapshot and the events after it; KeyError if unknown."""
        with self._lock:
            flow, events = self._flows[tx_id], self._by_tx[tx_id]
            snapshot = self._snapshots.get(tx_id)
            after = -1 if snapshot is None else snapshot.version
            # From the end: the events after a snapshot are few, the ones before it many.
            start = len(events)
            while start > 0 and events[start - 1].version > after:
                start -= 1
            return Latest(flow, snapshot, events[start:])

    def find(self, query: Query) -> list[Summary]:
        """Return one page of transactions matching ``query`` (a scan, in memory)."""
        check_query(query)
        after = None if query.after is None else decode_cursor(query.after)
        with self._lock:
            wanted = None if query.actor is None else self._actors.get(query.actor, set())
            rows = [
                row
                for row in self._heads.values()
                if (query.flow is None or row.flow == query.flow)
                and (
                    query.state is None
                    or row.state == query.state
                    or (query.state != "" and row.state.startswith(f"{query.state}."))
                )
                and (query.updated_after is None or row.updated_at > query.updated_after)
                and (query.updated_before is None or row.updated_at < query.updated_before)
                and (wanted is None or row.tx_id in wanted)
                and (after is None or (row.updated_at, row.tx_id) > after)
            ]
        rows.sort(key=lambda row: (row.updated_at, row.tx_id))
        return rows[: query.limit]

    def save_projection(
        self,
        projection: str,
        expected: int,
        position: int,
        changes: Mapping[tuple[str, str], Mapping[str, Any] | None],
    ) -> None:
        """Write a durable projection's changes and checkpoint at once (see EventStore)."""
        rows = projection_texts(projection, changes)  # kept as decoded JSON, as a database does
        with self._lock:
            stored = self._checkpoints.get(projection, 0)
            if stored != expected:
                raise ConcurrencyConflict(
                    f"Projection {projection!r} is at position {stored}, not {expected} as "
                    "expected: another process moved it; load it again.",
                    zh=f"投影 {projection!r} 处于位置 {stored}，而不是预期的 {expected}："
                    "另一个进程移动了它；请重新加载。",
                )
            for kind, key, text in rows:
                if text is None:
                    self._projections.pop((projection, kind, key), None)
                else:
                    self._projections[(projection, kind, key)] = json.loads(text)
            self._checkpoints[projection] = position

    def projection_rows(
        self, projection: str, kind: str, key: str | None = None
    ) -> dict[str, Mapping[str, Any]]:
        """Return ``projection``'s rows of ``kind`` by key (only ``key``'s when given)."""
        with self._lock:
            return {
                k: value
                for (name, sort, k), value in sorted(self._projections.items())
                if name == projection and sort == kind and (key is None or k == key)
            }

    def reset_projection(self, projection: str) -> None:
        """Delete ``projection``'s rows and checkpoint."""
        with self._lock:
            for entry in [e for e in self._projections if e[0] == projection]:
                del self._projections[entry]
            self._checkpoints.pop(projection, None)

    def version(self, tx_id: str) -> int:
        """Return the stored version of ``tx_id`` (``-1`` if none)."""
        with self._lock:
            events = self._by_tx.get(tx_id)
            return events[-1].version if events else -1

    def find_idempotency_key(self, key: str) -> KeyRecord | None:
        """Return what ``key`` was first used for, or ``None``."""
        with self._lock:
            return self._keys.get(key)

    def read(
        self, after: int = 0, streams: Iterable[Stream] | None = None, limit: int = 1000
    ) -> list[Recorded]:
        """Return up to ``limit`` events after position ``after``."""
        wanted = check_read(after, streams, limit)
        found: list[Recorded] = []
        with self._lock:
            for record in self._log[max(after, 0) :]:
                if wanted is None or record.event.stream in wanted:
                    found.append(record)
                    if len(found) >= limit:
                        break
        return found

    def checkpoint(self, consumer: str) -> int:
        """Return the last position ``consumer`` processed."""
        with self._lock:
            return self._checkpoints.get(consumer, 0)

    def save_checkpoint(self, consumer: str, position: int) -> None:
        """Record ``consumer``'s position."""
        check_text(consumer, "checkpoint name")
        with self._lock:
            self._checkpoints[consumer] = position

    def deadlines(self, tx_id: str | None = None) -> list[Deadline]:
        """Return the armed deadlines (of ``tx_id`` only, when given), soonest first."""
        with self._lock:
            found = [
                row[0] for key, row in self._deadlines.items() if tx_id is None or key[0] == tx_id
            ]
        return sorted(found, key=lambda d: (d.due_at, d.tx_id, d.trigger))

    def due_deadlines(
        self,
        now: datetime,
        limit: int = 100,
        *,
        owner: str | None = None,
        lease: float = 0.0,
    ) -> list[Deadline]:
        """Return up to ``limit`` deadlines due at ``now``, soonest first (claimed by ``owner``)."""
        check_due_query(now, limit, owner, lease)
        with self._lock:
            rows = sorted(
                (
                    row
                    for row in self._deadlines.values()
                    if row[0].due_at <= now
                    and (owner is None or row[2] is None or row[2] <= now or row[1] == owner)
                ),
                key=lambda row: (row[0].due_at, row[0].tx_id, row[0].trigger),
            )[:limit]
            if owner is not None:
                for row in rows:
                    row[1], row[2] = owner, now + timedelta(seconds=lease)
            return [row[0] for row in rows]

    def drop_deadline(self, deadline: Deadline) -> bool:
        """Delete ``deadline``'s row if it is still armed at its version."""
        with self._lock:
            key = (deadline.tx_id, deadline.trigger)
            row = self._deadlines.get(key)
            if row is None or row[0].armed_version != deadline.armed_version:
                return False
            del self._deadlines[key]
            return True

    def release_deadline(self, deadline: Deadline, owner: str) -> bool:
        """End ``owner``'s claim on ``deadline``'s row now; return whether it held one."""
        with self._lock:
            row = self._deadlines.get((deadline.tx_id, deadline.trigger))
            if row is None or row[1] != owner:
                return False
            row[1] = row[2] = None
            return True


def _decoded(texts: tuple[str, str | None]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Return the summary and snapshot JSON texts decoded: what a database store returns."""
    summary, snapshot = texts
    return json.loads(summary), None if snapshot is None else json.loads(snapshot)
