"""Deadlines: the timed transitions of a flow, armed, disarmed and fired.

A timed transition (``Transition(after=...)`` or ``until=...``) belongs to its source
state. Which deadlines a transaction has armed is *derived*: a function of where it
stands, its context and the time it entered each state (the time of the event that
entered it). :class:`Timers` computes, once per (configuration, trigger), which timed
states a move enters and which it leaves, so a fire of a flow without timed transitions
pays nothing, and a store learns with every append which deadline rows to write or
delete, in the same database transaction as the events.

Who fires a deadline is recorded as the events' ``actor``: :data:`CLOCK_ACTOR`
(``"clock"``) unless the worker is given another name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, final

import attrs

from ._definition import Label, Reason, Transition
from ._errors import GuardRejected, InvalidDefinition, refusal_zh, subject_zh
from ._events import Clock, Event
from ._graph import Configuration, ancestors, leaves_of, state_name

if TYPE_CHECKING:  # pragma: no cover
    from ._engine import Engine


class Tracked(Protocol):
    """What deadlines read of a transaction (a :class:`~ecomflow.Transaction`)."""

    id: str
    _state: Any

    @property
    def flow(self) -> Any:
        """The flow it follows."""

    @property
    def events(self) -> Sequence[Event]:
        """Its events, in order."""

    @property
    def context(self) -> Any:
        """Its context."""

    @property
    def clock(self) -> Clock:
        """The clock that stamps its events."""

    def fire(self, trigger: str, /, *, actor: str | None = None) -> tuple[Event, ...]:
        """Fire ``trigger``."""


__all__ = [
    "CLOCK_ACTOR",
    "Deadline",
    "DeadlineChanges",
    "Timers",
    "armed_deadlines",
    "describe_delay",
    "due_deadlines",
    "fire_due",
]

CLOCK_ACTOR = "clock"
"""The actor recorded on the events of a deadline fired by the clock (时钟)."""


@final
@attrs.frozen
class Deadline:
    """An armed deadline: ``trigger`` of transaction ``tx_id`` fires at ``due_at`` (UTC).

    ``armed_version`` is the version of the event that entered the timed state (that
    armed it); ``flow`` the transaction's flow.
    """

    tx_id: str
    trigger: str
    due_at: datetime
    armed_version: int
    flow: str


@final
@attrs.frozen
class DeadlineChanges:
    """What one append does to a transaction's deadline rows, in its database transaction.

    Every row of a trigger in ``disarm`` is deleted, then every deadline in ``arm`` is
    written (a trigger re-armed is in both).
    """

    disarm: tuple[str, ...] = ()
    arm: tuple[Deadline, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.disarm or self.arm)


def _nodes(configuration: Configuration) -> frozenset[str]:
    """Every active state of a configuration: its leaves and the states around them."""
    return frozenset(node for leaf in leaves_of(configuration) for node in ancestors(leaf))


def describe_delay(delta: timedelta) -> Label:
    """Return ``after 30 min`` / ``30分钟后`` for a delay (days, hours, minutes, seconds)."""
    seconds = int(delta.total_seconds())
    for size, en, zh in (
        (86400, "d", "天"),
        (3600, "h", "小时"),
        (60, "min", "分钟"),
        (1, "s", "秒"),
    ):
        if seconds % size == 0:
            count = seconds // size
            return Label(f"after {count} {en}", f"{count}{zh}后")
    return Label(f"after {delta}", f"{delta}后")  # pragma: no cover - whole seconds above


def timer_label(transition: Transition) -> Label | None:
    """Return the label of a timed transition's time (``None`` if it is not timed)."""
    if transition.timer is not None:
        return transition.timer
    if isinstance(transition.after, timedelta):
        return describe_delay(transition.after)
    return None


@attrs.frozen
class _Plan:
    """What one move does to timed states: where it leads, what it arms and disarms."""

    after: Configuration
    entered: tuple[Transition, ...]  # timed transitions whose source the move enters
    left: frozenset[str]  # triggers of timed transitions whose source the move leaves


@final
class Timers:
    """The timed transitions of one flow, compiled; ``None`` on a flow without any.

    Built by :class:`~ecomflow.Flow` when a definition has timed transitions.
    """

    __slots__ = ("_lock", "_plans", "by_node", "contextual", "engine", "flow", "triggers")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.flow = engine.definition.name
        by_node: dict[str, list[Transition]] = {}
        for transition in engine.definition.transitions:
            if transition.timed:
                for source in transition.source:
                    by_node.setdefault(source, []).append(transition)
        self.by_node = {node: tuple(found) for node, found in by_node.items()}
        self.triggers = frozenset(t.trigger for found in by_node.values() for t in found)
        self.contextual = frozenset(
            t.trigger
            for found in by_node.values()
            for t in found
            if callable(t.after)
            or t.until is not None
            or any(not guard.uses_payload for guard in t.guards)
        )
        """Triggers whose time or arming reads the context: recomputed on every append."""
        self._plans: dict[tuple[Configuration, str], _Plan] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, engine: Engine) -> Timers | None:
        """Return the timers of ``engine``'s flow, ``None`` when it has no timed transition."""
        if any(t.timed for t in engine.definition.transitions):
            return cls(engine)
        return None

    # -- moves -----------------------------------------------------------------------------

    def _entered_timed(self, nodes: Iterable[str]) -> tuple[Transition, ...]:
        return tuple(t for node in nodes for t in self.by_node.get(node, ()))

    def start(self) -> _Plan:
        """Return the plan of the start: every timed state of the initial configuration."""
        plan = self._plan(None, "")
        assert plan is not None  # the start always moves
        return plan

    def plan(self, configuration: Configuration | None, trigger: str) -> _Plan | None:
        """Return what ``trigger`` from ``configuration`` arms and disarms (``None``: no move)."""
        return self._plan(configuration, trigger)

    def _plan(self, configuration: Configuration | None, trigger: str) -> _Plan | None:
        key = (configuration, trigger)
        found = self._plans.get(key)
        if found is not None:
            return found
        if configuration is None:
            after = self.engine.initial_state
            entered = _nodes(after)
            left: frozenset[str] = frozenset()
        else:
            move = self.engine._move(configuration, trigger)
            if move is None:
                return None
            step, after = move[0], move[1]
            before, now = _nodes(configuration), _nodes(after)
            dest = step.spec.dest
            again = {n for n in now if n == dest or n.startswith(f"{dest}.")}
            entered = (now - before) | again
            left = (before - now) | (again & before)
        disarmed = frozenset(t.trigger for t in self._entered_timed(sorted(left)))
        plan = _Plan(after, self._entered_timed(sorted(entered)), disarmed)
        with self._lock:
            self._plans[key] = plan
        return plan

    # -- what a transaction has armed --------------------------------------------------------

    def entered(self, events: Sequence[Event]) -> dict[str, tuple[Transition, int, datetime]]:
        """Return the armed timed transitions after ``events``: trigger → (spec, version, time).

        A fold of the configurations over the history (each move is cached): the version
        and time are those of the event that entered the transition's source state.
        """
        armed: dict[str, tuple[Transition, int, datetime]] = {}
        self._fold(None, events, armed, set())
        return armed

    def _fold(
        self,
        configuration: Configuration | None,
        events: Sequence[Event],
        armed: dict[str, tuple[Transition, int, datetime]],
        disarm: set[str],
    ) -> Configuration | None:
        version = None
        for event in events:
            if event.version == version:
                continue
            version = event.version
            plan = (
                self.start() if configuration is None else self.plan(configuration, event.trigger)
            )
            if plan is None:  # pragma: no cover - a replayed history only has moves
                break
            for trigger in plan.left:
                armed.pop(trigger, None)
                disarm.add(trigger)
            for spec in plan.entered:
                armed[spec.trigger] = (spec, event.version, event.occurred_at)
            configuration = plan.after
        return configuration

    def due(self, spec: Transition, context: Any, entered_at: datetime) -> datetime | None:
        """Return when ``spec`` falls due for a state entered at ``entered_at`` (``None``: never).

        ``None`` too when a guard of the transition that reads only the context refuses
        (cash on delivery, say): such a deadline is not armed.
        """
        after, until = spec.after, spec.until
        due: datetime | None
        if isinstance(after, timedelta):
            due = entered_at + after
        elif after is not None:
            delay = after(context)
            if delay is not None and (not isinstance(delay, timedelta) or delay <= timedelta(0)):
                raise self._bad_time(spec, "after", delay, "a positive timedelta or None")
            due = None if delay is None else entered_at + delay
        else:
            assert until is not None
            due = until(context)
            if due is not None and (not isinstance(due, datetime) or due.utcoffset() is None):
                raise self._bad_time(spec, "until", due, "an aware datetime or None")
        if due is None:
            return None
        for guard in spec.guards:
            if not guard.uses_payload:
                reason = (
                    guard.check(context, None, due)
                    if guard.uses_clock
                    else guard.check(context, None)
                )
                if reason is not None:
                    return None
        return due

    def _bad_time(self, spec: Transition, kind: str, value: Any, wanted: str) -> InvalidDefinition:
        """Return the error for a callable ``after=``/``until=`` that gave ``value``."""
        return InvalidDefinition(
            f"Flow {self.flow!r} is invalid: the {kind}= of timed transition {spec.trigger!r} "
            f"gave {value!r}; it must give {wanted}."
        )

    def changes(
        self,
        configuration: Configuration | None,
        events: Sequence[Event],
        context: Any,
        tx_id: str,
        history: Callable[[], Sequence[Event]] | None = None,
    ) -> DeadlineChanges:
        """Return the rows an append of ``events`` (from ``configuration``) writes and deletes.

        ``configuration`` is where the transaction stood before them (``None`` for a new
        one), ``context`` the context after them. A deadline that reads the context
        (a callable ``after=``, ``until=``, a guard of the context) and stays armed is
        computed again from ``context``, with its entry read from ``history()`` (every
        event, the new ones included), so the row says what :meth:`check_due` says.
        """
        armed: dict[str, tuple[Transition, int, datetime]] = {}
        disarm: set[str] = set()
        after = self._fold(configuration, events, armed, disarm)
        rows = []
        for trigger, (spec, version, entered_at) in armed.items():
            disarm.add(trigger)
            due = self.due(spec, context, entered_at)
            if due is not None:
                rows.append(Deadline(tx_id, trigger, due, version, self.flow))
        staying = (
            ()
            if history is None or after is None or not self.contextual
            else [
                t.trigger
                for t in self._entered_timed(sorted(_nodes(after)))
                if t.trigger not in disarm and t.trigger in self.contextual
            ]
        )
        if staying:
            assert history is not None
            entered = self.entered(history())
            for trigger in staying:
                found = entered.get(trigger)
                if found is None:  # pragma: no cover - an active timed state was entered
                    continue
                disarm.add(trigger)
                due = self.due(found[0], context, found[2])
                if due is not None:
                    rows.append(Deadline(tx_id, trigger, due, found[1], self.flow))
        return DeadlineChanges(tuple(sorted(disarm)), tuple(rows))

    def armed(self, tx: Tracked) -> list[Deadline]:
        """Return the deadlines ``tx`` has armed now, soonest first."""
        found = []
        for trigger, (spec, version, entered_at) in self.entered(tx.events).items():
            due = self.due(spec, tx.context, entered_at)
            if due is not None:
                found.append(Deadline(tx.id, trigger, due, version, self.flow))
        return sorted(found, key=lambda d: (d.due_at, d.trigger))

    def check_due(self, tx: Tracked, trigger: str, now: datetime) -> None:
        """Refuse, as :class:`GuardRejected` (reason ``"deadline"``), a timed trigger not due.

        A trigger that is not timed from where ``tx`` stands passes (the engine decides).
        """
        move = self.engine._move(tx._state, trigger)
        if move is None or not move[0].spec.timed:
            return
        entered = self.entered(tx.events).get(trigger)
        due = None if entered is None else self.due(entered[0], tx.context, entered[2])
        if due is not None and now >= due:
            return
        spec = move[0].spec
        if due is None:
            reason = Reason("no deadline is armed for it", f"未设定期限，不能{spec.label.zh}")
        else:
            reason = Reason(
                f"it is not due until {due.isoformat()}",
                f"{due.isoformat()}之前不能{spec.label.zh}",
            )
        state = state_name(tx._state)
        reasons = [("deadline", reason)]
        raise GuardRejected(
            f"Cannot {trigger} transaction {tx.id!r} in state {state!r}: {reason} (deadline).",
            trigger=trigger,
            state=state,
            reasons=reasons,
            zh=refusal_zh(subject_zh(trigger, tx.id, state, self.flow), reasons),
        )

    def filter_allowed(
        self, tx: Tracked, triggers: tuple[str, ...], now: datetime
    ) -> tuple[str, ...]:
        """Return ``triggers`` without the timed ones that are not due at ``now``."""
        if self.triggers.isdisjoint(triggers):
            return triggers
        armed: dict[str, tuple[Transition, int, datetime]] | None = None
        kept = []
        for trigger in triggers:
            move = self.engine._move(tx._state, trigger) if trigger in self.triggers else None
            if move is not None and move[0].spec.timed:
                if armed is None:
                    armed = self.entered(tx.events)
                found = armed.get(trigger)
                due = None if found is None else self.due(found[0], tx.context, found[2])
                if due is None or now < due:
                    continue
            kept.append(trigger)
        return tuple(kept)


def armed_deadlines(tx: Tracked) -> list[Deadline]:
    """Return the deadlines ``tx`` has armed, soonest first (none on a flow without timers).

    >>> from datetime import datetime, timezone
    >>> from ecomflow import Money
    >>> from ecomflow.flows.direct_sale import FLOW
    >>> from ecomflow.testing import ManualClock
    >>> clock = ManualClock(datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc))
    >>> tx = FLOW.start("T-1", clock=clock, merchant="Tea House")
    >>> _ = tx.fill_order(customer_name="Li Lei", address="Beijing", goods_name="tea",
    ...                   quantity=1, specification="tin", unit_price=Money("88.00", "CNY"))
    >>> [(d.trigger, d.due_at.isoformat()) for d in armed_deadlines(tx)]
    [('expire', '2026-11-26T09:30:00+00:00')]
    """
    timers = tx.flow._timers
    return [] if timers is None else timers.armed(tx)


def due_deadlines(tx: Tracked, now: datetime | None = None) -> list[Deadline]:
    """Return the deadlines of ``tx`` due at ``now`` (default: its clock's time)."""
    when = tx.clock() if now is None else now
    return [d for d in armed_deadlines(tx) if d.due_at <= when]


def fire_due(tx: Tracked, *, actor: str = CLOCK_ACTOR) -> tuple[Event, ...]:
    """Fire every deadline of ``tx`` that is due by its clock; return the events recorded.

    For a transaction kept in memory (a test, a notebook); a stored one is fired by a
    :class:`~ecomflow.store.DeadlineWorker`. A deadline armed by firing one is fired too
    when it is due already.
    """
    recorded: list[Event] = []
    for _ in range(1000):  # a flow that re-arms a due deadline forever stops here
        due = due_deadlines(tx)
        if not due:
            break
        recorded.extend(tx.fire(due[0].trigger, actor=actor))
    return tuple(recorded)
