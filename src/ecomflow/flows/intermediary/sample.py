"""How to drive the intermediary trade: the demo (from the exchange) and a random scenario.

The trade is started by an exchange's match, so the demo's ``begin`` posts supply and
demand on an exchange and returns the first trade with the exchange's events; the
scenario does the same on an exchange kept in the simulation's store, beside its trades.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..._events import Event
from ..._flow import Transaction
from ..._money import Money
from .._registry import DemoStep, Sample
from .._shared import price, runner
from .exchange import EXCHANGE, Exchange

if TYPE_CHECKING:
    from ...store import Repository

__all__ = ["SAMPLE"]


def _exchange_start() -> tuple[Transaction[Any], Sequence[Event]]:
    """Post supply and demand on an exchange; return the first trade and the exchange's events."""
    exchange = Exchange(
        "Hangzhou Grain Exchange",
        designated_banks=("Industrial and Commercial Bank of China", "Bank of China"),
        fee_rate=Decimal("0.005"),
    )
    ask = Money("3.20", "CNY")
    exchange.post_supply("Jiaxing Rice Farm", goods="japonica rice", quantity=800, price=ask)
    bid = Money("3.25", "CNY")
    trades = exchange.post_demand(
        "Suzhou Flour Mill", goods="japonica rice", quantity=500, price=bid
    )
    return trades[0], exchange.events


def _with_the_exchange(repo: Repository) -> Repository:
    """``repo``, or one on the same store, bus and clock that also knows the exchange flow."""
    if repo.flows.get(EXCHANGE.name) is EXCHANGE:
        return repo
    from ...store import Repository

    return Repository(
        repo.store, {**repo.flows, EXCHANGE.name: EXCHANGE}, clock=repo.clock, bus=repo.bus
    )


def _intermediary(rng: random.Random, repo: Repository, tx_id: str) -> Transaction[Any]:
    """One trade from an exchange kept in ``repo``'s store: signed, paid, delivered, settled.

    One in ten is declined by the buyer instead (the exchange reopens the seller's supply).
    """
    exchange = Exchange(
        f"exchange-{tx_id}",
        designated_banks=["Bank of China"],
        fee_rate=Decimal("0.005"),
        clock=repo.clock,
        repository=_with_the_exchange(repo),
    )
    try:
        return _trade(rng, repo, exchange, tx_id)
    finally:
        exchange.detach()  # one exchange per scenario: the bus keeps no listener per order


def _trade(
    rng: random.Random, repo: Repository, exchange: Exchange, tx_id: str
) -> Transaction[Any]:
    ask = price(rng, 2, 5)
    exchange.post_supply(
        "Jiaxing Rice Farm", goods="rice", quantity=rng.randint(10, 900), price=ask
    )
    (trade,) = exchange.post_demand(
        "Suzhou Flour Mill", goods="rice", price=ask, quantity=rng.randint(1, 10)
    )
    run = runner(repo, trade.id)
    run("sign", party="seller", signatory="Chen Jie")
    if rng.random() < 0.1:
        run("decline", party="buyer", reason="price moved")
        return repo.load(trade.id)
    run("sign", party="buyer", signatory="Zhou Min")
    run("pay", bank="Bank of China", amount=trade.context.match.value, reference="TRF")
    run("release", warehouse="Jiaxing distribution centre")
    run("deliver")
    run("settle", reference=f"SET-{tx_id}")
    return repo.load(trade.id)


_STEPS: tuple[DemoStep, ...] = (
    ("sign", {"party": "buyer", "signatory": "Zhou Min, Suzhou Flour Mill"}),
    ("sign", {"party": "seller", "signatory": "Chen Jie, Jiaxing Rice Farm"}),
    (
        "pay",
        {
            "bank": "Bank of China",
            "amount": Money("1600.00", "CNY"),
            "reference": "BOC-TRF-0042",
        },
    ),
    ("release", {"warehouse": "Jiaxing distribution centre", "carrier": "exchange fleet"}),
    ("deliver", {"received_by": "Suzhou Flour Mill"}),
    ("settle", {"reference": "HGE-SET-0042"}),
)

SAMPLE = Sample(begin=_exchange_start, steps=_STEPS, scenario=_intermediary)
"""The intermediary trade's demo (begun on an exchange) and its random scenario."""
