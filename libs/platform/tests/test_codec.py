"""The table codec converts exactly as boto3's TypeSerializer/TypeDeserializer, which it replaces
so that the Lambda functions need not import boto3 (and s3transfer) to read and write items."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from luca_platform.table.codec import deserialize, from_wire, serialize, to_wire

numbers = st.integers(min_value=-(10**37), max_value=10**37) | st.decimals(
    allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20), max_value=10**20
)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=8) | st.binary(max_size=8)
sets = (
    st.frozensets(numbers, min_size=1, max_size=4)
    | st.frozensets(st.text(max_size=4), min_size=1, max_size=4)
    | st.frozensets(st.binary(max_size=4), min_size=1, max_size=4)
)
values = st.recursive(
    scalars | sets,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


def unwrapped(value: Any) -> Any:
    """boto3's result with its ``Binary`` wrappers replaced by the bytes they hold."""
    if isinstance(value, Binary):
        return value.value
    if isinstance(value, set):
        return {unwrapped(v) for v in value}
    if isinstance(value, list):
        return [unwrapped(v) for v in value]
    if isinstance(value, dict):
        return {k: unwrapped(v) for k, v in value.items()}
    return value


def same_wire(ours: Any, theirs: Any) -> bool:
    """Equal, sets' element lists compared as sets (their order is the set's iteration order)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if ours.keys() != theirs.keys():
            return False
        return all(
            sorted(map(repr, ours[k])) == sorted(map(repr, theirs[k]))
            if k in ("NS", "SS", "BS")
            else same_wire(ours[k], theirs[k])
            for k in ours
        )
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(same_wire, ours, theirs))
    return bool(type(ours) is type(theirs) and ours == theirs)


@given(values)
def test_serializes_as_boto3(value: Any) -> None:
    assert same_wire(serialize(value), TypeSerializer().serialize(value))


@given(values)
def test_round_trips_as_boto3(value: Any) -> None:
    wire = TypeSerializer().serialize(value)
    ours, theirs = deserialize(wire), unwrapped(TypeDeserializer().deserialize(wire))
    assert exact(ours) == exact(theirs)


def exact(value: Any) -> Any:
    """A form that tells apart what ``==`` does not: 1 from True, Decimal("1.0") from Decimal("1")."""
    if isinstance(value, set):
        return ("set", sorted(map(repr, value)))
    if isinstance(value, list):
        return [exact(v) for v in value]
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    return repr(value)


def test_item_round_trip_leaves_out_none() -> None:
    item = {"pk": "SCHOOL#a#", "score": Decimal("6.50"), "count": 3, "tags": {"x", "y"}, "note": None}
    assert from_wire(to_wire(item)) == {k: v for k, v in item.items() if v is not None}
    assert to_wire(item)["score"] == {"N": "6.50"}


@pytest.mark.parametrize(
    "value", [1.5, Decimal("1e200"), Decimal("0.1234567890123456789012345678901234567891"), object(), {1.5}]
)
def test_refuses_what_boto3_refuses(value: Any) -> None:
    with pytest.raises((TypeError, ArithmeticError)) as theirs:  # decimal's traps are ArithmeticErrors
        TypeSerializer().serialize(value)
    with pytest.raises(type(theirs.value)):
        serialize(value)


@pytest.mark.parametrize("wire", [{}, {"X": 1}])
def test_refuses_unknown_wire_types(wire: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        deserialize(wire)
