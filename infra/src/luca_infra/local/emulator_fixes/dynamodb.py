"""Local-only fixes to moto's DynamoDB for its hot paths. Never part of anything deployed.

**item-level-transactions: TransactWriteItems copies the whole table.** Before a transaction moto
deep-copies every table it touches so it can roll back (once per item in the transaction). With a
few thousand items that is about a second per grade recorded. The fix snapshots only the items the
transaction names (and the stream's length) and restores exactly those on failure, which is what
the deep copy was for; the all-or-nothing behaviour, the cancellation reasons and the stream
records are unchanged.

**partition-scoped-queries: every Query reads and sorts the whole table.** moto's ``Table.query``
starts from ``all_items()``, which sorts every item of the table with Python-level key comparisons,
then keeps the partition asked for, then sorts those again by range key. The fix hands a query the
partition it names (base table), or for an index the items carrying the index partition value,
unsorted (the query checks every key condition again and sorts its matches itself), so a query
costs what its partition holds instead of sorting the whole table. The matches are then sorted
with each key value converted once per item, not once per comparison, and the page is no longer
deep-copied item by item before it is serialized: index projection, filters and projection
expressions build new items and never change the stored ones, and the response is built from
fresh dictionaries. A projection of top-level attribute names (queries, scans, gets) picks those
attributes instead of round-tripping the whole item through plain JSON and back; only values that
can hold numbers take the round trip, so numbers come back normalized exactly as moto returns
them. The 1 MB page limit is measured with moto's formula, without a method dispatch per scalar
attribute.

**direct-json-results: the generic response serializer walks every attribute value through the
service model.** For DynamoDB's JSON protocol the result already has the wire shape, so it is
written with ``json`` directly (and converted from moto's attribute objects without a generic type
check per value); any result holding something JSON cannot carry as is (binary values,
timestamps) goes through moto's serializer as before. DynamoDB Streams responses are another
service's: ``streams`` writes those.

Two rollback edge cases differ from moto on purpose, where moto itself differs from DynamoDB: a
stream read across a cancelled transaction sees later writes (moto's table swap lost them), and a
transaction entry naming two operations rolls back the entries before it (moto kept them).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
from typing import Any


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


def item_level_transactions() -> None:
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


def direct_json_results() -> None:
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


def partition_scoped_queries() -> None:
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
