"""Moved: the exchange lives in :mod:`ecomflow.flows.intermediary.exchange`; re-exported here."""

from __future__ import annotations

from .intermediary.exchange import EXCHANGE, Exchange, MarketInfo, Posting, Side

__all__ = ["EXCHANGE", "Exchange", "MarketInfo", "Posting", "Side"]
