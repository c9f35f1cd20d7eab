"""Flow and Transaction: a compiled definition, and the transactions that follow it.

A :class:`Flow` compiles a :class:`FlowDefinition` once and starts, replays and restores
:class:`Transaction` objects. A transaction owns its state (configuration, version,
context, events) and asks the flow's pure :class:`~ecomflow._engine.Engine` what a
trigger leads to; :func:`trigger` declares a flow's typed methods, one line of signature
each. The two classes live together because each names the other.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import MethodType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, final, overload

from attrs import NOTHING
from attrs import fields as attrs_fields

from ._board import Board, board
from ._bus import EventBus
from ._codec import converter
from ._deadlines import Timers
from ._definition import RESERVED, FlowDefinition, Label, State
from ._diagram import Diagram, draw, trace
from ._engine import Engine
from ._errors import CorruptHistory, InvalidDefinition, InvalidPayload, SubscriberError
from ._events import Clock, Event, check_now, utc_now
from ._graph import Edge, as_lists, freeze, leaves_of, state_name, walk
from ._messages import problem_zh, sentence_subject_zh
from ._sensitive import check_text, text_problem

SNAPSHOT_FORMAT = 1
"""The layout of :meth:`Flow.snapshot`'s dict; another one is ignored (full replay)."""

__all__ = ["Edge", "Flow", "Transaction", "check_who", "trigger"]

C = TypeVar("C")
P = ParamSpec("P")


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
        "_who",
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
        # (actor, causation_id, correlation_id) of a fire that names none: made once.
        self._who: tuple[str | None, str | None, str | None] = (None, None, self._correlation)

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
        state = self._state  # a tuple of regions while in a parallel state
        return type(state) is str and state in self._flow.terminal_states

    def allowed_triggers(self) -> tuple[str, ...]:
        """Return the triggers possible now, with guards that need no payload evaluated.

        A timed trigger (a deadline) is listed only once it is due.
        """
        now = self._clock()
        allowed = self._flow.engine.allowed_triggers(self._state, self._context, now)
        timers = self._flow._timers
        return allowed if timers is None else timers.filter_allowed(self, allowed, now)

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
            who = self._who
        else:
            who = check_who(
                f"Cannot {trigger} transaction {self.id!r} in state {self.state!r}",
                actor,
                causation_id,
                self._correlation if correlation_id is None else correlation_id,
            )
        return self._apply(trigger, payload, who)

    def _apply(
        self,
        trigger: str,
        payload: Mapping[str, Any],
        who: tuple[str | None, str | None, str | None],
    ) -> tuple[Event, ...]:
        """Fire ``trigger`` with the payload's fields and checked ``who``; store the result."""
        state, context, events = self._flow.engine.fire(
            self.id, self._state, self._version, self._context, trigger, payload, self._clock, who
        )
        timers = self._flow._timers
        if timers is not None and trigger in timers.triggers:  # a deadline: due at the fire's time?
            timers.check_due(self, trigger, events[0].occurred_at)
        self._state, self._context = state, context
        self._version += 1
        self._events.extend(events)
        if self._bus is not None:
            self._publish(events)
        return events

    def _fork(self, clock: Clock) -> Transaction[Any]:
        """Return an independent copy to try a step on, stamped by ``clock``, with no bus.

        The configuration and the context are immutable, so the copy shares them.
        """
        if self._loader is not None:
            self._load_history()
        twin: Transaction[Any] = self._flow.transaction_type(
            self._flow,
            self.id,
            self._state,
            self._version,
            self._context,
            list(self._events),
            clock,
            None,
            self._correlation,
        )
        return twin

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

    def diagram(self, format: str = "mermaid", lang: str = "en") -> Diagram:
        """Draw the flow with this transaction on it: where it stands, and the path it took.

        As :meth:`Flow.diagram` (Mermaid or DOT, English or Chinese), with the current
        state(s) highlighted and every transition fired drawn bold, numbered by step.
        """
        return draw(self._flow.definition, format, lang, marks=trace(self))

    def board(self, lang: str = "en") -> Board:
        """Return the transaction's events in four lanes (信息流 商流 资金流 物流), by step."""
        return board(self, lang)

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
                f"(got {value!r}).",
                zh=f"{sentence_subject_zh(subject)}：{name} 必须是非空字符串，说明由谁或什么引起"
                f"（收到 {value!r}）。",
            )
        if len(value) > 200:
            raise InvalidPayload(
                f"{subject}: {name} is longer than 200 characters.",
                zh=f"{sentence_subject_zh(subject)}：{name} 超过 200 个字符。",
            )
        problem = text_problem(value)
        if problem is not None:  # the value itself is not repeated: messages reach logs
            raise InvalidPayload(
                f"{subject}: the {name} given {problem}.",
                zh=f"{sentence_subject_zh(subject)}：给出的 {name} {problem_zh(problem)}。",
            )
    return actor, causation_id, correlation_id  # type: ignore[return-value]


class TriggerMethod(Generic[P]):
    """A typed method that fires one trigger: made by :func:`trigger`, read as a method.

    ``tx.fill_order(customer_name=..., ...)`` is ``tx.fire("fill_order", ...)``; the
    declaration's keyword-only parameters are the trigger's payload fields, and may add
    ``actor``, ``causation_id`` and ``correlation_id`` (as :meth:`Transaction.fire`).
    :class:`Flow` checks each one against its transition's payload.

    What a class holds is :attr:`method`, a plain function (so reading ``tx.fill_order``
    binds it in C, as any method), which carries this declaration as ``__trigger__``
    and its ``parameters``, ``required`` and ``defaults``; this class is what type
    checkers see.
    """

    __slots__ = ("__dict__", "defaults", "method", "parameters", "required")

    def __init__(self, declaration: Callable[Concatenate[Any, P], None]) -> None:
        self.__name__ = declaration.__name__
        self.__doc__ = declaration.__doc__
        where = f"Typed method {declaration.__qualname__!r}"
        parameters = list(inspect.signature(declaration).parameters.values())[1:]
        loose = [p.name for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        if loose:
            raise InvalidDefinition(
                f"{where} is invalid: parameter {loose[0]!r} must be keyword-only (declare it "
                "after a bare *), as every trigger's payload is given by name."
            )
        self.parameters = frozenset(p.name for p in parameters)
        self.required = frozenset(p.name for p in parameters if p.default is p.empty)
        self.defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
        method = _typed_call(declaration.__name__, declaration.__doc__)
        method.__qualname__ = declaration.__qualname__
        method.__module__ = declaration.__module__
        method.__wrapped__ = declaration  # type: ignore[attr-defined]  # its signature, for help()
        vars(method).update(
            __trigger__=self,
            parameters=self.parameters,
            required=self.required,
            defaults=self.defaults,
        )
        self.method = method

    @overload
    def __get__(self, tx: None, owner: type[Any] | None = None) -> TriggerMethod[P]: ...

    @overload
    def __get__(
        self, tx: Transaction[Any], owner: type[Any] | None = None
    ) -> Callable[P, tuple[Event, ...]]: ...

    def __get__(
        self, tx: Transaction[Any] | None, owner: type[Any] | None = None
    ) -> TriggerMethod[P] | Callable[P, tuple[Event, ...]]:
        """Bind the typed method (for a class that holds the declaration itself)."""
        if tx is None:
            return self
        return MethodType(self.method, tx)

    def check(self, definition: FlowDefinition, owner: type[Any]) -> None:
        """Refuse, as InvalidDefinition, a declaration that does not match its transition."""
        where = f"{owner.__name__}.{self.__name__}"
        specs = [
            t for t in (definition.start, *definition.transitions) if t.trigger == self.__name__
        ]
        if specs and specs[0] is definition.start:
            raise InvalidDefinition(
                f"Typed method {where} is invalid: {self.__name__!r} is the {definition.name} "
                "flow's start, which Flow.start fires; a typed method fires a later trigger."
            )
        if not specs:
            raise InvalidDefinition(
                f"Typed method {where} is invalid: the {definition.name} flow has no trigger "
                f"{self.__name__!r} to fire."
            )
        for spec in specs:
            fields = (
                {}
                if spec.payload is None
                else {field.alias: field.default for field in attrs_fields(spec.payload)}
            )
            unknown = sorted(self.parameters - fields.keys() - RESERVED)
            missing = sorted(
                name
                for name, default in fields.items()
                if default is NOTHING and name not in self.parameters
            )
            # A declared default is only a promise of the payload's own: one that differs
            # would never be used (the call passes what it is given), so it is refused.
            wrong = []
            for name, value in sorted(self.defaults.items()):
                if name in RESERVED:
                    if value is not None:  # who did it is never assumed
                        wrong.append(name)
                elif name in fields:
                    own = fields[name]
                    if getattr(own, "factory", None) is not None:
                        continue  # a factory's value is made per payload: nothing to compare
                    if own is NOTHING or own != value:
                        wrong.append(name)
            if wrong and not unknown and not missing:
                raise InvalidDefinition(
                    f"Typed method {where} is invalid: parameter {wrong[0]!r} declares the "
                    f"default {self.defaults[wrong[0]]!r}, which its payload does not have; "
                    "declare the payload's default (or none)."
                )
            if unknown or missing:
                problem = (
                    f"parameter {unknown[0]!r} is not a field of its payload"
                    if unknown
                    else f"payload field {missing[0]!r} is required but not a parameter"
                )
                raise InvalidDefinition(f"Typed method {where} is invalid: {problem}.")


_FIRE = Transaction.fire
_NAMES_NOBODY = RESERVED.isdisjoint  # a call naming no actor, causation or correlation id


def _typed_call(name: str, doc: str | None) -> Callable[..., tuple[Event, ...]]:
    """Return the function a typed method binds: ``tx.fire(name, **payload)``, made direct.

    A call that names nobody (no ``actor``, ``causation_id`` or ``correlation_id``) on
    a transaction whose class keeps :meth:`Transaction.fire` goes straight to the
    engine with the call's own keyword dict; any other call goes through ``fire``.
    """

    def call(tx: Transaction[Any], /, **payload: Any) -> tuple[Event, ...]:
        flow = tx._flow
        moves = flow._typed_moves.get(name)
        if moves is None or type(tx) is not flow._typed_type or not _NAMES_NOBODY(payload):
            return tx.fire(name, **payload)  # a deadline, a class with its own fire, a who
        move = moves.get(tx._state)
        if move is None:  # a move not made before: computed once, or refused by fire
            move = flow.engine._move(tx._state, name)
            if move is None:
                return tx.fire(name, **payload)
        # Transaction._apply, inline, with the transition's compiled fire: every typed call.
        _, after, run = move
        tx._context, events = run(
            tx.id, tx._state, tx._version, tx._context, payload, tx._clock, tx._who
        )
        tx._state = after
        tx._version += 1
        tx._events.extend(events)
        if tx._bus is not None:
            tx._publish(events)
        return events

    call.__name__ = call.__qualname__ = name
    call.__doc__ = doc
    return call


def trigger(declaration: Callable[Concatenate[Any, P], None]) -> TriggerMethod[P]:
    """Declare a transaction's typed method for the trigger of the same name.

    The declaration is a signature and a docstring, nothing else: its keyword-only
    parameters are the payload's fields (and ``actor``, ``causation_id``,
    ``correlation_id`` where the trigger is fired with them). Calling the method fires
    the trigger and returns the events; :class:`Flow` checks the parameters against the
    transition's payload when it compiles.

    >>> from ecomflow import Transaction
    >>> class Sale(Transaction[object]):
    ...     @trigger
    ...     def settle(self, *, statement_ref: str) -> None:
    ...         "Step 6: the bank pays and the consumer is billed."
    >>> Sale.settle.parameters
    frozenset({'statement_ref'})
    """
    method: TriggerMethod[P] = TriggerMethod(declaration).method  # type: ignore[assignment]
    return method


TxT = TypeVar("TxT", bound=Transaction[Any])


@final
class Flow(Generic[TxT]):
    """A documented process, compiled once, that any number of transactions follow.

    ``transaction_type`` is the :class:`Transaction` subclass that :meth:`start`
    and :meth:`replay` return, usually one with typed methods per trigger.
    """

    __slots__ = (
        "_known",
        "_leaf_states",
        "_timers",
        "_typed_moves",
        "_typed_type",
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
        self._timers: Timers | None = Timers.of(self.engine)
        # What a typed call may fire directly: each trigger's moves as the engine computes
        # them, less the timed ones (checked for being due by Transaction.fire).
        self._typed_moves = {
            trigger: moves
            for trigger, moves in self.engine._moves.items()
            if self._timers is None or trigger not in self._timers.triggers
        }
        # The class whose typed calls may go straight to the engine: one that keeps
        # Transaction.fire (a class with its own fire is called through it).
        self._typed_type: type[Any] | None = (
            transaction_type if transaction_type.fire is _FIRE else None
        )
        self.name: str = definition.name
        self.version: int = definition.version
        self._known: frozenset[Any] | None = None
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
        for name in dir(transaction_type):  # the methods the class uses, not hidden ones
            value = inspect.getattr_static(transaction_type, name, None)
            declared = getattr(value, "__trigger__", value)  # a typed method's declaration
            if isinstance(declared, TriggerMethod):
                declared.check(definition, transaction_type)
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
                f"(got {tx_id!r}).",
                zh=f"无法开始 {self.name} 交易：交易 id 必须是非空字符串（收到 {tx_id!r}）。",
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
        initial = self.engine.initial_state  # immutable: every transaction may share it
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
            "state": as_lists(tx._state),
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
                    zh=f"无法恢复 {self.name} 交易 {tx_id!r}：其快照之后的事件属于交易 "
                    f"{tail[0].tx_id!r}。",
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

    def _configurations(self) -> frozenset[Any]:
        """Every configuration the flow can be in, as the engine gives it (computed once)."""
        known = self._known
        if known is None:
            engine = self.engine
            found = {engine.initial_state}
            queue = [engine.initial_state]
            while queue:
                configuration = queue.pop()
                for trigger in engine.triggers_from(configuration):
                    move = engine._move(configuration, trigger)
                    if move is not None and move[1] not in found:
                        found.add(move[1])
                        queue.append(move[1])
            known = self._known = frozenset(found)
        return known

    def _parse_snapshot(self, snapshot: Mapping[str, Any]) -> tuple[str, int, Any, str, Any]:
        """Return ``(tx_id, version, configuration, correlation_id, context)`` of a snapshot."""
        tx_id = snapshot.get("tx_id") if isinstance(snapshot, Mapping) else None
        try:
            if not isinstance(snapshot, Mapping) or snapshot.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"it is not a snapshot of format {SNAPSHOT_FORMAT}")
            version = snapshot["version"]
            if type(tx_id) is not str or type(version) is not int or version < 0:
                raise ValueError("its id or version is missing")
            state = freeze(_configuration(snapshot["state"]))
            unknown = [leaf for leaf in leaves_of(state) if leaf not in self._leaf_states]
            if unknown:
                raise ValueError(f"state {unknown[0]!r} is not one of the flow's")
            if state not in self._configurations():
                raise ValueError(f"the flow is never in state {state_name(state)!r} in that form")
            correlation = snapshot.get("correlation_id")
            if correlation is not None and type(correlation) is not str:
                raise ValueError("its correlation id is not a string")
            context = converter.structure(snapshot["context"], self.definition.context_type)
        except Exception as error:
            text = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CorruptHistory(
                f"Cannot restore a {self.name} transaction ({tx_id!r}) from its snapshot: "
                f"{text}; delete the snapshot to replay the events instead.",
                zh=f"无法从快照恢复 {self.name} 交易（{tx_id!r}）：{text}；"
                "请删除该快照，改为重放事件。",
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
