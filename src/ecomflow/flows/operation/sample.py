"""How to drive the operation flow: the demo's steps and a random scenario for ``simulate``.

The demo's first electronic settlement fails and the second succeeds; the scenario retries
failed settlements and sometimes gives up.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from ..._flow import Transaction
from ..._money import Money
from .._registry import Sample
from .._shared import GOODS, NAMES, price, runner

if TYPE_CHECKING:
    from ...store import Repository

__all__ = ["SAMPLE"]


def scenario(rng: random.Random, repo: Repository, tx_id: str) -> Transaction[Any]:
    """Drive one random, valid operation through ``repo``: failed settlements, retries, give-ups."""
    repo.start("operation", tx_id, merchant="Ningbo Appliance Works")
    quantity, unit = rng.randint(1, 5), price(rng)
    run = runner(repo, tx_id)
    run(
        "place_order",
        customer=rng.choice(NAMES),
        address="Shanghai",
        quantity=quantity,
        goods_name=rng.choice(GOODS),
        unit_price=unit,
    )
    run("confirm_order", payment_instructions="pay through the bank gateway")
    while True:
        run("settle", institution="Bank of Ningbo", amount=unit * quantity, reference="EB")
        if rng.random() >= 0.2:
            break
        run("notify_failure", channel="email", reason="gateway timed out")
        if rng.random() < 0.2:
            run("cancel", reason="gave up")
            return repo.load(tx_id)
    run("notify_success", channel="email", confirmation_ref=f"OK-{tx_id}")
    run("deliver", carrier="ZTO Express")
    return repo.load(tx_id)


_AMOUNT = Money("387.00", "CNY")

SAMPLE = Sample(
    start={"merchant": "Ningbo Appliance Works", "catalog": "https://works.example/kettles"},
    steps=[
        (
            "place_order",
            {
                "customer": "Wang Fang",
                "address": "88 Nanjing Road, Shanghai",
                "goods_name": "electric kettle",
                "quantity": 3,
                "unit_price": Money("129.00", "CNY"),
            },
        ),
        (
            "confirm_order",
            {
                "payment_instructions": "pay online through the bank gateway",
                "supply_note": "take 3 kettles from stock",
            },
        ),
        ("settle", {"institution": "Bank of Ningbo", "amount": _AMOUNT, "reference": "EB-1"}),
        ("notify_failure", {"channel": "email", "reason": "the bank gateway timed out"}),
        ("settle", {"institution": "Bank of Ningbo", "amount": _AMOUNT, "reference": "EB-2"}),
        ("notify_success", {"channel": "email", "confirmation_ref": "OK-EB-2"}),
        ("deliver", {"carrier": "ZTO Express", "received_by": "Wang Fang"}),
    ],
    scenario=scenario,
)
"""The operation flow's demo (one failed settlement, then success) and its random scenario."""
