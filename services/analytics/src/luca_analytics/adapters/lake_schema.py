"""The lake's schema, derived once from the contract (``luca.analytics.v1.LakeRecord``).

The Parquet files the local poller writes, the Glue table Firehose converts to (and Athena reads)
and the query service's dataset all take their columns from here, so they cannot drift apart.
Partition columns (``domain.lake.PARTITION_KEYS``) live in the path (``school_id=.../year=.../
month=...``), not inside the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pyarrow as pa
from google.protobuf.descriptor import FieldDescriptor

from luca.analytics.v1 import analytics_pb2
from luca_analytics.domain.lake import PARTITION_KEYS, LakeRow

TIMESTAMP = "google.protobuf.Timestamp"
LAKE_PREFIX = "lake/grades"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str  # string | int | double | boolean | timestamp

    @property
    def arrow(self) -> pa.DataType:
        return {
            "string": pa.string(),
            "int": pa.int32(),
            "double": pa.float64(),
            "boolean": pa.bool_(),
            "timestamp": pa.timestamp("ms", tz="UTC"),
        }[self.kind]

    @property
    def glue(self) -> str:
        return self.kind


def _kind(field: FieldDescriptor) -> str:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name != TIMESTAMP:
            raise TypeError(f"{field.full_name}: only Timestamp messages are lake columns")
        return "timestamp"
    kinds = {
        FieldDescriptor.TYPE_STRING: "string",
        FieldDescriptor.TYPE_INT32: "int",
        FieldDescriptor.TYPE_UINT32: "int",
        FieldDescriptor.TYPE_DOUBLE: "double",
        FieldDescriptor.TYPE_BOOL: "boolean",
    }
    if field.type not in kinds:
        raise TypeError(f"{field.full_name}: type {field.type} has no lake column")
    return kinds[field.type]


@cache
def columns() -> tuple[Column, ...]:
    """Every column of ``LakeRecord`` in field order (partition columns included)."""
    found = tuple(Column(field.name, _kind(field)) for field in analytics_pb2.LakeRecord.DESCRIPTOR.fields)
    row_fields = set(LakeRow.__slots__)
    if {c.name for c in found} != row_fields:
        raise TypeError(f"LakeRow and LakeRecord differ: {sorted({c.name for c in found} ^ row_fields)}")
    return found


def data_columns() -> tuple[Column, ...]:
    """The columns stored in the Parquet files (the partition columns are the path)."""
    return tuple(c for c in columns() if c.name not in PARTITION_KEYS)


def partition_columns() -> tuple[Column, ...]:
    by_name = {c.name: c for c in columns()}
    return tuple(by_name[name] for name in PARTITION_KEYS)


@cache
def file_schema() -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow) for c in data_columns()])


@cache
def partition_schema() -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow) for c in partition_columns()])


def partition_path(school_id: str, year: int, month: int) -> str:
    """``school_id=<s>/year=<yyyy>/month=<mm>``: the hive layout Firehose's dynamic partitioning
    writes (its S3 prefix) and the local writer mirrors."""
    return f"school_id={school_id}/year={year:04d}/month={month:02d}"
