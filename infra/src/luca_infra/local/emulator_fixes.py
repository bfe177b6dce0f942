"""Local-only fixes for the embedded emulator's hot paths. Never part of anything deployed.

moto is a test double, written for correctness rather than speed. Seven of its hot paths make the
local platform far slower than the service it stands in for, and the slowness grows with the data:

1. **Backend lookup on every request.** moto's WSGI dispatcher lists its own package directory on
   disk for every HTTP request (``moto.backends.list_of_moto_modules``). The listing never changes
   while the process runs, so it is computed once.
2. **TransactWriteItems copies the whole table.** Before a transaction moto deep-copies every table
   it touches so it can roll back (once per item in the transaction). With a few thousand items that
   is about a second per grade recorded. The fix snapshots only the items the transaction names
   (and the stream's length) and restores exactly those on failure, which is what the deep copy was
   for; the all-or-nothing behaviour, the cancellation reasons and the stream records are unchanged.
3. **Every Query reads and sorts the whole table.** moto's ``Table.query`` starts from
   ``all_items()``, which sorts every item of the table with Python-level key comparisons, then keeps
   the partition asked for, then sorts those again by range key. The fix hands a query the partition
   it names (base table), or for an index the items carrying the index partition value, unsorted
   (the query checks every key condition again and sorts its matches itself), so a query costs
   what its partition holds instead of sorting the whole table. The
   matches are then sorted with each key value converted once per item, not once per comparison,
   and the page is no longer deep-copied item by item before it is serialized: index projection,
   filters and projection expressions build new items and never change the stored ones, and the
   response is built from fresh dictionaries. A projection of top-level attribute names (queries,
   scans, gets) picks those attributes instead of round-tripping the whole item through plain JSON
   and back; only values that can hold numbers take the round trip, so numbers come back normalized
   exactly as moto returns them. The 1 MB page limit is measured with moto's formula, without a
   method dispatch per scalar attribute.
4. **The generic response serializer walks every attribute value through the service model.** For
   DynamoDB's JSON protocol the result already has the wire shape, so it is written with ``json``
   directly (and converted from moto's attribute objects without a generic type check per value); any result holding something JSON cannot carry as is (binary values, timestamps) goes
   through moto's serializer as before.
5. **SQS reads the clock through ``datetime`` for every message it looks at.** Whether a message is
   visible or delayed is decided with ``moto.sqs.models.unix_time_millis``, which builds two
   ``datetime`` objects per call, and SQS scans the whole queue with it: ``queue.messages`` (every
   receive, every long-poll wake-up) and the three ``ApproximateNumberOf*`` counts that every send
   computes. The fix reads "now" with ``time.time()`` (the same value, to the microsecond, that the
   ``datetime`` arithmetic gives); a call with an explicit datetime still goes to moto's function.
6. **Every received message re-lists the queue's attributes.** ReceiveMessage checks each message's
   retention period through ``get_queue_attributes``, which computes the full attribute listing three
   times, and with it the three counts that each scan the whole queue: for a receive of 10 messages,
   90 passes over the queue. The fix reads the queue's ``message_retention_period`` directly and
   compares it with the same clock, with moto's own comparison.
7. **Every stream record goes through the generic serializer.** DynamoDB Streams' GetRecords returns
   its records to moto's service-model serializer, which walks every attribute value of every image
   through the model: about 2.5 ms per record served, so the local lake pipeline read its stream at a
   few hundred records a second. Fix 4 does not help: it covers the dynamodb service only, and every
   stream record holds a datetime (``ApproximateCreationDateTime``). The fix writes GetRecords and
   DescribeStream responses with ``json``, through a converter built once per operation from the same
   service model: members in the model's order and ``None`` members left out as moto does, strings,
   booleans and longs as they are, and timestamps through moto's own converter (epoch seconds: an
   int on a whole second, else a float truncated to milliseconds, ``1714979289.123``). The body is
   byte for byte the one moto writes, with the same status and content type. A value moto's
   serializer would change sends the response through it as before: binary values (base64-encoded
   there), a member it would look up under another name, any other type.

Measured with a throwaway script against the emulator over HTTP with boto3 (moto 5.2.5, 2 busy
cores): 5,000 messages of 300 bytes sent in batches of 10, then, at that depth, 50 single sends and
500 messages received 10 at a time with all attributes:

| fixes in force              | send, filling 0 → 5,000 | send at depth 5,000 | receive at depth 5,000 |
|-----------------------------|------------------------:|--------------------:|-----------------------:|
| none (moto as installed)    | 8 msg/s                 | 4.6 msg/s           | 1.6 msg/s              |
| 5 (clock)                   | 175-216 msg/s           | 50-82 msg/s         | 38 msg/s               |
| 5 and 6                     | 228 msg/s               | 48 msg/s            | 405 msg/s              |
| all (1 also helps each call)| 281 msg/s               | 88 msg/s            | 666 msg/s              |

Sends stay linear in the queue's depth (each still computes the queue's counts once); a recess
burst of 5,000 events therefore still queues in tens of seconds, not in the ten minutes it took.

Streams, measured the same way: a table's stream filled with 5,000 items of the grading service's
evaluation shape (19 S and N attributes), then read from TRIM_HORIZON with GetRecords, Limit=1000,
three times per run, on a loaded machine:

| fixes in force              | boto3 GetRecords      | plain HTTP and ``json.loads`` (the server's share) |
|-----------------------------|----------------------:|---------------------------------------------------:|
| none (moto as installed)    | 285-410 records/s     | 350-430 records/s                                  |
| 1-6                         | 290-390 records/s     | 480-520 records/s                                  |
| all (7: direct stream JSON) | 2,400-4,600 records/s | 5,500-9,900 records/s                              |

With the fix, boto3's own parsing of the records is most of what a read costs.

Each fix is checked against moto's own behaviour in ``infra/tests/local/test_emulator_fixes.py``
(run with the pinned moto): one scenario, run with and without the fixes, must give the same
responses (the SQS part masks message ids, receipt handles and timestamps, which differ from run
to run anyway; stream responses are compared as written too, their clock pinned so that the
timestamps in the bodies are the same from run to run). Two rollback edge cases differ on purpose, where moto itself differs from DynamoDB: a
stream read across a cancelled transaction sees later writes (moto's table swap lost them), and a
transaction entry naming two operations rolls back the entries before it (moto kept them). ``apply()`` is idempotent and is called by the embedded emulator only;
when moto's internals no longer look as expected a fix is skipped with a warning, never half-applied.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("luca.local.emulator")

_applied: set[str] = set()


def apply() -> tuple[str, ...]:
    """Apply every fix that matches the installed moto; returns the names of the fixes in force."""
    for name, fix in _FIXES.items():
        if name in _applied:
            continue
        try:
            fix()
        except (ImportError, AttributeError) as error:  # moto moved on: run unpatched, say so
            log.warning("emulator fix skipped", extra={"fix": name, "reason": repr(error)})
            continue
        _applied.add(name)
    return tuple(sorted(_applied))


def _cache_module_listing() -> None:
    from moto import backends

    listing: Callable[[], Iterable[str]] = backends.list_of_moto_modules
    if getattr(listing, "__luca_fix__", False):
        return
    modules = tuple(listing())

    def list_of_moto_modules() -> Iterable[str]:
        return iter(modules)

    list_of_moto_modules.__luca_fix__ = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules


class _ShareTables:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend: tables are not copied.

    The transaction wrapper below restores the touched items itself, so the backend's own
    "restore the copied table" step only puts the same table object back.
    """

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _item_level_transactions() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    backend_type = models.DynamoDBBackend
    original = backend_type.transact_write_items
    if getattr(original, "__luca_fix__", False):
        return
    if getattr(models, "copy", None) is not copy:
        raise AttributeError("moto.dynamodb.models no longer uses the copy module as expected")

    def snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        saved: list[tuple[Any, ...]] = []
        for entry in transact_items:
            op = next(iter(entry.values()), None)
            if not isinstance(op, dict):
                continue
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            attrs = op.get("Item") if "Item" in op else op.get("Key")
            if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
                continue
            hash_value = DynamoType(attrs[table.hash_key_attr])
            range_value = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in attrs:
                    continue
                range_value = DynamoType(attrs[table.range_key_attr])
            current = table.get_item(hash_value, range_value)
            shard = table.stream_shard
            saved.append(
                (
                    table,
                    hash_value,
                    range_value,
                    copy.deepcopy(current),
                    len(shard.items) if shard is not None else None,
                )
            )
        return saved

    def restore(saved: list[tuple[Any, ...]]) -> None:
        # Newest first, so the first snapshot of a key (its state before the transaction) wins.
        for table, hash_value, range_value, item, stream_length in reversed(saved):
            if range_value is None:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            else:
                partition = table.items.get(hash_value)
                if item is None:
                    if partition is not None:
                        partition.pop(range_value, None)
                        if not partition:
                            table.items.pop(hash_value, None)
                else:
                    table.items[hash_value][range_value] = item
            if stream_length is not None and table.stream_shard is not None:
                del table.stream_shard.items[stream_length:]

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = snapshot(self, transact_items)
        try:
            original(self, transact_items)
        except Exception:
            restore(saved)
            raise

    transact_write_items.__luca_fix__ = True  # type: ignore[attr-defined]
    models.copy = _ShareTables(Table)  # type: ignore[assignment]
    backend_type.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _direct_json_results() -> None:
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result
    if getattr(original, "__luca_fix__", False):
        return

    def _as_doubles(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: _as_doubles(item) for key, item in value.items()}
        if isinstance(value, list):
            return [_as_doubles(item) for item in value]
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def _refuse(value: Any) -> Any:
        raise TypeError(type(value).__name__)

    @functools.wraps(original)
    def execute_result(self: Any, context: Any) -> Any:
        if context.service_model.protocol == "json" and isinstance(self.result, dict):
            result = self.result
            if "ConsumedCapacity" in result:  # its units are doubles in the model: 2 -> 2.0
                result = {**result, "ConsumedCapacity": _as_doubles(result["ConsumedCapacity"])}
            try:
                body = json.dumps(result, separators=(",", ":"), default=_refuse)
            except (TypeError, ValueError):
                return original(self, context)
            version = context.service_model.metadata.get("jsonVersion", "1.0")
            return 200, {"Content-Type": f"application/x-amz-json-{version}"}, body
        return original(self, context)

    from moto.dynamodb import responses
    from moto.dynamodb.models import utilities
    from moto.dynamodb.models.dynamo_type import DynamoType

    original_to_dict = utilities.dynamo_to_dict
    if responses.dynamo_to_dict is not original_to_dict:
        raise AttributeError("moto.dynamodb.responses no longer converts results with dynamo_to_dict")

    def dynamo_to_dict(obj: Any) -> Any:
        # The same conversion, without the generic checks for the plain types items are made of.
        if type(obj) is DynamoType:
            kind = obj.type
            if kind in ("S", "N", "BOOL", "NULL"):
                return {kind: obj.value}
            if kind in ("SS", "NS"):
                return {kind: list(obj.value)}
            if kind in ("L", "M"):
                return {kind: dynamo_to_dict(obj.value)}
            return original_to_dict(obj)
        if isinstance(obj, dict) and not hasattr(obj, "to_json"):  # attribute maps are dict subclasses
            return {key: dynamo_to_dict(item) for key, item in obj.items()}
        if type(obj) is list:
            return [dynamo_to_dict(item) for item in obj]
        return original_to_dict(obj)

    dynamo_to_dict.__luca_fix__ = True  # type: ignore[attr-defined]
    execute_result.__luca_fix__ = True  # type: ignore[attr-defined]
    utilities.dynamo_to_dict = dynamo_to_dict
    responses.dynamo_to_dict = dynamo_to_dict
    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]


_query_scope = threading.local()
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_\-]+")


class _ShareQueryPages:
    """Stands in for the ``copy`` module inside moto's table model: a page of items is not copied."""

    def __init__(self, item_type: type) -> None:
        self._item_type = item_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, list) and all(isinstance(item, self._item_type) for item in value):
            return list(value)
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _partition_scoped_queries() -> None:
    from moto.dynamodb.models import table as table_module
    from moto.dynamodb.models.dynamo_type import DynamoType, Item
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items
    if getattr(original_query, "__luca_fix__", False):
        return
    index_name_position = 7  # hash_key, range_comparison, range_objs, limit, start key, forward, projection

    def all_items(self: Any) -> Any:
        scope = getattr(_query_scope, "value", None)
        if scope is None or scope[0] is not self:
            return original_all_items(self)
        _, hash_key, index_name = scope
        if index_name is None:
            partition = self.items.get(hash_key)
            if partition is None:
                return []
            return list(partition.values()) if self.range_key_attr else [partition]
        # An index query: the items carrying the index's partition key value, unsorted (the query
        # checks every key condition again and sorts its matches itself).
        items = (
            [item for partition in self.items.values() for item in partition.values()]
            if self.range_key_attr
            else list(self.items.values())
        )
        index = next((i for i in self.all_indexes() if i.name == index_name), None)
        hash_attributes = (
            [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"] if index else []
        )
        if len(hash_attributes) != 1 or not isinstance(hash_key, DynamoType) or hash_key.type != "S":
            return items
        attribute, wanted = hash_attributes[0], hash_key.value
        return [
            item
            for item in items
            if (value := item.attrs.get(attribute)) is not None
            and value.type == "S"
            and value.value == wanted
        ]

    @functools.wraps(original_query)
    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get(
            "index_name", args[index_name_position - 1] if len(args) >= index_name_position else None
        )
        previous = getattr(_query_scope, "value", None), getattr(_query_scope, "sizes", None)
        _query_scope.value = (self, hash_key, index_name)
        _query_scope.sizes = {}  # the page-size check measures each candidate twice: once is enough
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _query_scope.value, _query_scope.sizes = previous

    def sorted_items(self: Any, hash_key_attrs: Any, range_key_attrs: Any, items: list[Any]) -> list[Any]:
        names = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        # Key attributes are scalars (S, N, B): their cast values order exactly as moto's
        # DynamoType comparisons do, computed once per item instead of once per comparison.
        items.sort(key=lambda item: tuple(item.attrs[name].cast_value for name in names))
        return items

    if getattr(table_module, "copy", None) is not copy:
        raise AttributeError("moto.dynamodb.models.table no longer uses the copy module as expected")
    original_project = Item.project
    from boto3.dynamodb.types import DYNAMODB_CONTEXT
    from moto.dynamodb.models.dynamo_type import deserializer, serializer

    def _as_projected(value: Any) -> Any:
        # moto's projection round-trips values through plain Python, which normalizes numbers
        # ("1E1" -> "1E+1", "010" -> "10"): do the same, for the values that can hold numbers only.
        kind = value.type
        if kind in ("S", "SS", "B", "BS", "BOOL", "NULL"):
            return value
        if kind == "N":  # what boto3's deserializer then serializer do to one number
            number: Any = DynamoType.__new__(DynamoType)
            number.type, number.value = "N", str(DYNAMODB_CONTEXT.create_decimal(value.value))
            return number
        return DynamoType(dict(serializer.serialize(deserializer.deserialize(value.to_regular_json()))))

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        if not all(len(path) == 1 and _PLAIN_NAME.fullmatch(path[0]) for path in projection_expressions):
            return original_project(self, projection_expressions)
        picked: Any = Item.__new__(Item)
        picked.hash_key = self.hash_key
        picked.range_key = self.range_key
        # dict.update skips LimitedSizeDict's per-key size check: a projection only ever shrinks.
        picked.attrs = type(self.attrs)()
        dict.update(
            picked.attrs,
            {
                path[0]: _as_projected(self.attrs[path[0]])
                for path in projection_expressions
                if path[0] in self.attrs
            },
        )
        return picked

    original_size = Item.size

    def size(self: Any) -> int:
        # moto's formula, without a method dispatch per attribute for the scalar types.
        sizes = getattr(_query_scope, "sizes", None)
        if sizes is not None and id(self) in sizes:
            return int(sizes[id(self)])
        total = 0
        for name, value in self.attrs.items():
            kind, raw = value.type, value.value
            if kind == "N":
                measured = len(str(raw))
            elif kind in ("S", "B"):
                measured = len(raw if isinstance(raw, bytes) else raw.encode("utf-8"))
            else:
                measured = value.size()
            total += len(name.encode("utf-8")) + measured
        if sizes is not None:
            sizes[id(self)] = total
        return total

    size.__wrapped__ = original_size  # type: ignore[attr-defined]
    query.__luca_fix__ = True  # type: ignore[attr-defined]
    Item.size = size  # type: ignore[method-assign]
    Item.project = project  # type: ignore[method-assign]
    table_module.copy = _ShareQueryPages(Item)  # type: ignore[assignment]
    Table.sorted_items = sorted_items  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]


def _fast_sqs_clock() -> None:
    from moto.core import utils
    from moto.sqs import models

    original = models.unix_time_millis
    if getattr(original, "__luca_fix__", False):
        return
    if original is not utils.unix_time_millis:
        raise AttributeError("moto.sqs.models no longer takes its clock from moto.core.utils")

    def unix_time_millis(dt: Any = None) -> float:
        # moto's own arithmetic for a given datetime; "now" straight from the system clock.
        return original(dt) if dt is not None else time.time() * 1000.0

    unix_time_millis.__luca_fix__ = True  # type: ignore[attr-defined]
    models.unix_time_millis = unix_time_millis


def _direct_sqs_retention_check() -> None:
    from moto.sqs import models

    backend_type = models.SQSBackend
    original = backend_type.is_message_valid_based_on_retention_period
    if getattr(original, "__luca_fix__", False):
        return
    if "MessageRetentionPeriod" not in models.Queue.BASE_ATTRIBUTES:  # listed as message_retention_period
        raise AttributeError("moto's SQS queue no longer keeps MessageRetentionPeriod as expected")

    @functools.wraps(original)
    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        # The queue's retention period read from the queue, not from a full attribute listing
        # (which counts every message of the queue three times, for each message received).
        retention_period = self.get_queue(queue_name).message_retention_period
        return bool(retention_period + message.sent_timestamp / 1000 > models.unix_time())

    is_message_valid_based_on_retention_period.__luca_fix__ = True  # type: ignore[attr-defined]
    backend_type.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )


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


def _direct_stream_records() -> None:
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


_FIXES: dict[str, Callable[[], None]] = {
    "cached-backend-lookup": _cache_module_listing,
    "item-level-transactions": _item_level_transactions,
    "partition-scoped-queries": _partition_scoped_queries,
    "direct-json-results": _direct_json_results,
    "fast-sqs-clock": _fast_sqs_clock,
    "direct-sqs-retention-check": _direct_sqs_retention_check,
    "direct-stream-records": _direct_stream_records,
}
