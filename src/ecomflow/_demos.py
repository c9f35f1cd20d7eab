"""Sample transactions the command line walks through, one script per flow."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ._events import Event
from ._money import Money
from ._transaction import Transaction
from .flows import FLOWS
from .flows.exchange import Exchange

__all__ = ["DEMOS", "DemoStep", "start_demo"]

DemoStep = tuple[str, Mapping[str, Any]]
"""A trigger and its payload."""


def _exchange_start() -> tuple[Transaction[Any], Sequence[Event]]:
    """Post supply and demand on an exchange; return the first trade and the exchange's events."""
    exchange = Exchange(
        "Hangzhou Grain Exchange",
        designated_banks=("Industrial and Commercial Bank of China", "Bank of China"),
        fee_rate=Decimal("0.005"),
    )
    price = Money("3.20", "CNY")
    exchange.post_supply("Jiaxing Rice Farm", goods="japonica rice", quantity=800, price=price)
    bid = Money("3.25", "CNY")
    trades = exchange.post_demand(
        "Suzhou Flour Mill", goods="japonica rice", quantity=500, price=bid
    )
    return trades[0], exchange.events


DEMOS: Mapping[str, tuple[Mapping[str, Any] | Callable[[], Any], tuple[DemoStep, ...]]] = {
    "direct-sale": (
        {"merchant": "Hangzhou Tea House", "page": "https://shop.example/tea/longjing"},
        (
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
            (
                "approve_payment",
                {"amount": Money("176.00", "CNY"), "reference": "AUTH-20261124-01"},
            ),
            ("dispatch", {"carrier": "SF Express", "tracking_ref": "SF1234567890"}),
            ("deliver", {"received_by": "Li Lei"}),
            ("settle", {"statement_ref": "STMT-2026-11"}),
        ),
    ),
    "operation": (
        {"merchant": "Ningbo Appliance Works", "catalog": "https://works.example/kettles"},
        (
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
            (
                "settle",
                {
                    "institution": "Bank of Ningbo",
                    "amount": Money("387.00", "CNY"),
                    "reference": "EB-1",
                },
            ),
            ("notify_failure", {"channel": "email", "reason": "the bank gateway timed out"}),
            (
                "settle",
                {
                    "institution": "Bank of Ningbo",
                    "amount": Money("387.00", "CNY"),
                    "reference": "EB-2",
                },
            ),
            ("notify_success", {"channel": "email", "confirmation_ref": "OK-EB-2"}),
            ("deliver", {"carrier": "ZTO Express", "received_by": "Wang Fang"}),
        ),
    ),
    "intermediary": (
        _exchange_start,
        (
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
        ),
    ),
}
"""Per flow: the start (a payload, or a function that starts it) and the sample steps."""


def start_demo(name: str) -> tuple[Transaction[Any], Sequence[Event]]:
    """Start the sample transaction of flow ``name``; return it and any events before it."""
    start, _ = DEMOS[name]
    if callable(start):
        result: tuple[Transaction[Any], Sequence[Event]] = start()
        return result
    return FLOWS[name].start(f"{name}-demo-1", **start), ()
