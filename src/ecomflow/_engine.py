"""The engine: a pure function of one definition, over one shared ``transitions`` machine.

Given a configuration, a context, a trigger, a payload and a clock, :meth:`Engine.fire`
returns the next configuration, the new context and the events, and touches nothing
else: the :class:`~ecomflow.Transaction` owns its state and stores what it gets back, so
a refusal leaves it untouched. The ``transitions`` machine holds the graph and computes
every next configuration (entering initial children, the regions of a parallel state,
leaving them) on a stand-in model, once per (configuration, trigger): it runs no
callbacks, so the answer never changes. This module knows no e-commerce and no
transaction.
"""

from __future__ import annotations

import threading
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import attrs
from transitions import Machine
from transitions.extensions.nesting import HierarchicalMachine, NestedState

from ._codec import converter, structure, unstructure
from ._compiled import NO_DATA, Run, at_offsets, compile_run
from ._definition import FlowDefinition, Reason, State, Transition, reason_in
from ._errors import (
    CorruptHistory,
    GuardRejected,
    InvalidPayload,
    TransitionNotAllowed,
    UnknownFlowVersion,
    refusal_zh,
    subject_zh,
)
from ._events import (
    Clock,
    Event,
    Stream,
    check_now,
    new_event,
)
from ._frozen import ScannedDict
from ._graph import Configuration, ancestors, as_lists, entry, freeze, leaves_of, state_name, walk
from ._messages import describe_zh, payload_zh, problem_zh
from ._money import _show
from ._sensitive import Refused, find_sensitive, scan_dict

__all__ = ["Engine"]

STATE_ATTRIBUTE = "state"


class _Scratch:
    """A stand-in model on which the machine computes a next state."""

    __slots__ = ("state",)

    def __init__(self, state: Any) -> None:
        self.state = state


@attrs.frozen
class _Step:
    """A transition compiled for the hot path: what every fire would otherwise look up."""

    spec: Transition
    accepted: frozenset[str]
    required: frozenset[str]
    context_guards: tuple[Any, ...]
    dump: Callable[[Any], Any]
    checks_actor: bool = False  # requires an actor, or checks one when given
    # The payload class, the guards as (check, uses_clock), the effect and the events
    # as (when, data, stream, name): read off the spec once, not on every fire.
    payload: type[Any] | None = None
    guards: tuple[tuple[Callable[..., str | None], bool], ...] = ()
    effect: Callable[..., Any] | None = None
    effect_uses_clock: bool = False
    emits: tuple[tuple[Any, Any, Stream, str], ...] = ()
    takes_times: bool = True  # a payload field may hold a datetime (to take at its offset)
    binds_fields: bool = False  # the payload's __init__ refuses unknown and missing fields
    # The fire written out (see ecomflow._compiled): (tx_id, configuration, version,
    # context, kwargs, clock, who) -> (context, events). None for the start.
    run: Run | None = None


def _binds_fields(payload: type[Any] | None) -> bool:
    """Whether ``payload``'s ``__init__`` is the one attrs wrote for its fields.

    Its signature is then the fields' aliases (a default making one optional), so
    calling it with unknown or missing keyword arguments raises ``TypeError`` before
    anything runs: the happy path needs no check of the keys beforehand, and a refusal
    is named by the check run after it. A class with its own ``__init__`` is checked
    first, as it may take ``**kwargs``.
    """
    code = getattr(getattr(payload, "__init__", None), "__code__", None)
    return code is not None and code.co_filename.startswith("<attrs generated")


def _takes_times(payload: type[Any] | None) -> bool:
    """Whether a field of ``payload`` may hold a datetime: its type names one, or any value.

    A payload whose fields cannot (text, amounts, counts) skips the look for named zones on
    every fire; a type that cannot be read is taken to allow one.
    """
    if payload is None:
        return False
    try:
        hints = typing.get_type_hints(payload)
    except Exception:  # an annotation that does not resolve: look on every fire
        return True
    for field in attrs.fields(payload):
        text = repr(hints.get(field.name, Any))
        if "datetime" in text or "Any" in text or "object" in text:
            return True
    return False


def _compile(transition: Transition) -> _Step:
    accepted, required = _payload_fields(transition.payload)
    return _Step(
        spec=transition,
        accepted=accepted,
        required=required,
        context_guards=tuple(g for g in transition.guards if not g.uses_payload),
        dump=_dumper(transition.payload),
        checks_actor=transition.requires_actor or transition.actor_check is not None,
        payload=transition.payload,
        guards=tuple((guard.check, guard.uses_clock) for guard in transition.guards),
        effect=transition.effect,
        effect_uses_clock=transition.effect_uses_clock,
        emits=tuple((emit.when, emit.data, emit.stream, emit.name) for emit in transition.emits),
        takes_times=_takes_times(transition.payload),
        binds_fields=_binds_fields(transition.payload),
    )


def _payload_fields(payload: type[Any] | None) -> tuple[frozenset[str], frozenset[str]]:
    if payload is None:
        return frozenset(), frozenset()
    fields = attrs.fields(payload)
    accepted = frozenset(field.alias for field in fields)
    required = frozenset(field.alias for field in fields if field.default is attrs.NOTHING)
    return accepted, required


def _dumper(payload: type[Any] | None) -> Callable[[Any], Any]:
    """Return the codec's unstructure function for a payload class, looked up once."""
    if payload is None:
        return unstructure
    hook: Callable[[Any], Any] = converter.get_unstructure_hook(payload)
    return hook


def _subject(subject: tuple[str, str, str], flow: str) -> str:
    """Return the start of an error message, naming the trigger, transaction and state."""
    trigger, tx_id, state = subject
    if not state:
        return f"Cannot start {flow} transaction {tx_id!r}"
    return f"Cannot {trigger} transaction {tx_id!r} in state {state!r}"


def _describe(error: BaseException) -> str:
    """Return a one-line description of ``error``, the first line of a cattrs error group."""
    inner = getattr(error, "exceptions", None)  # an ExceptionGroup (cattrs), also on 3.10
    if inner:
        return _describe(inner[0])
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _corrupt(tx_id: object, event: Event, problem: str, flow: str) -> CorruptHistory:
    """Return CorruptHistory for ``event``, the first bad one of ``tx_id``'s history."""
    position = f"{event.version}:{event.seq}"
    return CorruptHistory(
        f"Cannot replay {flow} transaction {tx_id!r}: the event at {position} "
        f"({event.name!r}) {problem}.",
        zh=f"无法重放 {flow} 交易 {tx_id!r}：位置 {position} 的事件（{event.name!r}）不是该流程"
        f"能写出的历史：{problem}。",
        tx_id=str(tx_id),
        position=position,
    )


def _check_emits(tx_id: object, spec: Transition, batch: Sequence[Event], flow: str) -> None:
    """Check that ``batch`` holds the events ``spec`` records, in order and in their streams.

    Every unconditional event must be there; an optional one (``when``) may be absent.
    """
    position = 0
    for emit in spec.emits:
        event = batch[position] if position < len(batch) else None
        if event is not None and event.name == emit.name and event.stream is emit.stream:
            position += 1
        elif emit.when is None:
            version = batch[0].version
            where = f"{version}:{position}"
            if event is not None and event.name == emit.name:
                problem = f"is recorded in stream {event.stream}, not {emit.stream}"
            elif event is not None:
                problem = f"comes where {spec.trigger}'s {emit.name!r} ({emit.stream}) should"
            else:
                raise CorruptHistory(
                    f"Cannot replay {flow} transaction {tx_id!r}: version {version} "
                    f"({spec.trigger}) lacks its {emit.name!r} event ({emit.stream}) at {where}.",
                    tx_id=str(tx_id),
                    position=where,
                )
            raise _corrupt(tx_id, event, problem, flow)
    if position < len(batch):
        extra = batch[position]
        names = ", ".join(emit.name for emit in spec.emits)
        raise _corrupt(
            tx_id, extra, f"is not one {spec.trigger} records (it records {names})", flow
        )


class _DottedState(NestedState):
    """Nested states named with dots, so state names may contain underscores."""

    separator = "."


class _DottedMachine(HierarchicalMachine):
    state_cls = _DottedState


def _machine_states(states: Sequence[State]) -> list[Any]:
    result: list[Any] = []
    for state in states:
        if not state.children:
            result.append(state.name)
        elif state.parallel:
            result.append({"name": state.name, "parallel": _machine_states(state.children)})
        else:
            result.append(
                {
                    "name": state.name,
                    "children": _machine_states(state.children),
                    "initial": state.initial,
                }
            )
    return result


class Engine:
    """Fires, starts and replays transactions of one :class:`FlowDefinition`, purely.

    A flat definition runs on a ``transitions.Machine``; one with composite states on
    a ``HierarchicalMachine`` whose states are dotted paths. Either way there is one
    machine per definition, and a trigger is looked up from the innermost active state
    outwards, so a transition from a composite state applies to all states inside it.
    """

    __slots__ = (
        "_allowed",
        "_machine_lock",
        "_moves",
        "_nodes",
        "_start_fields",
        "_start_step",
        "_steps",
        "_triggers",
        "definition",
        "initial_state",
        "machine",
        "nested",
    )

    def __init__(self, definition: FlowDefinition) -> None:
        self.definition = definition
        self._nodes = dict(walk(definition.states))
        self.nested = any(state.children for state in definition.states)
        transitions = [
            {"trigger": t.trigger, "source": list(t.source), "dest": t.dest}
            for t in definition.transitions
        ]
        options: dict[str, Any] = {
            "model": None,
            "transitions": transitions,
            "initial": definition.initial,
            "auto_transitions": False,
            "model_attribute": STATE_ATTRIBUTE,
        }
        self.initial_state: Configuration = entry(self._nodes, definition.initial)
        steps: dict[tuple[str, str], _Step] = {}
        allowed: dict[str, list[str]] = {path: [] for path in self._nodes}
        self.machine: Machine
        if self.nested:
            self.machine = _DottedMachine(states=_machine_states(definition.states), **options)
        else:
            self.machine = Machine(states=list(self._nodes), **options)
        for transition in definition.transitions:
            step = _compile(transition)
            step = attrs.evolve(step, run=compile_run(self, step))
            for source in transition.source:
                steps[(source, transition.trigger)] = step
                allowed[source].append(transition.trigger)
        self._steps = steps
        self._machine_lock = threading.Lock()
        # trigger -> configuration -> (step, the configuration the machine computed, the
        # step's written-out fire): two lookups, and no key tuple to allocate per fire.
        self._moves: dict[str, dict[Configuration, tuple[_Step, Configuration, Run]]] = {
            trigger: {} for trigger in dict.fromkeys(t.trigger for t in definition.transitions)
        }
        self._allowed = {state: tuple(triggers) for state, triggers in allowed.items()}
        self._triggers = frozenset(t.trigger for t in definition.transitions)
        self._start_fields = _payload_fields(definition.start.payload)
        self._start_step = _compile(definition.start)

    # -- queries -------------------------------------------------------------------------

    def _step(self, configuration: Configuration, trigger: str) -> _Step | None:
        if not self.nested:
            return self._steps.get((configuration, trigger))
        for leaf in leaves_of(configuration):
            for node in ancestors(leaf):
                step = self._steps.get((node, trigger))
                if step is not None:
                    return step
        return None

    def _move(
        self, configuration: Configuration, trigger: str
    ) -> tuple[_Step, Configuration, Run] | None:
        """Return the step ``trigger`` takes from ``configuration``, where it leads, its run.

        Computed once per (configuration, trigger): the machine moves a stand-in model
        (it runs no callbacks, so the answer never changes) and the result is kept.
        """
        moves = self._moves.get(trigger)
        if moves is None:
            return None
        move = moves.get(configuration)
        if move is not None:
            return move
        step = self._step(configuration, trigger)
        if step is None:
            return None
        # The shared machine keeps its scope on itself while it moves a model (a nested
        # one swaps its states and events): one thread at a time computes a new move;
        # a move computed once is read without the lock.
        with self._machine_lock:
            move = moves.get(configuration)
            if move is None:
                scratch = _Scratch(as_lists(configuration))
                if self.nested:
                    self.machine.trigger_event(scratch, trigger)
                else:
                    self.machine.events[trigger].trigger(scratch)
                assert step.run is not None  # every transition's step has one
                move = moves[configuration] = (step, freeze(scratch.state), step.run)
        return move

    def triggers_from(self, configuration: Configuration) -> tuple[str, ...]:
        """Return the triggers defined from a state (or configuration), guards not evaluated."""
        if not self.nested:
            return self._allowed[configuration]
        found = {
            trigger: None
            for leaf in leaves_of(configuration)
            for node in ancestors(leaf)
            for trigger in self._allowed[node]
        }
        return tuple(found)

    def transition(self, state: str, trigger: str) -> Transition:
        """Return the transition ``trigger`` takes from ``state`` (KeyError if none).

        ``state`` is a state's name, or parallel states joined by ``|`` as
        :attr:`Transaction.state` gives them.
        """
        step = self._step(tuple(state.split("|")) if "|" in state else state, trigger)
        if step is None:
            raise KeyError((state, trigger))
        return step.spec

    def allowed_triggers(
        self, configuration: Configuration, context: Any, now: datetime
    ) -> tuple[str, ...]:
        """Return the triggers some valid payload can fire from ``configuration`` now.

        Every guard that does not read the payload (``uses_payload=False``, which
        :class:`Guard` checks against its code) is evaluated, with ``now`` when it reads
        the clock; guards that read the payload are left to the payload, so each trigger
        listed can succeed and each one left out cannot.
        """
        result = []
        for trigger in self.triggers_from(configuration):
            step = self._step(configuration, trigger)
            assert step is not None
            if all(
                (
                    guard.check(context, None, now)
                    if guard.uses_clock
                    else guard.check(context, None)
                )
                is None
                for guard in step.context_guards
            ):
                result.append(trigger)
        return tuple(result)

    # -- firing --------------------------------------------------------------------------

    def fire(
        self,
        tx_id: str,
        configuration: Configuration,
        version: int,
        context: Any,
        trigger: str,
        kwargs: Mapping[str, Any],
        clock: Clock,
        who: tuple[str | None, str | None, str | None] = (None, None, None),
    ) -> tuple[Configuration, Any, tuple[Event, ...]]:
        """Return ``(configuration, context, events)`` after ``trigger`` with ``kwargs``.

        ``configuration``, ``version`` and ``context`` are where transaction ``tx_id``
        stands; ``clock`` gives the time of the events; ``who`` is ``(actor,
        causation_id, correlation_id)``, stamped on every event (checked by the caller).
        Nothing is changed: a refusal raises, and the caller stores what is returned.

        The hot path: the move per (configuration, trigger) is computed once, and the
        transition's fire was written out as one function when the engine was built
        (:mod:`ecomflow._compiled`); the names an error message needs (the state's
        name) are made only when something is refused.
        """
        moves = self._moves.get(trigger) if type(trigger) is str else None
        move = None if moves is None else moves.get(configuration)
        if move is None:
            if type(trigger) is not str:
                raise InvalidPayload(
                    f"Cannot fire {_show(trigger)} on transaction {tx_id!r} in state "
                    f"{state_name(configuration)!r}: a trigger is a string, one of "
                    f"{', '.join(self.triggers_from(configuration)) or 'none'}.",
                    zh=f"无法对状态为 {state_name(configuration)!r} 的交易 {tx_id!r} 执行 "
                    f"{_show(trigger)}：触发器须为字符串，可选："
                    f"{', '.join(self.triggers_from(configuration)) or '无'}。",
                )
            move = self._move(configuration, trigger)
            if move is None:
                raise self._not_allowed(tx_id, configuration, trigger)
        _, after, run = move
        new_context, events = run(tx_id, configuration, version, context, kwargs, clock, who)
        return after, new_context, events

    def _checked_now(self, subject: tuple[str, str, str], now: object, clock: Clock) -> datetime:
        """Return ``now`` checked in full (a subclass, a naive time, a named zone's time).

        A zone's time is taken at its fixed offset, as the store returns it (see check_now).
        """
        return check_now(now, clock, _subject(subject, self.definition.name))

    def _check_fields(
        self,
        step: _Step,
        trigger: str,
        tx_id: str,
        configuration: Configuration,
        kwargs: Mapping[str, Any],
    ) -> None:
        """Raise InvalidPayload naming an unknown or missing field of ``kwargs``, if any."""
        keys = kwargs.keys()
        if not (keys <= step.accepted and keys >= step.required):
            subject = (trigger, tx_id, state_name(configuration))
            self._build(subject, step.accepted, step.required, step.spec, kwargs)

    def start(
        self,
        tx_id: str,
        kwargs: Mapping[str, Any],
        now: datetime,
        who: tuple[str | None, str | None, str | None] = (None, None, None),
    ) -> tuple[Any, list[Event]]:
        """Return the first context and the version-0 events of a new transaction.

        ``who`` is ``(actor, causation_id, correlation_id)`` for its events.
        """
        spec = self.definition.start
        accepted, required = self._start_fields
        subject = ("start", tx_id, "")
        payload = self._build(subject, accepted, required, spec, kwargs)
        if spec.guards:
            self._check_guards(spec, None, payload, subject, now, kwargs)
        if spec.requires_actor or (spec.actor_check is not None and who[0] is not None):
            self._check_actor(spec, None, payload, subject, who[0])
        if spec.effect is None:
            context = payload
        elif spec.effect_uses_clock:
            context = spec.effect(None, payload, now)
        else:
            context = spec.effect(None, payload)
        return context, self._record(
            self._start_step, tx_id, 0, spec.trigger, context, payload, now, who, None
        )

    def upcast(self, events: Sequence[Event]) -> Sequence[Event]:
        """Return ``events`` in the shape of this definition's version, upcast as needed.

        An event written by an older version goes through the definition's upcasters in
        a chain (1 -> 2 -> 3) and comes out stamped with the current version; an event of
        a newer version raises :class:`UnknownFlowVersion`. ``events`` themselves are
        returned when nothing needed upcasting (no copy).
        """
        current = self.definition.version
        if all(type(event) is Event and event.flow_version == current for event in events):
            return events
        upcasters = self.definition.upcasters
        result: list[Event] = []
        for event in events:
            if type(event) is not Event or event.flow_version == current:
                result.append(event)  # not an event: replay refuses it with a clear message
                continue
            written = event.flow_version
            if type(written) is not int or written > current or written < 1:
                position = f"{event.version}:{event.seq}"
                raise UnknownFlowVersion(
                    f"Cannot load {self.definition.name} transaction {event.tx_id!r}: the "
                    f"event at {position} ({event.name!r}) was written by version "
                    f"{written!r} of the flow, and this process knows versions 1 to "
                    f"{current}; upgrade the code that defines the flow.",
                    tx_id=event.tx_id,
                    position=position,
                    flow_version=written if type(written) is int else -1,
                    known=current,
                )
            for version in range(written, current):
                upcast = upcasters.get(version)
                if upcast is not None:
                    event = self._upcast_one(upcast, event, version)
            result.append(attrs.evolve(event, flow_version=current))
        return result

    def _upcast_one(self, upcast: Callable[[Event], Event], event: Event, version: int) -> Event:
        """Run one upcaster; anything but an event of the same place is CorruptHistory."""
        try:
            result = upcast(event)
        except Exception as error:
            raise _corrupt(
                event.tx_id,
                event,
                f"cannot be upcast from flow version {version} ({error})",
                self.definition.name,
            ) from error
        if type(result) is not Event or (result.tx_id, result.version, result.seq) != (
            event.tx_id,
            event.version,
            event.seq,
        ):
            raise _corrupt(
                event.tx_id,
                event,
                f"was upcast from flow version {version} into {result!r}, not an event at "
                "the same transaction, version and seq",
                self.definition.name,
            )
        return result

    def replay(
        self, events: Sequence[Event], start: tuple[Any, int, Any] | None = None
    ) -> tuple[str, Configuration, int, Any]:
        """Fold ``events`` into ``(tx_id, state, version, context)``, checking every event.

        ``start``, when given, is ``(configuration, version, context)`` restored from a
        snapshot: ``events`` are then the ones after that version, which may be none
        (but then the transaction id is unknown here: the caller passes at least one
        event or does not call).

        The events must be a history the flow could have written, or
        :class:`CorruptHistory` names the transaction and the first bad position
        (``"version:seq"``): every event of one transaction, versions from 0 without a
        gap, seqs from 0 in order; each version's trigger allowed from the state reached,
        with the events its transition records, in order and in their streams (an
        optional event may be absent); a payload that structures and an effect that
        applies. An empty list, or items that are not events, raise InvalidPayload:
        that is a wrong call, not a history.
        """
        events = self._replayable(events)
        definition = self.definition
        tx_id = events[0].tx_id
        configuration: Configuration
        if start is None:
            configuration = self.initial_state
            context: Any = None
            version = -1
        else:
            configuration = freeze(start[0])
            version, context = start[1], start[2]
        index = 0
        count = len(events)
        while index < count:
            first = events[index]
            version += 1
            end = index
            while end < count and (end == index or events[end].version == version):
                event = events[end]
                if event.tx_id != tx_id:
                    raise _corrupt(
                        tx_id, event, f"belongs to transaction {event.tx_id!r}", definition.name
                    )
                if event.version != version or event.seq != end - index:
                    expected = f"{version}:{end - index}"
                    raise _corrupt(tx_id, event, f"comes where {expected} should", definition.name)
                if event.trigger != first.trigger:
                    raise _corrupt(
                        tx_id,
                        event,
                        f"records trigger {event.trigger!r}, but version {version} fires "
                        f"{first.trigger!r}",
                        definition.name,
                    )
                end += 1
            batch = events[index:end]
            move = None
            if version == 0:
                spec = definition.start
                if first.trigger != spec.trigger:
                    raise _corrupt(
                        tx_id,
                        first,
                        f"begins with {first.trigger!r}, not {spec.trigger!r}",
                        definition.name,
                    )
                accepted = self._start_fields[0]
            else:
                if type(first.trigger) is str:
                    move = self._move(configuration, first.trigger)
                if move is None:
                    raise _corrupt(
                        tx_id,
                        first,
                        f"fires {first.trigger!r}, which the {definition.name} flow does not "
                        f"allow from state {state_name(configuration)!r}",
                        definition.name,
                    )
                spec, accepted = move[0].spec, move[0].accepted
            _check_emits(tx_id, spec, batch, definition.name)
            payload = self._recorded_payload(spec, accepted, first)
            try:
                if spec.effect is not None and spec.effect_uses_clock:
                    context = spec.effect(context, payload, first.occurred_at)
                elif spec.effect is not None:
                    context = spec.effect(context, payload)
                elif version == 0:
                    context = payload
            except Exception as error:  # guards are not re-run: a forged payload may break it
                raise _corrupt(
                    tx_id, first, f"cannot be applied ({error})", definition.name
                ) from error
            if move is not None:
                configuration = move[1]
            index = end
        return tx_id, configuration, version, context

    def _replayable(self, events: Sequence[Event]) -> Sequence[Event]:
        """Return ``events`` if it is a non-empty sequence of events, else InvalidPayload."""
        if isinstance(events, (str, bytes, Mapping)) or not isinstance(events, Sequence):
            raise InvalidPayload(
                f"Cannot replay a {self.definition.name} transaction from "
                f"{type(events).__name__}: pass the list of its events."
            )
        if not events:
            raise InvalidPayload("Cannot replay an empty event list: a transaction has events.")
        for position, event in enumerate(events):
            if type(event) is not Event:
                raise InvalidPayload(
                    f"Cannot replay a {self.definition.name} transaction: item {position} is of "
                    f"type {type(event).__name__!r}, not an Event."
                )
        return events

    # -- helpers -------------------------------------------------------------------------

    def _check_actor(
        self,
        spec: Transition,
        context: Any,
        payload: Any,
        subject: tuple[str, str, str],
        actor: str | None,
    ) -> None:
        """Refuse, as GuardRejected (reason ``"actor"``), a missing or wrong actor."""
        reason: str
        if actor is None:
            reason = Reason(
                "it must be fired with an actor (who does it), e.g. actor='buyer'",
                "必须指明执行者（由谁来做），例如 actor='buyer'",
            )
        elif spec.actor_check is None:
            return
        else:
            found = spec.actor_check(context, payload, actor)
            if found is None:
                return
            reason = found
        trigger, tx_id, state = subject
        reasons = [("actor", reason)]
        raise GuardRejected(
            f"{_subject(subject, self.definition.name)}: {reason} (actor).",
            trigger=trigger,
            state=state,
            reasons=reasons,
            zh=refusal_zh(subject_zh(trigger, tx_id, state, self.definition.name), reasons),
        )

    def _check_guards(
        self,
        spec: Transition,
        context: Any,
        payload: Any,
        subject: tuple[str, str, str],
        now: datetime,
        kwargs: Mapping[str, Any],
    ) -> None:
        reasons: list[tuple[str, str]] | None = None  # no list at all when every guard passes
        for guard in spec.guards:
            reason = (
                guard.check(context, payload, now)
                if guard.uses_clock
                else guard.check(context, payload)
            )
            if reason is not None:
                if reasons is None:
                    reasons = []
                reasons.append((guard.name, reason))
        if reasons:
            # A reason may quote the payload: refuse a card number without repeating it.
            self._refuse_sensitive(subject, kwargs)
            trigger, tx_id, state = subject
            because = "; ".join(f"{reason} ({name})" for name, reason in reasons)
            raise GuardRejected(
                f"{_subject(subject, self.definition.name)}: {because}.",
                trigger=trigger,
                state=state,
                reasons=reasons,
                zh=refusal_zh(subject_zh(trigger, tx_id, state, self.definition.name), reasons),
            )

    def _recorded_payload(self, spec: Transition, accepted: frozenset[str], event: Event) -> Any:
        if spec.payload is None:
            return None
        fields = {key: value for key, value in event.data.items() if key in accepted}
        try:
            return structure(fields, spec.payload)
        except Exception as error:
            raise _corrupt(
                event.tx_id,
                event,
                f"does not hold a valid {spec.payload.__name__} ({_describe(error)})",
                self.definition.name,
            ) from None

    def _not_allowed(
        self, tx_id: str, configuration: Configuration, trigger: str
    ) -> TransitionNotAllowed:
        allowed = self.triggers_from(configuration)
        state = state_name(configuration)
        allowed_text = ", ".join(allowed) if allowed else "none, the transaction is finished"
        allowed_zh = "、".join(allowed) if allowed else "无，交易已经结束"
        if trigger not in self._triggers:
            return TransitionNotAllowed(
                f"Cannot fire {trigger!r} on transaction {tx_id!r} in state {state!r}: the "
                f"{self.definition.name} flow has no such trigger; allowed: {allowed_text}.",
                trigger=trigger,
                state=state,
                allowed=allowed,
                zh=f"无法对状态为 {state!r} 的交易 {tx_id!r} 执行 {trigger!r}："
                f"{self.definition.name} 流程没有这个触发器；允许：{allowed_zh}。",
            )
        reasons = self.definition.refusals.get(trigger, {})
        why = next(
            (
                reasons[node]
                for leaf in leaves_of(configuration)
                for node in ancestors(leaf)
                if node in reasons
            ),
            Reason(f"{trigger} is not a step from here", f"从这里不能执行 {trigger}"),
        )
        return TransitionNotAllowed(
            f"Cannot {trigger} transaction {tx_id!r} in state {state!r}: {why}; "
            f"allowed: {allowed_text}.",
            trigger=trigger,
            state=state,
            allowed=allowed,
            zh=f"{subject_zh(trigger, tx_id, state, self.definition.name)}："
            f"{reason_in(why, 'zh')}；允许：{allowed_zh}。",
        )

    def _build(
        self,
        subject: tuple[str, str, str],
        accepted: frozenset[str],
        required: frozenset[str],
        spec: Transition,
        kwargs: Mapping[str, Any],
    ) -> Any:
        """Validate ``kwargs`` and build the payload; ``subject`` names the call in errors."""
        if not accepted.issuperset(kwargs) or not required.issubset(kwargs):
            unknown = sorted(set(kwargs) - accepted)
            if unknown:
                fields = ", ".join(sorted(accepted)) if accepted else "no payload"
                problem = f"unknown field {unknown[0]!r}; accepted: {fields}"
                fields_zh = ", ".join(sorted(accepted)) if accepted else "无载荷"
                why_zh = f"未知字段 {unknown[0]!r}；可接受：{fields_zh}"
            else:
                problem = f"missing field {sorted(required - set(kwargs))[0]!r}"
                why_zh = f"缺少字段 {sorted(required - set(kwargs))[0]!r}"
            raise InvalidPayload(
                f"{_subject(subject, self.definition.name)}: {problem}.",
                zh=payload_zh(subject, self.definition.name, why_zh),
            )
        if spec.payload is None:
            return None
        if datetime in map(type, kwargs.values()):
            kwargs = at_offsets(kwargs)  # a named zone's time at its offset
        try:
            return spec.payload(**kwargs)
        except Exception as error:  # a payload class's converters may raise anything
            self._refuse_payload(subject, kwargs, error)

    def _refuse_payload(
        self, subject: tuple[str, str, str], kwargs: Mapping[str, Any], error: Exception
    ) -> NoReturn:
        """Raise InvalidPayload for a payload class that refused ``kwargs`` with ``error``."""
        # The message may quote the value: refuse a card number without repeating it.
        self._refuse_sensitive(subject, kwargs)
        text = _describe(error)
        raise InvalidPayload(
            f"{_subject(subject, self.definition.name)}: {text}.",
            zh=payload_zh(subject, self.definition.name, describe_zh(error)),
        ) from (None if isinstance(error, (TypeError, ValueError)) else error)

    def _refuse_sensitive(self, subject: tuple[str, str, str], values: Mapping[str, Any]) -> None:
        """Raise InvalidPayload naming the first field of ``values`` that may not be stored."""
        found = find_sensitive(values)
        if found is not None:
            path, problem = found
            raise InvalidPayload(
                f"{_subject(subject, self.definition.name)}: {path} {problem}.",
                zh=payload_zh(subject, self.definition.name, f"{path} {problem_zh(problem)}"),
            )

    def _refuse_data(
        self,
        step: _Step,
        tx_id: str,
        version: int,
        context: Any,
        payload: Any,
        now: datetime,
        who: tuple[str | None, str | None, str | None],
        configuration: Configuration,
    ) -> NoReturn:
        """Raise InvalidPayload naming the field of the event data that may not be stored.

        A compiled fire found one; the events are recorded again here, by :meth:`_record`,
        which names it (event data is a function of the context and the payload).
        """
        trigger = step.spec.trigger
        self._record(step, tx_id, version, trigger, context, payload, now, who, configuration)
        subject = (step.spec.trigger, tx_id, state_name(configuration))
        raise InvalidPayload(
            f"{_subject(subject, self.definition.name)}: data may not be stored.",
            zh=payload_zh(subject, self.definition.name, f"data {problem_zh('may not be stored')}"),
        )

    def _record(
        self,
        step: _Step,
        tx_id: str,
        version: int,
        trigger: str,
        context: Any,
        payload: Any,
        now: datetime,
        who: tuple[str | None, str | None, str | None],
        configuration: Configuration | None,
    ) -> list[Event]:
        """Build a transition's events, their data frozen and scanned once.

        A string that may not be stored (a card number, a NUL byte) anywhere in the
        data, payload or derived, raises InvalidPayload naming the field; the data is
        then marked scanned (:class:`ScannedDict`) so that stores need not scan it again.
        ``configuration`` is where the transition began, for that message (``None``: the
        start). An event without data shares one empty, read-only dict.

        The general code: it records the start's events and names a refused field; every
        other transition runs its written-out fire (:mod:`ecomflow._compiled`), which must
        record the same (tests/test_compiled.py compares the two).
        """
        actor, causation_id, correlation_id = who
        flow_version = self.definition.version
        events: list[Event] = []
        seq = 0
        for when, data_of, stream, name in step.emits:
            if when is not None and not when(context, payload):
                continue
            data: Mapping[str, Any]
            frozen: Mapping[str, Any]
            try:
                if seq or payload is None:  # a later event (or no payload): derived data only
                    if data_of is None:
                        frozen = NO_DATA
                    else:
                        data = data_of(context, payload)
                        frozen = scan_dict(data, ScannedDict)
                elif data_of is None:  # the first event records the payload...
                    data = step.dump(payload)
                    frozen = scan_dict(data, ScannedDict)
                else:  # ...which wins over derived keys: merged once, into the frozen dict
                    data = ScannedDict(data_of(context, payload))
                    dict.update(data, step.dump(payload))
                    frozen = scan_dict(data, None)
            except Refused:
                subject = (
                    ("start", tx_id, "")
                    if configuration is None
                    else (trigger, tx_id, state_name(configuration))
                )
                path, problem = find_sensitive(dict(data)) or ("data", "may not be stored")
                where = path if not seq else f"{name}.{path}"
                raise InvalidPayload(
                    f"{_subject(subject, self.definition.name)}: {where} {problem}.",
                    zh=payload_zh(subject, self.definition.name, f"{where} {problem_zh(problem)}"),
                ) from None
            event = new_event(
                tx_id,
                version,
                seq,
                trigger,
                stream,
                name,
                frozen,
                now,
                actor,
                causation_id,
                correlation_id,
                flow_version,
            )
            events.append(event)
            seq += 1
        return events
