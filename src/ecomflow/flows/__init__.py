"""The documented flows, by name.

>>> sorted(FLOWS)
['b2b', 'direct-sale', 'intermediary', 'operation']
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .._flow import Flow
from .b2b import FLOW as B2B
from .direct_sale import FLOW as DIRECT_SALE
from .exchange import Exchange, MarketInfo
from .intermediary import FLOW as INTERMEDIARY
from .operation import FLOW as OPERATION

__all__ = [
    "B2B",
    "DIRECT_SALE",
    "FLOWS",
    "INTERMEDIARY",
    "OPERATION",
    "Exchange",
    "Flow",
    "MarketInfo",
]

FLOWS: Mapping[str, Flow[Any]] = MappingProxyType(
    {flow.name: flow for flow in (B2B, DIRECT_SALE, INTERMEDIARY, OPERATION)}
)
"""Every flow ecomflow ships, by name (read-only)."""
