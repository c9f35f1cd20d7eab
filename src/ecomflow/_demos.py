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
}
"""Per flow: the start payload and the steps of a sample transaction."""
