"""The errors ecomflow raises.

Every error derives from :class:`EcomflowError`::

    EcomflowError
    ├── InvalidDefinition        a flow definition is wrong (raised when it is built)
    ├── TransitionNotAllowed     the trigger does not exist from the current state
    ├── GuardRejected            the trigger exists but one or more guards refuse
    ├── InvalidPayload           bad input (also a ValueError)
    ├── SubscriberError          a subscriber failed after a transition was applied
    └── StoreError               the event store failed
        └── ConcurrencyConflict  the expected version is stale

A message is one plain sentence naming the transaction, the state, the bad value
and what is allowed. After any error raised by a transition, the transaction is
exactly as it was before: same state, same version, same events.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConcurrencyConflict",
    "EcomflowError",
    "GuardRejected",
    "InvalidDefinition",
    "InvalidPayload",
    "StoreError",
    "SubscriberError",
    "TransitionNotAllowed",
]


class EcomflowError(Exception):
    """The root of every error ecomflow raises."""


class InvalidDefinition(EcomflowError):
    """A flow definition is inconsistent; raised when the definition is built."""


class TransitionNotAllowed(EcomflowError):
    """The trigger does not exist from the transaction's current state.

    ``trigger`` is what was fired, ``state`` the state it was fired in and
    ``allowed`` the triggers defined from that state.
    """

    def __init__(self, message: str, *, trigger: str, state: str, allowed: Sequence[str]) -> None:
        super().__init__(message)
        self.trigger = trigger
        self.state = state
        self.allowed: tuple[str, ...] = tuple(allowed)


class GuardRejected(EcomflowError):
    """The trigger exists from this state, but its guards refuse it.

    ``reasons`` holds one ``(guard_name, reason)`` pair for every guard that refused.
    """

    def __init__(
        self,
        message: str,
        *,
        trigger: str,
        state: str,
        reasons: Sequence[tuple[str, str]],
    ) -> None:
        super().__init__(message)
        self.trigger = trigger
        self.state = state
        self.reasons: tuple[tuple[str, str], ...] = tuple(reasons)


class InvalidPayload(EcomflowError, ValueError):
    """Bad input: a missing or unknown field, a wrong type, float money, a card number."""


class SubscriberError(EcomflowError):
    """One or more subscribers raised while events were delivered.

    The transition that produced the events *was* applied; ``errors`` holds each
    failing handler's exception, in delivery order, and ``transaction`` the
    transaction concerned (useful when :meth:`Flow.start` raised it).
    """

    def __init__(
        self, message: str, *, errors: Sequence[BaseException], transaction: object = None
    ) -> None:
        super().__init__(message)
        self.errors: tuple[BaseException, ...] = tuple(errors)
        self.transaction = transaction


class StoreError(EcomflowError):
    """The event store could not do what was asked."""


class ConcurrencyConflict(StoreError):
    """Another writer appended to the transaction first: the expected version is stale."""
