"""One school's reports through ``Reports`` over ``DuckDbLake``, timed against a whole-lake scan of
the same SQL and parameters."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import duckdb
import pyarrow.dataset as ds
from rich.progress import Progress, TaskID

from bench.lake_platform import Bench
from bench.lake_readback import LakeShape, school_files
from bench.lake_workload import School
from luca_analytics.adapters import report_sql
from luca_analytics.adapters.duckdb_lake import lake_schema
from luca_analytics.adapters.lake_schema import partition_schema
from luca_analytics.adapters.school_data import DynamoRoster
from luca_analytics.service_layer.reports import (
    DEFAULT_BUCKET_WIDTH,
    NO_LOWER_MONTH,
    NO_UPPER_MONTH,
    ReportName,
    Reports,
)
from luca_kernel.access import Principal, Role
from luca_kernel.grading import SCALE_BOUNDS, GradingRule
from luca_kernel.ids import SchoolId
from luca_kernel.rule_cache import RuleCache
from luca_platform.contracts.rules import TableRules

REPORTS = (
    ReportName.SUBJECT_AVERAGES,
    ReportName.STUDENT_AVERAGES,
    ReportName.BEHAVIOR_TREND,
    ReportName.GRADE_DISTRIBUTION,
)
# The lake query each ``Reports`` use case runs.
USE_CASES: dict[str, str] = {
    ReportName.SUBJECT_AVERAGES: "subject_averages",
    ReportName.STUDENT_AVERAGES: "students_below_passing",
    ReportName.BEHAVIOR_TREND: "behavior_trend",
    ReportName.GRADE_DISTRIBUTION: "grade_distribution",
}


def report_params(name: str, term: str, rule: GradingRule) -> dict[str, Any]:
    """The parameters ``Reports`` hands the lake for the school's whole term (no subject filter)."""
    if name == ReportName.SUBJECT_AVERAGES:
        return {"term_id": term}
    if name == ReportName.STUDENT_AVERAGES:
        return {"term_id": term, "subject_id": ""}
    if name == ReportName.BEHAVIOR_TREND:
        return {"from_month": NO_LOWER_MONTH, "to_month": NO_UPPER_MONTH}
    return {
        "term_id": term,
        "subject_id": "",
        "low": float(SCALE_BOUNDS[rule.scale][0]),
        "width": DEFAULT_BUCKET_WIDTH[rule.scale],
    }


def whole_lake_query(
    bench: Bench, school_id: str, name: str, params: dict[str, Any]
) -> tuple[list[tuple[Any, ...]], int, int]:
    """The baseline: the same SQL and parameters over every file of the lake (the schools'; the
    probes' one-file schools left out), handed to DuckDB as one stream of record batches so that
    nothing is pruned (the cost of the query without partitions). Listing included, as ``DuckDbLake``
    lists the school's prefix. Rows, files, bytes."""
    report = report_sql.query(name)
    values = [school_id if p == report_sql.SCHOOL_PARAMETER else params[p] for p in report.params]
    infos = school_files(bench)
    dataset = ds.dataset(
        [info.path for info in infos],
        schema=lake_schema(),
        format="parquet",
        filesystem=bench.filesystem,
        partitioning=ds.partitioning(partition_schema(), flavor="hive"),
        partition_base_dir=bench.root,
    )
    connection = duckdb.connect(
        config={
            "threads": 2,
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    try:
        connection.register(report_sql.LAKE_TABLE, dataset.scanner().to_reader())
        rows = connection.execute(report.sql(), values).fetchall()
    finally:
        connection.close()
    return rows, len(infos), sum(info.size or 0 for info in infos)


def same_rows(left: Sequence[tuple[Any, ...]], right: Sequence[tuple[Any, ...]]) -> bool:
    """The same answer; doubles to 1e-9 (parallel sums add in any order)."""
    if len(left) != len(right):
        return False
    for one, other in zip(left, right, strict=True):
        if len(one) != len(other):
            return False
        for a, b in zip(one, other, strict=True):
            if isinstance(a, float) and isinstance(b, float):
                if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
                    return False
            elif a != b:
                return False
    return True


def timed(call: Callable[[], Any], repeat: int) -> tuple[Any, list[float]]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - began)
    return result, times


def make_reports(bench: Bench, key: bytes) -> Reports:
    """The analytics service's use cases as its composition root builds them, over ``DuckDbLake``."""
    return Reports(
        lake=bench.duck,
        rules=TableRules(bench.clients, bench.resources.table_name, RuleCache(ttl_seconds=300)),
        roster=DynamoRoster(bench.clients, bench.resources.table_name),
        pseudonym_key=key,
    )


def admin_of(school_id: str) -> Principal:
    return Principal(SchoolId(school_id), "bench-admin", frozenset({Role.ADMIN}))


def run_reports(bench: Bench, school: School, term: str, key: bytes) -> dict[str, dict[str, Any]]:
    """Each report for the school through ``Reports``: its answer's size and what the lake read
    (``DuckDbLake``'s ``ScanStatistics``)."""
    reports = make_reports(bench, key)
    principal = admin_of(school.school_id)
    calls: dict[str, Callable[[], Sequence[Any]]] = {
        ReportName.SUBJECT_AVERAGES: lambda: reports.subject_averages(principal, term_id=term),
        ReportName.STUDENT_AVERAGES: lambda: reports.students_below_passing(principal, term_id=term),
        ReportName.BEHAVIOR_TREND: lambda: reports.behavior_trend(principal),
        ReportName.GRADE_DISTRIBUTION: lambda: reports.grade_distribution(principal, term_id=term),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, call in calls.items():
        began = time.perf_counter()
        answer = call()
        seconds = time.perf_counter() - began
        scanned = bench.duck.last_statistics
        assert scanned is not None
        assert scanned.school_id == school.school_id
        out[name] = {
            "use_case": USE_CASES[name],
            "answer_rows": len(answer),
            "files_read": scanned.file_count,
            "bytes_read": scanned.bytes_read,
            "foreign_files": sum(f"school_id={school.school_id}/" not in path for path in scanned.files_read),
            "use_case_seconds": round(seconds, 4),
        }
    return out


def time_queries(
    bench: Bench,
    school: School,
    term: str,
    reports: dict[str, dict[str, Any]],
    shape: LakeShape,
    repeat: int,
    baseline_repeat: int,
    progress: Progress,
    task: TaskID,
) -> None:
    """Each report's query for the school through ``DuckDbLake`` (``repeat`` times) and as a
    whole-lake scan (``baseline_repeat`` times): medians, what each read, whether they agree; into
    ``reports``."""
    for name in REPORTS:
        params = report_params(name, term, school.rule)

        def one_school(name: str = name, params: dict[str, Any] = params) -> Any:
            result = bench.duck.query_with_statistics(school.school_id, name, params)
            progress.advance(task)
            return result

        def whole(name: str = name, params: dict[str, Any] = params) -> Any:
            result = whole_lake_query(bench, school.school_id, name, params)
            progress.advance(task)
            return result

        progress.update(task, note=name)
        (rows, scanned), one_times = timed(one_school, repeat)
        (whole_rows, whole_files, whole_bytes), whole_times = timed(whole, baseline_repeat)
        reports[name].update(
            files_read=scanned.file_count,
            bytes_read=scanned.bytes_read,
            seconds=round(statistics.median(one_times), 4),
            seconds_all=[round(s, 4) for s in one_times],
            whole_lake_files=whole_files,
            whole_lake_bytes=whole_bytes,
            whole_lake_seconds=round(statistics.median(whole_times), 4),
            whole_lake_seconds_all=[round(s, 4) for s in whole_times],
            speedup=round(statistics.median(whole_times) / statistics.median(one_times), 2),
            files_ratio=round(scanned.file_count / max(1, shape.files), 5),
            bytes_ratio=round(scanned.bytes_read / max(1, shape.bytes), 5),
            same_answer=same_rows([tuple(row.values()) for row in rows], whole_rows),
        )
