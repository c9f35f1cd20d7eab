"""How to drive a direct sale: the demo's steps and a random scenario for ``simulate``.

The demo walks all six steps with one decline on the way; the scenario adds cash on
delivery, declines and retries, and cancellations before and after an authorization.
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

_METHODS = ("credit_card", "debit_card", "electronic_money", "electronic_cheque")


def scenario(rng: random.Random, repo: Repository, tx_id: str) -> Transaction[Any]:
    """Drive one random, valid direct sale through ``repo``: declines, cancellations, COD."""
    repo.start("direct-sale", tx_id, merchant="Hangzhou Tea House")
    quantity, unit = rng.randint(1, 5), price(rng)
    run = runner(repo, tx_id)
    run(
        "fill_order",
        customer_name=rng.choice(NAMES),
        address="Beijing",
        quantity=quantity,
        goods_name=rng.choice(GOODS),
        specification="standard",
        unit_price=unit,
    )
    if rng.random() < 0.05:
        run("cancel", reason="changed my mind")
        return repo.load(tx_id)
    cod = rng.random() < 0.2
    run("choose_payment", method="cash_on_delivery" if cod else rng.choice(_METHODS))
    if not cod:
        while rng.random() < 0.15:  # declined: choose again and retry
            run("decline_payment", reason="insufficient funds")
            run("choose_payment", method=rng.choice(_METHODS))
        run(
            "approve_payment",
            amount=unit * quantity,
            reference=f"AUTH-{tx_id}",
            idempotency_key=f"gateway-{tx_id}",
        )
        if rng.random() < 0.05:
            run("cancel", reason="found it cheaper")  # voids the authorization
            return repo.load(tx_id)
    run("dispatch", carrier="SF Express")
    run("deliver", collected=unit * quantity if cod else None)
    run("settle", statement_ref=f"STMT-{tx_id}")
    return repo.load(tx_id)


SAMPLE = Sample(
    start={"merchant": "Hangzhou Tea House", "page": "https://shop.example/tea/longjing"},
    steps=[
        (
            "fill_order",
            {
                "customer_name": "Li Lei",
                "address": "1 Zhongguancun Street, Beijing",
                "goods_name": "Longjing green tea",
                "quantity": 2,
                "specification": "250 g tin",
                "unit_price": Money("88.00", "CNY"),
            },
        ),
        ("choose_payment", {"method": "credit_card", "card_last4": "4242"}),
        ("decline_payment", {"reason": "card over its limit"}),
        ("choose_payment", {"method": "debit_card", "token": "tok_debit_9f3a"}),
        ("approve_payment", {"amount": Money("176.00", "CNY"), "reference": "AUTH-20261124-01"}),
        ("dispatch", {"carrier": "SF Express", "tracking_ref": "SF1234567890"}),
        ("deliver", {"received_by": "Li Lei"}),
        ("settle", {"statement_ref": "STMT-2026-11"}),
    ],
    scenario=scenario,
)
"""The direct sale's demo (six steps, one decline) and its random scenario."""
