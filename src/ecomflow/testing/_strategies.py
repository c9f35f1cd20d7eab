"""Strategies: valid payloads for any trigger, and runs of accepted steps."""

from __future__ import annotations

import enum
import typing
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import strategies as st

from .._definition import Transition
from .._errors import EcomflowError
from .._flow import Flow
from .._money import Money
from .._sensitive import looks_like_card_number
from ..fields import KIND

__all__ = ["actors", "payloads", "runs"]

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
    roles: list[str] = attrs.Factory(list)
    now: datetime | None = None


def _found_in(value: object, seen: _Seen, depth: int = 0, name: str = "") -> None:
    """Collect the Money values, names, counts and roles (enum values) reachable in a context.

    Guards often want one of them: the order total, a designated bank, the offeror,
    the agreed quantity. Values are also kept by the attribute name they were found under.
    """
    if name and isinstance(value, (Money, str, int)):
        same = seen.by_name.setdefault(name, [])
        if value not in same:
            same.append(value)
    role = value.value if isinstance(value, enum.Enum) else None
    if isinstance(role, str) and role not in seen.roles:
        seen.roles.append(role)  # a party's role: "buyer", "seller"
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


def _transition(flow: Flow[Any], trigger: str, state: str | None) -> Transition:
    """Return the transition ``trigger`` takes from ``state``, or the first one declared."""
    definition = flow.definition
    if trigger == definition.start.trigger:
        return definition.start
    if state is not None:
        try:
            return flow.engine.transition(state, trigger)
        except KeyError:
            pass
    candidates = [t for t in definition.transitions if t.trigger == trigger]
    if state is not None:
        candidates = [t for t in candidates if state in t.source] or candidates
    if not candidates:
        raise EcomflowError(f"The {flow.name} flow has no trigger {trigger!r}.")
    return candidates[0]


def _fit_to_store(name: str) -> bool:
    """Whether ``name`` may be stored as an actor (see ``Transaction.fire``)."""
    return (
        len(name.strip()) > 0
        and len(name) <= 200
        and "\x00" not in name
        and not (looks_like_card_number(name))
    )


def _names(context: object, payload: object) -> list[str]:
    """Names an actor may go by: the names in the context and the payload, and the roles."""
    seen = _Seen()
    _found_in(context, seen)
    _found_in(payload, seen)
    return [name for name in dict.fromkeys(seen.names + seen.roles) if _fit_to_store(name)]


def _accepts(transition: Transition, context: object, payload: object, actor: str) -> bool:
    """Whether ``transition``'s actor check lets ``actor`` fire it with ``payload``."""
    if transition.actor_check is None:
        return True
    try:
        return transition.actor_check(context, payload, actor) is None
    except Exception:  # the check assumes a state this context is not in
        return False


def actors(
    flow: Flow[Any],
    trigger: str,
    payload: Mapping[str, Any],
    *,
    context: object = None,
    state: str | None = None,
) -> tuple[list[str], list[str]]:
    """Return ``(valid, wrong)``: the names found that may fire ``trigger``, and the others.

    The names are those in ``context`` and ``payload`` (keyword arguments, as
    :func:`payloads` draws them), and the roles the payload names (``"buyer"``); the
    flow's own ``actor_check`` (see ``Transition``) sorts them. Without an actor check
    every name is valid.
    """
    transition = _transition(flow, trigger, state)
    fields = {key: value for key, value in payload.items() if key != "actor"}
    try:
        built = None if transition.payload is None else transition.payload(**fields)
    except Exception:  # not a valid payload: no actor can make it pass
        return [], []
    valid: list[str] = []
    wrong: list[str] = []
    for name in _names(context, built):
        (valid if _accepts(transition, context, built, name) else wrong).append(name)
    return valid, wrong


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

    When the transition requires an actor (``Transition(requires_actor=True)``), the
    arguments also hold ``actor``: one of the names found that the flow's actor check
    accepts (see :func:`actors`), else any text, which the check will then refuse.
    """
    transition = _transition(flow, trigger, state)
    payload = transition.payload
    if payload is None:
        drawn: st.SearchStrategy[dict[str, Any]] = st.just({})
    else:
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

        drawn = st.fixed_dictionaries(fields).filter(constructs)
    if not transition.requires_actor:
        return drawn

    def with_actor(kwargs: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        valid, _ = actors(flow, trigger, kwargs, context=context, state=state)
        actor = st.sampled_from(valid) if valid else _TEXT
        return actor.map(lambda name: {**kwargs, "actor": name})

    return drawn.flatmap(with_actor)


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
