"""intermediary — 网络商品中介交易: a trade through an exchange, seed sections 『壹』『贰』.

The flow's pages: :mod:`.definition` (the seed's text and the graph), :mod:`.terms`
(payloads, context, events), :mod:`.rules` (guards, event data, books, invariants),
:mod:`.exchange` (the exchange that matches postings into trades, an event-sourced
aggregate of its own) and :mod:`.sample` (what ``demo`` and ``simulate`` run). This module
re-exports their public names.
"""

from __future__ import annotations

from .definition import DEFINITION, FLOW, Intermediary
from .exchange import EXCHANGE, Exchange, MarketInfo, matched_within_posted
from .rules import (
    DESIGNATED_BANK,
    INVARIANTS,
    NOT_YET_SIGNED,
    PAYMENT_OVERDUE,
    PAYS_CONTRACT_VALUE,
    books,
    default_only_while_unpaid,
    exchange_is_not_a_party,
    goods_only_after_payment,
    paid_exactly_the_contract_value,
    paid_out_within_what_was_paid,
    settled_at_most_once,
    summary,
)
from .terms import (
    Decline,
    Default,
    Delivery,
    IntermediaryContext,
    Match,
    Party,
    Payment,
    Release,
    Settlement,
    Signature,
)

__all__ = [
    "DEFINITION",
    "DESIGNATED_BANK",
    "EXCHANGE",
    "FLOW",
    "INVARIANTS",
    "NOT_YET_SIGNED",
    "PAYMENT_OVERDUE",
    "PAYS_CONTRACT_VALUE",
    "Decline",
    "Default",
    "Delivery",
    "Exchange",
    "Intermediary",
    "IntermediaryContext",
    "MarketInfo",
    "Match",
    "Party",
    "Payment",
    "Release",
    "Settlement",
    "Signature",
    "books",
    "default_only_while_unpaid",
    "exchange_is_not_a_party",
    "goods_only_after_payment",
    "matched_within_posted",
    "paid_exactly_the_contract_value",
    "paid_out_within_what_was_paid",
    "settled_at_most_once",
    "summary",
]
