"""Meter every AWS call the code under measurement makes, with botocore's event hooks.

``Meter.install()`` attaches two handlers to every botocore client created while it is installed
(the platform's, the services' per-school clients, the bench's): ``provide-client-params`` sees the
operation and its parameters before they are serialised, ``after-call`` sees the parsed answer. A
call is recorded only while an operation is named (``with meter.operation("record a grade")``), so
provisioning, seeding and background threads' housekeeping stay out of the figures.

For DynamoDB the request units come from the items themselves (``units``): the items a read
returned, the item a write sends, and for writes the item's before image (and for updates its after
image), read around the call with an unmetered client, since a write is billed on the larger of the
two and an index write depends on both. Each call also asks for ``ReturnConsumedCapacity`` so the
emulator's own figure is printed beside ours (moto reports fixed placeholder values, not sizes).
"""

from __future__ import annotations

import copy
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import botocore.session

from bench.capacity import units
from luca_platform.table import keys

CAPACITY_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem",
     "BatchWriteItem", "TransactWriteItems", "TransactGetItems"}
)  # fmt: skip
KEY_NAMES = (keys.TABLE_PARTITION_KEY, keys.TABLE_SORT_KEY)
Item = Mapping[str, Mapping[str, Any]]


@dataclass
class Call:
    """One metered AWS call."""

    label: str
    service: str
    operation: str
    mode: str = ""
    items_read: int = 0
    items_written: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    rru: float = 0.0
    wru: float = 0.0
    index_wru: float = 0.0
    reported_units: float | None = None
    payload_bytes: int = 0  # S3 objects, SQS message bodies
    error: str = ""


@dataclass
class _Write:
    kind: str  # put, update, delete, check
    table: str
    key: dict[str, Any]
    new_item: Item | None = None
    before: Item | None = None
    after: Item | None = None


@dataclass
class Meter:
    endpoint_url: str
    region: str
    calls: list[Call] = field(default_factory=list)
    label: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _side: Any = None
    _original: Callable[..., Any] | None = None

    # -- naming what runs ---------------------------------------------------------------------------
    @contextmanager
    def operation(self, label: str) -> Iterator[None]:
        previous, self.label = self.label, label
        try:
            yield
        finally:
            self.label = previous

    def by_label(self) -> dict[str, list[Call]]:
        grouped: dict[str, list[Call]] = defaultdict(list)
        with self._lock:
            for call in self.calls:
                grouped[call.label].append(call)
        return dict(grouped)

    def drop(self, label: str) -> None:
        with self._lock:
            self.calls = [call for call in self.calls if call.label != label]

    # -- hooks --------------------------------------------------------------------------------------
    @contextmanager
    def install(self) -> Iterator[Meter]:
        """Hook every client created until exit (botocore has no process-wide event registry)."""
        original: Callable[..., Any] = botocore.session.Session.create_client
        self._original = original
        meter = self

        def create_client(session: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            meter.attach(client.meta.events)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            botocore.session.Session.create_client = original  # type: ignore[method-assign]

    def attach(self, events: Any) -> None:
        events.register("provide-client-params", self._before)
        events.register("after-call", self._after)

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        label = self.label
        if label is None:
            return
        service = model.service_model.service_name
        context["capacity"] = {"label": label, "params": copy.deepcopy(params), "writes": []}
        if service != "dynamodb":
            return
        if model.name in CAPACITY_OPERATIONS:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        writes = planned_writes(model.name, params)
        for write in writes:
            write.before = self._read(write.table, write.key)
        context["capacity"]["writes"] = writes

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        state = context.get("capacity")
        if not state:
            return
        service = model.service_model.service_name
        call = Call(state["label"], service, model.name)
        call.error = (parsed.get("Error") or {}).get("Code", "")
        if service == "dynamodb":
            writes: list[_Write] = state["writes"]
            for write in writes:
                if write.kind == "update" and not call.error:
                    write.after = self._read(write.table, write.key)
                elif write.kind == "put":
                    write.after = write.new_item
            dynamodb_units(call, state["params"], parsed, writes)
        else:
            call.payload_bytes = payload_bytes(model.name, state["params"])
        with self._lock:
            self.calls.append(call)

    def _read(self, table: str, key: dict[str, Any]) -> Item | None:
        if self._side is None:
            # Made with the unpatched factory: the meter's own reads are not metered.
            factory = self._original or botocore.session.Session.create_client
            self._side = factory(
                botocore.session.get_session(),
                "dynamodb",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
            )
        item: Item | None = self._side.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return item


def key_of(item: Item) -> dict[str, Any]:
    return {name: item[name] for name in KEY_NAMES if name in item}


def planned_writes(operation: str, params: Mapping[str, Any]) -> list[_Write]:
    """The item writes a call asks for, each with its table and key."""
    if operation == "PutItem":
        return [_Write("put", params["TableName"], key_of(params["Item"]), new_item=params["Item"])]
    if operation == "UpdateItem":
        return [_Write("update", params["TableName"], dict(params["Key"]))]
    if operation == "DeleteItem":
        return [_Write("delete", params["TableName"], dict(params["Key"]))]
    if operation == "BatchWriteItem":
        out = []
        for table, requests in params["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    out.append(_Write("put", table, key_of(item), new_item=item))
                else:
                    out.append(_Write("delete", table, dict(request["DeleteRequest"]["Key"])))
        return out
    if operation == "TransactWriteItems":
        kinds = {"Put": "put", "Update": "update", "Delete": "delete", "ConditionCheck": "check"}
        out = []
        for entry in params["TransactItems"]:
            (name, body), *_ = entry.items()
            if name == "Put":
                out.append(_Write("put", body["TableName"], key_of(body["Item"]), new_item=body["Item"]))
            else:
                out.append(_Write(kinds[name], body["TableName"], dict(body["Key"])))
        return out
    return []


def _in_index(item: Item | None, index: keys.IndexDesign) -> tuple[Any, Any] | None:
    if not item or index.partition_key not in item or index.sort_key not in item:
        return None
    return (item[index.partition_key], item[index.sort_key])


def index_units(write: _Write) -> float:
    """Writes to every index (all project the whole item) that this table write causes."""
    total = 0.0
    before_size, after_size = units.item_size(write.before), units.item_size(write.after)
    for index in keys.INDEXES:
        was, now = _in_index(write.before, index), _in_index(write.after, index)
        if was is not None and now is not None and was != now:
            total += units.index_write_units(before_size, None) + units.index_write_units(None, after_size)
        else:
            total += units.index_write_units(
                before_size if was is not None else None, after_size if now is not None else None
            )
    return total


def dynamodb_units(
    call: Call, params: Mapping[str, Any], parsed: Mapping[str, Any], writes: list[_Write]
) -> None:
    operation = call.operation
    reported = parsed.get("ConsumedCapacity")
    if isinstance(reported, dict):
        call.reported_units = float(reported.get("CapacityUnits", 0.0))
    elif isinstance(reported, list) and reported:
        call.reported_units = sum(float(c.get("CapacityUnits", 0.0)) for c in reported)
    if writes:
        write_mode = (
            units.WriteMode.TRANSACTIONAL if operation == "TransactWriteItems" else units.WriteMode.STANDARD
        )
        call.mode = write_mode.value
        failed = bool(call.error)
        for write in writes:
            size = max(units.item_size(write.before), units.item_size(write.after))
            # A failed condition is still billed as the write it would have been.
            call.wru += units.write_units(size, write_mode)
            if write.kind != "check":
                call.items_written += 1
                call.bytes_written += units.item_size(write.after or write.new_item)
                if not failed:
                    call.index_wru += index_units(write)
        return
    if operation == "GetItem":
        mode = units.ReadMode.STRONG if params.get("ConsistentRead") else units.ReadMode.EVENTUAL
        size = units.item_size(parsed.get("Item"))
        call.mode, call.items_read, call.bytes_read = mode.value, int("Item" in parsed), size
        call.rru = units.read_units(size, mode)
    elif operation in ("Query", "Scan"):
        strong = params.get("ConsistentRead") and "IndexName" not in params
        mode = units.ReadMode.STRONG if strong else units.ReadMode.EVENTUAL
        sizes = [units.item_size(item) for item in parsed.get("Items", [])]
        # A filter drops items after they are read and billed; scale by what was scanned.
        scanned, count = parsed.get("ScannedCount", len(sizes)), parsed.get("Count", len(sizes))
        read = sum(sizes) * (scanned / count) if count else 0
        call.mode, call.items_read, call.bytes_read = mode.value, scanned, int(read)
        call.rru = units.read_units(int(read), mode)
    elif operation == "BatchGetItem":
        for table, request in params.get("RequestItems", {}).items():
            mode = units.ReadMode.STRONG if request.get("ConsistentRead") else units.ReadMode.EVENTUAL
            found = [units.item_size(item) for item in parsed.get("Responses", {}).get(table, [])]
            unprocessed = len(parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", []))
            missing = max(0, len(request["Keys"]) - len(found) - unprocessed)
            call.mode = mode.value
            call.items_read += len(found)
            call.bytes_read += sum(found)
            call.rru += units.batch_read_units([*found, *([0] * missing)], mode)
    elif operation == "TransactGetItems":
        call.mode = units.ReadMode.TRANSACTIONAL.value
        for response in parsed.get("Responses", []):
            size = units.item_size(response.get("Item"))
            call.items_read += int("Item" in response)
            call.bytes_read += size
            call.rru += units.read_units(size, units.ReadMode.TRANSACTIONAL)


def payload_bytes(operation: str, params: Mapping[str, Any]) -> int:
    if operation == "PutObject":
        body = params.get("Body", b"")
        return len(body) if isinstance(body, bytes | str) else 0
    if operation == "SendMessage":
        return len(str(params.get("MessageBody", "")).encode())
    if operation == "SendMessageBatch":
        return sum(len(str(e.get("MessageBody", "")).encode()) for e in params.get("Entries", []))
    return 0


def as_dicts(calls: list[Call]) -> list[dict[str, Any]]:
    return [asdict(call) for call in calls]
