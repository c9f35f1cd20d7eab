"""Invariants of the flows, each a named function of a transaction with a clear message."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._errors import GuardRejected, InvalidPayload, TransitionNotAllowed
from .._events import Event
from .._flow import Transaction
from ..projections import Ledger, fold

if TYPE_CHECKING:
    from ..flows.exchange import Exchange

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


def _amount(event: Event, key: str = "amount") -> Decimal:
    return Decimal(event.data[key]["amount"])


def payouts_within_what_was_paid(tx: Transaction[Any]) -> None:
    """Check that nothing paid out exceeds what was authorized, paid or claimed."""
    events = list(tx.events)
    authorized = [_amount(e) for e in events if e.name == "payment_authorized"]
    settled = [_amount(e) for e in events if e.name == "payment_settled"]
    if authorized and settled:
        _require(settled[-1] <= authorized[-1], f"{tx.id!r}: settled {settled} > authorized")
    paid = sum((_amount(e) for e in events if e.name == "payment_transferred"), Decimal(0))
    out = sum((_amount(e) for e in events if e.name in ("fee_recorded", "seller_paid")), Decimal(0))
    _require(out <= paid, f"{tx.id!r}: paid out {out} of the {paid} received")
    claims = [_amount(e) for e in events if e.name == "claim_filed"]
    payouts = [_amount(e) for e in events if e.name == "claim_paid"]
    if payouts:
        _require(claims, f"{tx.id!r}: a claim was paid but none was filed")
        _require(sum(payouts) <= claims[-1], f"{tx.id!r}: payouts {payouts} exceed the claim")


def contract_concluded_at_most_once(tx: Transaction[Any]) -> None:
    """Check that a contract is concluded at most once."""
    count = sum(1 for e in tx.events if e.name == "contract_concluded")
    _require(count <= 1, f"{tx.id!r}: the contract was concluded {count} times")


def counter_offer_ends_the_standing_offer(tx: Transaction[Any]) -> None:
    """Check that every counter-offer rejects the offer that stood, in the same transition."""
    by_version: dict[int, list[str]] = {}
    for event in tx.events:
        by_version.setdefault(event.version, []).append(event.name)
    for version, names in by_version.items():
        if "counter_offer_made" in names:
            _require(
                "offer_rejected_by_counter_offer" in names,
                f"{tx.id!r}: the counter-offer at version {version} left the offer standing",
            )


def matched_within_posted(exchange: Exchange) -> None:
    """Check an exchange: no posting matched beyond its quantity, no party traded with itself.

    For every posting, what its trades took plus what is still open equals what was
    posted. A trade that ended unsettled (declined, or the buyer in default) took only the
    part of the party that walked away: the other side's quantity was reopened, and the
    trade no longer counts in the market volume. Every trade's buyer and seller differ,
    neither is the exchange, and each trade's price lies between the ask and the bid.
    """
    taken: dict[str, int] = {}
    volume: dict[str, int] = {}
    for trade in exchange.trades:
        demand, supply = exchange.postings_of(trade.id)
        match = trade.context.match
        _require(match.buyer != match.seller, f"{trade.id!r}: {match.buyer!r} traded with itself")
        _require(
            exchange.name not in (match.buyer, match.seller),
            f"{trade.id!r}: the exchange {exchange.name!r} is a party to its own trade",
        )
        _require(
            supply.price <= match.price <= demand.price,
            f"{trade.id!r}: price {match.price} outside ask {supply.price} and bid {demand.price}",
        )
        decline = trade.context.decline
        walked = {"defaulted": "buyer"}.get(trade.state)
        if trade.state == "cancelled" and decline is not None:
            walked = decline.party.value
        if walked is None:
            volume[match.goods] = volume.get(match.goods, 0) + match.quantity
        for side, posting in (("buyer", demand), ("seller", supply)):
            if walked in (None, side):
                taken[posting.id] = taken.get(posting.id, 0) + match.quantity
    for posting in exchange.postings:
        done, left = taken.get(posting.id, 0), exchange.open_quantity(posting.id)
        _require(
            left >= 0 and done + left == posting.quantity,
            f"posting {posting.id!r} of {posting.quantity}: {done} matched and {left} open",
        )
    for goods in {posting.goods for posting in exchange.postings}:
        traded = exchange.market(goods).volume
        _require(
            traded == volume.get(goods, 0),
            f"{goods!r}: the market says {traded} traded, its live trades {volume.get(goods, 0)}",
        )


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
    payouts_within_what_was_paid,
    contract_concluded_at_most_once,
    counter_offer_ends_the_standing_offer,
)
"""Every invariant above: the default for :func:`flow_machine`."""
