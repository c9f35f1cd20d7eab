"""An event store in memory: for tests, notebooks and the simulator's dry runs."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import final

from .._events import Event, Stream
from .._sensitive import check_text
from ._base import EventStore, KeyRecord, Recorded, check_append, check_key_use, check_newest

__all__ = ["MemoryStore"]


@final
class MemoryStore(EventStore):
    """Keeps the log in a list; thread-safe; gone when the process ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: list[Recorded] = []
        self._by_tx: dict[str, list[Event]] = {}
        self._flows: dict[str, str] = {}
        self._keys: dict[str, KeyRecord] = {}
        self._checkpoints: dict[str, int] = {}

    def append(
        self,
        flow: str,
        events: Sequence[Event],
        expected_version: int,
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
    ) -> None:
        """Append one transaction's next events atomically (see :class:`EventStore`)."""
        last = check_append(flow, events, expected_version, idempotency_key)
        tx_id, trigger = events[0].tx_id, events[-1].trigger
        with self._lock:
            if idempotency_key is not None and idempotency_key in self._keys:
                recorded = self._keys[idempotency_key]
                raise check_key_use(idempotency_key, recorded, tx_id, trigger, fingerprint)
            stored = self._by_tx.get(tx_id)
            newest = (stored[-1].version, self._flows[tx_id]) if stored else None
            check_newest(tx_id, flow, expected_version, newest)
            for event in events:
                self._log.append(Recorded(len(self._log) + 1, flow, event))
            self._by_tx.setdefault(tx_id, []).extend(events)
            self._flows[tx_id] = flow
            if idempotency_key is not None:
                self._keys[idempotency_key] = KeyRecord(tx_id, last, trigger, fingerprint)

    def load(self, tx_id: str) -> tuple[str, list[Event]]:
        """Return ``(flow, events)`` of ``tx_id``; KeyError if unknown."""
        with self._lock:
            return self._flows[tx_id], list(self._by_tx[tx_id])

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
        wanted = None if streams is None else frozenset(streams)
        with self._lock:
            found = [r for r in self._log[after:] if wanted is None or r.event.stream in wanted]
        return found[:limit]

    def checkpoint(self, consumer: str) -> int:
        """Return the last position ``consumer`` processed."""
        with self._lock:
            return self._checkpoints.get(consumer, 0)

    def save_checkpoint(self, consumer: str, position: int) -> None:
        """Record ``consumer``'s position."""
        check_text(consumer, "checkpoint name")
        with self._lock:
            self._checkpoints[consumer] = position
