"""Strategies: valid payloads for any trigger, and runs of accepted steps."""

from __future__ import annotations

import typing
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import strategies as st

from .._errors import EcomflowError
from .._fields import KIND
from .._flow import Flow
from .._money import Money
from .._sensitive import looks_like_card_number

__all__ = ["payloads", "runs"]

_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=24
).filter(lambda s: bool(s.strip()) and not looks_like_card_number(s))
_CENTS = st.integers(0, 10_000_000).map(lambda c: Decimal(c).scaleb(-2))


def _money(minimum: Decimal | None, seen: list[Money]) -> st.SearchStrategy[Money]:
    low = minimum if minimum is not None else Decimal(0)
    fresh = _CENTS.filter(lambda d: d >= low).map(lambda d: Money(d, "CNY"))
    usable = [m for m in seen if minimum is None or m.amount >= minimum]
    return st.one_of(st.sampled_from(usable), fresh) if usable else fresh


def _by_type(kind: Any) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return st.booleans()
    if kind is datetime:
        return st.datetimes(timezones=st.just(timezone.utc))
    if kind is date:
        return st.dates()
    if kind is Decimal:
        return st.decimals(0, Decimal("0.1"), places=4)
    if kind is str:
        return _TEXT
    if origin is tuple and args and args[-1] is Ellipsis:
        return st.lists(_by_type(args[0]), min_size=1, max_size=3).map(tuple)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        options = [a for a in args if a is not type(None)]
        return st.one_of(st.none(), *(_by_type(a) for a in options))
    return st.from_type(kind)


def _field(field: attrs.Attribute[Any], seen: list[Money]) -> st.SearchStrategy[Any]:
    kind, option = field.metadata.get(KIND, (None, None))
    if kind == "text":
        return _TEXT.filter(lambda s: len(s) <= option)
    if kind == "optional_text":
        return st.none() | _TEXT
    if kind == "positive_int":
        return st.integers(1, 1000)
    if kind == "decimal":
        return _CENTS.filter(lambda d: option is None or d >= option)
    if kind == "money":
        return _money(option, seen)
    if kind == "optional_money":
        return st.none() | _money(option, seen)
    if kind == "choice":
        return st.sampled_from(list(option))
    return _by_type(field.type)


def _money_in(value: object, depth: int = 0) -> list[Money]:
    """Money values reachable in a context: guards often want one of them."""
    if isinstance(value, Money):
        return [value]
    if depth > 3 or value is None or not attrs.has(type(value)):
        return []
    found: list[Money] = []
    for name in dir(type(value)):
        if name.startswith("_"):
            continue
        try:
            item = getattr(value, name)
        except Exception:  # a property that does not hold in this state
            continue
        if not callable(item):
            found.extend(_money_in(item, depth + 1))
    return found


def payloads(
    flow: Flow[Any], trigger: str, *, context: object = None, state: str | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Strategy for keyword arguments that pass ``trigger``'s payload validation.

    Guards may still refuse them. With ``context`` (a transaction's context), Money
    fields also try the amounts found in it, so "the amount equals the total" guards
    can pass. ``state`` picks the transition when a trigger has several payload types.
    """
    definition = flow.definition
    candidates = [t for t in definition.transitions if t.trigger == trigger]
    if trigger == definition.start.trigger:
        candidates = [definition.start]
    if state is not None:
        candidates = [t for t in candidates if state in t.source] or candidates
    if not candidates:
        raise EcomflowError(f"The {flow.name} flow has no trigger {trigger!r}.")
    payload = candidates[0].payload
    if payload is None:
        return st.just({})
    attrs.resolve_types(payload)
    seen = _money_in(context)
    fields = {f.alias: _field(f, seen) for f in attrs.fields(payload)}

    def constructs(kwargs: dict[str, Any]) -> bool:
        try:  # checks across fields (a buyer is not the seller) must pass too
            payload(**kwargs)
        except (TypeError, ValueError):
            return False
        return True

    return st.fixed_dictionaries(fields).filter(constructs)


@st.composite
def runs(draw: st.DrawFn, flow: Flow[Any], max_steps: int = 12) -> list[tuple[str, dict[str, Any]]]:
    """Strategy for a run: ``(trigger, payload)`` steps, each accepted from the start.

    The first step is the start (``(flow.definition.start.trigger, context)``); each next
    step is drawn among the triggers allowed then, retried a few times when guards refuse.
    """
    start = draw(payloads(flow, flow.definition.start.trigger))
    tx = flow.start("run", **start)
    steps = [(flow.definition.start.trigger, start)]
    for _ in range(draw(st.integers(0, max_steps))):
        allowed = tx.allowed_triggers()
        if not allowed:
            break
        trigger = draw(st.sampled_from(allowed))
        for _attempt in range(5):
            payload = draw(payloads(flow, trigger, context=tx.context))
            try:
                tx.fire(trigger, **payload)
            except EcomflowError:
                continue
            steps.append((trigger, payload))
            break
    return steps
