"""Transaction: one order, trade or contract moving through a flow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._definition import leaves_of
from ._engine import state_name
from ._errors import InvalidPayload, SubscriberError
from ._events import Clock, Event
from ._sensitive import text_problem

if TYPE_CHECKING:
    from ._bus import EventBus
    from ._flow import Flow

__all__ = ["Transaction"]

C = TypeVar("C")


class Transaction(Generic[C]):
    """One transaction of a flow: its state, version, typed context and events.

    Create one with :meth:`Flow.start` (or rebuild one with :meth:`Flow.replay` or
    :meth:`Flow.restore`), then move it with :meth:`fire` or the flow's typed methods.
    A refused trigger raises and leaves the transaction exactly as it was.

    ``correlation_id`` is the business process the transaction belongs to, stamped on
    every event it records unless a fire names another one: the one it was started
    with, else its own id.
    """

    __slots__ = (
        "__weakref__",
        "_bus",
        "_clock",
        "_context",
        "_correlation",
        "_events",
        "_flow",
        "_loader",
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
        correlation_id: str | None = None,
        loader: Callable[[], list[Event]] | None = None,
    ) -> None:
        self.id = tx_id
        self._flow = flow
        self._state = state
        self._version = version
        self._context = context
        # With a loader (a transaction restored from a snapshot), ``_events`` holds only
        # the events after the snapshot; the loader returns the earlier ones, once.
        self._events = events
        self._loader = loader
        self._clock = clock
        self._bus = bus
        self._correlation = tx_id if correlation_id is None else correlation_id

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
        """Every event recorded so far, in order (read from the store once, if need be)."""
        if self._loader is not None:
            self._load_history()
        return tuple(self._events)

    @property
    def correlation_id(self) -> str:
        """The business process this transaction's events belong to, unless a fire says."""
        return self._correlation

    def _load_history(self) -> None:
        loader, self._loader = self._loader, None
        assert loader is not None
        self._events[:0] = loader()

    def _events_after(self, version: int) -> list[Event]:
        """Return the events recorded after ``version``, without loading older history."""
        events = self._events
        index = len(events)
        while index > 0 and events[index - 1].version > version:
            index -= 1
        if index == 0 and self._loader is not None and events and events[0].version > version + 1:
            self._load_history()  # asked for more than is held: read the rest
            return self._events_after(version)
        return events[index:]

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

    def fire(
        self,
        trigger: str,
        /,
        *,
        actor: str | None = None,
        causation_id: str | None = None,
        correlation_id: str | None = None,
        **payload: Any,
    ) -> tuple[Event, ...]:
        """Apply ``trigger`` with ``payload`` and return the events it recorded.

        Who did what, stamped on every event and ignored by replay: ``actor`` is the
        party, role or system that fires it, ``causation_id`` the command (left ``None``
        here; :meth:`Repository.execute` gives one), ``correlation_id`` the business
        process (default: :attr:`correlation_id`). Each must be a non-empty string
        without a NUL byte or a card number.

        Raises :class:`TransitionNotAllowed`, :class:`GuardRejected` or
        :class:`InvalidPayload`, and then nothing has changed.
        """
        if actor is None and causation_id is None and correlation_id is None:
            who: tuple[str | None, str | None, str | None] = (None, None, self._correlation)
        else:
            who = check_who(
                f"Cannot {trigger} transaction {self.id!r} in state {self.state!r}",
                actor,
                causation_id,
                self._correlation if correlation_id is None else correlation_id,
            )
        self._context, events = self._flow.engine.fire(self, trigger, payload, who)
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
        if self._loader is not None:
            self._load_history()
        if other._loader is not None:
            other._load_history()
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


def check_who(
    subject: str, actor: object, causation_id: object, correlation_id: object
) -> tuple[str | None, str | None, str | None]:
    """Return ``(actor, causation_id, correlation_id)`` if each is ``None`` or fit to store.

    Each given must be a non-empty string without a NUL byte or a card number, or
    :class:`InvalidPayload` names it (``subject`` begins the message); nothing is changed.
    """
    for name, value in (
        ("actor", actor),
        ("causation_id", causation_id),
        ("correlation_id", correlation_id),
    ):
        if value is None:
            continue
        if type(value) is not str or not value.strip():
            raise InvalidPayload(
                f"{subject}: {name} must be a non-empty string naming who or what caused it "
                f"(got {value!r})."
            )
        if len(value) > 200:
            raise InvalidPayload(f"{subject}: {name} is longer than 200 characters.")
        problem = text_problem(value)
        if problem is not None:  # the value itself is not repeated: messages reach logs
            raise InvalidPayload(f"{subject}: the {name} given {problem}.")
    return actor, causation_id, correlation_id  # type: ignore[return-value]
