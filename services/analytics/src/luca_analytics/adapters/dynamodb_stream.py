"""A DynamoDB stream record as the pipeline takes it: typed JSON ``NewImage`` decoded to plain values.

Records come either from the Streams API (``get_records``, through boto3: ``ApproximateCreationDateTime``
is already a ``datetime``) or from a Lambda/Pipes event (the same shape, the time as epoch seconds).
Anything that is not a stream record raises ``UndecodableRecord``; the caller counts it and moves on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from luca_analytics.service_layer.pipeline import StreamChange

_deserializer = TypeDeserializer()


class UndecodableRecord(ValueError):
    """Not a stream record the pipeline can read; the message names what is wrong, never a value."""


def decode_record(record: Mapping[str, Any]) -> StreamChange:
    change = record.get("eventName")
    if not isinstance(change, str) or not change:
        raise UndecodableRecord("no eventName")
    stream = record.get("dynamodb")
    if not isinstance(stream, Mapping):
        raise UndecodableRecord("no dynamodb section")
    sequence = str(stream.get("SequenceNumber") or "")
    try:
        image = _image(stream.get("NewImage"))
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        raise UndecodableRecord(f"NewImage: {type(exc).__name__}") from exc
    return StreamChange(
        change=change,
        image=image,
        changed_at=_changed_at(stream.get("ApproximateCreationDateTime")),
        sequence_number=sequence,
    )


def _image(image: Any) -> dict[str, Any] | None:
    if image is None:
        return None
    if not isinstance(image, Mapping):
        raise TypeError("NewImage is not a map")
    return {name: _deserializer.deserialize(value) for name, value in image.items()}


def _changed_at(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC)
    raise UndecodableRecord("no ApproximateCreationDateTime")
