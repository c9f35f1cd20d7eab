"""The documented flows, by name.

>>> sorted(FLOWS)
['direct-sale']
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .._flow import Flow
from .direct_sale import FLOW as DIRECT_SALE

__all__ = ["DIRECT_SALE", "FLOWS", "Flow"]

FLOWS: Mapping[str, Flow[Any]] = MappingProxyType({DIRECT_SALE.name: DIRECT_SALE})
"""Every flow ecomflow ships, by name (read-only)."""
