"""Flow: a compiled flow definition that starts, replays and draws transactions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, final

import attrs

from ._bus import EventBus
from ._codec import converter
from ._definition import FlowDefinition, Label, State, leaves_of, walk
from ._diagram import Diagram, draw
from ._engine import Engine, copy_configuration
from ._errors import CorruptHistory, InvalidPayload
from ._events import Clock, Event, check_now, utc_now
from ._sensitive import check_text
from ._transaction import Transaction, check_who

SNAPSHOT_FORMAT = 1
"""The layout of :meth:`Flow.snapshot`'s dict; another one is ignored (full replay)."""

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
        "_leaf_states",
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
        "version",
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
        self.version: int = definition.version
        self._leaf_states = frozenset(
            path for path, state in walk(definition.states) if not state.children
        )
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
        actor: str | None = None,
        causation_id: str | None = None,
        correlation_id: str | None = None,
        **context: Any,
    ) -> TxT:
        """Begin transaction ``tx_id`` in the initial state and record its first events.

        ``context`` are the fields of the flow's start payload; ``clock`` stamps
        events (default: UTC now) and must return aware datetimes; ``bus`` receives
        every event recorded. The id may not look like a card number or hold a NUL byte.
        ``actor``, ``causation_id`` and ``correlation_id`` say who did it (see
        :meth:`Transaction.fire`); the correlation id, default the transaction's id,
        stays the transaction's for its later events.
        """
        if not isinstance(tx_id, str) or not tx_id.strip():
            raise InvalidPayload(
                f"Cannot start a {self.name} transaction: its id must be a non-empty string "
                f"(got {tx_id!r})."
            )
        check_text(tx_id, f"id of the {self.name} transaction to start")
        who = check_who(
            f"Cannot start {self.name} transaction {tx_id!r}",
            actor,
            causation_id,
            tx_id if correlation_id is None else correlation_id,
        )
        clock = utc_now if clock is None else clock
        now = self._clock_time(clock, tx_id)
        self._check_bus(bus, tx_id)
        first_context, events = self.engine.start(tx_id, context, now, who)
        initial = copy_configuration(self.engine.initial_state)
        tx = self.transaction_type(
            self, tx_id, initial, 0, first_context, events, clock, bus, who[2]
        )
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
        InvalidPayload. Events written by an older version of the flow are upcast first
        (see :class:`FlowDefinition`); one of a newer version raises UnknownFlowVersion.
        """
        if clock is not None and not callable(clock):
            raise InvalidPayload(
                f"Cannot replay a {self.name} transaction: clock {clock!r} is not callable."
            )
        self._check_bus(bus, "")
        events = self.engine.upcast(self.engine._replayable(events))
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
            events[0].correlation_id,
        )

    def snapshot(self, tx: Transaction[Any]) -> dict[str, Any]:
        """Return ``tx``'s state and context as JSON data that :meth:`restore` rebuilds.

        The state configuration (nested and parallel states too), the version, the
        correlation id and the context through the JSON codec; keyed by the flow's
        :attr:`version` where it is stored, so that another version ignores it.
        """
        return {
            "format": SNAPSHOT_FORMAT,
            "tx_id": tx.id,
            "version": tx.version,
            "state": copy_configuration(tx._state),
            "correlation_id": tx.correlation_id,
            "context": converter.unstructure(
                tx.context, unstructure_as=self.definition.context_type
            ),
        }

    def restore(
        self,
        snapshot: Mapping[str, Any],
        events: Sequence[Event] = (),
        /,
        *,
        history: Callable[[], list[Event]] | None = None,
        clock: Clock | None = None,
        bus: EventBus | None = None,
    ) -> TxT:
        """Rebuild a transaction from :meth:`snapshot`'s data and the ``events`` after it.

        The result equals the replayed transaction. ``history()``, called once and only
        when :attr:`Transaction.events` is read, returns the events up to the snapshot's
        version (without it the transaction's events start after the snapshot). A
        snapshot that does not parse raises :class:`CorruptHistory`; the events after it
        are upcast and checked as by :meth:`replay`.
        """
        tx_id, version, state, correlation, context = self._parse_snapshot(snapshot)
        tail: Sequence[Event] = ()
        if len(events):
            tail = self.engine.upcast(self.engine._replayable(events))
            if tail[0].tx_id != tx_id:
                raise CorruptHistory(
                    f"Cannot restore {self.name} transaction {tx_id!r}: the events after its "
                    f"snapshot belong to transaction {tail[0].tx_id!r}.",
                    tx_id=tx_id,
                    position=f"{tail[0].version}:{tail[0].seq}",
                )
            _, state, version, context = self.engine.replay(tail, (state, version, context))
        return self.transaction_type(
            self,
            tx_id,
            state,
            version,
            context,
            list(tail),
            utc_now if clock is None else clock,
            bus,
            correlation,
            history,
        )

    def _parse_snapshot(self, snapshot: Mapping[str, Any]) -> tuple[str, int, Any, str, Any]:
        """Return ``(tx_id, version, configuration, correlation_id, context)`` of a snapshot."""
        tx_id = snapshot.get("tx_id") if isinstance(snapshot, Mapping) else None
        try:
            if not isinstance(snapshot, Mapping) or snapshot.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"it is not a snapshot of format {SNAPSHOT_FORMAT}")
            version = snapshot["version"]
            if type(tx_id) is not str or type(version) is not int or version < 0:
                raise ValueError("its id or version is missing")
            state = copy_configuration(_configuration(snapshot["state"]))
            unknown = [leaf for leaf in leaves_of(state) if leaf not in self._leaf_states]
            if unknown:
                raise ValueError(f"state {unknown[0]!r} is not one of the flow's")
            correlation = snapshot.get("correlation_id")
            if correlation is not None and type(correlation) is not str:
                raise ValueError("its correlation id is not a string")
            context = converter.structure(snapshot["context"], self.definition.context_type)
        except Exception as error:
            text = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CorruptHistory(
                f"Cannot restore a {self.name} transaction ({tx_id!r}) from its snapshot: "
                f"{text}; delete the snapshot to replay the events instead.",
                tx_id=str(tx_id),
                position="snapshot",
            ) from None
        return tx_id, version, state, tx_id if correlation is None else correlation, context

    def summary(self, tx: Transaction[Any]) -> dict[str, Any]:
        """Return the flow's summary fields of ``tx`` (``{}`` when the flow declares none)."""
        summarize = self.definition.summary
        return {} if summarize is None else dict(summarize(tx.context, tx.state))

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


def _configuration(value: object) -> Any:
    """Return ``value`` if it is a state configuration: a path, or nested lists of paths."""
    if type(value) is str:
        return value
    if isinstance(value, list) and value:
        return [_configuration(part) for part in value]
    raise ValueError(f"its state {value!r} is not a state configuration")
