"""Flow: a compiled flow definition that starts, replays and draws transactions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, final

import attrs

from ._bus import EventBus
from ._definition import FlowDefinition, Label, State, walk
from ._diagram import Diagram, draw
from ._engine import Engine, copy_configuration
from ._errors import InvalidPayload
from ._events import Clock, Event, check_now, utc_now
from ._sensitive import check_text
from ._transaction import Transaction

__all__ = ["Edge", "Flow"]

TxT = TypeVar("TxT", bound=Transaction[Any])


@final
@attrs.frozen
class Edge:
    """One arrow of a flow: ``trigger`` leads from ``source`` to ``dest`` if ``guards`` pass."""

    source: str
    trigger: str
    dest: str
    guards: tuple[str, ...]


@final
class Flow(Generic[TxT]):
    """A documented process, compiled once, that any number of transactions follow.

    ``transaction_type`` is the :class:`Transaction` subclass that :meth:`start`
    and :meth:`replay` return, usually one with typed methods per trigger.
    """

    __slots__ = (
        "definition",
        "edges",
        "engine",
        "initial",
        "name",
        "source",
        "states",
        "terminal_states",
        "title",
        "transaction_type",
        "triggers",
    )

    def __init__(
        self,
        definition: FlowDefinition,
        transaction_type: type[TxT] = Transaction,  # type: ignore[assignment]
    ) -> None:
        self.definition = definition
        self.transaction_type: type[TxT] = transaction_type
        self.engine = Engine(definition)
        self.name: str = definition.name
        self.title: Label = definition.title
        self.source: str = definition.source
        self.states: tuple[str, ...] = tuple(path for path, _ in walk(definition.states))
        self.initial: str = definition.initial
        self.terminal_states: frozenset[str] = frozenset(
            path for path, state in walk(definition.states) if state.terminal
        )
        self.triggers: tuple[str, ...] = tuple(
            dict.fromkeys(t.trigger for t in definition.transitions)
        )
        self.edges: tuple[Edge, ...] = tuple(
            Edge(source, t.trigger, t.dest, tuple(guard.name for guard in t.guards))
            for t in definition.transitions
            for source in t.source
        )

    @property
    def transitions(self) -> tuple[Edge, ...]:
        """Every edge ``(source, trigger, dest, guards)``; same as :attr:`edges`."""
        return self.edges

    def state(self, name: str) -> State:
        """Return the :class:`State` called ``name`` (with its English and Chinese labels)."""
        return self.definition.state(name)

    def start(
        self,
        tx_id: str,
        /,
        *,
        clock: Clock | None = None,
        bus: EventBus | None = None,
        **context: Any,
    ) -> TxT:
        """Begin transaction ``tx_id`` in the initial state and record its first events.

        ``context`` are the fields of the flow's start payload; ``clock`` stamps
        events (default: UTC now) and must return aware datetimes; ``bus`` receives
        every event recorded. The id may not look like a card number or hold a NUL byte.
        """
        if not isinstance(tx_id, str) or not tx_id.strip():
            raise InvalidPayload(
                f"Cannot start a {self.name} transaction: its id must be a non-empty string "
                f"(got {tx_id!r})."
            )
        check_text(tx_id, f"id of the {self.name} transaction to start")
        clock = utc_now if clock is None else clock
        now = self._clock_time(clock, tx_id)
        self._check_bus(bus, tx_id)
        first_context, events = self.engine.start(tx_id, context, now)
        initial = copy_configuration(self.engine.initial_state)
        tx = self.transaction_type(self, tx_id, initial, 0, first_context, events, clock, bus)
        if bus is not None:
            tx._publish(events)
        return tx

    def replay(
        self,
        events: Sequence[Event],
        /,
        *,
        clock: Clock | None = None,
        bus: EventBus | None = None,
    ) -> TxT:
        """Rebuild the transaction that recorded ``events``: a pure fold, no guard re-run.

        The result equals the original (id, state, version, context, events). Events
        that are not a history this flow could have written raise CorruptHistory
        naming the transaction and the first bad position; an empty list raises
        InvalidPayload.
        """
        if clock is not None and not callable(clock):
            raise InvalidPayload(
                f"Cannot replay a {self.name} transaction: clock {clock!r} is not callable."
            )
        self._check_bus(bus, "")
        tx_id, state, version, context = self.engine.replay(events)
        return self.transaction_type(
            self,
            tx_id,
            state,
            version,
            context,
            list(events),
            utc_now if clock is None else clock,
            bus,
        )

    def _clock_time(self, clock: Clock, tx_id: str) -> datetime:
        """Return ``clock()``, refusing a clock that is not callable or not aware."""
        subject = f"Cannot start {self.name} transaction {tx_id!r}"
        if not callable(clock):
            raise InvalidPayload(f"{subject}: clock {clock!r} is not callable.")
        return check_now(clock(), clock, subject)

    def _check_bus(self, bus: object, tx_id: str) -> None:
        if bus is not None and not isinstance(bus, EventBus):
            subject = (
                f"Cannot start {self.name} transaction {tx_id!r}"
                if tx_id
                else f"Cannot replay a {self.name} transaction"
            )
            raise InvalidPayload(f"{subject}: bus {bus!r} is not an EventBus.")

    def diagram(self, format: str = "mermaid", lang: str = "en") -> Diagram:
        """Draw the flow as Mermaid or DOT, in English or Chinese, guards on the edges."""
        return draw(self.definition, format, lang)

    def __repr__(self) -> str:
        return f"<Flow {self.name!r}: {len(self.states)} states, {len(self.triggers)} triggers>"
