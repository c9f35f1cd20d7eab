"""returns — 退货: a flow plug-in for ecomflow: request, approve or reject, ship back, refund.

Laid out like a flow ecomflow ships: :mod:`.definition` (the graph first), :mod:`.terms`
(payloads, context, events), :mod:`.rules` (guards, event data, books, invariants) and
:mod:`.sample` (how to drive it). Installed, it is found under the ``ecomflow.flows``
entry point its ``pyproject.toml`` declares: ``FLOWS["returns"]``, ``ecomflow demo
returns``. This module only re-exports the public names.
"""

from __future__ import annotations

from .definition import DEFINITION, FLOW, Return
from .rules import INVARIANTS, QUANTITY_AS_REQUESTED, REFUND_WITHIN_PAID
from .terms import (
    Approval,
    Reason,
    Receipt,
    Refund,
    Rejection,
    ReturnCase,
    ReturnRequest,
    Shipment,
)

__all__ = [
    "DEFINITION",
    "FLOW",
    "INVARIANTS",
    "QUANTITY_AS_REQUESTED",
    "REFUND_WITHIN_PAID",
    "Approval",
    "Reason",
    "Receipt",
    "Refund",
    "Rejection",
    "Return",
    "ReturnCase",
    "ReturnRequest",
    "Shipment",
]
