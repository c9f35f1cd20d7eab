"""How to drive the B2B process: the demo's steps and a random scenario for ``simulate``.

The demo walks all four phases — an offer, a counter-offer, acceptance, the contract
signed by both, performance with payment against documents, and a claim settled; the
scenario haggles for a few rounds, sometimes breaks off, pays by each of the payment
terms and sometimes ends in a claim.
"""

from __future__ import annotations

import random
from datetime import date
from typing import TYPE_CHECKING, Any

from ..._flow import Transaction
from ..._money import Money
from .._registry import Sample
from .._shared import runner

if TYPE_CHECKING:
    from ...store import Repository

__all__ = ["SAMPLE"]


def scenario(rng: random.Random, repo: Repository, tx_id: str) -> Transaction[Any]:
    """Drive one random, valid B2B deal through ``repo``: counter-offers, terms, claims."""
    buyer, seller = "Suzhou Textile Mill", "Xinjiang Cotton Co-op"
    repo.start("b2b", tx_id, buyer=buyer, seller=seller)
    run = runner(repo, tx_id)
    run("prepare", by="buyer", note="market research")
    price, by = Money(rng.randint(15000, 16000), "CNY"), "seller"
    run("offer", by=by, goods="cotton lint", quantity=200, price=price)
    run("arrive")
    for _ in range(rng.randint(0, 3)):  # rounds of counter-offers, roles swapping
        by = "buyer" if by == "seller" else "seller"
        price = price - Money(100, "CNY") if by == "buyer" else price + Money(50, "CNY")
        run("counter_offer", by=by, goods="cotton lint", quantity=200, price=price)
        run("arrive")
    if rng.random() < 0.1:
        run("break_off", by="buyer", reason="no agreement on price")
        return repo.load(tx_id)
    run(
        "accept",
        actor=buyer if by == "seller" else seller,  # the offeree accepts
        by="buyer" if by == "seller" else "seller",
        goods="cotton lint",
        quantity=200,
        price=price,
    )
    terms = rng.choice(["prepayment", "against_documents", "on_delivery"])
    run(
        "draw_up",
        rights_and_obligations="as agreed",
        goods="cotton lint",
        quantity=200,
        price=price,
        delivery_place="Suzhou",
        delivery_date=date(2027, 1, 15),
        trade_method="CIF",
        transport_method="rail",
        payment_terms=terms,
        breach_and_claims="survey report within the notice period",
    )
    run("sign", by="buyer", actor=buyer)
    run("sign", by="seller", actor=seller)
    run("complete_formalities", reference="licence")
    pay = {"bank": "ICBC", "amount": price * 200, "reference": "P", "actor": buyer}
    if terms == "prepayment":
        run("pay", **pay)
    for trigger in ("stock_goods", "declare_customs", "insure", "obtain_certificates"):
        run(trigger, reference=trigger)
    run("hand_to_carrier", carrier="China Railway", bill_of_lading="BL")
    if terms == "against_documents":
        run("pay", **pay)
    run("receive", by="buyer", actor=buyer)
    if terms == "on_delivery":
        run("pay", **pay)
    run("issue_bank_documents", reference="documents")
    run("complete")
    if rng.random() < 0.2:
        run(
            "file_claim",
            actor=buyer,
            by="buyer",
            reason="wet bales",
            amount=Money(20000, "CNY"),
            evidence="survey photos",
        )
        run("survey", surveyor="CCIC", findings="water damage")
        run("settle_claim", payout=Money(rng.randint(1, 20) * 1000, "CNY"))
    else:
        run("close")
    return repo.load(tx_id)


_BUYER, _SELLER = "Suzhou Textile Mill", "Xinjiang Cotton Cooperative"
_PRICE = Money("15500", "CNY")

SAMPLE = Sample(
    start={"buyer": _BUYER, "seller": _SELLER},
    steps=[
        ("prepare", {"by": "buyer", "note": "compared three cotton suppliers' catalogues"}),
        ("inquire", {"by": "buyer", "goods": "cotton lint", "note": "price for 200 t, CIF?"}),
        (
            "offer",
            {
                "by": "seller",
                "goods": "cotton lint",
                "quantity": 200,
                "price": Money("15800", "CNY"),
                "firm": True,
            },
        ),
        ("arrive", {}),
        (
            "counter_offer",
            {"by": "buyer", "goods": "cotton lint", "quantity": 200, "price": _PRICE},
        ),
        ("arrive", {}),
        (
            "accept",
            {
                "actor": _SELLER,
                "by": "seller",
                "goods": "cotton lint",
                "quantity": 200,
                "price": _PRICE,
            },
        ),
        (
            "draw_up",
            {
                "rights_and_obligations": "seller delivers conforming goods; buyer pays",
                "goods": "cotton lint",
                "quantity": 200,
                "price": _PRICE,
                "delivery_place": "Suzhou",
                "delivery_date": date(2027, 1, 15),
                "trade_method": "CIF Suzhou",
                "transport_method": "rail",
                "payment_terms": "against_documents",
                "breach_and_claims": "claims with a survey report within the notice period",
            },
        ),
        ("sign", {"by": "buyer", "actor": _BUYER}),
        ("sign", {"by": "seller", "actor": _SELLER}),
        ("complete_formalities", {"reference": "export licence XJ-2026-42"}),
        ("stock_goods", {"reference": "warehouse receipt W-88"}),
        ("declare_customs", {"reference": "declaration 2026-XJ-7781"}),
        ("insure", {"reference": "PICC cargo policy 55-0192"}),
        ("obtain_certificates", {"reference": "quality and origin certificates"}),
        ("hand_to_carrier", {"carrier": "China Railway Express", "bill_of_lading": "CR-7731"}),
        (
            "pay",
            {
                "actor": _BUYER,
                "bank": "ICBC Suzhou",
                "amount": Money("3100000", "CNY"),
                "reference": "against documents, L/C 20261124",
            },
        ),
        ("track", {"reference": "passed Lanzhou"}),
        ("receive", {"by": "buyer", "actor": _BUYER}),
        ("issue_bank_documents", {"reference": "settlement advice and payment receipt"}),
        ("complete", {}),
        (
            "file_claim",
            {
                "actor": _BUYER,
                "by": "buyer",
                "reason": "12 bales arrived wet",
                "amount": Money("50000", "CNY"),
                "evidence": "arrival survey photos",
            },
        ),
        ("survey", {"surveyor": "CCIC Suzhou", "findings": "water damage in one wagon"}),
        ("settle_claim", {"payout": Money("30000", "CNY")}),
    ],
    scenario=scenario,
)
"""The B2B demo (all four phases, a counter-offer and a claim) and its random scenario."""
