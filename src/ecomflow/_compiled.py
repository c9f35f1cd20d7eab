"""Each transition's fire, written out as one Python function when its engine is built.

What :meth:`ecomflow._engine.Engine.fire` does for a transition is the same on every
fire: build the payload, read the clock, run the guards, the actor check and the
effect, record the events. Which of those a transition has (a payload, guards that
read the clock, optional events...) is known when the flow is defined, so, as attrs
writes an ``__init__`` per class, :func:`compile_run` writes a function per
transition with its guards, effect and events spelled out: no loop over guards or
events, no flag tested on every fire, constants in place. Every refusal calls back
into the engine, whose messages stay the only ones; and when a string in the event
data may not be stored, the engine's general :meth:`~ecomflow._engine.Engine._record`
is run to name the field, so the written-out events need no bookkeeping for that.

The function takes ``(tx_id, configuration, version, context, kwargs, clock, who)``
(``version`` is where the transaction stands) and returns ``(context, events)``, the
events a tuple.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from ._events import Event, _EventDraft, _new_object, utc_now
from ._frozen import ScannedDict
from ._graph import state_name
from ._sensitive import (
    _CLEAN_KEYS,
    _CLEAN_TEXTS,
    _FLAT,
    Refused,
    _check_keys,
    _check_new,
    _scan_nested,
)

__all__ = ["NO_DATA", "Run", "at_offsets", "compile_run"]

NO_DATA = ScannedDict()  # the data of an event that records none: read-only, so shared
_FIXED = (timezone, type(None))


def at_offsets(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``kwargs`` with every datetime in a named zone taken at its fixed offset."""
    return {name: _at_offset(item) for name, item in kwargs.items()}


def _at_offset(value: Any) -> Any:
    """Return an aware datetime in a named zone at its fixed offset; anything else as is."""
    if type(value) is datetime and type(value.tzinfo) not in _FIXED:
        offset = value.utcoffset()
        if offset is not None:
            return value.astimezone(timezone(offset))
    return value


Run = Callable[..., tuple[Any, tuple[Event, ...]]]

_EVENT_FIELDS = (  # slot <- expression, in the order Event declares them
    ("tx_id", "tx_id"),
    ("version", "version"),
    ("seq", "{seq}"),
    ("trigger", "TRIGGER"),
    ("stream", "STREAM_{i}"),
    ("name", "NAME_{i}"),
    ("data", "data_{i}"),
    ("occurred_at", "now"),
    ("actor", "actor"),
    ("causation_id", "causation_id"),
    ("correlation_id", "correlation_id"),
    ("flow_version", "FLOW_VERSION"),
)
_count = 0


def compile_run(engine: Any, step: Any) -> Run:
    """Return the function that fires ``step`` (an engine's compiled transition).

    ``engine`` is the :class:`~ecomflow._engine.Engine` whose helpers raise the
    refusals; ``step`` its ``_Step``.
    """
    global _count
    spec = step.spec
    trigger = spec.trigger
    namespace: dict[str, Any] = {
        "Event": Event,
        "Draft": _EventDraft,
        "new": _new_object,
        "datetime": datetime,
        "timezone": timezone,
        "utc_now": utc_now,
        "Refused": Refused,
        "ScannedDict": ScannedDict,
        "CLEAN_KEYS": _CLEAN_KEYS,
        "CLEAN": _CLEAN_TEXTS,
        "FLAT": _FLAT,
        "check_keys": _check_keys,
        "check_new": _check_new,
        "scan_nested": _scan_nested,
        "dict_update": dict.update,
        "NO_DATA": NO_DATA,
        "TRIGGER": trigger,
        "FLOW_VERSION": engine.definition.version,
        "Payload": step.payload,
        "dump": step.dump,
        "effect": step.effect,
    }
    namespace.update(_refusals(engine, step))
    lines: list[str] = []
    add = lines.append
    # -- the payload
    if step.payload is None:
        add("    if kwargs:")
        add("        refuse_fields(tx_id, configuration, kwargs)")
        add("    payload = None")
    else:
        if not step.binds_fields:  # its own __init__: the keys are checked first
            add("    check_fields(tx_id, configuration, kwargs)")
        if step.takes_times:
            add("    if datetime in map(type, kwargs.values()):")
            add("        kwargs = at_offsets(kwargs)")
        add("    try:")
        add("        payload = Payload(**kwargs)")
        add("    except Exception as error:")
        add("        refuse_payload(tx_id, configuration, kwargs, error)")
    # -- the clock
    add("    now = clock()")
    add("    if clock is not utc_now and (")  # the default clock gives UTC: nothing to check
    add("        type(now) is not datetime or type(now.tzinfo) is not timezone")
    add("    ):")
    add("        now = checked_now(tx_id, configuration, now, clock)")
    # -- the guards, each once; the engine names every reason when one refuses
    if step.guards:
        tests = []
        for index, (check, uses_clock) in enumerate(step.guards):
            namespace[f"guard_{index}"] = check
            arguments = "context, payload, now" if uses_clock else "context, payload"
            tests.append(f"guard_{index}({arguments}) is not None")
        add(f"    if {' or '.join(tests)}:")
        add("        refuse_guards(tx_id, configuration, context, payload, now, kwargs)")
    if spec.requires_actor:
        add("    check_actor(tx_id, configuration, context, payload, who[0])")
    elif spec.actor_check is not None:
        add("    if who[0] is not None:")
        add("        check_actor(tx_id, configuration, context, payload, who[0])")
    # -- the effect
    if step.effect is None:
        add("    new_context = context")
    elif step.effect_uses_clock:
        add("    new_context = effect(context, payload, now)")
    else:
        add("    new_context = effect(context, payload)")
    # -- the events
    add("    actor, causation_id, correlation_id = who")
    add("    version += 1")
    add("    try:")
    _events(step, namespace, add)
    add("    except Refused:")
    add("        refuse_data(tx_id, configuration, version, new_context, payload, now, who)")
    source = "def run(tx_id, configuration, version, context, kwargs, clock, who):\n"
    source += "\n".join(lines) + "\n    return new_context, events\n"
    _count += 1
    filename = f"<ecomflow compiled {engine.definition.name}.{trigger} #{_count}>"
    # Kept where tracebacks and debuggers look for a file's lines, as attrs does.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    run: Run = namespace["run"]
    run.__qualname__ = f"{engine.definition.name}.{trigger}"
    return run


def _events(step: Any, namespace: dict[str, Any], add: Callable[[str], None]) -> None:
    """Write the code recording ``step``'s events into ``events`` (inside the ``try``)."""
    has_payload = step.payload is not None
    fixed: list[str] = []  # the events always recorded, before the first optional one
    seq: str | None = None  # the name of the running count, once an event is optional
    for index, (when, data_of, stream, name) in enumerate(step.emits):
        namespace[f"STREAM_{index}"] = stream
        namespace[f"NAME_{index}"] = name
        namespace[f"data_of_{index}"] = data_of
        namespace[f"when_{index}"] = when
        indent = "        "
        if when is not None:
            if seq is None:
                add(f"        events = [{', '.join(fixed)}]")
                add(f"        seq = {len(fixed)}")
                seq = "seq"
            add(f"        if when_{index}(new_context, payload):")
            indent += "    "
        # The first event (never optional) records the payload, which wins over derived
        # keys; later ones record derived data alone. Each is scanned as it is frozen.
        data = f"data_{index}"
        if index == 0 and has_payload and data_of is None:
            add(f"{indent}{data} = dump(payload)")
            _scan(data, "ScannedDict", indent, add)
        elif index == 0 and has_payload:
            add(f"{indent}{data} = ScannedDict(data_of_{index}(new_context, payload))")
            add(f"{indent}dict_update({data}, dump(payload))")
            _scan(data, None, indent, add)
        elif data_of is None:
            add(f"{indent}{data} = NO_DATA")
        else:
            add(f"{indent}{data} = data_of_{index}(new_context, payload)")
            add(f"{indent}if type({data}) is not ScannedDict:  # scanned when it was made")
            _scan(data, "ScannedDict", indent + "    ", add)
        add(f"{indent}event_{index} = new(Draft)")
        for slot, expression in _EVENT_FIELDS:
            value = expression.format(i=index, seq=seq or len(fixed))
            add(f"{indent}event_{index}.{slot} = {value}")
        add(f"{indent}event_{index}.__class__ = Event")
        if seq is None:
            fixed.append(f"event_{index}")
        else:
            add(f"{indent}events.append(event_{index})")
            add(f"{indent}seq += 1")
    if seq is None:
        add(f"        events = ({', '.join(fixed)},)")
    else:
        add("        events = tuple(events)")


def _scan(data: str, cls: str | None, indent: str, add: Callable[[str], None]) -> None:
    """Write :func:`ecomflow._sensitive.scan_dict` of the variable ``data``, inline.

    ``cls`` names the class the data is frozen as; ``None``: it is a fresh ScannedDict,
    completed in place. The common case (flat data, known keys and strings) runs no call.
    """
    add(f"{indent}if not {data}.keys() <= CLEAN_KEYS:")
    add(f"{indent}    check_keys({data})")
    add(f"{indent}for value in {data}.values():")
    add(f"{indent}    if type(value) is str:")
    add(f"{indent}        if value not in CLEAN:")
    add(f"{indent}            check_new(value)")
    add(f"{indent}    elif type(value) not in FLAT:")
    add(f"{indent}        {data} = scan_nested({data}, {cls})")
    add(f"{indent}        break")
    if cls is not None:
        add(f"{indent}else:")
        add(f"{indent}    {data} = {cls}({data})")


def _refusals(engine: Any, step: Any) -> dict[str, Callable[..., Any]]:
    """Return the slow paths a compiled fire calls: each raises the engine's own refusal."""
    spec = step.spec
    trigger = spec.trigger

    def subject(tx_id: str, configuration: Any) -> tuple[str, str, str]:
        return (trigger, tx_id, state_name(configuration))

    def refuse_fields(tx_id: str, configuration: Any, kwargs: Mapping[str, Any]) -> None:
        engine._build(subject(tx_id, configuration), step.accepted, step.required, spec, kwargs)

    def check_fields(tx_id: str, configuration: Any, kwargs: Mapping[str, Any]) -> None:
        engine._check_fields(step, trigger, tx_id, configuration, kwargs)

    def refuse_payload(
        tx_id: str, configuration: Any, kwargs: Mapping[str, Any], error: Exception
    ) -> None:
        # An unknown or missing field is named first (attrs' __init__ refused the call
        # before running anything); then the payload's own refusal.
        engine._check_fields(step, trigger, tx_id, configuration, kwargs)
        engine._refuse_payload(subject(tx_id, configuration), kwargs, error)

    def checked_now(tx_id: str, configuration: Any, now: object, clock: Any) -> datetime:
        checked: datetime = engine._checked_now(subject(tx_id, configuration), now, clock)
        return checked

    def refuse_guards(
        tx_id: str,
        configuration: Any,
        context: Any,
        payload: Any,
        now: datetime,
        kwargs: Mapping[str, Any],
    ) -> None:
        engine._check_guards(spec, context, payload, subject(tx_id, configuration), now, kwargs)

    def check_actor(
        tx_id: str, configuration: Any, context: Any, payload: Any, actor: str | None
    ) -> None:
        engine._check_actor(spec, context, payload, subject(tx_id, configuration), actor)

    def refuse_data(
        tx_id: str,
        configuration: Any,
        version: int,
        context: Any,
        payload: Any,
        now: datetime,
        who: tuple[str | None, str | None, str | None],
    ) -> None:
        engine._refuse_data(step, tx_id, version, context, payload, now, who, configuration)

    return {
        "refuse_fields": refuse_fields,
        "check_fields": check_fields,
        "refuse_payload": refuse_payload,
        "checked_now": checked_now,
        "refuse_guards": refuse_guards,
        "check_actor": check_actor,
        "refuse_data": refuse_data,
        "at_offsets": at_offsets,
    }
