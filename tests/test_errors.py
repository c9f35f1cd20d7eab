"""The error hierarchy: one root, public names in tracebacks, details that survive pickling."""

import pickle
import traceback

import pytest

import ecomflow
from ecomflow import (
    ConcurrencyConflict,
    CorruptHistory,
    EcomflowError,
    GuardRejected,
    IdempotencyMismatch,
    InvalidDefinition,
    InvalidPayload,
    StoreError,
    StoreUnavailable,
    SubscriberError,
    TransitionNotAllowed,
    UnknownFlowVersion,
)

ERRORS = [
    ConcurrencyConflict,
    CorruptHistory,
    GuardRejected,
    IdempotencyMismatch,
    InvalidDefinition,
    InvalidPayload,
    StoreError,
    StoreUnavailable,
    SubscriberError,
    TransitionNotAllowed,
    UnknownFlowVersion,
]


@pytest.mark.parametrize("kind", ERRORS, ids=lambda k: k.__name__)
def test_every_error_has_one_root_and_a_public_name(kind):
    assert issubclass(kind, EcomflowError)
    assert kind.__module__ == "ecomflow"
    assert getattr(ecomflow, kind.__name__) is kind


def test_the_store_errors_are_store_errors():
    for kind in (ConcurrencyConflict, CorruptHistory, StoreUnavailable, UnknownFlowVersion):
        assert issubclass(kind, StoreError)


def test_invalid_definition_is_also_a_type_error():
    assert issubclass(InvalidDefinition, TypeError)
    assert issubclass(InvalidPayload, ValueError)


def test_a_traceback_names_the_public_class():
    from ecomflow import FLOWS

    tx = FLOWS["direct-sale"].start("E-1", merchant="Tea House")
    with pytest.raises(TransitionNotAllowed) as caught:
        tx.fire("settle", statement_ref="S")
    text = "".join(traceback.format_exception(caught.value))
    assert "ecomflow.TransitionNotAllowed: Cannot settle transaction 'E-1'" in text
    assert "ecomflow._errors" not in text


@pytest.mark.parametrize(
    "error",
    [
        TransitionNotAllowed("no", trigger="t", state="s", allowed=["a"]),
        GuardRejected("no", trigger="t", state="s", reasons=[("g", "why")]),
        IdempotencyMismatch("no", key="k", first_use={"tx_id": "A"}, attempt={"tx_id": "B"}),
        CorruptHistory("bad", tx_id="A", position="3:0"),
        UnknownFlowVersion("new", tx_id="A", position="3:0", flow_version=3, known=2),
        SubscriberError("sub", errors=[ValueError("x")]),
        StoreUnavailable("down"),
        InvalidPayload("bad"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_pickling_with_their_details(error):
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)
    public = {k: v for k, v in vars(error).items() if not k.startswith("_") and k != "transaction"}
    for name, value in public.items():
        if name == "errors":
            assert [repr(e) for e in getattr(again, name)] == [repr(e) for e in value]
        else:
            assert getattr(again, name) == value, name
