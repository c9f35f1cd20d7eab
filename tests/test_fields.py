import enum
import functools

import attrs
import pytest

from ecomflow import InvalidPayload
from ecomflow.fields import choice, positive_int, replace


@attrs.frozen(slots=False)
class Plain:
    a: int
    b: str = "x"

    @functools.cached_property
    def doubled(self) -> int:
        return self.a * 2


@attrs.frozen
class Checked:
    a: int = attrs.field(validator=attrs.validators.ge(0))
    b: str = "x"


@pytest.mark.parametrize("cls", [Plain, Checked])
def test_replace_equals_evolve(cls):
    obj = cls(1, "y")
    assert replace(obj, a=5) == attrs.evolve(obj, a=5) == cls(5, "y")
    assert replace(obj) == obj and replace(obj) is not obj
    assert obj == cls(1, "y")  # unchanged


def test_replace_does_not_copy_cached_values():
    obj = Plain(2)
    assert obj.doubled == 4
    assert replace(obj, a=3).doubled == 6


def test_replace_keeps_validation_where_the_class_has_it():
    with pytest.raises(ValueError, match="'a' must be >= 0"):
        replace(Checked(1), a=-1)


def test_replace_refuses_unknown_fields():
    with pytest.raises(TypeError, match=r"Plain has no field\(s\) \['c'\]"):
        replace(Plain(1), c=2)


def test_the_frozen_copy_stays_frozen():
    copy = replace(Plain(1), a=2)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        copy.a = 3  # type: ignore[misc]


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Form:
    n: int = positive_int()
    colour: Colour = choice(Colour)


def test_field_helpers_raise_invalid_payload_naming_the_field():
    assert Form(1, "red").colour is Colour.RED
    assert Form(1, Colour.BLUE).colour is Colour.BLUE
    with pytest.raises(InvalidPayload, match=r"n must be a positive integer \(got 0\)"):
        Form(0, "red")
    with pytest.raises(InvalidPayload, match="colour 'green' is not one of 'red', 'blue'"):
        Form(1, "green")


def test_replace_copies_a_slotted_class_field_by_field_and_recomputes_cached_properties():
    @attrs.frozen
    class Context:
        count: int
        tags: tuple[str, ...] = ()

        @functools.cached_property
        def double(self) -> int:
            return self.count * 2

    first = Context(1, ("a",))
    assert first.double == 2 and not hasattr(first, "__dict__")
    second = replace(first, count=5)
    assert second == Context(5, ("a",)) and second.tags is first.tags
    assert second.double == 10 and first.double == 2  # the cache is not copied


def test_replace_rebuilds_a_slotted_class_with_checks_through_its_init():
    @attrs.frozen
    class Payload:
        quantity: int = positive_int()

    with pytest.raises(InvalidPayload, match="quantity"):
        replace(Payload(2), quantity=0)


def test_replace_copies_a_dict_based_context_whole_but_never_a_stale_cached_property():
    @attrs.frozen(slots=False)
    class Context:
        count: int
        tags: tuple[str, ...] = ()

    @attrs.frozen(slots=False)
    class Cached:
        count: int

        @functools.cached_property
        def double(self) -> int:
            return self.count * 2

    first = Context(1, ("a",))
    assert replace(first, count=2) == Context(2, ("a",)) and first == Context(1, ("a",))
    with pytest.raises(TypeError, match="has no field"):
        replace(first, colour="red")
    cached = Cached(1)
    assert cached.double == 2
    assert replace(cached, count=5).double == 10  # the cached 2 was not copied along
