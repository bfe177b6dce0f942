"""The table's wire format: DynamoDB's typed JSON in and out, and the one timestamp format stored.

The conversion is boto3's ``TypeSerializer``/``TypeDeserializer``, written out here because
importing ``boto3.dynamodb.types`` imports all of boto3 and s3transfer, which the Lambda functions
otherwise no longer load (``luca_platform.aws`` uses botocore). The rules are boto3's: numbers in
DynamoDB's decimal context, floats refused, sets by element type, ``None`` as NULL; except that
binary comes back as ``bytes`` rather than boto3's ``Binary`` wrapper (the table stores none).
``test_codec`` checks both directions against boto3.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from datetime import UTC, datetime
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's number range and precision; anything it would round or clamp is an error instead.
DYNAMODB_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)


def to_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    """Typed JSON for DynamoDB; ``None`` values are left out (absent, not NULL)."""
    return {k: serialize(v) for k, v in item.items() if v is not None}


def from_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: deserialize(v) for k, v in item.items()}


def serialize(value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value (boto3's ``TypeSerializer.serialize``)."""
    if isinstance(value, str):  # most attributes: checked first, it is a hot path
        return {"S": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if _is_number(value):
        return {"N": _number(value)}
    if isinstance(value, bytes | bytearray):
        return {"B": value}
    if isinstance(value, Set):
        # A set's type is its elements'; a mixed or empty-typed set falls through to the errors below.
        if all(_is_number(v) for v in value):
            return {"NS": [_number(v) for v in value]}
        if all(isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if all(isinstance(v, bytes | bytearray) for v in value):
            return {"BS": list(value)}
    if isinstance(value, Mapping):
        return {"M": {k: serialize(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f'Unsupported type "{type(value)}" for value "{value}"')


def deserialize(value: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value as Python (boto3's ``TypeDeserializer.deserialize``)."""
    if not value:
        raise TypeError("Value must be a nonempty dictionary whose key is a valid dynamodb type.")
    kind, data = next(iter(value.items()))
    match kind:
        case "S" | "BOOL" | "B":
            return data
        case "N":
            return DYNAMODB_CONTEXT.create_decimal(data)
        case "NULL":
            return None
        case "M":
            return {k: deserialize(v) for k, v in data.items()}
        case "L":
            return [deserialize(v) for v in data]
        case "SS" | "BS":
            return set(data)
        case "NS":
            return {DYNAMODB_CONTEXT.create_decimal(v) for v in data}
    raise TypeError(f"Dynamodb type {kind} is not supported")


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, (int, Decimal))


def _number(value: int | Decimal) -> str:
    number = str(DYNAMODB_CONTEXT.create_decimal(value))
    if number in ("Infinity", "NaN"):
        raise TypeError("Infinity and NaN not supported")
    return number


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime:
    # The stored form is always what timestamp() writes: ISO 8601 in UTC with a trailing Z.
    return datetime.fromisoformat(value).astimezone(UTC)
