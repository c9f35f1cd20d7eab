"""Invariants of the flows, each a named function of a transaction with a clear message."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .._errors import GuardRejected, InvalidPayload, TransitionNotAllowed
from .._events import Event
from .._flow import Transaction
from ..flows.b2b.rules import (
    contract_concluded_at_most_once,
    counter_offer_ends_the_standing_offer,
    payouts_within_the_claim,
)
from ..flows.direct_sale.rules import settled_within_the_authorization
from ..flows.intermediary.exchange import matched_within_posted
from ..flows.intermediary.rules import paid_out_within_what_was_paid
from ..projections import Ledger, fold

__all__ = [
    "INVARIANTS",
    "books_by_party",
    "contract_concluded_at_most_once",
    "counter_offer_ends_the_standing_offer",
    "events_are_json",
    "fire_and_check_refusal",
    "flow_rules_hold",
    "ledger_balances",
    "matched_within_posted",
    "no_shipping_before_payment",
    "payouts_within_what_was_paid",
    "replay_gives_the_same_transaction",
    "terminal_states_absorb",
    "versions_are_gapless",
]


def _require(condition: object, message: str) -> None:
    """Raise ``AssertionError(message)`` unless ``condition``; unlike ``assert``, also under -O."""
    if not condition:
        raise AssertionError(message)


def terminal_states_absorb(tx: Transaction[Any]) -> None:
    """Check that a finished transaction allows nothing more (terminal states absorb)."""
    if tx.is_finished:
        allowed = tx.allowed_triggers()
        _require(not allowed, f"{tx.id!r} is finished in {tx.state!r} but allows {allowed}")


def versions_are_gapless(tx: Transaction[Any]) -> None:
    """Check that versions run 0, 1, 2 with no gap and each version's events count 0, 1, 2."""
    pairs = [(e.version, e.seq) for e in tx.events]
    _require(pairs == sorted(pairs), f"{tx.id!r}: events out of order: {pairs}")
    versions = sorted({v for v, _ in pairs})
    _require(versions == list(range(tx.version + 1)), f"{tx.id!r}: versions {versions} have gaps")
    for version in versions:
        seqs = [s for v, s in pairs if v == version]
        _require(seqs == list(range(len(seqs))), f"{tx.id!r}: version {version} has seqs {seqs}")


def replay_gives_the_same_transaction(tx: Transaction[Any]) -> None:
    """Check that replaying the events, through JSON, rebuilds an equal transaction."""
    events = [Event.from_json(json.loads(e.dumps())) for e in tx.events]
    again = tx.flow.replay(events)
    _require(again == tx, f"{tx.id!r}: replay gives {again!r}, not {tx!r}")


def events_are_json(tx: Transaction[Any]) -> None:
    """Check that every event's data is plain JSON: dicts, lists, str, int, bool, None."""

    def check(value: object, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                _require(isinstance(key, str), f"{path}: key {key!r} is not a string")
                check(item, f"{path}.{key}" if path[-1] != ":" else f"{path} {key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                check(item, f"{path}[{index}]")
        else:
            _require(
                value is None or type(value) in (str, int, bool),
                f"{path} is {value!r}, not plain JSON",
            )

    for event in tx.events:
        check(event.to_json(), f"{tx.id!r}: event {event.name!r} at version {event.version}:")


def ledger_balances(tx: Transaction[Any]) -> None:
    """Check the MONEY stream as double entry: each transfer has two sides and sums to zero.

    A transfer (an event with ``amount``, ``from`` and ``to``) must name two different
    accounts and move a non-negative amount; an amount with only one side is a memo.
    """
    ledger = fold(Ledger(), tx.events)
    for posting in ledger.postings:
        (payer, _), (payee, into) = posting.legs
        _require(
            payer != payee, f"posting {posting.event_id!r} moves money from {payer!r} to itself"
        )
        _require(into >= 0, f"posting {posting.event_id!r} moves a negative amount {into}")
        _require(posting.total == 0, f"posting {posting.event_id!r} sums to {posting.total}")
    for currency, total in ledger.totals().items():
        _require(total == 0, f"{tx.id!r}: the books do not balance in {currency}: {total}")


def no_shipping_before_payment(tx: Transaction[Any]) -> None:
    """Check: no goods move to the buyer, nor become the buyer's, before payment is secured.

    It reads the flow's declarations (:class:`FlowDefinition`): an event named in
    ``goods_moved_by`` may only come at or after the version of an event named in
    ``payment_secured_by``, unless ``ships_before_payment(context)`` says this
    transaction's terms let goods go first (cash on delivery). A flow that declares no
    ``goods_moved_by`` moves no goods, and passes.
    """
    definition = tx.flow.definition
    goods, payments = definition.goods_moved_by, definition.payment_secured_by
    if not goods:
        return
    exempt = definition.ships_before_payment
    if exempt is not None and exempt(tx.context):
        return
    events = tx.events
    secured = min((e.version for e in events if e.name in payments), default=None)
    for event in events:
        if event.name in goods:
            _require(
                secured is not None and secured <= event.version,
                f"{tx.id!r}: {event.name} at version {event.version} before payment was "
                f"secured (by any of {sorted(payments)})",
            )


def books_by_party(tx: Transaction[Any]) -> None:
    """Check every account's balance against the books the flow declares for its state.

    The transaction's MONEY postings (folded into a :class:`~ecomflow.projections.Ledger`)
    must leave each account exactly where the flow's ``books(context, state)`` says, and
    every account it does not name at zero: a party paid twice, or one never paid, is
    caught even when the books still sum to zero. A flow without ``books`` passes.
    """
    books = tx.flow.definition.books
    if books is None:
        return
    expected = {
        (account, money.currency): money.amount
        for account, money in books(tx.context, tx.state).items()
        if money.amount
    }
    actual = fold(Ledger(), tx.events).balances()
    for key in sorted(set(expected) | set(actual)):
        account, currency = key
        want, got = expected.get(key, Decimal(0)), actual.get(key, Decimal(0))
        _require(
            want == got,
            f"{tx.id!r} in {tx.state!r}: account {account!r} is at {currency} {got}; the "
            f"{tx.flow.name} books say {currency} {want}",
        )


def flow_rules_hold(tx: Transaction[Any]) -> None:
    """Check the rules the flow declares beside itself (``FlowDefinition.invariants``)."""
    for check in tx.flow.definition.invariants:
        check(tx)


_PAYOUT_RULES: dict[str, tuple[Callable[[Transaction[Any]], None], ...]] = {
    "direct-sale": (settled_within_the_authorization,),
    "intermediary": (paid_out_within_what_was_paid,),
    "b2b": (payouts_within_the_claim,),
}


def payouts_within_what_was_paid(tx: Transaction[Any]) -> None:
    """Check that nothing paid out exceeds what was authorized, paid or claimed.

    The rules are the flows' own (a direct sale settles within its authorization, an
    intermediary's fee and payout stay within what the buyer paid, a claim is paid at
    most what was claimed), which :func:`flow_rules_hold` also runs; a flow of your own
    declares its payout rules in its ``invariants``.
    """
    for rule in _PAYOUT_RULES.get(tx.flow.name, ()):
        rule(tx)


_REFUSALS = (TransitionNotAllowed, GuardRejected, InvalidPayload)


def fire_and_check_refusal(
    tx: Transaction[Any], trigger: str, /, **payload: Any
) -> TransitionNotAllowed | GuardRejected | InvalidPayload | None:
    """Fire ``trigger``; if it is refused, check that nothing changed and return the error.

    "After an error nothing changed": the state, version, events and context are as before
    the refused call. Returns ``None`` when the trigger was accepted; any other exception
    (a ``TypeError``, an ``EcomflowError`` that is not a refusal) propagates.
    """
    before = (tx.state, tx.version, tx.events, tx.context)
    try:
        tx.fire(trigger, **payload)
    except _REFUSALS as error:
        after = (tx.state, tx.version, tx.events, tx.context)
        _require(after == before, f"{trigger} was refused ({error}) but changed {tx.id!r}")
        return error
    return None


INVARIANTS: tuple[Callable[[Transaction[Any]], None], ...] = (
    terminal_states_absorb,
    versions_are_gapless,
    replay_gives_the_same_transaction,
    events_are_json,
    ledger_balances,
    books_by_party,
    flow_rules_hold,
    no_shipping_before_payment,
    contract_concluded_at_most_once,
)
"""The invariants every flow keeps: the default for :func:`flow_machine`.

A flow's own rules (a counter-offer ends the standing offer, payouts within what was
paid, an exchange's matches within its postings) are the flow's ``invariants``, which
:func:`flow_rules_hold` runs.
"""
