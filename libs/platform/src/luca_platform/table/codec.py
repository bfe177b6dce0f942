"""The table's wire format: DynamoDB's typed JSON in and out, and the one timestamp format stored."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    """Typed JSON for DynamoDB; ``None`` values are left out (absent, not NULL)."""
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def from_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> datetime:
    # The stored form is always what timestamp() writes: ISO 8601 in UTC with a trailing Z.
    return datetime.fromisoformat(value).astimezone(UTC)
