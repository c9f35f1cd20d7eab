"""A clock that a test moves by hand, so time-dependent guards can be exercised."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

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
    """

    now: datetime = attrs.field()

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
        return self.now


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
