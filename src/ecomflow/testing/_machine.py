"""flow_machine: a Hypothesis state machine for any flow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from .._deadlines import armed_deadlines, fire_due
from .._errors import GuardRejected, InvalidPayload, TransitionNotAllowed
from .._flow import Flow, Transaction
from .._graph import ancestors
from ._clock import ManualClock, instants, pauses
from ._invariants import INVARIANTS, _require, fire_and_check_refusal
from ._paths import drive, transition_paths
from ._strategies import _TEXT, _accepts, actors, payloads

__all__ = ["Invariant", "Oracle", "flow_machine"]

Invariant = Callable[[Transaction[Any]], None]
"""A check of a transaction that raises ``AssertionError`` when it does not hold."""
Oracle = Callable[[str, str], "str | None"]
"""``oracle(state, trigger)``: the state the trigger leads to, or ``None`` if impossible."""

# Wrong types, floats for money, negatives, empty, huge and unicode strings, None, nested junk.
_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    st.integers(-(10**12), 0),
    st.text(max_size=5),
    st.text(min_size=1000, max_size=5000),
    st.lists(
        st.dictionaries(st.text(max_size=3), st.integers() | st.none(), max_size=2), max_size=2
    ),
)


def flow_machine(
    flow: Flow[Any],
    invariants: Sequence[Invariant] = INVARIANTS,
    oracle: Oracle | None = None,
) -> type[RuleBasedStateMachine]:
    """Return a ``RuleBasedStateMachine`` class that tests ``flow``.

    It starts a transaction with a generated start payload (and, in half of the runs,
    drives it along a drawn path of :func:`transition_paths`, so that late states are
    reached in few steps), then has one rule per trigger
    (payloads from :func:`payloads`, using the transaction's context and clock), one firing
    arbitrary trigger names with junk, one firing a trigger that requires an actor without
    one or with a wrong one (it must be refused, for the actor when nothing else is
    wrong, and change nothing), and one letting time pass on the transaction's
    :class:`ManualClock`, so that validity and notice periods lapse too and the deadlines
    that fall due fire (once each, at the new time, as a worker fires them). Every refusal
    must be a documented error and change nothing; every ``invariant`` must hold after
    every step. With an ``oracle`` (your own table of the process), each accepted trigger
    must lead where it says, and each trigger it calls impossible must raise
    :class:`TransitionNotAllowed`.

    Use it as ``TestMyFlow = flow_machine(flow).TestCase``.
    """
    start_trigger = flow.definition.start.trigger
    # A path to every transition, so that a run may begin anywhere in the flow.
    paths = transition_paths(flow)

    class FlowMachine(RuleBasedStateMachine):
        tx: Transaction[Any] | None = None
        clock: ManualClock

        @initialize(data=st.data(), now=instants(), deep=st.booleans())
        def start(self, data: st.DataObject, now: datetime, deep: bool) -> None:
            """Start a transaction; half the runs then drive it along a path deep into the flow."""
            self.clock = ManualClock(now)
            context = data.draw(payloads(flow, start_trigger, now=now), label="start")
            try:
                self.tx = flow.start("T-1", clock=self.clock, **context)
            except GuardRejected:  # a start guard refused these terms: draw others
                assume(False)
            if deep and paths:
                path = paths[data.draw(st.sampled_from(sorted(paths)), label="deep start")]
                driven = drive(flow, path, data.draw, start=context, clock=self.clock, tx_id="T-1")
                if driven is not None:
                    self.tx = driven

        @rule(pause=pauses())
        def time_passes(self, pause: timedelta) -> None:
            """Time passes: validity periods lapse, and the deadlines that fall due fire.

            Each due deadline fires once, at the new time, as a worker would fire it
            (:func:`~ecomflow.fire_due`); a deadline not yet due stays armed.
            """
            self.clock.advance(pause)
            tx = self.tx
            if tx is not None:
                before = armed_deadlines(tx)
                fire_due(tx)
                now = self.clock()
                for deadline in before:
                    _require(
                        deadline.due_at > now or deadline.trigger not in tx.allowed_triggers(),
                        f"deadline {deadline.trigger!r} was due at {deadline.due_at} but is "
                        f"still offered at {now}",
                    )

        def _fire(self, trigger: str, payload: dict[str, Any]) -> bool:
            tx = self.tx
            assert tx is not None
            state = tx.state
            expected = None if oracle is None else oracle(state, trigger)
            error = fire_and_check_refusal(tx, trigger, **payload)
            if error is not None:
                _require(
                    expected is None or not isinstance(error, TransitionNotAllowed),
                    f"the oracle allows {trigger!r} from {state!r}, but: {error}",
                )
                return False
            _require(
                oracle is None or expected == tx.state,
                f"{trigger!r} from {state!r} led to {tx.state!r}; the oracle says {expected!r}",
            )
            return True

        @rule(data=st.data())
        def fire_junk(self, data: st.DataObject) -> None:
            """Arbitrary trigger names and payloads raise only ecomflow errors."""
            name = data.draw(st.text(max_size=12).filter(lambda t: t not in flow.triggers))
            junk = data.draw(
                st.dictionaries(
                    st.text(max_size=6),
                    st.none()
                    | st.floats()
                    | st.integers()
                    | st.text(max_size=40)
                    | st.lists(st.integers(), max_size=2),
                    max_size=3,
                )
            )
            self._fire(name, junk)

        @rule(data=st.data(), missing=st.booleans())
        def fire_without_the_actor(self, data: st.DataObject, missing: bool) -> None:
            """Fire a trigger that requires an actor without one, or by another: it is refused."""
            tx = self.tx
            if tx is None:
                return
            state = tx.state
            needing = [
                t for t in tx.allowed_triggers() if flow.engine.transition(state, t).requires_actor
            ]
            if not needing:
                return
            trigger = data.draw(st.sampled_from(needing), label="trigger")
            context, now = tx.context, tx.clock()
            valid = dict(data.draw(payloads(flow, trigger, context=context, state=state, now=now)))
            payload = {key: value for key, value in valid.items() if key != "actor"}
            transition = flow.engine.transition(state, trigger)
            if not missing and transition.actor_check is not None:
                _, wrong = actors(flow, trigger, payload, context=context, state=state)
                built = None if transition.payload is None else transition.payload(**payload)
                strangers = _TEXT.filter(
                    lambda name: not _accepts(transition, context, built, name)
                )
                drawn = st.sampled_from(wrong) | strangers if wrong else strangers
                payload["actor"] = data.draw(drawn, label="wrong actor")
            twin = tx._fork(self.clock)
            try:
                twin.fire(trigger, **valid)
                passes = True
            except (TransitionNotAllowed, GuardRejected, InvalidPayload):
                passes = False
            error = fire_and_check_refusal(tx, trigger, **payload)
            who = repr(payload["actor"]) if "actor" in payload else "no actor"
            _require(error is not None, f"{trigger!r} from {state!r} was accepted with {who}")
            if passes:  # the same payload passes with a valid actor: this one was the fault
                _require(
                    isinstance(error, GuardRejected) and ("actor" in dict(error.reasons)),
                    f"{trigger!r} with {who} was refused, but not for the actor: {error}",
                )

        @invariant()
        def invariants_hold(self) -> None:
            if self.tx is not None:
                for check in invariants:
                    check(self.tx)

    for trigger in flow.triggers:
        setattr(FlowMachine, f"fire_{trigger}", _trigger_rule(flow, trigger))
    # As many rules again that take an allowed trigger, so that runs go deep into the
    # flow instead of spending most steps on moves that are refused.
    for index in range(len(flow.triggers)):
        setattr(FlowMachine, f"advance_{index}", _advance_rule(flow))

    FlowMachine.__name__ = FlowMachine.__qualname__ = f"{flow.name.title().replace('-', '')}Machine"
    return FlowMachine


def _advance_rule(flow: Flow[Any]) -> Any:
    """Return a rule firing one of the allowed triggers, trying a few payloads.

    Three times in four it picks a trigger that does not end the transaction, so that
    runs reach the late states rather than stopping at the first "break off".
    """
    ending = {
        (edge.source, edge.trigger)
        for edge in flow.edges
        if edge.dest in flow.terminal_states and edge.source not in flow.terminal_states
    }

    @rule(data=st.data(), onward=st.sampled_from([True, True, True, False]))
    def advance(self: Any, data: st.DataObject, onward: bool) -> None:
        tx = self.tx
        if tx is None:
            return
        allowed = tx.allowed_triggers()
        if onward:
            active = {node for leaf in tx.active_states for node in ancestors(leaf)}
            allowed = [t for t in allowed if not any((a, t) in ending for a in active)] or allowed
        if not allowed:
            return
        trigger = data.draw(st.sampled_from(allowed))
        for _ in range(5):
            context, now = tx.context, tx.clock()
            payload = data.draw(payloads(flow, trigger, context=context, state=tx.state, now=now))
            if self._fire(trigger, dict(payload)):
                return

    return advance


def _trigger_rule(flow: Flow[Any], trigger: str) -> Any:
    """Return a rule firing ``trigger`` with a generated payload, or one with a field spoiled."""

    @rule(data=st.data(), spoil=st.sampled_from([False, False, False, True]))
    def fire(self: Any, data: st.DataObject, spoil: bool) -> None:
        tx = self.tx
        if tx is None:
            return
        payload = dict(
            data.draw(payloads(flow, trigger, context=tx.context, state=tx.state, now=tx.clock()))
        )
        if spoil and payload:
            key = data.draw(st.sampled_from(sorted(payload)))
            payload[key] = data.draw(_JUNK)
        self._fire(trigger, payload)

    fire.__name__ = f"fire_{trigger}"
    return fire
