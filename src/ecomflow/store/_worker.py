"""DeadlineWorker: fires the due deadlines of a store through its repository, exactly once.

A deadline row is written in the database transaction of the event that armed it and
deleted in the one of the event that leaves its state. The worker reads the due rows
(an index seek on the due time), loads each transaction, checks it still stands where
the deadline was armed, fires the timed trigger at its clock's time and saves with the
version it loaded: that append deletes the row, in the same database transaction, so

- a deadline fires at most once: a second worker (or a person) that moved the
  transaction first makes this save a :class:`~ecomflow.ConcurrencyConflict`, and the
  worker skips it;
- a crash before the commit leaves the row, and the next run fires it;
- it never fires early: only rows with ``due_at <= now`` are read, and the trigger
  itself refuses to fire before it is due.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from datetime import datetime
from typing import Any, final

from .._deadlines import CLOCK_ACTOR, Deadline
from .._errors import (
    EcomflowError,
    GuardRejected,
    InvalidPayload,
    SubscriberError,
    TransitionNotAllowed,
)
from .._events import Clock, check_now, utc_now
from .._flow import Transaction
from .._sensitive import check_text
from ._repository import Repository

__all__ = ["DeadlineWorker"]


@final
class DeadlineWorker:
    """Fires the due deadlines of ``repository``'s store, each exactly once, never early.

    ``clock`` (default: the repository's, else UTC now) says what is due and stamps the
    events; ``actor`` is recorded on them (default ``"clock"``); ``batch`` rows are read
    at a time. Several workers may share a store: each claims the rows it reads for
    ``lease`` seconds under its ``name`` (on PostgreSQL with ``FOR UPDATE SKIP LOCKED``),
    so that they share the work; firing stays exactly once without the claim.

    :meth:`run_due` fires what is due now and returns; :meth:`run` polls until stopped.
    """

    def __init__(
        self,
        repository: Repository,
        *,
        clock: Clock | None = None,
        actor: str = CLOCK_ACTOR,
        batch: int = 100,
        name: str | None = None,
        lease: float = 10.0,
    ) -> None:
        if not isinstance(repository, Repository):
            raise InvalidPayload(
                f"Cannot make a deadline worker for {repository!r}: pass a Repository.",
                zh=f"无法为 {repository!r} 创建期限处理器：请传入 Repository。",
            )
        if type(batch) is not int or not 1 <= batch <= 10_000:
            raise InvalidPayload(
                f"Cannot make a deadline worker: batch must be an int from 1 to 10,000 "
                f"(got {batch!r}).",
                zh=f"无法创建期限处理器：batch（每次读取的行数）须为 1 到 10,000 的整数"
                f"（收到 {batch!r}）。",
            )
        if clock is not None and not callable(clock):
            raise InvalidPayload(
                f"Cannot make a deadline worker: clock {clock!r} is not callable.",
                zh=f"无法创建期限处理器：时钟 {clock!r} 不可调用。",
            )
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not 0 <= lease <= 3600:
            raise InvalidPayload(
                f"Cannot make a deadline worker: lease must be 0 to 3600 seconds (got {lease!r}).",
                zh=f"无法创建期限处理器：lease（认领时长）须为 0 到 3600 秒（收到 {lease!r}）。",
            )
        _check_name(actor, "actor of the deadline worker", "执行者")
        self.repository = repository
        self.clock: Clock = clock or repository.clock or utc_now
        self.actor = actor
        self.batch = batch
        self.name = name if name is not None else f"worker-{uuid.uuid4().hex[:12]}"
        _check_name(self.name, "deadline worker name", "名称")
        self.lease = lease
        self.fired = 0
        """How many deadlines this worker has fired."""
        self.dropped = 0
        """How many rows it deleted because their transaction had moved on."""
        self.failed = 0
        """How many times a deadline could not be fired (its row is kept, the rest go on)."""
        self.last_error: EcomflowError | None = None
        """Why the last of those failed (a history the flow cannot load, say)."""
        self._stop = threading.Event()

    def now(self) -> datetime:
        """Return the worker's clock time (an aware datetime, or InvalidPayload)."""
        return check_now(self.clock(), self.clock, "Cannot fire due deadlines")

    def run_due(self) -> int:
        """Fire every deadline due now; return how many fired.

        Reads ``batch`` due rows at a time until none is left that it has not tried;
        rows it keeps (a flow it does not know, a history it cannot load: counted in
        :attr:`failed`) do not hide the due rows behind them.
        The fires of one batch are saved together: each append is checked on its own
        (a conflict refuses only its own), and a store that can commits them at once.
        """
        store = self.repository.store
        tried: set[tuple[str, str, int]] = set()
        fired = kept = 0
        while not self._stop.is_set():
            now = self.now()
            # Rows tried and kept (another process's flow, not due by the transaction's
            # reckoning, a history that does not load) are due first and stay: read past
            # them, or they would hide every deadline behind them.
            limit = min(10_000, self.batch + kept)
            rows = store.due_deadlines(now, limit, owner=self.name, lease=self.lease)
            fresh = [r for r in rows if (r.tx_id, r.trigger, r.armed_version) not in tried]
            if not fresh:
                break
            kept = len(rows) - len(fresh)
            for start in range(0, len(fresh), self.batch):
                ready = []
                dropped = self.dropped
                for row in fresh[start : start + self.batch]:
                    if self._stop.is_set():
                        break
                    tried.add((row.tx_id, row.trigger, row.armed_version))
                    kept += 1
                    tx = self._prepare(row)
                    if tx is not None:
                        ready.append(tx)
                done = self._commit(ready)
                fired += done
                kept -= done + (self.dropped - dropped)
            if len(rows) < limit:
                break
        return fired

    def fire(self, deadline: Deadline) -> bool:
        """Fire one due deadline if its transaction still stands where it was armed.

        Returns whether it fired. A row whose transaction moved on (or whose trigger its
        guards now refuse) is deleted; one that another writer beat us to is left to the
        append that moved it. A failing subscriber does not undo the fire.
        """
        tx = self._prepare(deadline)
        return tx is not None and self._commit([tx]) == 1

    def _prepare(self, deadline: Deadline) -> Transaction[Any] | None:
        """Load ``deadline``'s transaction and fire it in memory; ``None`` if it cannot fire."""
        repo = self.repository
        if deadline.flow not in repo.flows:  # a flow this process does not know: another's
            self.repository.store.release_deadline(deadline, self.name)
            return None
        try:
            tx = repo.load(deadline.tx_id)
        except KeyError:
            self._drop(deadline)
            return None
        except EcomflowError as error:  # a history this flow cannot load: keep the row
            self._failed(deadline, error)
            return None
        try:
            timers = tx.flow._timers
            armed = None if timers is None else timers.entered(tx.events).get(deadline.trigger)
            if armed is None or armed[1] != deadline.armed_version:
                self._drop(deadline)
                return None
            tx._clock = self.clock  # the events' time is the worker's
            tx.fire(deadline.trigger, actor=self.actor)
        except GuardRejected as error:
            if [name for name, _ in error.reasons] != ["deadline"]:
                self._drop(deadline)  # else not due by the transaction's reckoning: keep it
            return None
        except TransitionNotAllowed:
            self._drop(deadline)
            return None
        except EcomflowError as error:  # the flow refuses its own deadline: keep the row
            self._failed(deadline, error)
            return None
        return tx

    def _failed(self, deadline: Deadline, error: EcomflowError) -> None:
        """Count a deadline that could not be fired and keep its row, free for another."""
        self.failed += 1
        self.last_error = error
        self.repository.store.release_deadline(deadline, self.name)

    def _commit(self, txs: list[Transaction[Any]]) -> int:
        """Save the fired ``txs`` together; publish what was stored; return how many were."""
        if not txs:
            return 0
        repo = self.repository
        stored = 0
        for tx, events, conflict in repo._save_all(txs):
            if conflict is not None:
                continue  # moved meanwhile: that append disarmed or re-armed the row
            stored += 1
            with contextlib.suppress(SubscriberError):  # stored: the deadline fired
                repo._publish(tx, events)
        self.fired += stored
        return stored

    def _drop(self, deadline: Deadline) -> bool:
        if self.repository.store.drop_deadline(deadline):
            self.dropped += 1
        return False

    def run(self, poll: float = 1.0) -> None:
        """Fire due deadlines every ``poll`` seconds until :meth:`stop` is called."""
        if isinstance(poll, bool) or not isinstance(poll, (int, float)) or poll <= 0:
            raise InvalidPayload(
                f"Cannot run a deadline worker: poll must be > 0 (got {poll!r}).",
                zh=f"无法运行期限处理器：轮询间隔须大于 0 秒（收到 {poll!r}）。",
            )
        while not self._stop.is_set():
            self.run_due()
            self._stop.wait(poll)

    def stop(self) -> None:
        """Ask :meth:`run` (from another thread or a signal handler) to return soon."""
        self._stop.set()

    def __repr__(self) -> str:
        return f"<DeadlineWorker {self.name!r}: fired {self.fired}>"


def _check_name(value: str, what: str, what_zh: str) -> None:
    """Refuse, in both languages, a worker's name or actor that is empty or may not be stored."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayload(
            f"Cannot make a deadline worker: its {what} must be a non-empty str (got {value!r}).",
            zh=f"无法创建期限处理器：其{what_zh}须为非空字符串（收到 {value!r}）。",
        )
    try:
        check_text(value, what)
    except InvalidPayload as error:
        raise InvalidPayload(
            str(error),
            zh=f"期限处理器的{what_zh}不能存储"
            "（含 NUL 字符、像银行卡号或不是有效的 Unicode 文本）。",
        ) from None
