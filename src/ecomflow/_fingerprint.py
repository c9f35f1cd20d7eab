"""Fingerprints of requests: what an idempotency key is bound to besides its transaction.

A request is a trigger and its keyword payload. Its fingerprint is the SHA-256 of the
canonical JSON (sorted keys, no spaces) of the payload built through the flow's payload
class for that trigger and unstructured by the codec, so a default given or omitted is
the same request, ``Money("10", "CNY")`` and ``Money("10.0", "CNY")`` are not, and the
fingerprint does not depend on the transaction's current state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs

from ._codec import structure, unstructure
from ._events import Event
from ._flow import Flow

__all__ = ["fingerprint", "recorded_fingerprint"]

_UNBUILT = "unbuilt:"


def _payload_class(flow: Flow[Any], trigger: str) -> type[Any] | bool | None:
    """Return the payload class of ``trigger`` in ``flow``; ``False`` when it is ambiguous."""
    classes = {t.payload for t in flow.definition.transitions if t.trigger == trigger}
    if len(classes) != 1:
        return False  # an unknown trigger, or transitions that disagree on their payload
    return classes.pop()


def _digest(data: object) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(flow: Flow[Any] | None, trigger: str, payload: Mapping[str, Any]) -> str:
    """Return the fingerprint of ``payload`` for ``trigger`` in ``flow``.

    A payload that does not build (the command will be refused anyway), an unknown
    flow or an unknown trigger gets a fingerprint of its raw values, marked so that it
    never equals the fingerprint of a payload that built.
    """
    cls = _payload_class(flow, trigger) if flow is not None else False
    if cls is None:
        return _digest({}) if not payload else _UNBUILT + _digest(_raw(payload))
    if cls is not False:
        try:
            built = cls(**payload)  # type: ignore[operator]
        except Exception:
            pass
        else:
            return _digest(unstructure(built))
    return _UNBUILT + _digest(_raw(payload))


def _raw(payload: Mapping[str, Any]) -> object:
    try:
        return unstructure(dict(payload))
    except Exception:
        return repr(sorted(payload.items(), key=lambda item: item[0]))


def recorded_fingerprint(flow: Flow[Any], event: Event) -> str:
    """Return the fingerprint of the request that recorded ``event`` (a transition's first).

    For keys stored before fingerprints were: the first event of a transition records
    its payload (which wins over any derived key), so the payload is rebuilt from it.
    """
    cls = _payload_class(flow, event.trigger)
    if cls is None:
        return _digest({})
    if cls is False or not isinstance(cls, type):
        return ""
    names = {field.alias for field in attrs.fields(cls)}
    try:
        built = structure({k: v for k, v in event.data.items() if k in names}, cls)
    except Exception:
        return ""
    return _digest(unstructure(built))
