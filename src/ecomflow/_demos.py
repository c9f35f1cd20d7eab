"""Sample transactions the command line walks through, one script per flow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._money import Money

__all__ = ["DEMOS", "DemoStep"]

DemoStep = tuple[str, Mapping[str, Any]]
"""A trigger and its payload."""

DEMOS: Mapping[str, tuple[Mapping[str, Any], tuple[DemoStep, ...]]] = {
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
}
"""Per flow: the start payload and the steps of a sample transaction."""
