"""The cost model: a scenario's monthly usage of each AWS service, priced, and the sizing figures.

Pure arithmetic over three inputs: the per-operation measurements (``measure``'s JSON), a
``Scenario`` and a price table (the dated TOML file). Nothing here is a measured figure or a price;
every figure of usage is a count from the scenario times a measured cost of one unit of work.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bench.capacity.alarms import alarm_options
from bench.capacity.compaction import lake_files
from bench.capacity.fargate_sizes import fargate_sizes
from bench.capacity.scenario import Scenario

HOURS_PER_MONTH = 730.0
GB = 1e9
MONTHS_PER_YEAR = 12.0
# The school day: when the interactive tasks above the minimum run, Firehose flushes each active
# partition and a school's metric series receive data.
PEAK_HOURS_PER_DAY = 8.0
SQS_REQUESTS_PER_EVENT_RECEIVED = 2 / 10  # the mapping receives and deletes in tens
SECONDS_PER_RECESS_MINUTE = 60.0
PARTITION_WCU = 1000.0
PARTITION_RCU = 3000.0
FIREHOSE_PARTITION_QUOTA = 500


def counts(s: Scenario, sync_batch_size: int) -> dict[str, float]:
    """Units of work in a month, all schools: requests by operation, events, batches, rows, queries."""
    grades = s.students * s.grades_per_student_per_term * s.terms_per_year / MONTHS_PER_YEAR
    out: dict[str, float] = {
        "record a grade": grades,
        "correct a grade": grades * s.correction_share,
        "record a behaviour note": s.students * s.behaviour_notes_per_student_per_month,
    }
    for operation, per_day in s.reads_per_teacher_per_day.items():
        out[operation] = s.teachers * s.school_days_per_month * per_day
    out["student event (in a batch)"] = (
        s.students * s.students_active_share * s.exercises_per_student_per_day * s.school_days_per_month
    )
    batches_per_term = math.ceil(s.students_per_school * s.grades_per_student_per_term / sync_batch_size)
    out["sync batch"] = s.schools * batches_per_term * s.terms_per_year / MONTHS_PER_YEAR
    queries = s.schools * s.report_queries_per_school_per_day * s.school_days_per_month
    for report, share in s.report_mix.items():
        out[report] = queries * share
    # Every version of a grade or note and every exercise result becomes a lake row.
    out["lake record"] = (
        out["record a grade"]
        + out["correct a grade"]
        + out["record a behaviour note"]
        + out["student event (in a batch)"]
    )
    return out


def interactive_requests(c: Mapping[str, float], s: Scenario) -> float:
    names = ["record a grade", "correct a grade", "record a behaviour note", *s.reads_per_teacher_per_day]
    return sum(c[name] for name in names)


def line(usage: str, usd: float) -> dict[str, Any]:
    return {"usage": usage, "usd": round(usd, 2)}


def model(measured: Mapping[str, Any], s: Scenario, prices: Mapping[str, Any]) -> dict[str, Any]:
    ops: Mapping[str, Mapping[str, Any]] = measured["operations"]
    dep: Mapping[str, Any] = measured["deployment"]
    lake, burst, sync = measured["lake"], measured["burst"], measured["sync"]
    p = prices
    c = counts(s, int(dep["govsync_batch_size"]))
    services: dict[str, dict[str, Any]] = {}

    # DynamoDB: request units of every operation, storage of a year of grades and a month of events.
    wru = sum(n * (ops[name]["wru"] + ops[name]["index_wru"]) for name, n in c.items() if name in ops)
    rru = sum(n * ops[name]["rru"] for name, n in c.items() if name in ops)
    stored = (
        c["record a grade"]
        * MONTHS_PER_YEAR
        * ops["record a grade"]["bytes_written"]
        * 3  # table + 2 index copies
        + c["student event (in a batch)"] * ops["student event (in a batch)"]["bytes_written"]
    ) / GB
    stream_reads = c["lake record"] / dep["pipe_batch_size"]
    ddb = p["dynamodb"]
    services["DynamoDB"] = line(
        f"{wru / 1e6:,.1f} M WRU, {rru / 1e6:,.1f} M RRU, {stored:,.1f} GB",
        wru / 1e6 * ddb["write_request_unit_per_million"] + rru / 1e6 * ddb["read_request_unit_per_million"]
        + stored * ddb["storage_gb_month"] + stream_reads / 1e6 * ddb["stream_read_request_per_million"],
    )  # fmt: skip

    # Lambda: the grade processor's batches, the sync's tasks, the lake's enrichment.
    lam = p["lambda"]
    processor_calls = c["student event (in a batch)"] / burst["events_per_batch"]
    processor_gbs = processor_calls * burst["duration_ms_mean"] / 1000 * dep["processor_memory_mib"] / 1024
    sync_calls_per_batch = ops["sync batch"]["calls_by_operation"].get("lambda:Invoke", 0.0)
    sync_calls = c["sync batch"] * sync_calls_per_batch
    sync_gbs = c["sync batch"] * sync["wall_seconds"] / sync["batches"] * dep["govsync_memory_mib"] / 1024
    enrich_calls = c["lake record"] / dep["pipe_batch_size"]
    enrich_seconds = c["lake record"] * lake["enrichment"]["cpu_ms_per_record"] / 1000
    enrich_gbs = enrich_seconds * dep["enrich_memory_mib"] / 1024
    invocations = processor_calls + sync_calls + enrich_calls
    gbs = processor_gbs + sync_gbs + enrich_gbs
    services["Lambda"] = line(
        f"{invocations / 1e6:,.2f} M invocations, {gbs:,.0f} GB-s",
        invocations / 1e6 * lam["request_per_million"] + gbs * lam["gb_second"],
    )

    transitions = c["sync batch"] * sync["state_transitions"] / sync["batches"]
    services["Step Functions"] = line(
        f"{transitions:,.0f} transitions", transitions / 1000 * p["stepfunctions"]["transition_per_thousand"]
    )

    # Firehose: each record rounded up to 5 KB; converted to Parquet; dynamically partitioned.
    fh = p["firehose"]
    billed_gb = (
        c["lake record"]
        * math.ceil(lake["json_bytes_per_row"] / fh["record_rounding_bytes"])
        * fh["record_rounding_bytes"]
        / GB
    )
    raw_gb = c["lake record"] * lake["json_bytes_per_row"] / GB
    rows_per_school = c["lake record"] / s.schools
    lake_layout = lake_files(measured, s, p, c, school_day_hours=PEAK_HOURS_PER_DAY)
    decided = next(r for r in lake_layout["schedules"] if r["schedule"] == lake_layout["decided"])
    files = s.schools * lake_layout["files_per_partition_month"]
    services["Firehose"] = line(
        f"{billed_gb:,.1f} GB billed ({raw_gb:,.2f} GB of JSON), {files:,.0f} objects",
        billed_gb * fh["ingested_gb"] + raw_gb * (fh["format_conversion_gb"] + fh["dynamic_partitioning_gb"])
        + files / 1000 * fh["dynamic_partitioning_objects_per_thousand"],
    )  # fmt: skip

    # S3: the lake at its retention (steady state), its writes, Athena's reads of the files the
    # decided compaction leaves (a GET a file at least); the sync's manifests.
    s3p = p["s3"]
    lake_gb = c["lake record"] * lake["parquet_bytes_per_row_one_file"] * s.lake_retention_months / GB
    queries = sum(c[name] for name in s.report_mix)
    files_scanned = decided["s3_gets"]
    manifests = c["sync batch"] * ops["sync batch"]["s3_requests"]
    services["S3"] = line(
        f"{lake_gb:,.2f} GB lake, {files + manifests:,.0f} PUT, {files_scanned:,.0f} GET",
        lake_gb * s3p["storage_gb_month"] + (files + manifests) / 1000 * s3p["put_per_thousand"]
        + files_scanned / 1000 * s3p["get_per_thousand"],
    )  # fmt: skip

    # Athena: a report reads the Parquet of the school's partitions in its window (10 MB minimum).
    ath = p["athena"]
    scanned_per_row = {
        name: r["bytes_scanned"] / max(1, lake["school_rows"]) for name, r in lake["reports"].items()
    }
    file_bytes = decided["files_per_report"] * lake_layout["overhead_bytes_per_file"]
    scanned = sum(
        c[name]
        * max(
            ath["minimum_bytes_per_query"],
            scanned_per_row[name] * rows_per_school * s.lake_months_scanned + file_bytes,
        )
        for name in s.report_mix
    )
    services["Athena"] = line(f"{scanned / 1e12:,.3f} TB scanned", scanned / 1e12 * ath["tb_scanned"])
    services["Lake compaction"] = line(
        f"{decided['compaction_runs']:,} {lake_layout['decided']} runs, {decided['extra_storage_gb']:,.0f} GB "
        "of replaced versions (not built yet: decision 0014)",
        decided["compaction_usd"] + decided["storage_usd"],
    )

    # Fargate: the grading tasks the peak needs at the utilisation target; the two small services.
    cpu = measured["grading_cpu"]
    daily = interactive_requests(c, s) / s.school_days_per_month
    peak_rps = daily * s.peak_hour_share / 3600
    vcpu = dep["grading_task_vcpu"]
    tasks = max(
        int(dep["grading_min_tasks"]),
        math.ceil(peak_rps / (cpu["requests_per_second_per_vcpu"] * s.fargate_utilisation_target * vcpu)),
    )
    extra_hours = (tasks - dep["grading_min_tasks"]) * s.school_days_per_month * PEAK_HOURS_PER_DAY
    task_hours = {"grading": dep["grading_min_tasks"] * HOURS_PER_MONTH + extra_hours}
    fg = p["fargate"]
    usd = task_hours["grading"] * (vcpu * fg["vcpu_hour"] + dep["grading_task_memory_gib"] * fg["gb_hour"])
    for name, other in dep["other_services"].items():
        task_hours[name] = other["tasks"] * HOURS_PER_MONTH
        usd += task_hours[name] * (other["vcpu"] * fg["vcpu_hour"] + other["memory_gib"] * fg["gb_hour"])
    services["Fargate"] = line(
        f"{sum(task_hours.values()):,.0f} task-hours ({tasks} grading tasks at peak)", usd
    )
    services["ALB"] = line(
        "1 internal ALB, 1 LCU", HOURS_PER_MONTH * (p["alb"]["hour"] + p["alb"]["lcu_hour"])
    )

    api_requests = interactive_requests(c, s) + c["student event (in a batch)"] + queries
    services["API Gateway"] = line(
        f"{api_requests / 1e6:,.2f} M requests", api_requests / 1e6 * p["apigateway"]["request_per_million"]
    )
    sqs = p["sqs"]
    chunks = math.ceil(burst["message_bytes_mean"] / sqs["chunk_bytes"])
    sqs_requests = c["student event (in a batch)"] * chunks * (1 + SQS_REQUESTS_PER_EVENT_RECEIVED)
    services["SQS"] = line(
        f"{sqs_requests / 1e6:,.2f} M requests", sqs_requests / 1e6 * sqs["request_per_million"]
    )
    log_gb = (api_requests + invocations) * s.api_bytes_per_request / GB
    cw = p["cloudwatch"]
    services["CloudWatch Logs"] = line(
        f"{log_gb:,.1f} GB ingested", log_gb * (cw["logs_ingested_gb"] + cw["logs_stored_gb_month"])
    )
    # The per-school p95 alarms and the series they watch, as deployed (decision 0012).
    alarms = alarm_options(
        dep, s, p, interactive_requests=interactive_requests(c, s),
        hours_per_month=HOURS_PER_MONTH, school_day_hours=PEAK_HOURS_PER_DAY,
    )  # fmt: skip
    deployed = next((o for o in alarms if o["deployed"]), alarms[0])
    services["CloudWatch alarms"] = line(
        f"{deployed['alarms']:,} p95 alarms, {deployed['per_school_series']:,} school series",
        deployed["total_usd"],
    )
    waf = p["waf"]
    services["WAF"] = line(
        f"{api_requests / 1e6:,.2f} M requests, {dep['waf_rules']} rules",
        waf["web_acl_month"]
        + dep["waf_rules"] * waf["rule_month"]
        + api_requests / 1e6 * waf["request_per_million"],
    )
    mau = (s.students + s.teachers) * s.cognito_mau_share
    cog = p["cognito"]
    services["Cognito"] = line(f"{mau:,.0f} MAU", max(0.0, mau - cog["free_mau"]) * cog["mau"])

    total = sum(line_["usd"] for line_ in services.values())
    return {
        "services": services,
        "total_usd": round(total, 2),
        "per_school_usd": round(total / s.schools, 3),
        "counts": {name: round(n, 1) for name, n in c.items()},
        "sizing": sizing(measured, s, c, peak_rps, tasks),
        "decisions": {
            "alarms": alarms,
            "fargate_sizes": fargate_sizes(
                measured, s, p, peak_rps=peak_rps,
                hours_per_month=HOURS_PER_MONTH, school_day_hours=PEAK_HOURS_PER_DAY,
            ),
            "lake_files": lake_layout,
        },
    }  # fmt: skip


def sizing(
    measured: Mapping[str, Any], s: Scenario, c: Mapping[str, float], peak_rps: float, tasks: int
) -> dict[str, Any]:
    ops, dep, burst = measured["operations"], measured["deployment"], measured["burst"]
    per_recess = s.exercises_per_student_per_day * s.recess_share_of_exercises / s.recesses_per_day
    recess_seconds = s.recess_minutes * SECONDS_PER_RECESS_MINUTE
    events_per_s = (
        s.schools
        * s.recess_overlap
        * s.students_per_school
        * s.students_active_share
        * per_recess
        / recess_seconds
    )
    invocations_per_s = events_per_s / burst["events_per_batch"]
    concurrency = invocations_per_s * burst["duration_ms_mean"] / 1000
    event = ops["student event (in a batch)"]
    hottest_events = (
        s.largest_school_factor
        * s.students_per_school
        * s.students_active_share
        * per_recess
        / recess_seconds
    )
    wcu = hottest_events * (event["wru"] + event["index_wru"])
    # The hottest school's interactive reads in its peak hour.
    reads_per_day = (
        sum(c[name] * ops[name]["rru"] for name in s.reads_per_teacher_per_day)
        / s.schools
        / s.school_days_per_month
    )
    rcu = s.largest_school_factor * reads_per_day * s.peak_hour_share / 3600 + hottest_events * event["rru"]
    return {
        "interactive_peak_rps": round(peak_rps, 1),
        "requests_per_second_per_vcpu": measured["grading_cpu"]["requests_per_second_per_vcpu"],
        "utilisation_target": s.fargate_utilisation_target,
        "fargate_tasks": tasks,
        "recess_events_per_s": round(events_per_s, 1),
        "lambda_concurrency_recess": round(concurrency, 2),
        "lambda_concurrency_cap": dep["processor_max_concurrency"],
        "hottest_school_wcu_per_s": round(wcu, 1),
        "hottest_school_rcu_per_s": round(rcu, 1),
        "partition_write_heat": round(wcu / PARTITION_WCU, 4),
        "partition_read_heat": round(rcu / PARTITION_RCU, 4),
        # One partition a school and month; two in the hours around a month's turn.
        "firehose_active_partitions": s.schools,
        "firehose_active_partitions_month_turn": 2 * s.schools,
        "firehose_partition_quota": FIREHOSE_PARTITION_QUOTA,
    }
