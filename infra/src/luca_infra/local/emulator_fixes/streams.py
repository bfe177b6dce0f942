"""Local-only fix to moto's DynamoDB Streams for its hot path. Never part of anything deployed.

**direct-stream-records: every stream record goes through the generic serializer.** DynamoDB
Streams' GetRecords returns its records to moto's service-model serializer, which walks every
attribute value of every image through the model: about 2.5 ms per record served, so the local
lake pipeline read its stream at a few hundred records a second. ``direct-json-results`` (in
``dynamodb``) does not help: it covers the dynamodb service only, and every stream record holds a
datetime (``ApproximateCreationDateTime``). The fix writes GetRecords and DescribeStream responses
with ``json``, through a converter built once per operation from the same service model: members
in the model's order and ``None`` members left out as moto does, strings, booleans and longs as
they are, and timestamps through moto's own converter (epoch seconds: an int on a whole second,
else a float truncated to milliseconds, ``1714979289.123``). The body is byte for byte the one moto
writes, with the same status and content type. A value moto's serializer would change sends the
response through it as before: binary values (base64-encoded there), a member it would look up
under another name, any other type.

Measured against the emulator over HTTP (moto 5.2.5, as the SQS figures in ``sqs``): a table's
stream filled with 5,000 items of the grading service's evaluation shape (19 S and N attributes),
then read from TRIM_HORIZON with GetRecords, Limit=1000, three times per run, on a loaded machine:

| fixes in force                           | boto3 GetRecords      | plain HTTP and ``json.loads`` (the server's share) |
|------------------------------------------|----------------------:|---------------------------------------------------:|
| none (moto as installed)                 | 285-410 records/s     | 350-430 records/s                                  |
| all the others (dispatch, DynamoDB, SQS) | 290-390 records/s     | 480-520 records/s                                  |
| all (with direct stream JSON)            | 2,400-4,600 records/s | 5,500-9,900 records/s                              |

With the fix, boto3's own parsing of the records is most of what a read costs.

The scenario compares stream responses as written too, not only as boto3 parses them, with the
stream's clock pinned so that the timestamps in the bodies are the same from run to run.
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Callable
from typing import Any


class _Refused(Exception):
    """A value moto's serializer would not write as is: the response takes moto's own path."""


def _refuse(value: Any) -> Any:
    raise _Refused(type(value).__name__)


# What moto's JSON serializer writes unchanged, by model type (a bool is no long: int(True) is 1).
_WRITTEN_AS_IS: dict[str, type] = {"string": str, "boolean": bool, "long": int, "integer": int}


def _wire_converter(shape: Any, timestamp: Callable[[Any, Any], Any], known: dict[str, Any]) -> Any:
    """A function giving what moto's JSON serializer writes for a value of ``shape``, or raising.

    It accepts only what that serializer writes unchanged (exact ``str``, ``bool`` and ``int``
    values, lists, maps with non-empty string keys, dicts holding members of the model only), writes
    structure members in the model's order and leaves out ``None`` members as moto does, and
    converts timestamps with moto's own converter; anything else (bytes, other types, ``None`` in a
    list or map, a member moto would look up under another name) raises ``_Refused``.
    """
    identity = f"{shape.name}:{sorted(shape.serialization.items())!r}"
    if identity in known:
        return known[identity]
    if "name" in shape.serialization:  # written under another key than the member's
        known[identity] = _refuse
        return _refuse
    kind = shape.type_name
    exact = _WRITTEN_AS_IS.get(kind)
    if exact is not None:

        def scalar(value: Any) -> Any:
            if type(value) is not exact:
                raise _Refused(type(value).__name__)
            return value

        known[identity] = scalar
        return scalar
    if kind == "timestamp":

        def moment(value: Any) -> Any:
            if not isinstance(value, datetime.datetime):
                raise _Refused(type(value).__name__)
            return timestamp(value, shape)

        known[identity] = moment
        return moment
    if kind not in ("structure", "list", "map") or (kind == "structure" and shape.is_document_type):
        known[identity] = _refuse  # blobs (moto base64-encodes them), doubles, documents
        return _refuse
    # Lists, maps and structures can hold themselves (an attribute value's M and L): the member
    # converters are found through ``slot`` once they exist.
    slot: list[Callable[[Any], Any]] = []
    known[identity] = lambda value: slot[0](value)
    if kind == "list":
        item = _wire_converter(shape.member, timestamp, known)

        def sequence(value: Any) -> Any:
            if type(value) is not list:
                raise _Refused(type(value).__name__)
            return [item(entry) for entry in value]

        slot.append(sequence)
    elif kind == "map":
        entry_value = _wire_converter(shape.value, timestamp, known)

        def mapping(value: Any) -> Any:
            if type(value) is not dict:
                raise _Refused(type(value).__name__)
            converted = {}
            for key, entry in value.items():
                if type(key) is not str or not key:  # moto writes an empty key's members one level up
                    raise _Refused("key")
                converted[key] = entry_value(entry)
            return converted

        slot.append(mapping)
    else:
        members = [
            (name, _wire_converter(member, timestamp, known)) for name, member in shape.members.items()
        ]
        by_name = dict(members)

        def structure(value: Any) -> Any:
            if type(value) is not dict:
                raise _Refused(type(value).__name__)
            if len(value) == 1:  # an attribute value: one member
                ((name, member),) = value.items()
                convert = by_name.get(name)
                if convert is None:
                    raise _Refused(name)
                if member is None:
                    return {}
                converted_member = convert(member)
                return value if converted_member is member else {name: converted_member}
            if not by_name.keys() >= value.keys():  # moto would look other names up, or drop them
                raise _Refused("member")
            converted = {}
            for name, convert in members:  # in the model's order; moto leaves out None members
                member = value.get(name)
                if member is not None:
                    converted[name] = convert(member)
            return converted

        slot.append(structure)
    known[identity] = slot[0]
    return slot[0]


def direct_stream_records() -> None:
    from moto import settings
    from moto.core.responses import ActionResult
    from moto.core.serialize import JSONSerializer, TimestampSerializer
    from moto.core.utils import get_service_model
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    originals = {name: getattr(DynamoDBStreamsHandler, name) for name in ("get_records", "describe_stream")}
    if any(getattr(original, "__luca_fix__", False) for original in originals.values()):
        return
    if getattr(DynamoDBStreamsHandler, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None):
        raise AttributeError("moto's DynamoDB Streams handler now transforms its responses")
    stamps = TimestampSerializer(JSONSerializer.DEFAULT_TIMESTAMP_FORMAT)

    def timestamp(value: Any, shape: Any) -> Any:
        written: dict[str, Any] = {}
        stamps.serialize(written, value, shape, "value")  # moto's own conversion, for the same shape
        return written["value"]

    service_name = "dynamodbstreams"
    model = get_service_model(service_name)
    known: dict[str, Any] = {}
    converters = {
        operation: _wire_converter(model.operation_model(operation).output_shape, timestamp, known)
        for operation in ("GetRecords", "DescribeStream")
    }

    class DirectStreamResult(ActionResult):
        """A DynamoDB Streams result written with ``json`` instead of moto's generic serializer."""

        def execute_result(self, context: Any) -> Any:
            service, operation = context.service_model, context.operation_model
            convert = converters.get(operation.name)
            if (
                convert is None
                or service.service_name != service_name
                or service.protocol != "json"
                or context.serializer_class is not JSONSerializer
            ):
                return super().execute_result(context)
            try:
                body = convert(self.result)
            except (_Refused, TypeError, ValueError):
                return super().execute_result(context)
            text = json.dumps(body, indent=4 if settings.PRETTIFY_RESPONSES else None)
            version = service.metadata.get("jsonVersion", "1.0")
            status = operation.http.get("responseCode", 200)
            return status, {"Content-Type": f"application/x-amz-json-{version}"}, text

    def direct(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
        @functools.wraps(original)
        def handle(self: Any) -> Any:
            result = original(self)
            return DirectStreamResult(result.result) if type(result) is ActionResult else result

        handle.__luca_fix__ = True  # type: ignore[attr-defined]
        return handle

    for name, original in originals.items():
        setattr(DynamoDBStreamsHandler, name, direct(original))
