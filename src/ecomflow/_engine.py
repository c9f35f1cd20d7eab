"""The engine: one shared ``transitions`` machine per definition, fired for any transaction.

The machine is built once with ``model=None`` and no auto transitions. Transactions
are never registered with ``add_model`` and never get a machine of their own:
:meth:`Engine.fire` checks the payload and the guards, computes the new context and
the events, and only then lets the shared machine move the transaction's state, so a
refusal leaves the transaction untouched: a flat machine sets the state its transition
leads to; a nested machine fires its event on a stand-in model to compute the new
configuration, once per configuration and trigger. This module knows no e-commerce.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
from transitions import Machine, MachineError
from transitions.extensions.nesting import HierarchicalMachine, NestedState

from ._codec import converter, structure, unstructure
from ._definition import (
    Emit,
    FlowDefinition,
    State,
    Transition,
    ancestors,
    entry,
    leaves_of,
    walk,
)
from ._errors import GuardRejected, InvalidPayload, TransitionNotAllowed
from ._events import Event
from ._sensitive import find_card_number

if TYPE_CHECKING:
    from ._transaction import Transaction

__all__ = ["Engine", "copy_configuration", "state_name"]

STATE_ATTRIBUTE = "_state"


def state_name(configuration: Any) -> str:
    """Name a configuration: a state's path, or the active paths joined by ``|``."""
    if type(configuration) is str:
        return configuration
    return "|".join(leaves_of(configuration))


class _Scratch:
    """A stand-in model on which the machine computes a next state."""

    __slots__ = ("_state",)

    def __init__(self, state: Any) -> None:
        self._state = state


def _fire_nested(machine: Any, trigger: str, model: Any) -> bool:
    result: bool = machine.trigger_event(model, trigger)
    return result


def _freeze(configuration: Any) -> Any:
    """Return a configuration (a state path, or nested lists of them) as a hashable value."""
    if type(configuration) is str:
        return configuration
    return tuple(_freeze(part) for part in configuration)


def copy_configuration(configuration: Any) -> Any:
    """Return a configuration as fresh lists, as the machine has it (from lists or tuples).

    A parallel configuration is a list the machine may change in place, so no two
    transactions ever share one; a single state's path is a string and is returned as is.
    """
    if type(configuration) is str:
        return configuration
    return [copy_configuration(part) for part in configuration]


@attrs.frozen
class _Step:
    """A transition compiled for the hot path."""

    spec: Transition
    fire: Callable[[Any], object]
    accepted: frozenset[str]
    required: frozenset[str]
    context_guards: tuple[Any, ...]
    dump: Callable[[Any], Any]


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
    """Fires, starts and replays transactions of one :class:`FlowDefinition`.

    A flat definition runs on a ``transitions.Machine``; one with composite states on
    a ``HierarchicalMachine`` whose states are dotted paths. Either way there is one
    machine per definition, and a trigger is looked up from the innermost active state
    outwards, so a transition from a composite state applies to all states inside it.
    """

    __slots__ = (
        "_allowed",
        "_moves",
        "_nodes",
        "_start_dump",
        "_start_fields",
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
        self.initial_state: Any = entry(self._nodes, definition.initial)
        steps: dict[tuple[str, str], _Step] = {}
        allowed: dict[str, list[str]] = {path: [] for path in self._nodes}
        self.machine: Machine
        if self.nested:
            self.machine = _DottedMachine(states=_machine_states(definition.states), **options)
        else:
            self.machine = Machine(states=list(self._nodes), **options)
        for transition in definition.transitions:
            accepted, required = _payload_fields(transition.payload)
            fire: Callable[[Any], object]
            if self.nested:
                fire = functools.partial(_fire_nested, self.machine, transition.trigger)
            else:
                # A flat transition always ends in its dest, and the machine has no
                # callbacks (guards and effects ran already), so the shared machine sets
                # the state with its own State object instead of running its trigger
                # pipeline, whose callback lists are empty and which only logs: that
                # pipeline was half the time of a direct-sale fire
                # (benchmarks/bench_direct_sale.py: 0.40x bare transitions, now 0.65x).
                dest = self.machine.get_state(transition.dest)
                fire = functools.partial(self.machine.set_state, dest)
            step = _Step(
                spec=transition,
                fire=fire,
                accepted=accepted,
                required=required,
                context_guards=tuple(g for g in transition.guards if not g.uses_payload),
                dump=_dumper(transition.payload),
            )
            for source in transition.source:
                steps[(source, transition.trigger)] = step
                allowed[source].append(transition.trigger)
        self._steps = steps
        # (configuration, trigger) -> the configuration the nested machine computed
        self._moves: dict[tuple[Any, str], Any] = {}
        self._allowed = {state: tuple(triggers) for state, triggers in allowed.items()}
        self._triggers = frozenset(t.trigger for t in definition.transitions)
        self._start_fields = _payload_fields(definition.start.payload)
        self._start_dump = _dumper(definition.start.payload)

    # -- queries -------------------------------------------------------------------------

    def _step(self, configuration: Any, trigger: str) -> _Step | None:
        if not self.nested:
            return self._steps.get((configuration, trigger))
        for leaf in leaves_of(configuration):
            for node in ancestors(leaf):
                step = self._steps.get((node, trigger))
                if step is not None:
                    return step
        return None

    def triggers_from(self, configuration: Any) -> tuple[str, ...]:
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
        step = self._step(state.split("|") if "|" in state else state, trigger)
        if step is None:
            raise KeyError((state, trigger))
        return step.spec

    def allowed_triggers(self, tx: Transaction[Any]) -> tuple[str, ...]:
        """Return the triggers some valid payload can fire from ``tx``'s state now.

        Every guard that does not read the payload (``uses_payload=False``, which
        :class:`Guard` checks against its code) is evaluated, with the transaction's
        clock when it reads the clock; guards that read the payload are left to the
        payload, so each trigger listed can succeed and each one left out cannot.
        """
        context = tx.context
        configuration = getattr(tx, STATE_ATTRIBUTE)
        now = tx.clock()
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
        self, tx: Transaction[Any], trigger: str, kwargs: Mapping[str, Any]
    ) -> tuple[Any, list[Event]]:
        """Move ``tx``'s state for ``trigger``; return the new context and the events.

        Everything that can fail happens before the shared machine moves the state,
        so a refusal leaves ``tx`` untouched; the caller stores what is returned.
        """
        configuration = tx._state  # the engine is the transaction's only other writer
        if self.nested:
            step = self._step(configuration, trigger)
            state = state_name(configuration)
        else:
            step = self._steps.get((configuration, trigger))
            state = configuration
        if step is None:
            raise self._not_allowed(tx, configuration, trigger)
        spec = step.spec
        tx_id = tx.id
        payload = self._build((trigger, tx_id, state), step.accepted, step.required, spec, kwargs)
        context = tx._context
        now = tx._clock()
        if spec.guards:
            self._check_guards(spec, context, payload, trigger, tx_id, state, now)
        if spec.effect is None:
            new_context = context
        elif spec.effect_uses_clock:
            new_context = spec.effect(context, payload, now)
        else:
            new_context = spec.effect(context, payload)
        events = self._events(
            tx_id, tx._version + 1, trigger, spec.emits, new_context, payload, now, step.dump
        )
        try:
            self._move(step, trigger, tx)
        except MachineError as error:  # pragma: no cover - the table above mirrors the machine
            raise self._not_allowed(tx, configuration, trigger) from error
        return new_context, events

    def start(
        self, tx_id: str, kwargs: Mapping[str, Any], now: datetime
    ) -> tuple[Any, list[Event]]:
        """Return the first context and the version-0 events of a new transaction."""
        spec = self.definition.start
        accepted, required = self._start_fields
        subject = ("start", tx_id, "")
        payload = self._build(subject, accepted, required, spec, kwargs)
        if spec.guards:
            self._check_guards(spec, None, payload, "start", tx_id, "", now)
        if spec.effect is None:
            context = payload
        elif spec.effect_uses_clock:
            context = spec.effect(None, payload, now)
        else:
            context = spec.effect(None, payload)
        return context, self._events(
            tx_id, 0, spec.trigger, spec.emits, context, payload, now, self._start_dump
        )

    def replay(self, events: Sequence[Event]) -> tuple[str, str, int, Any]:
        """Fold ``events`` into ``(tx_id, state, version, context)``, checking their order."""
        if not events:
            raise InvalidPayload("Cannot replay an empty event list: a transaction has events.")
        definition = self.definition
        tx_id = events[0].tx_id
        stranger = next((event for event in events if event.tx_id != tx_id), None)
        if stranger is not None:
            raise InvalidPayload(
                f"Cannot replay transaction {tx_id!r}: event {stranger.event_id!r} belongs to "
                f"transaction {stranger.tx_id!r}."
            )
        scratch = _Scratch(copy_configuration(self.initial_state))
        context: Any = None
        version = -1
        index = 0
        while index < len(events):
            first = events[index]
            version += 1
            if first.version != version or first.seq != 0:
                raise InvalidPayload(
                    f"Cannot replay transaction {tx_id!r}: expected the first event of version "
                    f"{version}, got {first.event_id!r} ({first.name!r})."
                )
            seq = 0
            index += 1
            while index < len(events) and events[index].version == version:
                seq += 1
                if events[index].seq != seq:
                    raise InvalidPayload(
                        f"Cannot replay transaction {tx_id!r}: event "
                        f"{events[index].event_id!r} is out of order."
                    )
                index += 1
            step = None
            if version == 0:
                spec = definition.start
                if first.trigger != spec.trigger:
                    raise InvalidPayload(
                        f"Cannot replay transaction {tx_id!r}: it does not begin with "
                        f"{spec.trigger!r} but with {first.trigger!r}."
                    )
                accepted = self._start_fields[0]
            else:
                step = self._step(scratch._state, first.trigger)
                if step is None:
                    raise InvalidPayload(
                        f"Cannot replay transaction {tx_id!r}: version {version} fires "
                        f"{first.trigger!r}, which the {definition.name} flow does not allow "
                        f"from state {state_name(scratch._state)!r}."
                    )
                spec, accepted = step.spec, step.accepted
            payload = self._recorded_payload(spec, accepted, first)
            if spec.effect is not None and spec.effect_uses_clock:
                context = spec.effect(context, payload, first.occurred_at)
            elif spec.effect is not None:
                context = spec.effect(context, payload)
            elif version == 0:
                context = payload
            if step is None:
                pass
            elif self.nested:
                self._move(step, first.trigger, scratch)
            else:
                scratch._state = spec.dest  # a flat transition always ends in its dest
        return tx_id, scratch._state, version, context

    # -- helpers -------------------------------------------------------------------------

    def _move(self, step: _Step, trigger: str, model: Any) -> None:
        """Let the shared machine move ``model``'s state for ``trigger``.

        A flat machine sets the state. A nested machine computes the next configuration
        (entering initial children, the regions of a parallel state, leaving them) on a
        stand-in model, once per configuration and trigger: it runs no callbacks, so the
        answer never changes, and running it again would cost about 100 µs.
        """
        if not self.nested:
            step.fire(model)
            return
        key = (_freeze(model._state), trigger)
        after = self._moves.get(key)
        if after is None:
            scratch = _Scratch(copy_configuration(model._state))
            step.fire(scratch)
            after = self._moves[key] = _freeze(scratch._state)
        model._state = copy_configuration(after)

    def _check_guards(
        self,
        spec: Transition,
        context: Any,
        payload: Any,
        trigger: str,
        tx_id: str,
        state: str,
        now: datetime,
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
            because = "; ".join(f"{reason} ({name})" for name, reason in reasons)
            raise GuardRejected(
                f"{_subject((trigger, tx_id, state), self.definition.name)}: {because}.",
                trigger=trigger,
                state=state,
                reasons=reasons,
            )

    @staticmethod
    def _recorded_payload(spec: Transition, accepted: frozenset[str], event: Event) -> Any:
        if spec.payload is None:
            return None
        fields = {key: value for key, value in event.data.items() if key in accepted}
        try:
            return structure(fields, spec.payload)
        except Exception as error:
            raise InvalidPayload(
                f"Cannot replay transaction {event.tx_id!r}: event {event.event_id!r} does not "
                f"hold a valid {spec.payload.__name__} ({error})."
            ) from None

    def _not_allowed(
        self, tx: Transaction[Any], configuration: Any, trigger: str
    ) -> TransitionNotAllowed:
        allowed = self.triggers_from(configuration)
        state = state_name(configuration)
        allowed_text = ", ".join(allowed) if allowed else "none, the transaction is finished"
        if trigger not in self._triggers:
            return TransitionNotAllowed(
                f"Cannot fire {trigger!r} on transaction {tx.id!r} in state {state!r}: the "
                f"{self.definition.name} flow has no such trigger; allowed: {allowed_text}.",
                trigger=trigger,
                state=state,
                allowed=allowed,
            )
        reasons = self.definition.refusals.get(trigger, {})
        why = next(
            (
                reasons[node]
                for leaf in leaves_of(configuration)
                for node in ancestors(leaf)
                if node in reasons
            ),
            f"{trigger} is not a step from here",
        )
        return TransitionNotAllowed(
            f"Cannot {trigger} transaction {tx.id!r} in state {state!r}: {why}; "
            f"allowed: {allowed_text}.",
            trigger=trigger,
            state=state,
            allowed=allowed,
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
            else:
                problem = f"missing field {sorted(required - set(kwargs))[0]!r}"
            raise InvalidPayload(f"{_subject(subject, self.definition.name)}: {problem}.")
        if spec.payload is None:
            return None
        card = find_card_number(kwargs)
        if card is not None:
            raise InvalidPayload(
                f"{_subject(subject, self.definition.name)}: {card} looks like a full card "
                "number; pass a token or the last four digits instead."
            )
        try:
            return spec.payload(**kwargs)
        except (TypeError, ValueError) as error:
            raise InvalidPayload(f"{_subject(subject, self.definition.name)}: {error}.") from None

    @staticmethod
    def _events(
        tx_id: str,
        version: int,
        trigger: str,
        emits: Iterable[Emit],
        context: Any,
        payload: Any,
        now: datetime,
        dump: Callable[[Any], Any],
    ) -> list[Event]:
        events: list[Event] = []
        for emit in emits:
            if emit.when is not None and not emit.when(context, payload):
                continue
            data: Mapping[str, Any]
            if events:  # a later event: derived data only
                data = {} if emit.data is None else emit.data(context, payload)
            else:  # the first event records the payload (which wins over derived keys)
                data = {} if payload is None else dump(payload)
                if emit.data is not None:
                    data = {**emit.data(context, payload), **data}
            events.append(
                Event(tx_id, version, len(events), trigger, emit.stream, emit.name, data, now)
            )
        return events
