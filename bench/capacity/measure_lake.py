"""The lake: what each record costs on its way in (the JSON Firehose ingests, the Parquet it writes)
and what each report reads (the Parquet files of the school's partitions: what Athena scans)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
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


def school_rows(platform: LocalPlatform) -> tuple[list[dict[str, Any]], int, int, int]:
    """The school's lake rows, its files' count and bytes, and the same rows re-encoded as one file
    per partition (what a full Firehose buffer writes)."""
    bench = connect(platform)
    prefix = f"{bench.root}/school_id={grading_app.SCHOOL}/"
    infos = [
        info for info in bench.filesystem.get_file_info(pafs.FileSelector(prefix, recursive=True))
        if info.is_file and info.path.endswith(".parquet")
    ]  # fmt: skip
    tables = [pq.read_table(info.path, filesystem=bench.filesystem) for info in infos]
    rows = [row for table in tables for row in table.to_pylist()]
    one_file = 0
    if tables:
        import pyarrow as pa

        buffer = io.BytesIO()
        pq.write_table(
            pa.concat_tables(tables), buffer, compression=PLATFORM_DEFINITION.analytics.compression
        )
        one_file = buffer.tell()
    return rows, len(infos), sum(info.size or 0 for info in infos), one_file


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
    rows, files, file_bytes, one_file_bytes = school_rows(platform)
    if not rows:
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
    }
