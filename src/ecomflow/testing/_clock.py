"""A clock that a test moves by hand, so time-dependent guards can be exercised."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
from hypothesis import strategies as st

__all__ = ["ManualClock", "instants", "pauses"]


@attrs.define
class ManualClock:
    """Returns ``now`` until a test moves it with :meth:`advance` (a :data:`ecomflow.Clock`).

    >>> from datetime import datetime, timedelta, timezone
    >>> clock = ManualClock(datetime(2026, 11, 24, tzinfo=timezone.utc))
    >>> clock.advance(timedelta(days=30)).date().isoformat()
    '2026-12-24'

    Time passing fires deadlines: :meth:`attach` a
    :class:`~ecomflow.store.DeadlineWorker` (or a transaction kept in memory) and every
    :meth:`advance` fires what fell due, at the new time.
    """

    now: datetime = attrs.field()
    _attached: list[Any] = attrs.field(factory=list, init=False, repr=False, eq=False)

    @now.validator
    def _aware(self, _: attrs.Attribute[datetime], value: datetime) -> None:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"a ManualClock needs a timezone-aware datetime (got {value!r})")

    def __call__(self) -> datetime:
        """Return the current time."""
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` (never back) and return the new time."""
        if delta < timedelta(0):
            raise ValueError(f"a clock cannot go back (asked to move by {delta})")
        self.now += delta
        self.run_due()
        return self.now

    def attach(self, target: Any) -> Any:
        """Fire ``target``'s due deadlines whenever the clock advances; return ``target``.

        ``target`` is a :class:`~ecomflow.store.DeadlineWorker` (anything with
        ``run_due()``) or a :class:`~ecomflow.Transaction` kept in memory, reading this
        clock (else :class:`~ecomflow.InvalidPayload`: advancing would fire nothing).
        """
        from .._flow import Transaction

        if not isinstance(target, Transaction) and not callable(getattr(target, "run_due", None)):
            raise TypeError(
                f"a ManualClock drives a DeadlineWorker or a Transaction, not {target!r}"
            )
        if getattr(target, "clock", None) is not self:
            from .._errors import InvalidPayload

            raise InvalidPayload(
                f"Cannot attach {target!r} to this ManualClock: it reads another clock, so "
                "advance() would never make its deadlines due; give it this clock "
                "(Repository(..., clock=clock), DeadlineWorker(..., clock=clock) or "
                "flow.start(..., clock=clock)).",
                zh=f"无法把 {target!r} 挂到这个 ManualClock 上：它读的是另一个时钟，"
                "advance() 永远不会让它的期限到期；请把这个时钟交给它"
                "（Repository(..., clock=clock)、DeadlineWorker(..., clock=clock) 或 "
                "flow.start(..., clock=clock)）。",
            )
        self._attached.append(target)
        return target

    def run_due(self) -> int:
        """Fire the due deadlines of everything attached; return how many transitions fired."""
        from .._deadlines import fire_due
        from .._flow import Transaction

        fired = 0
        for target in self._attached:
            if isinstance(target, Transaction):
                fired += len({event.version for event in fire_due(target)})
            else:
                fired += target.run_due()
        return fired


def instants() -> st.SearchStrategy[datetime]:
    """Strategy for start times of a clock: UTC instants between 2000 and 2099."""
    return st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 1, 1),
        timezones=st.just(timezone.utc),
    )


def pauses() -> st.SearchStrategy[timedelta]:
    """Strategy for the time that passes between two steps: often none, up to three years."""
    return st.one_of(
        st.just(timedelta(0)),
        st.timedeltas(timedelta(0), timedelta(days=3)),
        st.timedeltas(timedelta(0), timedelta(days=3 * 365)),
    )
