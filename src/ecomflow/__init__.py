"""ecomflow: e-commerce transaction processes as guarded state machines.

Each documented process (see :data:`ecomflow.flows.FLOWS`) is a :class:`Flow` whose
transactions record what happens as :class:`Event` objects in the four streams of
:class:`Stream` — information 信息流, commerce 商流, money 资金流, logistics 物流.

This module is the table of contents of the public API.
"""

from ._board import Board
from ._bus import EventBus, Handler, Subscription
from ._deadlines import CLOCK_ACTOR, Deadline, armed_deadlines, fire_due
from ._definition import (
    Emit,
    EventType,
    FlowDefinition,
    Guard,
    Label,
    Reason,
    State,
    Transition,
)
from ._diagram import Diagram, GraphvizError, GraphvizNotFound
from ._errors import (
    ConcurrencyConflict,
    CorruptHistory,
    EcomflowError,
    GuardRejected,
    IdempotencyMismatch,
    InvalidDefinition,
    InvalidPayload,
    NoSample,
    StoreError,
    StoreUnavailable,
    SubscriberError,
    TransitionNotAllowed,
    UnknownFlowVersion,
)
from ._events import Clock, Event, Stream, utc_now
from ._flow import Edge, Flow, Transaction, trigger
from ._money import Money
from ._public import publish as _publish
from ._sensitive import looks_like_card_number
from .flows import FLOWS

__all__ = [
    "CLOCK_ACTOR",
    "FLOWS",
    "Board",
    "Clock",
    "ConcurrencyConflict",
    "CorruptHistory",
    "Deadline",
    "Diagram",
    "EcomflowError",
    "Edge",
    "Emit",
    "Event",
    "EventBus",
    "EventType",
    "Flow",
    "FlowDefinition",
    "GraphvizError",
    "GraphvizNotFound",
    "Guard",
    "GuardRejected",
    "Handler",
    "IdempotencyMismatch",
    "InvalidDefinition",
    "InvalidPayload",
    "Label",
    "Money",
    "NoSample",
    "Reason",
    "State",
    "StoreError",
    "StoreUnavailable",
    "Stream",
    "SubscriberError",
    "Subscription",
    "Transaction",
    "Transition",
    "TransitionNotAllowed",
    "UnknownFlowVersion",
    "__version__",
    "armed_deadlines",
    "fire_due",
    "looks_like_card_number",
    "trigger",
    "utc_now",
]

__version__ = "0.1.0.dev0"


_publish(globals(), __name__, __all__)
