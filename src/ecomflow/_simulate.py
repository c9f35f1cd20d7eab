"""Random, valid transactions for ``ecomflow simulate``: declines, cancellations, retries."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from ._events import Event
from ._flow import Transaction
from ._money import Money
from .flows.exchange import Exchange
from .store import Repository

__all__ = ["SCENARIOS"]

Scenario = Callable[[random.Random, Repository, str], Transaction[Any]]

_NAMES = ["Li Lei", "Han Meimei", "Wang Fang", "Zhang Wei", "Liu Yang", "Chen Jie"]
_GOODS = ["green tea", "silk scarf", "electric kettle", "rice cooker", "porcelain bowl"]


def _runner(repo: Repository, tx_id: str) -> Callable[..., tuple[Event, ...]]:
    def run(trigger: str, **payload: Any) -> tuple[Event, ...]:
        return repo.execute(tx_id, trigger, **payload)

    return run


def _price(rng: random.Random, low: int = 5, high: int = 500) -> Money:
    return Money(Decimal(rng.randint(low * 100, high * 100)).scaleb(-2), "CNY")


def _direct_sale(rng: random.Random, repo: Repository, tx_id: str) -> Transaction[Any]:
    repo.start("direct-sale", tx_id, merchant="Hangzhou Tea House")
    quantity, unit = rng.randint(1, 5), _price(rng)
    run = _runner(repo, tx_id)
    run(
        "fill_order",
        customer_name=rng.choice(_NAMES),
        address="Beijing",
        quantity=quantity,
        goods_name=rng.choice(_GOODS),
        specification="standard",
        unit_price=unit,
    )
    if rng.random() < 0.05:
        run("cancel", reason="changed my mind")
        return repo.load(tx_id)
    cod = rng.random() < 0.2
    methods = ["credit_card", "debit_card", "electronic_money", "electronic_cheque"]
    run("choose_payment", method="cash_on_delivery" if cod else rng.choice(methods))
    if not cod:
        while rng.random() < 0.15:  # declined: choose again and retry
            run("decline_payment", reason="insufficient funds")
            run("choose_payment", method=rng.choice(methods))
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


def _operation(rng: random.Random, repo: Repository, tx_id: str) -> Transaction[Any]:
    repo.start("operation", tx_id, merchant="Ningbo Appliance Works")
    quantity, unit = rng.randint(1, 5), _price(rng)
    run = _runner(repo, tx_id)
    run(
        "place_order",
        customer=rng.choice(_NAMES),
        address="Shanghai",
        quantity=quantity,
        goods_name=rng.choice(_GOODS),
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


def _intermediary(rng: random.Random, repo: Repository, tx_id: str) -> Transaction[Any]:
    exchange = Exchange(
        f"exchange-{tx_id}", designated_banks=["Bank of China"], fee_rate=Decimal("0.005")
    )
    ask = _price(rng, 2, 5)
    exchange.post_supply(
        "Jiaxing Rice Farm", goods="rice", quantity=rng.randint(10, 900), price=ask
    )
    (trade,) = exchange.post_demand(
        "Suzhou Flour Mill", goods="rice", price=ask, quantity=rng.randint(1, 10)
    )
    repo.add(trade)
    repo.store.append("exchange", exchange.events, -1)
    repo.bus.publish(exchange.events)  # stored beside the repository: tell its subscribers
    run = _runner(repo, trade.id)
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


def _b2b(rng: random.Random, repo: Repository, tx_id: str) -> Transaction[Any]:
    buyer, seller = "Suzhou Textile Mill", "Xinjiang Cotton Co-op"
    repo.start("b2b", tx_id, buyer=buyer, seller=seller)
    run = _runner(repo, tx_id)
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


SCENARIOS: dict[str, Scenario] = {
    "direct-sale": _direct_sale,
    "operation": _operation,
    "intermediary": _intermediary,
    "b2b": _b2b,
}
"""A random, valid transaction per flow, driven through a repository."""
