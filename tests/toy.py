"""A tiny flow with no e-commerce words, to test the engine on its own."""

import attrs

from ecomflow import Emit, Flow, FlowDefinition, Guard, Label, State, Stream, Transition


@attrs.frozen
class Start:
    owner: str


@attrs.frozen
class Step:
    amount: int = attrs.field(validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)])


@attrs.frozen
class Ctx:
    owner: str
    total: int = 0


def _small(context, payload):
    return None if payload.amount <= 10 else f"amount {payload.amount} is over 10"


def _not_full(context, _):
    return None if context.total < 20 else "the total reached 20"


SMALL = Guard("small", _small, Label("small", "小"))
NOT_FULL = Guard("not_full", _not_full, Label("not full", "未满"), uses_payload=False)


def definition(**overrides):
    fields = dict(
        name="toy",
        title=Label("Toy", "玩具"),
        source="tests",
        context_type=Ctx,
        states=[
            State("a", Label("A", "甲")),
            State("b", Label("B", "乙")),
            State("done", Label("done", "完"), terminal=True),
        ],
        start=Transition(
            "begin",
            (),
            "a",
            Label("begin", "开始"),
            payload=Start,
            effect=lambda _, p: Ctx(owner=p.owner),
            emits=[Emit(Stream.INFORMATION, "begun")],
        ),
        transitions=[
            Transition(
                "add",
                ("a", "b"),
                "b",
                Label("add", "加"),
                payload=Step,
                guards=[NOT_FULL, SMALL],
                effect=lambda c, p: attrs.evolve(c, total=c.total + p.amount),
                emits=[
                    Emit(Stream.MONEY, "added", lambda c, p: {"total": c.total}),
                    Emit(Stream.LOGISTICS, "big", lambda c, p: {}, when=lambda c, p: p.amount > 5),
                ],
            ),
            Transition(
                "finish",
                "b",
                "done",
                Label("finish", "完成"),
                emits=[Emit(Stream.COMMERCE, "finished")],
            ),
        ],
        refusals={"finish": {"a": "nothing was added yet"}},
    )
    fields.update(overrides)
    return FlowDefinition(**fields)


TOY = Flow(definition())


@attrs.frozen
class Count:
    n: int = 0


@attrs.frozen
class Bump:
    by: str = "anyone"


COUNTER = Flow(
    FlowDefinition(
        name="counter",
        title=Label("Counter", "计数器"),
        source="tests",
        context_type=Count,
        states=[
            State("open", Label("open", "开")),
            State("shut", Label("shut", "关"), terminal=True),
        ],
        start=Transition(
            "begin",
            (),
            "open",
            Label("begin", "开始"),
            effect=lambda _, p: Count(),
            emits=[Emit(Stream.INFORMATION, "begun")],
        ),
        transitions=[
            Transition(
                "bump",
                "open",
                "open",
                Label("bump", "加一"),
                payload=Bump,
                effect=lambda c, p: Count(c.n + 1),
                emits=[
                    Emit(Stream.MONEY, "bumped"),
                    Emit(Stream.LOGISTICS, "echo", lambda c, p: {"n": c.n}),
                ],
            ),
            Transition(
                "shut", "open", "shut", Label("shut", "关闭"), emits=[Emit(Stream.COMMERCE, "shut")]
            ),
        ],
    )
)
