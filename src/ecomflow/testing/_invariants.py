"""Invariants of the flows, each a named function of a transaction with a clear message."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .._events import Event, Stream
from .._transaction import Transaction
from ..projections import Ledger, fold

__all__ = [
    "INVARIANTS",
    "contract_concluded_at_most_once",
    "counter_offer_ends_the_standing_offer",
    "events_are_json",
    "ledger_balances",
    "no_shipping_before_payment",
    "payouts_within_what_was_paid",
    "replay_gives_the_same_transaction",
    "terminal_states_absorb",
    "versions_are_gapless",
]


def terminal_states_absorb(tx: Transaction[Any]) -> None:
    """Check that a finished transaction allows nothing more (terminal states absorb)."""
    if tx.is_finished:
        allowed = tx.allowed_triggers()
        assert not allowed, f"{tx.id!r} is finished in {tx.state!r} but allows {allowed}"


def versions_are_gapless(tx: Transaction[Any]) -> None:
    """Check that versions run 0, 1, 2 with no gap and each version's events count 0, 1, 2."""
    pairs = [(e.version, e.seq) for e in tx.events]
    assert pairs == sorted(pairs), f"{tx.id!r}: events out of order: {pairs}"
    versions = sorted({v for v, _ in pairs})
    assert versions == list(range(tx.version + 1)), f"{tx.id!r}: versions {versions} have gaps"
    for version in versions:
        seqs = [s for v, s in pairs if v == version]
        assert seqs == list(range(len(seqs))), f"{tx.id!r}: version {version} has seqs {seqs}"


def replay_gives_the_same_transaction(tx: Transaction[Any]) -> None:
    """Check that replaying the events, through JSON, rebuilds an equal transaction."""
    events = [Event.from_json(json.loads(e.dumps())) for e in tx.events]
    again = tx.flow.replay(events)
    assert again == tx, f"{tx.id!r}: replay gives {again!r}, not {tx!r}"


def events_are_json(tx: Transaction[Any]) -> None:
    """Check that every event's data is plain JSON: dicts, lists, str, int, bool, None."""

    def check(value: object, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                assert isinstance(key, str), f"{path}: key {key!r} is not a string"
                check(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                check(item, f"{path}[{index}]")
        else:
            assert value is None or type(value) in (str, int, bool), f"{path} is {value!r}"

    for event in tx.events:
        check(event.to_json(), event.event_id)


def ledger_balances(tx: Transaction[Any]) -> None:
    """Check that every double-entry posting of the MONEY stream sums to zero."""
    ledger = fold(Ledger(), tx.events)
    for posting in ledger.postings:
        assert posting.total == 0, f"posting {posting.event_id!r} sums to {posting.total}"
    for currency, total in ledger.totals().items():
        assert total == 0, f"{tx.id!r}: the books do not balance in {currency}: {total}"


# (shipping event, the MONEY events that allow it, data key that exempts it)
_SHIPPING_RULES = (
    ("dispatched", ("payment_authorized",), "cash_on_delivery"),
    ("released_from_warehouse", ("payment_transferred",), None),
)


def no_shipping_before_payment(tx: Transaction[Any]) -> None:
    """Check: no dispatch before an approved payment (but cash on delivery), none unpaid."""
    seen: set[str] = set()
    for event in tx.events:
        for shipped, payments, exemption in _SHIPPING_RULES:
            if event.stream is Stream.LOGISTICS and event.name == shipped:
                exempt = exemption is not None and event.data.get(exemption) is True
                assert exempt or seen.intersection(payments), (
                    f"{tx.id!r}: {shipped} at version {event.version} before any of {payments}"
                )
        seen.add(event.name)


def _amount(event: Event, key: str = "amount") -> Decimal:
    return Decimal(event.data[key]["amount"])


def payouts_within_what_was_paid(tx: Transaction[Any]) -> None:
    """Check that nothing paid out exceeds what was authorized, paid or claimed."""
    events = list(tx.events)
    authorized = [_amount(e) for e in events if e.name == "payment_authorized"]
    settled = [_amount(e) for e in events if e.name == "payment_settled"]
    if authorized and settled:
        assert settled[-1] <= authorized[-1], f"{tx.id!r}: settled {settled} > authorized"
    paid = sum((_amount(e) for e in events if e.name == "payment_transferred"), Decimal(0))
    out = sum((_amount(e) for e in events if e.name in ("fee_recorded", "seller_paid")), Decimal(0))
    assert out <= paid, f"{tx.id!r}: paid out {out} of the {paid} received"
    claims = [_amount(e) for e in events if e.name == "claim_filed"]
    payouts = [_amount(e) for e in events if e.name == "claim_paid"]
    if payouts:
        assert claims, f"{tx.id!r}: a claim was paid but none was filed"
        assert sum(payouts) <= claims[-1], f"{tx.id!r}: payouts {payouts} exceed the claim"


def contract_concluded_at_most_once(tx: Transaction[Any]) -> None:
    """Check that a contract is concluded at most once."""
    count = sum(1 for e in tx.events if e.name == "contract_concluded")
    assert count <= 1, f"{tx.id!r}: the contract was concluded {count} times"


def counter_offer_ends_the_standing_offer(tx: Transaction[Any]) -> None:
    """Check that every counter-offer rejects the offer that stood, in the same transition."""
    by_version: dict[int, list[str]] = {}
    for event in tx.events:
        by_version.setdefault(event.version, []).append(event.name)
    for version, names in by_version.items():
        if "counter_offer_made" in names:
            assert "offer_rejected_by_counter_offer" in names, (
                f"{tx.id!r}: the counter-offer at version {version} left the offer standing"
            )


INVARIANTS: tuple[Callable[[Transaction[Any]], None], ...] = (
    terminal_states_absorb,
    versions_are_gapless,
    replay_gives_the_same_transaction,
    events_are_json,
    ledger_balances,
    no_shipping_before_payment,
    payouts_within_what_was_paid,
    contract_concluded_at_most_once,
    counter_offer_ends_the_standing_offer,
)
"""Every invariant above: the default for :func:`flow_machine`."""
