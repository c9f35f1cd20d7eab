"""How to drive a return: the steps ``ecomflow demo returns`` walks, and a random scenario.

``ecomflow simulate returns`` runs :func:`scenario` once per transaction, through a
repository, so every return it makes is stored, replayable and in the books.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from ecomflow import Money, Transaction
from ecomflow.flows import Sample
from ecomflow.store import Repository

__all__ = ["SAMPLE", "scenario"]


def scenario(rng: random.Random, repo: Repository, tx_id: str) -> Transaction[Any]:
    """Drive one random, valid return through ``repo``: one in ten is rejected."""
    quantity = rng.randint(1, 3)
    paid = Money(Decimal(rng.randint(500, 50_000)).scaleb(-2), "CNY") * quantity
    repo.start(
        "returns",
        tx_id,
        order_ref=f"ORDER-{tx_id}",
        buyer=rng.choice(["Li Lei", "Han Meimei", "Wang Fang"]),
        merchant="Hangzhou Tea House",
        goods_name="porcelain teapot",
        quantity=quantity,
        paid=paid,
        reason=rng.choice(["defective", "wrong_item", "not_as_described", "no_reason"]),
    )
    if rng.random() < 0.1:
        repo.execute(tx_id, "reject", reason="the seal on the box is broken")
        return repo.load(tx_id)
    repo.execute(tx_id, "approve", return_address="8 Hefang Street, Hangzhou", rma=f"RMA-{tx_id}")
    repo.execute(tx_id, "ship_back", carrier="SF Express", tracking_ref=f"SF-{tx_id}")
    repo.execute(tx_id, "receive", quantity=quantity)
    # A "no reason" return may keep back the shipping (here: up to 10 yuan).
    keep = Money(rng.randint(0, 10), "CNY") if rng.random() < 0.3 else Money(0, "CNY")
    repo.execute(tx_id, "refund", amount=paid - min(keep, paid), reference=f"REFUND-{tx_id}")
    return repo.load(tx_id)


SAMPLE = Sample(
    start={
        "order_ref": "A-17",
        "buyer": "Li Lei",
        "merchant": "Hangzhou Tea House",
        "goods_name": "Longjing green tea",
        "quantity": 2,
        "paid": Money("176.00", "CNY"),
        "reason": "not_as_described",
        "note": "the tins say 2025 harvest",
    },
    steps=[
        ("approve", {"return_address": "8 Hefang Street, Hangzhou", "rma": "RMA-0042"}),
        ("ship_back", {"carrier": "SF Express", "tracking_ref": "SF7654321098"}),
        ("receive", {"quantity": 2, "received_by": "warehouse desk"}),
        ("refund", {"amount": Money("176.00", "CNY"), "reference": "REFUND-A-17"}),
    ],
    scenario=scenario,
)
"""The demo (a return approved, shipped back, received and refunded) and the random scenario."""
