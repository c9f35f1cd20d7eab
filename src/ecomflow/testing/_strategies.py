"""Strategies: valid payloads for any trigger, and runs of accepted steps."""

from __future__ import annotations

import typing
from datetime import date, datetime, timedelta, timezone
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
    return _mostly(usable, fresh)


def _usually(
    likely: st.SearchStrategy[Any], rest: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Draw from ``likely`` three times in four, else from ``rest``."""
    return st.integers(0, 3).flatmap(lambda i: rest if i == 0 else likely)


def _mostly(known: list[Any], fresh: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Three draws in four from ``known`` values (a guard likely wants one), else fresh."""
    return _usually(st.sampled_from(known), fresh) if known else fresh


def _near(now: datetime | None) -> st.SearchStrategy[datetime]:
    """Instants mostly from a month before ``now`` to a year after it, else anywhere."""
    anywhere = st.datetimes(timezones=st.just(timezone.utc))
    if now is None:
        return anywhere
    soon = st.timedeltas(timedelta(days=-30), timedelta(days=365)).map(lambda d: now + d)
    return _usually(soon, anywhere)


def _by_type(kind: Any, now: datetime | None = None) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return st.booleans()
    if kind is datetime:
        return _near(now)
    if kind is date:
        return _near(now).map(lambda moment: moment.date())
    if kind is Decimal:
        return st.decimals(0, Decimal("0.1"), places=4)
    if kind is str:
        return _TEXT
    if origin is tuple and args and args[-1] is Ellipsis:
        return st.lists(_by_type(args[0], now), min_size=1, max_size=3).map(tuple)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        options = [a for a in args if a is not type(None)]
        return st.one_of(st.none(), *(_by_type(a, now) for a in options))
    return st.from_type(kind)


def _field(field: attrs.Attribute[Any], seen: _Seen) -> st.SearchStrategy[Any]:
    strategy = _field_by_kind(field, seen)
    same_name = seen.by_name.get(field.name)
    # A field named like a value of the context (goods, quantity, price) most often wants it.
    return _mostly(same_name, strategy) if same_name else strategy


def _field_by_kind(field: attrs.Attribute[Any], seen: _Seen) -> st.SearchStrategy[Any]:
    kind, option = field.metadata.get(KIND, (None, None))
    if kind == "text":
        return _mostly(seen.names, _TEXT).filter(lambda s: len(s) <= option)
    if kind == "optional_text":
        return st.none() | _mostly(seen.names, _TEXT)
    if kind == "positive_int":
        return _mostly(seen.counts, st.integers(1, 1000))
    if kind == "decimal":
        return _CENTS.filter(lambda d: option is None or d >= option)
    if kind == "money":
        return _money(option, seen.money)
    if kind == "optional_money":
        return st.none() | _money(option, seen.money)
    if kind == "choice":
        return st.sampled_from(list(option))
    return _by_type(field.type, seen.now)


@attrs.define
class _Seen:
    """Values found in a context: guards often want one of them back."""

    money: list[Money] = attrs.Factory(list)
    names: list[str] = attrs.Factory(list)
    counts: list[int] = attrs.Factory(list)
    by_name: dict[str, list[Any]] = attrs.Factory(dict)
    now: datetime | None = None


def _found_in(value: object, seen: _Seen, depth: int = 0, name: str = "") -> None:
    """Collect the Money values, names and counts reachable in a context.

    Guards often want one of them: the order total, a designated bank, the offeror,
    the agreed quantity. Values are also kept by the attribute name they were found under.
    """
    if name and isinstance(value, (Money, str, int)):
        same = seen.by_name.setdefault(name, [])
        if value not in same:
            same.append(value)
    if isinstance(value, Money):
        seen.money.append(value)
    elif isinstance(value, str):
        if value.strip() and value not in seen.names:
            seen.names.append(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        if value > 0 and value not in seen.counts:
            seen.counts.append(value)
    elif isinstance(value, tuple) and depth <= 3:
        for item in value:
            _found_in(item, seen, depth + 1, name)
    elif depth <= 3 and value is not None and attrs.has(type(value)):
        kind = type(value)
        fields = [f.name for f in attrs.fields(kind)]  # type: ignore[arg-type]
        for attribute in fields + [n for n in dir(kind) if n not in fields]:
            if attribute.startswith("_"):
                continue
            try:
                item = getattr(value, attribute)
            except Exception:  # a property that does not hold in this state
                continue
            if not callable(item):
                _found_in(item, seen, depth + 1, attribute)


def payloads(
    flow: Flow[Any],
    trigger: str,
    *,
    context: object = None,
    state: str | None = None,
    now: datetime | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Strategy for keyword arguments that pass ``trigger``'s payload validation.

    Guards may still refuse them. With ``context`` (a transaction's context), Money
    fields also try the amounts found in it and text fields the names found in it, so
    guards such as "the amount equals the total" or "a designated bank" can pass.
    ``state`` picks the transition when a trigger has several payload types. With ``now``
    (the transaction's clock), dates and times fall mostly within a year of it, so that
    validity periods and notice periods can both hold and lapse.
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
    seen = _Seen(now=now)
    _found_in(context, seen)
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
