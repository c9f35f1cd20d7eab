"""Sample transactions the command line walks through, one script per flow."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from ._events import Event
from ._flow import Transaction
from ._money import Money
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
    "b2b": (
        {"buyer": "Suzhou Textile Mill", "seller": "Xinjiang Cotton Cooperative"},
        (
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
                {
                    "by": "buyer",
                    "goods": "cotton lint",
                    "quantity": 200,
                    "price": Money("15500", "CNY"),
                },
            ),
            ("arrive", {}),
            (
                "accept",
                {
                    "actor": "Xinjiang Cotton Cooperative",
                    "by": "seller",
                    "goods": "cotton lint",
                    "quantity": 200,
                    "price": Money("15500", "CNY"),
                },
            ),
            (
                "draw_up",
                {
                    "rights_and_obligations": "seller delivers conforming goods; buyer pays",
                    "goods": "cotton lint",
                    "quantity": 200,
                    "price": Money("15500", "CNY"),
                    "delivery_place": "Suzhou",
                    "delivery_date": date(2027, 1, 15),
                    "trade_method": "CIF Suzhou",
                    "transport_method": "rail",
                    "payment_terms": "against_documents",
                    "breach_and_claims": "claims with a survey report within the notice period",
                },
            ),
            ("sign", {"by": "buyer", "actor": "Suzhou Textile Mill"}),
            ("sign", {"by": "seller", "actor": "Xinjiang Cotton Cooperative"}),
            ("complete_formalities", {"reference": "export licence XJ-2026-42"}),
            ("stock_goods", {"reference": "warehouse receipt W-88"}),
            ("declare_customs", {"reference": "declaration 2026-XJ-7781"}),
            ("insure", {"reference": "PICC cargo policy 55-0192"}),
            ("obtain_certificates", {"reference": "quality and origin certificates"}),
            ("hand_to_carrier", {"carrier": "China Railway Express", "bill_of_lading": "CR-7731"}),
            (
                "pay",
                {
                    "actor": "Suzhou Textile Mill",
                    "bank": "ICBC Suzhou",
                    "amount": Money("3100000", "CNY"),
                    "reference": "against documents, L/C 20261124",
                },
            ),
            ("track", {"reference": "passed Lanzhou"}),
            ("receive", {"by": "buyer", "actor": "Suzhou Textile Mill"}),
            ("issue_bank_documents", {"reference": "settlement advice and payment receipt"}),
            ("complete", {}),
            (
                "file_claim",
                {
                    "actor": "Suzhou Textile Mill",
                    "by": "buyer",
                    "reason": "12 bales arrived wet",
                    "amount": Money("50000", "CNY"),
                    "evidence": "arrival survey photos",
                },
            ),
            ("survey", {"surveyor": "CCIC Suzhou", "findings": "water damage in one wagon"}),
            ("settle_claim", {"payout": Money("30000", "CNY")}),
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
