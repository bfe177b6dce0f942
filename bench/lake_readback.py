"""The lake read back once it is quiet: every file's rows (ages, versions, what landed) and the
schools' partitions and files."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from bench.lake_platform import Bench
from bench.lake_workload import PROBE_PREFIX
from luca_analytics.adapters.lake_schema import LAKE_PREFIX
from luca_infra.local.lake import PartitionFiles, lake_partitions


def file_stamp(path: str) -> datetime:
    """When the sink wrote the file: ``part-<%Y%m%dT%H%M%S%fZ>-<uuid>.parquet``."""
    stamp = path.rsplit("/", 1)[-1].split("-")[1]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


@dataclass
class LakeRead:
    rows: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    item_types: Counter[str] = field(default_factory=Counter)
    ages: list[tuple[datetime, float]] = field(default_factory=list)  # (changed_at, seconds to its file)
    rows_per_file: list[int] = field(default_factory=list)
    version_ties: int = 0  # two rows of one record and version: must not happen here
    same_second_versions: int = 0  # later versions created in the same second as an earlier one
    later_versions: int = 0
    tombstones: int = 0
    change_ages: list[float] = field(default_factory=list)  # the later versions' ages at their file
    records: int = 0
    seconds: float = 0.0


def is_probe(key: str) -> bool:
    return f"school_id={PROBE_PREFIX}" in key


def read_lake(bench: Bench) -> LakeRead:
    """Every file of the lake (one GET each): rows, changes, item types, each row's age when its file
    was written, the rows per file of the schools' files (the probes' left out), whether two rows of
    a record share a version (the reports' ``ROW_NUMBER`` would then fall back to the stream order),
    and how many later versions were created in the same second as an earlier one (in AWS their
    ``changed_at`` would tie, which is why it cannot order them)."""
    started = time.monotonic()
    bucket = bench.lake.bucket
    keys = [
        item["Key"]
        for page in bench.s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{LAKE_PREFIX}/"
        )
        for item in page.get("Contents", [])
        if item["Key"].endswith(".parquet")
    ]

    def one(key: str) -> tuple[str, list[dict[str, Any]]]:
        body = bench.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        columns = ["record_id", "change", "changed_at", "item_type", "version", "retracted"]
        table = pq.read_table(pa.BufferReader(body), columns=columns)
        return key, table.to_pylist()

    read = LakeRead()
    versions: dict[tuple[str, str], list[tuple[int, datetime]]] = defaultdict(list)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for key, rows in pool.map(one, keys):
            written = file_stamp(key)
            school = key.split("school_id=", 1)[1].split("/", 1)[0]
            if not is_probe(key):
                read.rows_per_file.append(len(rows))
            for row in rows:
                read.rows += 1
                read.changes[row["change"]] += 1
                read.item_types[row["item_type"]] += 1
                age = (written - row["changed_at"]).total_seconds()
                read.ages.append((row["changed_at"], age))
                versions[(school, row["record_id"])].append((row["version"], row["changed_at"]))
                if row["version"] > 1:
                    read.later_versions += 1
                    read.change_ages.append(age)
                read.tombstones += bool(row["retracted"])
    read.records = len(versions)
    for states in versions.values():
        read.version_ties += len(states) - len({version for version, _ in states})
        # AWS gives a stream record's creation time in whole seconds (this emulator: microseconds).
        read.same_second_versions += len(states) - len({stamp.replace(microsecond=0) for _, stamp in states})
    read.seconds = time.monotonic() - started
    return read


def school_files(bench: Bench) -> list[pafs.FileInfo]:
    """The lake's Parquet files, the probes' schools left out."""
    return [
        info
        for info in bench.filesystem.get_file_info(pafs.FileSelector(bench.root, recursive=True))
        if info.is_file and info.path.endswith(".parquet") and not is_probe(info.path)
    ]


@dataclass
class LakeShape:
    """The schools' partitions and files (the probes' own schools apart)."""

    partitions: list[PartitionFiles]
    probe_partitions: list[PartitionFiles]
    sizes: list[int]  # each file's bytes
    per_partition: dict[str, int]  # school/year/month -> files
    files: int
    bytes: int


def lake_shape(bench: Bench) -> LakeShape:
    """The lake's partitions from the object listing, and its files' sizes."""
    listed = lake_partitions(bench.s3, bench.lake.bucket)
    partitions = [p for p in listed if not p.school_id.startswith(PROBE_PREFIX)]
    probe_partitions = [p for p in listed if p.school_id.startswith(PROBE_PREFIX)]
    sizes = [info.size or 0 for info in school_files(bench)]
    return LakeShape(
        partitions=partitions,
        probe_partitions=probe_partitions,
        sizes=sizes,
        per_partition={f"{p.school_id}/{p.year}/{p.month:02d}": p.files for p in partitions},
        files=sum(p.files for p in partitions),
        bytes=sum(p.bytes for p in partitions),
    )
