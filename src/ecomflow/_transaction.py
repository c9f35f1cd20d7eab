"""Transaction: one order, trade or contract moving through a flow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._definition import leaves_of
from ._engine import state_name
from ._errors import SubscriberError
from ._events import Clock, Event

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._flow import Flow

__all__ = ["Transaction"]

C = TypeVar("C")


class Transaction(Generic[C]):
    """One transaction of a flow: its state, version, typed context and events.

    Create one with :meth:`Flow.start` (or rebuild one with :meth:`Flow.replay`),
    then move it with :meth:`fire` or the flow's typed methods. A refused trigger
    raises and leaves the transaction exactly as it was.
    """

    __slots__ = (
        "__weakref__",
        "_bus",
        "_clock",
        "_context",
        "_events",
        "_flow",
        "_state",
        "_version",
        "id",
    )

    def __init__(
        self,
        flow: Flow[Any],
        tx_id: str,
        state: Any,
        version: int,
        context: C,
        events: list[Event],
        clock: Clock,
        bus: EventBus | None = None,
    ) -> None:
        self.id = tx_id
        self._flow = flow
        self._state = state
        self._version = version
        self._context = context
        self._events = events
        self._clock = clock
        self._bus = bus

    @property
    def flow(self) -> Flow[Any]:
        """The flow this transaction follows."""
        return self._flow

    @property
    def state(self) -> str:
        """The current state's (dotted) name; parallel states are joined by ``|``."""
        state = self._state
        return state if type(state) is str else state_name(state)

    @property
    def active_states(self) -> tuple[str, ...]:
        """The active innermost states: one, or one per parallel region."""
        return leaves_of(self._state)

    def in_state(self, name: str) -> bool:
        """Whether ``name`` is an active state or contains one (``"performance"``)."""
        return any(leaf == name or leaf.startswith(f"{name}.") for leaf in leaves_of(self._state))

    @property
    def version(self) -> int:
        """How many transitions have been applied (0 right after the start)."""
        return self._version

    @property
    def context(self) -> C:
        """The typed, immutable data the transaction has gathered so far."""
        return self._context

    @property
    def events(self) -> Sequence[Event]:
        """Every event recorded so far, in order."""
        return tuple(self._events)

    @property
    def clock(self) -> Clock:
        """The clock that timestamps this transaction's events."""
        return self._clock

    @property
    def is_finished(self) -> bool:
        """Whether the transaction is in a terminal state."""
        state = self._state  # a list of regions while in a parallel state
        return type(state) is str and state in self._flow.terminal_states

    def allowed_triggers(self) -> tuple[str, ...]:
        """Return the triggers possible now, with guards that need no payload evaluated."""
        return self._flow.engine.allowed_triggers(self)

    def fire(self, trigger: str, /, **payload: Any) -> tuple[Event, ...]:
        """Apply ``trigger`` with ``payload`` and return the events it recorded.

        Raises :class:`TransitionNotAllowed`, :class:`GuardRejected` or
        :class:`InvalidPayload`, and then nothing has changed.
        """
        self._context, events = self._flow.engine.fire(self, trigger, payload)
        self._version += 1
        self._events.extend(events)
        if self._bus is not None:
            self._publish(events)
        return tuple(events)

    def _publish(self, events: Sequence[Event]) -> None:
        assert self._bus is not None
        errors = self._bus.publish(events)
        if errors:
            raise SubscriberError(
                f"Transaction {self.id!r} moved to state {self.state!r} (version "
                f"{self._version}), but {len(errors)} subscriber(s) failed; first: "
                f"{errors[0]!r}.",
                errors=errors,
                transaction=self,
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Transaction):
            return NotImplemented
        return (
            self.id == other.id
            and self._flow.name == other._flow.name
            and self._state == other._state
            and self._version == other._version
            and self._context == other._context
            and self._events == other._events
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.id!r} of {self._flow.name!r}: "
            f"state={self._state!r} version={self._version}>"
        )
