"""The lake: what each record costs on its way in (the JSON Firehose ingests, the Parquet it writes)
and what each report reads (the Parquet files of the school's partitions: what Athena scans)."""

from __future__ import annotations

import io
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from rich.progress import Progress

from bench.capacity import grading_app
from bench.capacity.meter import Meter
from bench.lake_platform import connect
from bench.lake_queries import admin_of, make_reports
from luca_analytics.adapters.lake_schema import LAKE_PREFIX
from luca_analytics.entrypoints.enrich import enrich
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_infra.local.lake import local_pseudonym_key
from luca_infra.local.platform import LocalPlatform

# The school's rows re-encoded as this many files, against one: what a file costs in bytes and in
# reading time, whatever its rows (Firehose writes one a partition per buffer flush).
SMALL_FILES = 30
READ_REPEATS = 7
# Reads every row's key and score, as a report's ranking does; each file's footer, then its columns.
READ_SQL = "SELECT COUNT(DISTINCT record_id), AVG(score) FROM read_parquet(?)"


def drain(platform: LocalPlatform, progress: Progress, timeout: float = 300.0) -> dict[str, Any]:
    """Wait until the stream poller has read every change, then flush the buffer to the lake."""
    lake = platform.lake
    assert lake is not None
    assert lake.poller is not None
    task = progress.add_task("lake: waiting for the stream to drain", total=None)
    deadline = time.monotonic() + timeout
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        read = lake.poller.counters.records_read
        progress.update(task, description=f"lake: {read} stream records read")
        if read != last:
            last, quiet_since = read, time.monotonic()
        elif time.monotonic() - quiet_since > 3 * PLATFORM_DEFINITION.analytics.poll_interval_seconds + 2:
            break
        time.sleep(0.5)
    pipeline = lake.pipeline
    assert pipeline is not None
    pipeline.flush()
    progress.update(task, total=1, completed=1)
    return pipeline.counters.snapshot()


def school_rows(platform: LocalPlatform) -> tuple[list[dict[str, Any]], int, int, int, pa.Table | None]:
    """The school's lake rows, its files' count and bytes, the same rows re-encoded as one file
    per partition (what a full Firehose buffer writes), and those rows as one table."""
    bench = connect(platform)
    prefix = f"{bench.root}/school_id={grading_app.SCHOOL}/"
    infos = [
        info for info in bench.filesystem.get_file_info(pafs.FileSelector(prefix, recursive=True))
        if info.is_file and info.path.endswith(".parquet")
    ]  # fmt: skip
    tables = [pq.read_table(info.path, filesystem=bench.filesystem) for info in infos]
    rows = [row for table in tables for row in table.to_pylist()]
    one_file = 0
    table = pa.concat_tables(tables) if tables else None
    if table is not None:
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression=PLATFORM_DEFINITION.analytics.compression)
        one_file = buffer.tell()
    return rows, len(infos), sum(info.size or 0 for info in infos), one_file, table


def small_files(table: pa.Table) -> dict[str, Any]:
    """The same rows as one file and as ``SMALL_FILES`` files, on local disk: the bytes a file adds
    (footer, page headers, compression lost on small pages) and the time DuckDB spends per file
    (median of ``READ_REPEATS`` reads). A lower bound for Athena, which fetches each file from S3."""
    compression = PLATFORM_DEFINITION.analytics.compression
    with tempfile.TemporaryDirectory(prefix="luca-small-files-") as scratch:
        sizes: dict[int, int] = {}
        read_ms: dict[int, float] = {}
        for count in (1, SMALL_FILES):
            folder = Path(scratch) / str(count)
            folder.mkdir()
            step = math.ceil(table.num_rows / count)
            for i in range(count):
                pq.write_table(
                    table.slice(i * step, step), folder / f"part-{i:04d}.parquet", compression=compression
                )
            sizes[count] = sum(f.stat().st_size for f in folder.iterdir())
            with duckdb.connect() as duck:
                pattern = str(folder / "*.parquet")
                timings = []
                for _ in range(READ_REPEATS):
                    began = time.perf_counter()
                    duck.execute(READ_SQL, [pattern]).fetchall()
                    timings.append(time.perf_counter() - began)
            read_ms[count] = 1000 * statistics.median(timings)
    extra = SMALL_FILES - 1
    return {
        "rows": table.num_rows,
        "files": SMALL_FILES,
        "bytes_one_file": sizes[1],
        "bytes_small_files": sizes[SMALL_FILES],
        "overhead_bytes_per_file": round((sizes[SMALL_FILES] - sizes[1]) / extra, 1),
        "read_ms_one_file": round(read_ms[1], 3),
        "read_ms_small_files": round(read_ms[SMALL_FILES], 3),
        "read_ms_per_file": round(max(0.0, read_ms[SMALL_FILES] - read_ms[1]) / extra, 4),
    }


def enrichment(platform: LocalPlatform, key: bytes) -> dict[str, Any]:
    """The enrichment Lambda's function over the school's items as Pipes hands them over (INSERT
    records with their new image): CPU per record, and the JSON rows it hands Firehose."""
    res = platform.resources
    client = boto3.client("dynamodb", region_name=res.region, endpoint_url=res.endpoint_url)
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=res.table_name):
        items.extend(i for i in page["Items"] if i.get("school_id", {}).get("S") == grading_app.SCHOOL)
    now = time.time()
    records = [
        {
            "eventName": "INSERT",
            "dynamodb": {"NewImage": item, "ApproximateCreationDateTime": now, "SequenceNumber": str(n)},
        }
        for n, item in enumerate(items)
    ]
    began = time.process_time()
    enriched = enrich(records, key)
    cpu = time.process_time() - began
    sizes = [len(json.dumps(row).encode()) for row in enriched.rows]
    return {
        "records": len(records),
        "rows": len(enriched.rows),
        "cpu_ms_per_record": round(1000 * cpu / max(1, len(records)), 4),
        "json_bytes_per_row": round(sum(sizes) / max(1, len(sizes)), 1),
    }


def run(meter: Meter, platform: LocalPlatform, state_dir: Path, *, progress: Progress) -> dict[str, Any]:
    counters = drain(platform, progress)
    rows, files, file_bytes, one_file_bytes, table = school_rows(platform)
    if not rows or table is None:
        raise SystemExit("no lake rows landed for the measured school")
    key = local_pseudonym_key(state_dir)
    enriched = enrichment(platform, key)
    bench = connect(platform)
    reports = make_reports(bench, key)
    principal = admin_of(grading_app.SCHOOL)
    calls: dict[str, Callable[[], Sequence[Any]]] = {
        "report: subject averages": lambda: reports.subject_averages(principal, term_id=grading_app.TERM),
        "report: students below passing": lambda: reports.students_below_passing(
            principal, term_id=grading_app.TERM
        ),
        "report: behaviour trend": lambda: reports.behavior_trend(principal),
        "report: grade distribution": lambda: reports.grade_distribution(principal, term_id=grading_app.TERM),
    }
    scanned: dict[str, Any] = {}
    task = progress.add_task("reports over the school's partitions", total=len(calls))
    for name, call in calls.items():
        began = time.perf_counter()
        with meter.operation(name):
            answer = call()
        statistics = bench.duck.last_statistics
        assert statistics is not None
        scanned[name] = {
            "bytes_scanned": statistics.bytes_read,
            "files": statistics.file_count,
            "answer_rows": len(answer),
            "seconds": round(time.perf_counter() - began, 4),
        }
        progress.advance(task)
    return {
        "pipeline": counters,
        "prefix": LAKE_PREFIX,
        "school_rows": len(rows),
        "school_files": files,
        "school_file_bytes": file_bytes,
        "json_bytes_per_row": enriched["json_bytes_per_row"],
        "enrichment": enriched,
        "parquet_bytes_per_row_local_files": round(file_bytes / len(rows), 1),
        "parquet_bytes_per_row_one_file": round(one_file_bytes / len(rows), 1),
        "reports": scanned,
        "small_files": small_files(table),
    }
