"""Chinese everywhere: every label and every refusal reason of a flow in English and Chinese.

:func:`bilingual_problems` lists what a flow shows a person in one language only (a state,
transition, guard or event label without Chinese, a ``refusals`` entry that is a plain
``str``); :func:`check_bilingual` raises ``AssertionError`` listing them, and the reasons
given to it that are not bilingual. :func:`provoke_refusals` fires every trigger of a
flow, at every step of some transactions, with payloads changed so that guards refuse,
and returns the reasons each guard gave: what a refusal test checks.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import attrs

from .._codec import structure
from .._definition import Label, Reason, State
from .._errors import EcomflowError, GuardRejected
from .._events import Event
from .._flow import Flow, Transaction
from .._money import Money
from ._clock import ManualClock

__all__ = ["bilingual_problems", "check_bilingual", "is_bilingual", "provoke_refusals"]

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATER = timedelta(days=3 * 366)
"""How far the clock is moved to make a time limit pass (CISG's notice period is two years)."""


def is_bilingual(text: object) -> bool:
    """Whether ``text`` is a :class:`~ecomflow.Label` or :class:`~ecomflow.Reason` in both.

    Both: a non-empty English text, and a Chinese one with at least one Chinese character.
    """
    if isinstance(text, (Label, Reason)):
        en, zh = (text.en, text.zh)
        return bool(en.strip()) and bool(_HAN.search(zh))
    return False


def _states(states: Iterable[State]) -> Iterable[State]:
    for state in states:
        yield state
        yield from _states(state.children)


def bilingual_problems(flow: Flow[Any]) -> list[str]:
    """Return one line for each text of ``flow`` a person sees in one language only.

    The flow's title, every state, transition, guard and event label, and every
    ``refusals`` reason (a :class:`~ecomflow.Reason`, not a plain ``str``).
    """
    definition = flow.definition
    found: list[str] = []

    def need(text: object, where: str) -> None:
        if not is_bilingual(text):
            found.append(f"{flow.name}: {where} is not in English and Chinese: {text!r}")

    need(definition.title, "the title")
    for state in _states(definition.states):
        need(state.label, f"state {state.name!r}")
    for transition in (definition.start, *definition.transitions):
        where = f"transition {transition.trigger!r}"
        need(transition.label, where)
        for guard in transition.guards:
            need(guard.label, f"guard {guard.name!r} of {where}")
        for emit in transition.emits:
            need(emit.label, f"event {emit.name!r} of {where}")
    for trigger, reasons in definition.refusals.items():
        for source, why in reasons.items():
            need(why, f"the refusal of {trigger!r} from {source!r}")
    return list(dict.fromkeys(found))  # a guard shared by transitions: once


def check_bilingual(flow: Flow[Any], reasons: Mapping[str, Sequence[str]] | None = None) -> None:
    """Raise ``AssertionError`` listing what ``flow`` shows in one language only.

    ``reasons`` (e.g. from :func:`provoke_refusals`: guard name to the reasons it gave)
    are checked too: each must be a :class:`~ecomflow.Reason` with Chinese text. A guard
    that returns a plain ``str`` is accepted by the engine as English only; here it fails.

    >>> from ecomflow import FLOWS
    >>> check_bilingual(FLOWS["direct-sale"])
    """
    problems = bilingual_problems(flow)
    for guard, given in (reasons or {}).items():
        for reason in dict.fromkeys(given):
            if not is_bilingual(reason):
                problems.append(
                    f"{flow.name}: guard {guard!r} refused in English only: {str(reason)!r} "
                    "(return ecomflow.Reason(english, chinese))"
                )
    if problems:
        raise AssertionError("\n".join(problems))


def provoke_refusals(
    flow: Flow[Any], transactions: Iterable[Transaction[Any]]
) -> dict[str, list[str]]:
    """Make ``flow``'s guards refuse; return the reasons given, by guard name (and ``"actor"``).

    At every version of every transaction given (rebuilt from its events), every trigger
    defined from there is fired on a copy with each payload the transactions recorded for
    it, as recorded and changed one field at a time (money off by one or in another
    currency, a name replaced by another name the transaction knows, an enum by its other
    members, a number by the next one, a time ten years off, ``actor`` left out or
    someone else), now and three years later. The start is tried the same way. Nothing
    given is changed.
    """
    history = [list(tx.events) for tx in transactions]
    known = _borrowed(flow, _recorded_kwargs(flow, history))
    names: list[Any] = [*_names(history), *_times(history)]
    found: dict[str, list[str]] = {}

    def note(error: GuardRejected) -> None:
        for guard, reason in error.reasons:
            given = found.setdefault(guard, [])
            if reason not in given:
                given.append(reason)

    for kwargs in known.get(flow.definition.start.trigger, []):
        for variant in _variants(kwargs, names, known):
            try:
                flow.start("bilingual-probe", **variant)
            except GuardRejected as error:
                note(error)
            except EcomflowError:
                pass
    for events in history:
        versions = sorted({event.version for event in events})
        for version in versions:
            tx = flow.replay([event for event in events if event.version <= version])
            now = events[-1].occurred_at if events else None
            clocks = [] if now is None else [ManualClock(now), ManualClock(now + _LATER)]
            for trigger in flow.engine.triggers_from(tx._state):
                for kwargs in known.get(trigger, []):
                    for variant in _variants(kwargs, names, known):
                        for clock in clocks:
                            try:
                                tx._fork(clock).fire(trigger, **variant)
                            except GuardRejected as error:
                                note(error)
                            except EcomflowError:
                                pass
    return found


def _recorded_kwargs(
    flow: Flow[Any], history: Sequence[Sequence[Event]]
) -> dict[str, list[dict[str, Any]]]:
    """Return the keyword arguments each trigger was fired with, from its first events."""
    specs = {t.trigger: t for t in (flow.definition.start, *flow.definition.transitions)}
    found: dict[str, list[dict[str, Any]]] = {}
    for events in history:
        seen: set[int] = set()
        for event in events:
            if event.version in seen or event.trigger not in specs:
                continue
            seen.add(event.version)
            spec = specs[event.trigger]
            kwargs: dict[str, Any] = {}
            if spec.payload is not None:
                fields = attrs.fields(spec.payload)
                accepted = {field.name for field in fields}
                data = {key: value for key, value in event.data.items() if key in accepted}
                try:
                    payload = structure(data, spec.payload)
                except Exception:  # a payload the event does not hold whole
                    continue
                kwargs = {field.name: getattr(payload, field.name) for field in fields}
            if event.actor is not None:
                kwargs["actor"] = event.actor
            if kwargs not in found.setdefault(event.trigger, []):
                found[event.trigger].append(kwargs)
    return found


def _borrowed(
    flow: Flow[Any], known: Mapping[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Give a trigger never fired the payloads recorded for another with the same payload."""
    by_payload: dict[object, list[dict[str, Any]]] = {}
    transitions = (flow.definition.start, *flow.definition.transitions)
    for transition in transitions:
        for kwargs in known.get(transition.trigger, []):
            by_payload.setdefault(transition.payload, []).append(kwargs)
    found = dict(known)
    for transition in transitions:
        if transition.trigger not in found:
            if transition.payload is None:
                found[transition.trigger] = [{}]
            elif transition.payload in by_payload:
                found[transition.trigger] = by_payload[transition.payload]
    return found


def _times(history: Sequence[Sequence[Event]]) -> list[datetime]:
    """Return a day before and a day after each transaction's last event."""
    day = timedelta(days=1)
    ends = [events[-1].occurred_at for events in history if events]
    return [moment for end in ends for moment in (end - day, end + day)]


def _names(history: Sequence[Sequence[Event]]) -> list[str]:
    """Return the short texts the transactions' events name (parties, roles, banks)."""
    names: dict[str, None] = {}
    for events in history:
        for event in events:
            if event.actor is not None:
                names[event.actor] = None
            for value in event.data.values():
                if isinstance(value, str) and len(value) <= 40:
                    names[value] = None
    return list(names)


def _variants(
    kwargs: Mapping[str, Any],
    names: Sequence[str],
    known: Mapping[str, Sequence[Mapping[str, Any]]],
) -> Iterable[dict[str, Any]]:
    """Yield ``kwargs`` as recorded, then with one field changed at a time."""
    yield dict(kwargs)
    monies = [
        value
        for recorded in known.values()
        for one in recorded
        for value in one.values()
        if isinstance(value, Money)
    ]
    for key, value in kwargs.items():
        for other in _others(key, value, names, monies):
            yield {**kwargs, key: other}
        if key == "actor":
            yield {name: item for name, item in kwargs.items() if name != "actor"}


def _others(key: str, value: Any, names: Sequence[Any], monies: Sequence[Money]) -> list[Any]:
    """Return values that ``value`` of field ``key`` may be replaced by to provoke a guard."""
    if isinstance(value, Money):
        return [
            Money(value.amount + 1, value.currency),
            Money(value.amount, "EUR" if value.currency != "EUR" else "USD"),
            *monies,
        ]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, enum.Enum):
        return [member for member in type(value) if member is not value]
    if isinstance(value, int):
        return [value + 1, value * 2]
    if isinstance(value, datetime):
        return [value - timedelta(days=3650), value + timedelta(days=3650)]
    if isinstance(value, date):
        return [value - timedelta(days=3650)]
    if isinstance(value, str):
        texts = [name for name in names if isinstance(name, str) and name != value]
        return [*texts, "someone else"]
    if value is None:
        return [*monies[:3], *names[:3], *(t for t in names if isinstance(t, datetime))]
    return []
