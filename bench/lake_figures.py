"""The lake benchmark's figures as ``lake.json`` holds them: the workload, throughput, the
pipeline's counters against what the bench expected, the API's answers, freshness percentiles, the
lake's shape, the queries and the cross-check."""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.lake_api_changes import ApiFigures
from bench.lake_probes import Prober
from bench.lake_readback import LakeRead, LakeShape
from bench.lake_workload import KEYS_ONLY, Change, Ledger, School, Write
from luca_infra.definitions import PLATFORM_DEFINITION
from luca_kernel.grading import ScaleKind


@dataclass
class Phases:
    """What the run's phases measured, up to the lake's stop and the timed reaper pass."""

    base_records: int  # what the platform's own start put on the stream
    roster_seconds: float
    term_seconds: float
    read_during: int  # stream records read while the term was written
    drain_seconds: float
    drain_records: int
    changes_from: datetime
    steady_from: datetime
    api: ApiFigures
    live: int
    stats: dict[str, Any]  # the lake's counters once stopped
    undecodable: int
    reaped: int
    table_items: int
    reaper_pass: float
    reaper_scan: float
    late_reaped: int


def percentiles(samples: Iterable[float]) -> dict[str, float]:
    """p50/p95/max as ``LakePipeline.freshness_percentiles`` takes them (nearest rank)."""
    ordered = sorted(samples)
    if not ordered:
        return {}

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "p50": round(at(0.50), 3),
        "p95": round(at(0.95), 3),
        "max": round(ordered[-1], 3),
        "count": len(ordered),
    }


def figures(
    opts: argparse.Namespace,
    schools: Sequence[School],
    writes: Sequence[Write],
    changes: Sequence[Change],
    ledger: Ledger,
    prober: Prober,
    phases: Phases,
    read: LakeRead,
    shape: LakeShape,
    biggest: School,
    reports: dict[str, dict[str, Any]],
    check: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """The report, and the freshness samples the plot draws."""
    settings = PLATFORM_DEFINITION.analytics
    students = sum(len(school.students) for school in schools)
    kinds = Counter(w.request["PutRequest"]["Item"]["type"]["S"] for w in writes)
    steady_ages = [age for changed, age in read.ages if changed >= phases.steady_from]
    load_ages = [age for changed, age in read.ages if changed < phases.changes_from]
    probe_ages = {
        phase: [s.seconds for s in prober.samples if s.phase == phase]
        for phase in ("load", "changes", "steady")
    }
    counters, api = phases.stats, phases.api
    expected_rows = ledger.lake_rows + prober.written
    expected_from_bench = ledger.stream_records + prober.stream_records
    files_per = sorted(shape.per_partition.values())
    report: dict[str, Any] = {
        "config": {
            **vars(opts),
            "buffer_bytes": settings.buffer_bytes,
            "buffer_seconds": settings.buffer_seconds,
            "poll_interval_seconds": settings.poll_interval_seconds,
            "reaper_interval_seconds": settings.reaper_interval_seconds,
            "compression": settings.compression,
        },
        "workload": {
            "schools": len(schools),
            "students": students,
            "percentage_schools": sum(s.rule.scale is ScaleKind.PERCENTAGE for s in schools),
            "term_writes": len(writes),
            "evaluations": kinds["Evaluation"],
            "notes": kinds["BehaviorNote"],
            "exercise_results": kinds["ExerciseResult"],
            "grades_changed": len(changes),
            "corrections": api.corrections,
            "second_corrections": api.second_corrections,
            "retractions": api.retractions,
            "expired_results": ledger.expired_results,
            "live_records": phases.live,
            "live_seconds": opts.live_seconds,
            "probes": prober.written,
        },
        "throughput": {
            "roster_seconds": round(phases.roster_seconds, 1),
            "term_seconds": round(phases.term_seconds, 1),
            "term_writes_per_second": round(len(writes) / phases.term_seconds),
            "stream_read_per_second_during_load": round(phases.read_during / phases.term_seconds),
            "drain_seconds": round(phases.drain_seconds, 1),
            "drain_records_per_second": round(phases.drain_records / phases.drain_seconds)
            if phases.drain_seconds
            else None,
            "table_items": phases.table_items,
            "reaper_pass_seconds": round(phases.reaper_pass, 3),
            "reaper_scan_seconds": round(phases.reaper_scan, 1),
            "reaper_pass_deleted": phases.late_reaped,
        },
        "pipeline": {
            **{
                k: counters[k]
                for k in (
                    "records_in",
                    "rows_out",
                    "skipped",
                    "files_written",
                    "bytes_written",
                    "flushes",
                    "failed_writes",
                    "records_read",
                )
            },
            "undecodable": phases.undecodable,
            "reaped": phases.reaped,
            "expected_stream_records": expected_from_bench + phases.reaped + phases.base_records,
            "expected_from_bench": expected_from_bench,
            "expected_rows": expected_rows,
            "expected_rows_by_type": {
                **ledger.by_type,
                "Evaluation": ledger.by_type["Evaluation"] + prober.written,
            },
            "expected_removes": phases.reaped,
            "expected_not_a_fact": phases.base_records
            + sum(n for kind, n in ledger.not_facts.items() if kind != KEYS_ONLY)
            + prober.written
            + prober.students,
            "expected_unknown_type": ledger.not_facts[KEYS_ONLY],
            "platform_start_records": phases.base_records,
            "bench_changes": dict(ledger.changes),
            "not_a_fact_written": {
                **ledger.not_facts,
                "Idempotency (probes)": prober.written,
                "Student (probes)": prober.students,
            },
        },
        "api": {
            "grades_changed": len(changes),
            "corrections": api.corrections,
            "second_corrections": api.second_corrections,
            "retractions": api.retractions,
            "answers": dict(api.answers),
            "seconds": {name: percentiles(values) for name, values in api.seconds.items()},
            "wall_seconds": round(api.wall_seconds, 1),
            "requests_per_second": round(sum(api.answers.values()) / api.wall_seconds, 1)
            if api.wall_seconds
            else None,
            "workers": opts.api_workers,
            "checked": api.checked,
            "stale_refused": api.stale_refused,
            "unconditional_refused": api.unconditional_refused,
            "replays_same": api.replays_same,
            "unexpected": api.unexpected,
        },
        "freshness": {
            "pipeline": {
                k: round(v, 3) if k != "count" else int(v) for k, v in counters["freshness"].items()
            },
            "lake_all": percentiles(age for _, age in read.ages),
            "lake_load": percentiles(load_ages),
            "lake_changes": percentiles(read.change_ages),
            "lake_steady": percentiles(steady_ages),
            "probes_load": percentiles(probe_ages["load"]),
            "probes_changes": percentiles(probe_ages["changes"]),
            "probes_steady": percentiles(probe_ages["steady"]),
            "probe_query_load": percentiles(prober.poll_seconds["load"]),
            "probe_query_changes": percentiles(prober.poll_seconds["changes"]),
            "probe_query_steady": percentiles(prober.poll_seconds["steady"]),
            "probe_errors": prober.errors,
            "probe_samples": [vars(s) for s in prober.samples],
        },
        "lake": {
            "files": shape.files,
            "bytes": shape.bytes,
            "rows": read.rows,
            "records": read.records,
            "changes": dict(read.changes),
            "item_types": dict(read.item_types),
            "removes_landed": sum(
                n for change, n in read.changes.items() if change not in ("INSERT", "MODIFY")
            ),
            "version_ties": read.version_ties,
            "later_versions": read.later_versions,
            "tombstones": read.tombstones,
            "versions_in_the_same_second": read.same_second_versions,
            "mean_file_bytes": shape.bytes / max(1, shape.files),
            "median_file_bytes": statistics.median(shape.sizes) if shape.sizes else 0,
            "files_under_64kb": sum(size < 64 * 1024 for size in shape.sizes),
            "mean_rows_per_file": statistics.mean(read.rows_per_file) if read.rows_per_file else 0,
            "partitions": len(shape.partitions),
            "files_per_partition_mean": statistics.mean(files_per) if files_per else 0,
            "files_per_partition_median": statistics.median(files_per) if files_per else 0,
            "files_per_partition_max": max(files_per, default=0),
            "files_per_partition": shape.per_partition,
            "read_back_seconds": round(read.seconds, 1),
            "probe_files": sum(p.files for p in shape.probe_partitions),
            "probe_bytes": sum(p.bytes for p in shape.probe_partitions),
        },
        "queries": {
            "school": biggest.school_id,
            "school_students": len(biggest.students),
            "lake_files": shape.files,
            "lake_bytes": shape.bytes,
            "reports": reports,
        },
        "cross_check": check,
    }
    ages = {
        "lake_load": load_ages,
        "lake_changes": read.change_ages,
        "lake_steady": steady_ages,
        "probes_load": probe_ages["load"],
        "probes_steady": probe_ages["steady"],
    }
    return report, ages
