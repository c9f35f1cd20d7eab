import pytest

from ecomflow import Emit, InvalidDefinition, Label, State, Stream, Transition
from tests.toy import definition

L = Label("x", "x")


def test_a_valid_definition_builds():
    d = definition()
    assert d.initial == "a"
    assert d.state("b").label.zh == "乙"
    with pytest.raises(KeyError):
        d.state("nope")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"states": []}, "it has no states"),
        (
            {"states": [State("a", L), State("a", L), State("done", L, terminal=True)]},
            "named twice",
        ),
        ({"states": [State("a b", L)]}, "not a Python identifier"),
        (
            {"transitions": [Transition("go", "a", "nowhere", L, emits=[Emit(Stream.MONEY, "x")])]},
            "unknown state 'nowhere'",
        ),
        (
            {"transitions": [Transition("go", "zz", "done", L, emits=[Emit(Stream.MONEY, "x")])]},
            "unknown state 'zz'",
        ),
        (
            {
                "transitions": [
                    Transition("go", "a", "b", L, emits=[Emit(Stream.MONEY, "x")]),
                    Transition("go", "a", "done", L, emits=[Emit(Stream.MONEY, "x")]),
                    Transition("end", "b", "done", L, emits=[Emit(Stream.MONEY, "x")]),
                ],
                "refusals": {},
            },
            "'go' is ambiguous from state 'a'",
        ),
        (
            {
                "transitions": [Transition("go", "a", "done", L, emits=[Emit(Stream.MONEY, "x")])],
                "refusals": {},
            },
            "state 'b' is not terminal and has no way out",
        ),
        (
            {
                "states": [
                    State("a", L),
                    State("b", L),
                    State("done", L, terminal=True),
                    State("island", L, terminal=True),
                ],
                "transitions": [
                    Transition("go", "a", "b", L, emits=[Emit(Stream.MONEY, "x")]),
                    Transition("finish", "b", "done", L, emits=[Emit(Stream.MONEY, "x")]),
                ],
            },
            "['island'] cannot be reached",
        ),
        (
            {
                "transitions": [
                    Transition("go", "a", "b", L, emits=[Emit(Stream.MONEY, "x")]),
                    Transition("finish", "b", "done", L, emits=[Emit(Stream.MONEY, "x")]),
                    Transition("again", "done", "a", L, emits=[Emit(Stream.MONEY, "x")]),
                ],
            },
            "terminal state 'done' has a way out",
        ),
        (
            {
                "transitions": [
                    Transition("go", "a", "b", L, emits=[]),
                    Transition("finish", "b", "done", L, emits=[Emit(Stream.MONEY, "x")]),
                ]
            },
            "emits no event",
        ),
        (
            {
                "transitions": [
                    Transition(
                        "go", "a", "b", L, emits=[Emit(Stream.MONEY, "x", when=lambda c, p: True)]
                    ),
                    Transition("finish", "b", "done", L, emits=[Emit(Stream.MONEY, "x")]),
                ]
            },
            "cannot be conditional",
        ),
        ({"refusals": {"fly": {"a": "no wings"}}}, "unknown trigger 'fly'"),
        ({"refusals": {"finish": {"zz": "?"}}}, "unknown state 'zz'"),
        ({"refusals": {"finish": {"b": "?"}}}, "where it is allowed"),
        (
            {
                "transitions": [
                    Transition("begin", "a", "b", L, emits=[Emit(Stream.MONEY, "x")]),
                    Transition("finish", "b", "done", L, emits=[Emit(Stream.MONEY, "x")]),
                ]
            },
            "reserved for the start",
        ),
        (
            {
                "transitions": [
                    Transition("go-on", "a", "b", L, emits=[Emit(Stream.MONEY, "x")]),
                    Transition("finish", "b", "done", L, emits=[Emit(Stream.MONEY, "x")]),
                ]
            },
            "'go-on' is not a Python identifier",
        ),
        (
            {
                "transitions": [
                    Transition("go", "a", "b", L, payload=dict, emits=[Emit(Stream.MONEY, "x")]),
                    Transition("finish", "b", "done", L, emits=[Emit(Stream.MONEY, "x")]),
                ]
            },
            "is not an attrs class",
        ),
    ],
)
def test_a_wrong_definition_is_refused_when_built(overrides, message):
    with pytest.raises(InvalidDefinition) as info:
        definition(**overrides)
    assert message in str(info.value)
    assert str(info.value).startswith("Flow 'toy' is invalid: ")
