"""Decision 0014's figures: the files Firehose writes into each lake partition, what they cost every
report, and what compacting them costs, for three schedules.

Firehose writes one object per active partition (a school's month) per buffer flush; a school's
month is far below the buffer's size, so the interval flushes it, once per interval with writes, all
school day. A report reads its school's partitions of the last ``lake_months_scanned`` months.
Per file, a report pays at least one S3 GET (Athena reads each file's footer, then its columns) and
the bytes a file adds (measured: the school's rows as many files against one); locally, DuckDB's
time per file on local disk is a lower bound of what a file costs Athena's latency.

Schedules: ``none``; ``monthly`` (each school's month rewritten into one file once it has closed);
``nightly`` (each night, every partition written that day: the open month's files folded into its
month-to-date file, late changes to a closed month into that month's). Each run is one Athena CTAS
over the listed files, then a swap (copy the result in, delete what it replaced). Storage is priced
against a lake of one file a month: the files' own bytes where they stay, and the replaced objects
the bucket's versioning keeps (``lake_noncurrent_days``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.capacity.scenario import Scenario

SCHEDULES = ("none", "monthly", "nightly")
DECIDED = "nightly"  # decision 0014: what the model's S3 and Athena lines price
MIB = 1024 * 1024
DAYS_PER_MONTH = 30.0
# Per run and partition, as the design sketches the workflow: list the partition, write the CTAS
# result, copy it into place (PUT-class requests; deletes are free); and its Step Functions states:
# list, choice (anything to fold?), the query (.sync), the swap.
RUN_PUT_REQUESTS = 3
RUN_TRANSITIONS = 4


def lake_files(
    measured: Mapping[str, Any],
    s: Scenario,
    prices: Mapping[str, Any],
    c: Mapping[str, float],
    *,
    school_day_hours: float,
) -> dict[str, Any]:
    dep, lake = measured["deployment"], measured["lake"]
    small = lake["small_files"]
    rows = c["lake record"] / s.schools
    # A flush every interval of the school day, or sooner when the buffer fills (never, at these sizes).
    intervals = s.school_days_per_month * school_day_hours * 3600 / dep["firehose_buffer_seconds"]
    by_size = rows * lake["json_bytes_per_row"] / (dep["firehose_buffer_mib"] * MIB)
    files = min(rows, max(intervals, by_size))
    per_day = files / s.school_days_per_month
    row_bytes = lake["parquet_bytes_per_row_one_file"]
    overhead = small["overhead_bytes_per_file"]
    months = s.lake_months_scanned
    queries = sum(c[name] for name in s.report_mix)
    ath, s3p = prices["athena"], prices["s3"]
    file_bytes = rows / files * row_bytes + overhead if files else 0.0
    compacted = rows * row_bytes
    kept_months = dep["lake_noncurrent_days"] / DAYS_PER_MONTH

    def athena_bytes(data: float, n_files: float) -> float:
        return max(ath["minimum_bytes_per_query"], data + n_files * overhead)

    # Files a report reads: closed months, then the open month (half its files on average).
    per_report = {
        "none": (months - 1) * files + files / 2,
        "monthly": (months - 1) + files / 2,
        "nightly": (months - 1) + 1 + per_day / 2,
    }
    runs = {"none": 0.0, "monthly": float(s.schools), "nightly": float(s.schools * s.school_days_per_month)}
    # What one run reads: a closed month's files, or the month-to-date file (half a month on
    # average) and the day's files.
    run_gets = {"none": 0.0, "monthly": files, "nightly": 1 + per_day}
    run_scan = {
        "none": 0.0,
        "monthly": athena_bytes(rows * row_bytes, files),
        "nightly": athena_bytes(rows / 2 * row_bytes, per_day),
    }
    # Bytes a partition holds beyond one file a month: the small files' own bytes where they stay
    # (every month, the open one's first half), and what a month's runs replace, kept as versions.
    extra_bytes = {
        "none": s.lake_retention_months * files * overhead,
        "monthly": files / 2 * overhead + files * file_bytes * kept_months,
        "nightly": per_day / 2 * overhead
        + (files * file_bytes + (s.school_days_per_month - 1) / 2 * compacted) * kept_months,
    }
    schedules = []
    for name in SCHEDULES:
        n_files = per_report[name]
        scanned = athena_bytes(rows * months * row_bytes, n_files)
        gets = queries * n_files
        report_usd = gets / 1000 * s3p["get_per_thousand"] + queries * scanned / 1e12 * ath["tb_scanned"]
        compaction_usd = runs[name] * (
            run_gets[name] / 1000 * s3p["get_per_thousand"]
            + RUN_PUT_REQUESTS / 1000 * s3p["put_per_thousand"]
            + run_scan[name] / 1e12 * ath["tb_scanned"]
            + RUN_TRANSITIONS / 1000 * prices["stepfunctions"]["transition_per_thousand"]
        )
        storage_usd = s.schools * extra_bytes[name] / 1e9 * s3p["storage_gb_month"]
        schedules.append(
            {
                "schedule": name,
                "files_per_report": round(n_files, 1),
                "bytes_scanned_per_report": round(scanned),
                "s3_gets": round(gets),
                "reports_usd": round(report_usd, 2),
                "compaction_runs": round(runs[name]),
                "compaction_usd": round(compaction_usd, 2),
                "extra_storage_gb": round(s.schools * extra_bytes[name] / 1e9, 1),
                "storage_usd": round(storage_usd, 2),
                "total_usd": round(report_usd + compaction_usd + storage_usd, 2),
                "local_read_ms_per_report": round(n_files * small["read_ms_per_file"], 1),
            }
        )
    return {
        "rows_per_partition_month": round(rows, 1),
        "files_per_partition_month": round(files, 1),
        "files_per_partition_day": round(per_day, 1),
        "rows_per_file": round(rows / files, 1) if files else 0.0,
        "bytes_per_file": round(file_bytes),
        "compacted_bytes_per_partition_month": round(compacted),
        "overhead_bytes_per_file": overhead,
        "read_ms_per_file": small["read_ms_per_file"],
        "queries": round(queries),
        "decided": DECIDED,
        "schedules": schedules,
    }
