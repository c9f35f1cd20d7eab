"""The testing kit: property-based tests of any flow in a few lines (needs Hypothesis).

- strategies: :func:`payloads` (valid keyword arguments for a trigger, with an ``actor``
  the flow accepts when the trigger requires one; :func:`actors` sorts the names found
  into those that may fire it and the others), :func:`runs`
  (sequences of accepted ``(trigger, payload)`` steps), :func:`transactions` (driven to a
  given state);
- :func:`flow_machine`: a Hypothesis ``RuleBasedStateMachine`` with one rule per trigger,
  legal and illegal moves, checking that a refusal changes nothing and that every
  invariant holds after every step;
- invariants (:data:`INVARIANTS`), each a named function of a transaction raising
  ``AssertionError`` with a clear message (also under ``python -O``), plus
  :func:`matched_within_posted` for an exchange and :func:`fire_and_check_refusal` for
  "after an error nothing changed";
- paths: :func:`shortest_paths` to every state, :func:`transition_paths` to every
  transition, :func:`simple_paths` up to a length, and :func:`drive` to walk one;
- Chinese everywhere: :func:`check_bilingual` fails a flow with a label or a refusal
  reason in one language only, :func:`provoke_refusals` makes its guards refuse;
- time: :class:`ManualClock`, moved by drawn :func:`pauses` from drawn :func:`instants`,
  so time-dependent guards (an offer's validity, a claim's notice period) are exercised.

>>> from ecomflow import FLOWS
>>> TestDirectSale = flow_machine(FLOWS["direct-sale"]).TestCase
"""

from __future__ import annotations

from .._public import publish as _publish
from ._bilingual import bilingual_problems, check_bilingual, is_bilingual, provoke_refusals
from ._clock import ManualClock, instants, pauses
from ._invariants import (
    INVARIANTS,
    books_by_party,
    contract_concluded_at_most_once,
    counter_offer_ends_the_standing_offer,
    events_are_json,
    fire_and_check_refusal,
    flow_rules_hold,
    ledger_balances,
    matched_within_posted,
    no_shipping_before_payment,
    payouts_within_what_was_paid,
    replay_gives_the_same_transaction,
    terminal_states_absorb,
    versions_are_gapless,
)
from ._machine import Invariant, Oracle, flow_machine
from ._paths import drive, shortest_paths, simple_paths, transactions, transition_paths
from ._strategies import actors, payloads, runs

__all__ = [
    "INVARIANTS",
    "Invariant",
    "ManualClock",
    "Oracle",
    "actors",
    "bilingual_problems",
    "books_by_party",
    "check_bilingual",
    "contract_concluded_at_most_once",
    "counter_offer_ends_the_standing_offer",
    "drive",
    "events_are_json",
    "fire_and_check_refusal",
    "flow_machine",
    "flow_rules_hold",
    "instants",
    "is_bilingual",
    "ledger_balances",
    "matched_within_posted",
    "no_shipping_before_payment",
    "pauses",
    "payloads",
    "payouts_within_what_was_paid",
    "provoke_refusals",
    "replay_gives_the_same_transaction",
    "runs",
    "shortest_paths",
    "simple_paths",
    "terminal_states_absorb",
    "transactions",
    "transition_paths",
    "versions_are_gapless",
]


_publish(globals(), __name__, __all__)
