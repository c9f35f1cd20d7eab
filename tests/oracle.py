"""A base for model-based tests of a flow against an independent, hand-written oracle.

A subclass sets ``FLOW``, ``STEPS`` (the oracle's table of ``(state, trigger) -> next state``,
written from the seed, never read from the definition), ``TERMINAL``, ``SAMPLE_PAYLOADS`` (a
well-formed payload per trigger) and implements ``start()``, ``guard_failure()`` and
``apply()``. Its rules call :meth:`attempt`, which predicts each outcome and checks it.
"""

import json
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ecomflow import Event, GuardRejected, InvalidPayload, TransitionNotAllowed
from tests.strategies import JUNK


class OracleMachine(RuleBasedStateMachine):
    FLOW: ClassVar = None
    STEPS: ClassVar[dict] = {}
    TERMINAL: ClassVar[set] = set()
    SAMPLE_PAYLOADS: ClassVar[dict] = {}

    def __init__(self):
        super().__init__()
        self.state = self.FLOW.initial
        self.version = 0
        self.tx = self.start()

    # -- what a subclass provides ----------------------------------------------------------

    def start(self):
        raise NotImplementedError

    def guard_failure(self, trigger, payload):
        """Whether the seed's rules refuse ``trigger`` with ``payload`` here."""
        raise NotImplementedError

    def apply(self, trigger, payload):
        """Track what the oracle needs after a successful ``trigger``."""

    # -- the check -------------------------------------------------------------------------

    def legal(self, trigger):
        return (self.state, trigger) in self.STEPS

    def allowed_here(self):
        """The triggers the oracle allows now (guards aside)."""
        return {t for (s, t) in self.STEPS if s == self.state}

    def advance(self, trigger):
        """Move the oracle's state after a successful ``trigger``."""
        self.state = self.STEPS[(self.state, trigger)]

    def attempt(self, trigger, payload, valid=True):
        """Fire ``trigger`` and check the outcome against the oracle's prediction."""
        before = (self.tx.state, self.tx.version, self.tx.events, self.tx.context)
        if not self.legal(trigger):
            expected = TransitionNotAllowed
        elif not valid:
            expected = InvalidPayload
        elif self.guard_failure(trigger, payload):
            expected = GuardRejected
        else:
            expected = None
        try:
            events = self.tx.fire(trigger, **payload)
        except (TransitionNotAllowed, InvalidPayload, GuardRejected) as error:
            assert expected is not None, f"{trigger} {payload} raised {error!r}"
            assert type(error) is expected, f"expected {expected.__name__}, got {error!r}"
            assert self.tx.id in str(error) and repr(self.state) in str(error)
            if isinstance(error, GuardRejected):
                assert error.reasons and all(name and why for name, why in error.reasons)
            if isinstance(error, TransitionNotAllowed):
                assert set(error.allowed) == self.allowed_here()
            after = (self.tx.state, self.tx.version, self.tx.events, self.tx.context)
            assert after == before, "a refused trigger changed the transaction"
            return None
        assert expected is None, f"{trigger} {payload} should raise {expected.__name__}"
        self.apply(trigger, payload)
        self.advance(trigger)
        self.version += 1
        assert events and all(event.version == self.tx.version for event in events)
        return events

    # -- rules every flow shares -----------------------------------------------------------

    @rule(data=st.data())
    def fire_a_trigger_not_allowed_here(self, data):
        """Every trigger of the flow that the oracle says is impossible now is refused."""
        illegal = sorted(t for t in self.SAMPLE_PAYLOADS if not self.legal(t))
        if illegal:
            trigger = data.draw(st.sampled_from(illegal))
            self.attempt(trigger, self.SAMPLE_PAYLOADS[trigger])

    @rule(
        data=st.data(),
        name=st.text(max_size=15),
        junk=st.dictionaries(st.text(max_size=8).map("x_".__add__), JUNK, min_size=1, max_size=3),
    )
    def fire_junk(self, data, name, junk):
        """Unknown trigger names and unknown fields raise only ecomflow errors, changing nothing."""
        if name in self.SAMPLE_PAYLOADS:
            return
        if data.draw(st.booleans()):
            self.attempt(name, junk)
        else:
            trigger = data.draw(st.sampled_from(sorted(self.SAMPLE_PAYLOADS)))
            self.attempt(trigger, junk, valid=False)

    # -- invariants every flow shares ------------------------------------------------------

    @invariant()
    def state_matches_oracle(self):
        assert self.tx.state == self.state
        assert self.tx.version == self.version

    @invariant()
    def terminal_states_absorb(self):
        if self.state in self.TERMINAL:
            assert self.tx.allowed_triggers() == ()
            assert self.tx.is_finished

    @invariant()
    def versions_are_gapless(self):
        pairs = [(e.version, e.seq) for e in self.tx.events]
        assert pairs == sorted(pairs)
        assert sorted({v for v, _ in pairs}) == list(range(self.tx.version + 1))
        for version in range(self.tx.version + 1):
            seqs = [s for v, s in pairs if v == version]
            assert seqs == list(range(len(seqs)))

    @invariant()
    def replay_gives_the_same_transaction(self):
        events = [Event.from_json(json.loads(e.dumps())) for e in self.tx.events]
        assert events == list(self.tx.events)
        assert self.FLOW.replay(events) == self.tx

    @invariant()
    def event_data_is_json_without_floats(self):
        def check(value):
            if isinstance(value, dict):
                assert all(isinstance(key, str) for key in value)
                for item in value.values():
                    check(item)
            elif isinstance(value, list):
                for item in value:
                    check(item)
            else:
                assert value is None or type(value) in (str, int, bool), repr(value)

        for event in self.tx.events:
            check(event.to_json())
