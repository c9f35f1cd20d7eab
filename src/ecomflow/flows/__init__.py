"""The documented flows, by name, and the registry that finds installed ones.

>>> sorted(FLOWS)
['b2b', 'direct-sale', 'intermediary', 'operation']
"""

from __future__ import annotations

from .._flow import Flow
from ._registry import (
    ENTRY_POINT_GROUP,
    FLOWS,
    DemoStep,
    PluginWarning,
    Registry,
    Sample,
    Scenario,
    sample_of,
)
from .b2b import FLOW as B2B
from .direct_sale import FLOW as DIRECT_SALE
from .exchange import Exchange, MarketInfo
from .intermediary import EXCHANGE
from .intermediary import FLOW as INTERMEDIARY
from .operation import FLOW as OPERATION

__all__ = [
    "B2B",
    "DIRECT_SALE",
    "ENTRY_POINT_GROUP",
    "EXCHANGE",
    "FLOWS",
    "INTERMEDIARY",
    "OPERATION",
    "DemoStep",
    "Exchange",
    "Flow",
    "MarketInfo",
    "PluginWarning",
    "Registry",
    "Sample",
    "Scenario",
    "sample_of",
]
