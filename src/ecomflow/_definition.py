"""Declarative flow definitions: states, transitions, guards, effects and emitted events.

A definition is plain frozen data. It is validated when it is built: an unknown or
unreachable state, a non-terminal state with no way out, a terminal state with a
way out, an ambiguous trigger or a transition that records nothing raises
:class:`InvalidDefinition` naming the problem. This module knows no e-commerce.
"""

from __future__ import annotations

import dis
import inspect
import keyword
import re
import types
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, final

import attrs

from ._errors import InvalidDefinition
from ._events import Event, Stream
from ._graph import ancestors, entry, leaves_of, walk

__all__ = [
    "Emit",
    "EventType",
    "FlowDefinition",
    "Guard",
    "Label",
    "Reason",
    "State",
    "Transition",
    "ancestors",
    "entry",
    "leaves_of",
    "walk",
]

GuardCheck = Callable[..., "str | None"]
"""``check(context, payload)``: ``None`` when the guard passes, else a one-line reason.

The reason should be a :class:`Reason` (English and Chinese); a plain ``str`` is taken as
English only, and :func:`ecomflow.testing.check_bilingual` reports the guard.
"""
Effect = Callable[..., Any]
"""``effect(context, payload) -> new context``; must not mutate its arguments."""
DataBuilder = Callable[[Any, Any], Mapping[str, Any]]
"""``data(context_after, payload) -> JSON-safe dict`` for an emitted event."""
Condition = Callable[[Any, Any], bool]
"""``when(context_after, payload) -> bool``: whether an optional event is emitted."""
Books = Callable[[Any, str], Mapping[str, Any]]
"""``books(context, state) -> {account: Money}``: what each account's balance must be.

The balances the transaction's MONEY postings must leave, per account, in its current
state (``state`` as :attr:`Transaction.state` names it); an account not named must be at
zero. The testing kit checks every transaction against it, so a flow that pays a party
twice or forgets to pay one is caught even when the books still sum to zero.
"""
FlowInvariant = Callable[[Any], None]
"""``check(transaction)``: raise ``AssertionError`` when the flow's own rule is broken."""
ContextTest = Callable[[Any], bool]
"""``test(context) -> bool``: a yes/no question about a transaction's context."""
ActorCheck = Callable[[Any, Any, str], "str | None"]
"""``check(context, payload, actor)``: ``None`` when ``actor`` may fire it, else why not
(a :class:`Reason`, as a guard's)."""
Summarize = Callable[[Any, str], Mapping[str, Any]]
"""``summary(context, state) -> JSON dict``: the fields a shop lists transactions by.

Stored in the current-state table with every append (e.g. the order total and the
parties) and returned by :meth:`Repository.find`; strings, numbers, booleans, ``None``,
lists and dicts only (money as strings, so that nothing is rounded).
"""
Upcaster = Callable[[Any], Any]
"""``upcast(event) -> event``: rewrite an event of one flow version into the next one's shape."""
Delay = Callable[[Any], "timedelta | None"]
"""``after(context) -> timedelta``: how long a timed transition waits (``None``: it does not)."""
Until = Callable[[Any], "datetime | None"]
"""``until(context) -> datetime``: when a timed transition fires (``None``: it does not)."""


def _to_names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


def _to_invariants(value: Iterable[FlowInvariant]) -> tuple[FlowInvariant, ...]:
    return tuple(value)


RESERVED = frozenset({"actor", "causation_id", "correlation_id"})
"""Keyword arguments of ``fire`` and ``start`` that no payload field may be named."""


def _is_name(value: str) -> bool:
    return value.isidentifier() and not keyword.iskeyword(value)


@final
@attrs.frozen
class Label:
    """A label in English and Chinese; ``str()`` gives the English one."""

    en: str
    zh: str

    def __call__(self, lang: str = "en") -> str:
        """Return the label in ``lang`` (``"en"`` or ``"zh"``)."""
        return self.zh if lang == "zh" else self.en

    def __str__(self) -> str:
        return self.en


@final
class Reason(str):
    """Why a guard refuses, in English and Chinese; the string itself is the English text.

    ``Reason("payment not authorized yet", "尚未授权付款")`` compares, hashes, prints, shows
    (``repr``) and serialises as its English text, so code that reads a reason as a ``str``
    keeps working; ``.zh`` is the Chinese text and ``reason("zh")`` picks a language, as a
    :class:`Label` does. Interpolate values into both texts (``Reason(f"… {total}",
    f"… {total}")``). Both texts must be non-empty strings, else :class:`InvalidDefinition`.
    """

    zh: str

    def __new__(cls, en: str, zh: str) -> Reason:
        """Make a reason from its English text ``en`` and its Chinese text ``zh``."""
        for lang, text in (("English", en), ("Chinese", zh)):
            if not isinstance(text, str) or not text.strip():
                raise InvalidDefinition(
                    f"A Reason needs its {lang} text as a non-empty string, not {text!r}."
                )
        made = super().__new__(cls, en)
        made.zh = str(zh)
        return made

    @property
    def en(self) -> str:
        """The English text (the string itself, as a plain ``str``)."""
        return str.__str__(self)

    def __call__(self, lang: str = "en") -> str:
        """Return the reason in ``lang`` (``"en"`` or ``"zh"``)."""
        return self.zh if lang == "zh" else self.en

    def __reduce__(self) -> tuple[object, ...]:
        return (Reason, (self.en, self.zh))


def reason_in(reason: str, lang: str) -> str:
    """Return ``reason`` in ``lang``: a :class:`Reason`'s text, a plain ``str`` as it is."""
    return reason(lang) if isinstance(reason, Reason) else str(reason)


def _to_children(value: Iterable[State]) -> tuple[State, ...]:
    return tuple(value)


@final
@attrs.frozen
class State:
    """A named state with English and Chinese labels; ``terminal`` states absorb.

    A composite state has ``children``: entering it enters its ``initial`` child, or,
    when ``parallel``, every child (each a region with children of its own) side by
    side. Nested states are named by dotted paths: ``"performance.payment.paid"``.
    """

    name: str
    label: Label
    terminal: bool = False
    children: tuple[State, ...] = attrs.field(default=(), converter=_to_children)
    initial: str | None = None
    parallel: bool = False


# How a name is loaded across CPython versions: LOAD_FAST (3.10+), LOAD_FAST_CHECK (3.12+),
# LOAD_FAST_BORROW (3.14+), LOAD_DEREF / LOAD_CLOSURE for cells. 3.13+ fuses two local
# accesses into one instruction whose argval is a pair, one name per half: LOAD_FAST_LOAD_FAST,
# STORE_FAST_LOAD_FAST (``x = ...; payload.y`` on one line, or ``(x := ...) == payload.y``),
# STORE_FAST_STORE_FAST, LOAD_FAST_BORROW_LOAD_FAST_BORROW. LOAD_FAST_AND_CLEAR (3.12+) only
# saves a comprehension's own variable around the inlined comprehension: it is not a read.
_HALF = re.compile(r"(LOAD|STORE)_FAST")
_LOADS = ("LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE")


def _loaded_names(instruction: dis.Instruction) -> tuple[str, ...]:
    """Return the local names ``instruction`` reads (none for a store or a save)."""
    opname, argval = instruction.opname, instruction.argval
    if isinstance(argval, tuple):  # a fused pair: the halves of the name, in order
        halves = _HALF.findall(opname)
        pairs = zip(halves, argval, strict=False)  # an unknown fused shape: read what pairs up
        return tuple(name for half, name in pairs if half == "LOAD" and isinstance(name, str))
    if opname.startswith(_LOADS) and opname != "LOAD_FAST_AND_CLEAR":
        return (argval,) if isinstance(argval, str) else ()
    return ()


def _reads_parameter(check: Callable[..., Any], index: int) -> bool | None:
    """Whether a plain function's ``index``-th positional parameter is ever read.

    ``None`` when that cannot be told from its code: not a plain function (a partial,
    a callable object, a builtin) or no such named parameter (``*args``). A parameter
    is read when the code loads it, or keeps it for an inner function (a closure).
    """
    code = getattr(check, "__code__", None)
    if not isinstance(code, types.CodeType) or not inspect.isfunction(check):
        return None
    if index >= code.co_argcount:
        return None
    name = code.co_varnames[index]
    if name in code.co_cellvars:
        return True
    return any(name in _loaded_names(instruction) for instruction in dis.get_instructions(code))


@final
@attrs.frozen
class Guard:
    """A named condition on a transition that explains a refusal.

    ``check(context, payload)`` returns ``None`` to allow, or a short :class:`Reason`
    such as ``Reason("payment not authorized yet", "尚未授权付款")`` (a plain ``str`` is
    accepted as English only). A guard with ``uses_payload=False`` reads
    only the context (and the clock), so :meth:`Transaction.allowed_triggers`
    evaluates it (with ``None`` as the payload) and offers the trigger only when it
    passes. A guard with ``uses_clock=True`` is called as ``check(context, payload,
    now)`` with the transaction's clock time.

    The declaration is checked against the check when the guard is built, so it
    cannot be wrong for a plain function: a check that never reads its payload must
    declare ``uses_payload=False`` (else ``allowed_triggers`` would skip it and offer
    a trigger nothing can fire), one that reads it must not, and the check must take
    the arguments it is called with. :class:`InvalidDefinition` names the guard.
    """

    name: str
    check: GuardCheck = attrs.field(eq=False)
    label: Label
    uses_payload: bool = True
    uses_clock: bool = False

    def __attrs_post_init__(self) -> None:
        called = "check(context, payload, now)" if self.uses_clock else "check(context, payload)"
        try:
            signature = inspect.signature(self.check)
        except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
            signature = None
        if signature is not None:
            try:
                signature.bind(*([None] * (3 if self.uses_clock else 2)))
            except TypeError:
                hint = "declare uses_clock=True if it reads the clock"
                if self.uses_clock:
                    hint = "declare uses_clock=False if it does not read the clock"
                raise self._invalid(
                    f"it is called as {called} but its check takes {signature}; {hint}"
                ) from None
        reads = _reads_parameter(self.check, 1)
        if reads is False and self.uses_payload:
            parameter = self.check.__code__.co_varnames[1]
            raise self._invalid(
                f"its check never reads its payload (parameter {parameter!r}), so declare "
                "uses_payload=False: Transaction.allowed_triggers() then evaluates it"
            )
        if reads and not self.uses_payload:
            raise self._invalid(
                "its check reads its payload, but it declares uses_payload=False: "
                "Transaction.allowed_triggers() would call it without one"
            )

    def _invalid(self, problem: str) -> InvalidDefinition:
        return InvalidDefinition(f"Guard {self.name!r} is invalid: {problem}.")


@final
@attrs.frozen
class Emit:
    """An event a transition records in one of the four streams.

    The first event of every transition records its payload, plus whatever
    ``data`` adds; later events take their data from ``data`` alone (the new
    context and the payload) and may be optional (``when``).
    """

    stream: Stream
    name: str
    data: DataBuilder | None = attrs.field(default=None, eq=False)
    when: Condition | None = attrs.field(default=None, eq=False)
    label: Label | None = attrs.field(default=None, eq=False)


@final
@attrs.frozen
class EventType:
    """An event declared once, by the flow that records it: its name, stream and labels.

    A transition records it with :meth:`emit`; projections, invariants and tests refer
    to the declaration (``event.name == ORDER_PLACED.name``, ``ORDER_PLACED.matches(event)``)
    instead of repeating the name as a string.

    >>> from ecomflow import Stream
    >>> PLACED = EventType("order_placed", Stream.COMMERCE, Label("Order placed", "订单已提交"))
    >>> PLACED.emit().name, PLACED.emit().stream is Stream.COMMERCE
    ('order_placed', True)
    """

    name: str
    stream: Stream
    label: Label | None = None

    def __attrs_post_init__(self) -> None:
        if self.label is not None and not isinstance(self.label, Label):
            raise InvalidDefinition(
                f"EventType {self.name!r} is invalid: its label must be a Label(en, zh), "
                f"not {self.label!r}."
            )
        if type(self.name) is not str or not _is_name(self.name):
            raise InvalidDefinition(
                f"EventType {self.name!r} is invalid: its name must be an identifier such as "
                "'order_placed'."
            )
        if not isinstance(self.stream, Stream):
            raise InvalidDefinition(
                f"EventType {self.name!r} is invalid: its stream must be a Stream, "
                f"not {self.stream!r}."
            )

    def emit(self, data: DataBuilder | None = None, *, when: Condition | None = None) -> Emit:
        """Return the :class:`Emit` that records this event (``data`` and ``when`` as there)."""
        return Emit(self.stream, self.name, data, when, self.label)

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is one of this type: same name, same stream."""
        return event.name == self.name and event.stream is self.stream


def _to_sources(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _to_emits(value: Iterable[Emit | EventType]) -> tuple[Emit, ...]:
    """Return the emits; an :class:`EventType` given as is records itself (``.emit()``)."""
    emits = []
    for item in value:
        if isinstance(item, EventType):
            item = item.emit()
        elif not isinstance(item, Emit):
            raise InvalidDefinition(
                f"{item!r} is not an event a transition records: give an Emit, or an "
                "EventType (or its .emit(data, when=...))."
            )
        emits.append(item)
    return tuple(emits)


def _to_guards(value: Iterable[Guard]) -> tuple[Guard, ...]:
    return tuple(value)


def _to_states(value: Iterable[State]) -> tuple[State, ...]:
    return tuple(value)


def _to_transitions(value: Iterable[Transition]) -> tuple[Transition, ...]:
    return tuple(value)


@final
@attrs.frozen
class Transition:
    """``trigger`` moves a transaction from any of ``source`` to ``dest``.

    ``payload`` is the attrs class the trigger's keyword arguments build (or
    ``None`` for no payload); ``guards`` must all pass; ``effect`` computes the new
    context; ``emits`` are the events recorded. ``step`` cites the seed section.
    With ``effect_uses_clock=True`` the effect is called as ``effect(context,
    payload, now)``; on replay ``now`` is the recorded event's time.

    Who may fire it: with ``requires_actor=True`` the trigger must be fired with an
    ``actor`` (``tx.fire(trigger, actor="...")``), and ``actor_check(context, payload,
    actor)``, when given, may refuse the actor named (B2B: only the offeree accepts).
    Either refusal is a :class:`~ecomflow.GuardRejected` whose reason is named
    ``"actor"``, and nothing changes. Replay checks neither: it trusts what was recorded.

    A *timed* transition fires by itself (see :mod:`ecomflow.deadlines`): with ``after``
    (a :class:`~datetime.timedelta`, or ``after(context) -> timedelta | None``) once the
    transaction has stayed that long in the source state, with ``until(context) ->
    datetime | None`` at the time the context gives (an offer's validity); ``None`` from
    either callable arms nothing. Leaving the state disarms it, entering it again re-arms
    it. Fired before it is due, it is a :class:`~ecomflow.GuardRejected` (reason
    ``"deadline"``). ``timer`` labels a callable's time in diagrams (``after 30 min`` /
    ``30分钟后`` is written for a fixed ``after``). A timed transition takes no payload
    (or one whose fields all have defaults): nobody types one in.
    """

    trigger: str
    source: tuple[str, ...] = attrs.field(converter=_to_sources)
    dest: str
    label: Label
    emits: tuple[Emit, ...] = attrs.field(converter=_to_emits)
    payload: type[Any] | None = None
    guards: tuple[Guard, ...] = attrs.field(default=(), converter=_to_guards)
    effect: Effect | None = attrs.field(default=None, eq=False)
    step: str = ""
    effect_uses_clock: bool = False
    requires_actor: bool = False
    actor_check: ActorCheck | None = attrs.field(default=None, eq=False)
    after: timedelta | Delay | None = attrs.field(default=None, eq=False)
    until: Until | None = attrs.field(default=None, eq=False)
    timer: Label | None = attrs.field(default=None, eq=False)

    @property
    def timed(self) -> bool:
        """Whether this transition fires by itself, after a delay or at a time (a deadline)."""
        return self.after is not None or self.until is not None

    @property
    def streams(self) -> frozenset[Stream]:
        """The streams this transition can record events in: its tags in the four flows."""
        return frozenset(emit.stream for emit in self.emits)


@final
@attrs.frozen
class FlowDefinition:
    """Everything that defines a flow; validated on construction.

    ``start`` is the transition that creates a transaction: its ``source`` is
    empty, its ``dest`` the initial state, and its effect receives ``None`` as the
    context and returns the first context. ``refusals`` may map a trigger to the
    domain reason it is not possible from a state that lacks it, e.g.
    ``{"dispatch": {"order_filled": "payment not authorized yet"}}``, used in
    :class:`TransitionNotAllowed` messages. ``books`` says what every account's balance
    must be in each state (see :data:`Books`), and ``invariants`` are the flow's own
    rules, checked by :mod:`ecomflow.testing` after every step.

    Three declarations let generic checks hold every flow to "no goods before payment":
    ``payment_secured_by`` names the events after which the buyer's payment is secured
    (an authorization, a transfer), ``goods_moved_by`` the events that move goods to the
    buyer or make the buyer their owner, and ``ships_before_payment(context)`` says
    whether this transaction's terms let goods move first (cash on delivery, open
    account). Every name must be an event the flow emits.

    Versions: ``version`` (from 1) is recorded on every event the flow writes;
    ``upcasters`` maps a version ``v`` to ``upcast(event) -> event``, which rewrites an
    event written by version ``v`` into the shape of version ``v + 1`` (rename the event
    or the trigger, add a field with its default). They run in a chain on load, before
    the fold; a version without an upcaster keeps its events as they are. ``summary``
    (see :data:`Summarize`) gives the fields the current-state table lists.
    """

    name: str
    title: Label
    source: str
    states: tuple[State, ...] = attrs.field(converter=_to_states)
    start: Transition
    transitions: tuple[Transition, ...] = attrs.field(converter=_to_transitions)
    context_type: type[Any]
    refusals: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    books: Books | None = attrs.field(default=None, eq=False)
    invariants: tuple[FlowInvariant, ...] = attrs.field(
        default=(), converter=_to_invariants, eq=False
    )
    payment_secured_by: frozenset[str] = attrs.field(default=frozenset(), converter=_to_names)
    goods_moved_by: frozenset[str] = attrs.field(default=frozenset(), converter=_to_names)
    ships_before_payment: ContextTest | None = attrs.field(default=None, eq=False)
    version: int = 1
    upcasters: Mapping[int, Upcaster] = attrs.field(factory=dict, eq=False)
    summary: Summarize | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        _validate(self)

    @property
    def initial(self) -> str:
        """The name of the initial state."""
        return self.start.dest

    def state(self, name: str) -> State:
        """Return the state at the dotted path ``name``."""
        for path, state in walk(self.states):
            if path == name:
                found: State = state
                return found
        raise KeyError(name)


def _fail(definition: FlowDefinition, problem: str) -> InvalidDefinition:
    return InvalidDefinition(f"Flow {definition.name!r} is invalid: {problem}.")


def _validate_transition(
    definition: FlowDefinition, transition: Transition, names: set[str]
) -> None:
    where = f"transition {transition.trigger!r}"
    if not _is_name(transition.trigger):
        raise _fail(definition, f"trigger {transition.trigger!r} is not a Python identifier")
    for source in transition.source:
        if source not in names:
            raise _fail(definition, f"{where} starts from unknown state {source!r}")
    if transition.dest not in names:
        raise _fail(definition, f"{where} leads to unknown state {transition.dest!r}")
    if not transition.emits:
        raise _fail(definition, f"{where} emits no event; every transition records one")
    first = transition.emits[0]
    if first.when is not None:
        raise _fail(
            definition,
            f"{where}'s first event {first.name!r} records the payload, so it cannot "
            "be conditional",
        )
    guard_names = [guard.name for guard in transition.guards]
    if len(set(guard_names)) != len(guard_names):
        raise _fail(definition, f"{where} names a guard twice: {guard_names}")
    if transition.actor_check is not None and not callable(transition.actor_check):
        raise _fail(definition, f"{where}'s actor_check is not callable")
    if transition.payload is not None and not attrs.has(transition.payload):
        raise _fail(definition, f"{where}'s payload {transition.payload!r} is not an attrs class")
    if transition.timed:
        _validate_timer(definition, transition, where)
    if transition.payload is not None:
        taken = sorted(
            field.alias for field in attrs.fields(transition.payload) if field.alias in RESERVED
        )
        if taken:
            raise _fail(
                definition,
                f"{where}'s payload has a field named {taken[0]!r}, which fire() keeps for "
                "who did what (actor, causation_id, correlation_id); rename the field",
            )


def _validate_timer(definition: FlowDefinition, transition: Transition, where: str) -> None:
    """Refuse a timed transition that cannot be armed: both kinds, a bad delay, a payload."""
    after, until = transition.after, transition.until
    if after is not None and until is not None:
        raise _fail(definition, f"{where} gives both after= and until=; a deadline has one time")
    if not transition.source:
        raise _fail(definition, f"{where} is the start; only a later transition can be timed")
    if isinstance(after, timedelta):
        if after <= timedelta(0):
            raise _fail(definition, f"{where} waits {after}; after= must be a positive delay")
    elif after is not None and not callable(after):
        raise _fail(
            definition,
            f"{where}'s after= is {after!r}; give a timedelta or after(context) -> timedelta",
        )
    if until is not None and not callable(until):
        raise _fail(definition, f"{where}'s until= is not callable (until(context) -> datetime)")
    if transition.timer is not None and not isinstance(transition.timer, Label):
        raise _fail(definition, f"{where}'s timer must be a Label(en, zh)")
    if (callable(after) or until is not None) and transition.timer is None:
        raise _fail(
            definition,
            f"{where} reads its time from the context; give timer=Label(en, zh) to name it "
            "in diagrams (e.g. Label('at offer expiry', '报价到期时'))",
        )
    for source in transition.source:
        if transition.dest.startswith(f"{source}."):
            raise _fail(
                definition,
                f"{where} is timed but leads inside its source {source!r}; a deadline must "
                "leave its state (or enter it again), else it would fire forever",
            )
    if transition.requires_actor:
        raise _fail(
            definition, f"{where} is timed, so it fires by itself: it cannot require an actor"
        )
    if transition.payload is not None:
        required = [f.alias for f in attrs.fields(transition.payload) if f.default is attrs.NOTHING]
        if required:
            raise _fail(
                definition,
                f"{where} is timed, so nobody gives it a payload; its field {required[0]!r} "
                "needs a default",
            )


def _validate_tree(definition: FlowDefinition) -> dict[str, State]:
    if not definition.states:
        raise _fail(definition, "it has no states")
    nodes: dict[str, State] = {}
    for path, state in walk(definition.states):
        if not _is_name(state.name):
            raise _fail(definition, f"state name {state.name!r} is not a Python identifier")
        if path in nodes:
            raise _fail(definition, f"states are named twice: [{path!r}]")
        nodes[path] = state
        names = {child.name for child in state.children}
        if not state.children:
            if state.initial is not None or state.parallel:
                raise _fail(definition, f"state {path!r} has no children to start in")
        elif state.terminal:
            raise _fail(definition, f"composite state {path!r} cannot be terminal")
        elif state.parallel:
            if state.initial is not None or not all(c.children for c in state.children):
                raise _fail(definition, f"parallel state {path!r} needs regions with children")
        elif state.initial not in names:
            raise _fail(
                definition, f"composite state {path!r} starts in unknown child {state.initial!r}"
            )
    return nodes


def _validate_versions(definition: FlowDefinition) -> None:
    version = definition.version
    if type(version) is not int or version < 1:
        raise _fail(definition, f"its version must be an int from 1 (got {version!r})")
    for source, upcast in definition.upcasters.items():
        if type(source) is not int or not 1 <= source < version:
            raise _fail(
                definition,
                f"it has an upcaster from version {source!r}; upcasters go from an older "
                f"version (1 to {version - 1}) to the next",
            )
        if not callable(upcast):
            raise _fail(definition, f"its upcaster from version {source} is not callable")
    if definition.summary is not None and not callable(definition.summary):
        raise _fail(definition, "its summary is not callable")


def _validate(definition: FlowDefinition) -> None:
    _validate_versions(definition)
    nodes = _validate_tree(definition)
    known = set(nodes)
    if definition.start.source:
        raise _fail(definition, "the start transition must have no source state")
    _validate_transition(definition, definition.start, known)

    outgoing: dict[str, list[str]] = {path: [] for path in nodes}
    seen: dict[tuple[str, str], Transition] = {}
    for transition in definition.transitions:
        if transition.trigger == definition.start.trigger:
            raise _fail(definition, f"trigger {transition.trigger!r} is reserved for the start")
        _validate_transition(definition, transition, known)
        for source in transition.source:
            key = (source, transition.trigger)
            if key in seen:
                raise _fail(
                    definition,
                    f"trigger {transition.trigger!r} is ambiguous from state {source!r} "
                    f"(leads to {seen[key].dest!r} and {transition.dest!r})",
                )
            seen[key] = transition
            outgoing[source].append(transition.dest)

    leaves = [path for path, state in nodes.items() if not state.children]
    for leaf in leaves:
        exits = [dest for node in ancestors(leaf) for dest in outgoing[node]]
        if nodes[leaf].terminal and exits:
            raise _fail(definition, f"terminal state {leaf!r} has a way out")
        if not nodes[leaf].terminal and not exits:
            raise _fail(definition, f"state {leaf!r} is not terminal and has no way out")

    reachable = set(leaves_of(entry(nodes, definition.initial)))
    queue = deque(reachable)
    while queue:
        leaf = queue.popleft()
        for node in ancestors(leaf):
            for dest in outgoing[node]:
                for entered in leaves_of(entry(nodes, dest)):
                    if entered not in reachable:
                        reachable.add(entered)
                        queue.append(entered)
    unreachable = [leaf for leaf in leaves if leaf not in reachable]
    if unreachable:
        raise _fail(
            definition, f"states {unreachable} cannot be reached from {definition.initial!r}"
        )
    emitted = {
        emit.name
        for transition in (definition.start, *definition.transitions)
        for emit in transition.emits
    }
    for field, names in (
        ("payment_secured_by", definition.payment_secured_by),
        ("goods_moved_by", definition.goods_moved_by),
    ):
        unknown = sorted(names - emitted)
        if unknown:
            raise _fail(definition, f"{field} names events the flow never emits: {unknown}")
    triggers = {transition.trigger for transition in definition.transitions}
    for trigger, reasons in definition.refusals.items():
        if trigger not in triggers:
            raise _fail(definition, f"refusals name unknown trigger {trigger!r}")
        for name in reasons:
            if name not in known:
                raise _fail(definition, f"refusals of {trigger!r} name unknown state {name!r}")
            if (name, trigger) in seen:
                raise _fail(
                    definition, f"refusals explain {trigger!r} from {name!r}, where it is allowed"
                )
