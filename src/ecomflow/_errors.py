"""The errors ecomflow raises.

Every error derives from :class:`EcomflowError`::

    EcomflowError
    ├── InvalidDefinition        a flow definition is wrong (at build time; also a TypeError)
    ├── TransitionNotAllowed     the trigger does not exist from the current state
    ├── GuardRejected            the trigger exists but one or more guards refuse
    ├── InvalidPayload           bad input (also a ValueError)
    ├── IdempotencyMismatch      an idempotency key was reused for a different request
    ├── SubscriberError          a subscriber failed after a transition was applied
    ├── NoSample                 a flow has no sample to demonstrate or simulate (a LookupError)
    ├── GraphvizError            Graphviz could not draw a picture (also an OSError)
    │   └── GraphvizNotFound     Graphviz's ``dot`` is not installed
    └── StoreError               the event store failed
        ├── ConcurrencyConflict  the expected version is stale
        ├── CorruptHistory       stored events are not a history the flow could have written
        │   └── UnknownFlowVersion   an event was written by a newer version of the flow
        └── StoreUnavailable     the database cannot be reached, even after one retry

A message is one plain sentence naming the transaction, the state, the bad value
and what is allowed. After any error raised by a transition, the transaction is
exactly as it was before: same state, same version, same events.

``str(error)`` is the English message; an error a person meets (a refusal, a trigger
that is not a step from here, bad input, a store that cannot be opened or written) also
carries the Chinese one, ``error.zh``, and
``error.message_in("zh")`` picks it (the English one when there is none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ConcurrencyConflict",
    "CorruptHistory",
    "EcomflowError",
    "GuardRejected",
    "IdempotencyMismatch",
    "InvalidDefinition",
    "InvalidPayload",
    "NoSample",
    "StoreError",
    "StoreUnavailable",
    "SubscriberError",
    "TransitionNotAllowed",
    "UnknownFlowVersion",
]


class EcomflowError(Exception):
    """The root of every error ecomflow raises.

    ``zh`` is the message in Chinese when the error has one (else ``None``).
    """

    _details: Mapping[str, object] = {}
    zh: str | None = None

    def __init__(self, *args: object, zh: str | None = None) -> None:
        super().__init__(*args)
        if zh is not None:
            self.zh = zh

    def message_in(self, lang: str = "en") -> str:
        """Return the message in ``lang`` (``"en"`` or ``"zh"``); English when no Chinese."""
        if lang == "zh" and self.zh is not None:
            return self.zh
        return str(self)

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only details (and the Chinese message) survive pickling
        # (multiprocessing, task queues).
        details = dict(self._details)
        if self.zh is not None:
            details["zh"] = self.zh
        return (_rebuild, (type(self), self.args, details))


def _rebuild(
    kind: type[EcomflowError], args: tuple[object, ...], details: Mapping[str, Any]
) -> EcomflowError:
    return kind(*args, **details)


class InvalidDefinition(EcomflowError, TypeError):
    """A flow definition is inconsistent; raised when the definition is built.

    It is also a :class:`TypeError`: a wrong definition is a programming error, like
    calling a function with the wrong arguments.
    """


class TransitionNotAllowed(EcomflowError):
    """The trigger does not exist from the transaction's current state.

    ``trigger`` is what was fired, ``state`` the state it was fired in and
    ``allowed`` the triggers defined from that state.
    """

    def __init__(
        self,
        message: str,
        *,
        trigger: str,
        state: str,
        allowed: Sequence[str],
        zh: str | None = None,
    ) -> None:
        super().__init__(message, zh=zh)
        self.trigger = trigger
        self.state = state
        self.allowed: tuple[str, ...] = tuple(allowed)
        self._details = {"trigger": trigger, "state": state, "allowed": self.allowed}


class GuardRejected(EcomflowError):
    """The trigger exists from this state, but its guards refuse it.

    ``reasons`` holds one ``(guard_name, reason)`` pair for every guard that refused;
    each reason is an :class:`~ecomflow.Reason` (a ``str``, its English text, with
    ``.zh``), or a plain ``str`` from a guard that gives English only.
    :meth:`reasons_in` gives them in one language, :meth:`message_in` the message.
    """

    def __init__(
        self,
        message: str,
        *,
        trigger: str,
        state: str,
        reasons: Sequence[tuple[str, str]],
        zh: str | None = None,
    ) -> None:
        super().__init__(message, zh=zh)
        self.trigger = trigger
        self.state = state
        self.reasons: tuple[tuple[str, str], ...] = tuple(reasons)
        self._details = {"trigger": trigger, "state": state, "reasons": self.reasons}

    def reasons_in(self, lang: str = "en") -> tuple[tuple[str, str], ...]:
        """Return ``(guard_name, reason)`` pairs with each reason as text in ``lang``.

        A plain ``str`` reason (English only) is given as it is in either language.
        """
        return tuple((name, _text_in(reason, lang)) for name, reason in self.reasons)


class InvalidPayload(EcomflowError, ValueError):
    """Bad input: a missing or unknown field, a wrong type, float money, a card number."""


class IdempotencyMismatch(EcomflowError):
    """An idempotency key was already used for a different request.

    A key belongs to one request: one transaction, one trigger, one payload. ``key``
    is the key, ``first_use`` describes what it was first used for (``tx_id``,
    ``trigger`` and the payload's ``fingerprint``) and ``attempt`` the refused request
    in the same form. Nothing was applied.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str,
        first_use: Mapping[str, str],
        attempt: Mapping[str, str],
        zh: str | None = None,
    ) -> None:
        super().__init__(message, zh=zh)
        self.key = key
        self.first_use: Mapping[str, str] = dict(first_use)
        self.attempt: Mapping[str, str] = dict(attempt)
        self._details = {"key": key, "first_use": self.first_use, "attempt": self.attempt}


class SubscriberError(EcomflowError):
    """One or more subscribers raised while events were delivered.

    The transition that produced the events *was* applied; ``errors`` holds each
    failing handler's exception, in delivery order, and ``transaction`` the
    transaction concerned (useful when :meth:`Flow.start` raised it).
    """

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[BaseException],
        transaction: object = None,
        zh: str | None = None,
    ) -> None:
        super().__init__(message, zh=zh)
        self.errors: tuple[BaseException, ...] = tuple(errors)
        self.transaction = transaction
        self._details = {"errors": self.errors}  # the transaction stays behind


class NoSample(EcomflowError, LookupError):
    """A flow has no sample (``SAMPLE`` in its package): nothing to demonstrate or simulate."""

    def __init__(self, message: str, *, flow: str, zh: str | None = None) -> None:
        super().__init__(message, zh=zh)
        self.flow = flow
        self._details = {"flow": flow}


class StoreError(EcomflowError):
    """The event store could not do what was asked."""


class ConcurrencyConflict(StoreError):
    """Another writer appended to the transaction first: the expected version is stale."""


class CorruptHistory(StoreError):
    """Stored or given events are not a history the flow could have written.

    A transition missing one of its events, an event name or stream the flow does not
    know, a version gap, or a row that does not parse. ``tx_id`` names the transaction
    and ``position`` the first bad event (its version and seq as ``"v:s"``, or the
    store's position when known).
    """

    def __init__(
        self, message: str, *, tx_id: str, position: str | int, zh: str | None = None
    ) -> None:
        super().__init__(message, zh=zh)
        self.tx_id = tx_id
        self.position = position
        self._details = {"tx_id": tx_id, "position": position}


class UnknownFlowVersion(CorruptHistory):
    """An event was written by a newer version of its flow than the one loading it.

    ``tx_id`` and ``position`` name the first such event, as for :class:`CorruptHistory`;
    ``flow_version`` is the version that wrote it and ``known`` the newest version this
    process knows. Upgrade the code that defines the flow before loading it.
    """

    def __init__(
        self,
        message: str,
        *,
        tx_id: str,
        position: str | int,
        flow_version: int,
        known: int,
        zh: str | None = None,
    ) -> None:
        super().__init__(message, tx_id=tx_id, position=position, zh=zh)
        self.flow_version = flow_version
        self.known = known
        self._details = {
            "tx_id": tx_id,
            "position": position,
            "flow_version": flow_version,
            "known": known,
        }


class StoreUnavailable(StoreError):
    """The database could not be reached, even after reconnecting and retrying once."""


def _text_in(reason: str, lang: str) -> str:
    """Return ``reason`` in ``lang``: the Chinese of a reason that has one, else the text."""
    zh = getattr(reason, "zh", None)
    if lang == "zh" and isinstance(zh, str):
        return zh
    return str(reason)


def subject_zh(trigger: str, tx_id: str, state: str, flow: str) -> str:
    """Return the start of a Chinese refusal message (as ``_subject`` does in English)."""
    if not state:
        return f"无法开始 {flow} 交易 {tx_id!r}"
    return f"无法对状态为 {state!r} 的交易 {tx_id!r} 执行 {trigger}"


def refusal_zh(subject: str, reasons: Sequence[tuple[str, str]]) -> str:
    """Return the Chinese message of a :class:`GuardRejected` beginning with ``subject``."""
    because = "；".join(f"{_text_in(reason, 'zh')}（{name}）" for name, reason in reasons)
    return f"{subject}：{because}。"
