"""The cost model's arithmetic on a tiny scenario, every expected figure worked out by hand here."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench.capacity.model import counts, model
from bench.capacity.scenario import Scenario

ZERO = {
    "wru": 0.0,
    "index_wru": 0.0,
    "rru": 0.0,
    "bytes_written": 0.0,
    "calls_by_operation": {},
    "s3_requests": 0.0,
}


def op(**figures: Any) -> dict[str, Any]:
    return {**ZERO, **figures}


MEASURED: dict[str, Any] = {
    "operations": {
        "record a grade": op(wru=10, index_wru=2, bytes_written=1000),
        "correct a grade": op(),
        "record a behaviour note": op(),
        "read: course grades": op(rru=2.5),
        "student event (in a batch)": op(wru=2, rru=0.5, bytes_written=500),
        "sync batch": op(wru=100, rru=5, calls_by_operation={"lambda:Invoke": 2}, s3_requests=1),
        "report: subject averages": op(),
        "lake record": op(),
    },
    "deployment": {
        "govsync_batch_size": 100, "pipe_batch_size": 100, "processor_memory_mib": 1024, "govsync_memory_mib": 1024,
        "enrich_memory_mib": 1024, "grading_task_vcpu": 0.5, "grading_min_tasks": 2,
        "other_services": {}, "processor_max_concurrency": 10, "waf_rules": 2, "grading_task_memory_gib": 1.0,
        "availability_zones": 2, "firehose_buffer_seconds": 3600, "firehose_buffer_mib": 128, "per_school_metric_series": 1,
        "lake_noncurrent_days": 90,
    },
    "burst": {"events_per_batch": 50, "duration_ms_mean": 1000.0, "message_bytes_mean": 1000},
    "sync": {"state_transitions": 9, "batches": 3, "wall_seconds": 3.0},
    "lake": {
        "json_bytes_per_row": 600, "parquet_bytes_per_row_one_file": 100, "school_rows": 10,
        "reports": {"report: subject averages": {"bytes_scanned": 1000}}, "enrichment": {"cpu_ms_per_record": 0.0},
        "small_files": {"overhead_bytes_per_file": 1000, "read_ms_per_file": 0.5},
    },
    "grading_cpu": {"requests_per_second_per_vcpu": 0.001, "cpu_ms_per_request": 2.0},
}  # fmt: skip

SCENARIO = Scenario(
    name="tiny", schools=2, students_per_school=10, teachers_per_school=2, courses_per_school=1,
    grades_per_student_per_term=3, terms_per_year=4, school_days_per_month=20, exercises_per_student_per_day=1,
    behaviour_notes_per_student_per_month=0, correction_share=0,
    reads_per_teacher_per_day={"read: course grades": 5}, peak_hour_share=0.2, fargate_utilisation_target=0.5,
    recesses_per_day=1, recess_minutes=0.1, recess_share_of_exercises=0.5, recess_overlap=1.0,
    largest_school_factor=2.0, students_active_share=1.0, report_queries_per_school_per_day=1,
    report_mix={"report: subject averages": 1.0}, lake_retention_months=1, lake_months_scanned=3,
    cognito_mau_share=1.0, api_bytes_per_request=0,
)  # fmt: skip

ZERO_PRICES = {
    "dynamodb": {"write_request_unit_per_million": 1000, "read_request_unit_per_million": 1000, "storage_gb_month": 1000,
                 "stream_read_request_per_million": 0},
    "lambda": {"gb_second": 0, "request_per_million": 0},
    "stepfunctions": {"transition_per_thousand": 1000},
    "firehose": {"ingested_gb": 0, "record_rounding_bytes": 5120, "format_conversion_gb": 0, "dynamic_partitioning_gb": 0,
                 "dynamic_partitioning_objects_per_thousand": 0},
    "s3": {"storage_gb_month": 0, "put_per_thousand": 0, "get_per_thousand": 0},
    "athena": {"tb_scanned": 1000, "minimum_bytes_per_query": 10485760},
    "fargate": {"vcpu_hour": 1, "gb_hour": 0},
    "alb": {"hour": 0, "lcu_hour": 0},
    "apigateway": {"request_per_million": 1000},
    "sqs": {"request_per_million": 1000, "chunk_bytes": 65536},
    "cloudwatch": {"logs_ingested_gb": 0, "logs_stored_gb_month": 0, "custom_metric_month": 73, "alarm_standard_month": 1,
                   "alarm_metrics_insights_per_metric_month": 1, "contributor_insights_rule_month": 5,
                   "contributor_insights_matched_events_per_million": 1000},
    "waf": {"web_acl_month": 5, "rule_month": 1, "request_per_million": 0},
    "cognito": {"mau": 1, "free_mau": 10},
}  # fmt: skip


def test_counts_of_a_month() -> None:
    c = counts(SCENARIO, 100)
    assert c["record a grade"] == 20  # 20 students x 3 grades x 4 terms / 12 months
    assert c["read: course grades"] == 400  # 4 teachers x 20 days x 5
    assert c["student event (in a batch)"] == 400  # 20 students x 1 exercise x 20 days
    assert c["sync batch"] == pytest.approx(2 / 3)  # 2 schools x ceil(30 / 100) x 4 terms / 12
    assert c["report: subject averages"] == 40  # 2 schools x 1 query x 20 days
    assert c["lake record"] == 420  # grades + events


def test_monthly_cost_of_the_tiny_scenario() -> None:
    result = model(MEASURED, SCENARIO, ZERO_PRICES)
    services = result["services"]
    # WRU 20 x 12 + 400 x 2 + 2/3 x 100 = 1,106.67; RRU 400 x 2.5 + 400 x 0.5 + 2/3 x 5 = 1,203.33;
    # storage (20 x 12 x 1,000 x 3 + 400 x 500) B = 0.00092 GB; at 1,000 a million / a GB: 1.1067 + 1.2033 + 0.92.
    assert services["DynamoDB"]["usd"] == pytest.approx(3.23)
    assert services["Step Functions"]["usd"] == pytest.approx(2.00)  # 2/3 batch x 9/3 transitions = 2
    # 40 queries at the 10 MB minimum (210 rows x 3 months x 100 B = 63 kB is less): 0.000419 TB x 1,000.
    assert services["Athena"]["usd"] == pytest.approx(0.42)
    # 420 interactive + 400 events + 40 reports = 860 requests; SQS 400 x (1 + 2/10) = 480.
    assert services["API Gateway"]["usd"] == pytest.approx(0.86)
    assert services["SQS"]["usd"] == pytest.approx(0.48)
    assert services["WAF"]["usd"] == pytest.approx(5 + 2)
    assert services["Cognito"]["usd"] == pytest.approx(24 - 10)  # 20 students + 4 teachers, 10 free
    # Peak: 21 requests a day x 0.2 / 3,600 s = 0.0011667 req/s, over 0.001 req/s/vCPU x 0.5 x 0.5 vCPU
    # = 4.67 -> 5 tasks; 2 all month (1,460 h) + 3 for 20 days x 8 h (480 h) = 1,940 h x 0.5 vCPU x $1.
    assert result["sizing"]["fargate_tasks"] == 5
    assert services["Fargate"]["usd"] == pytest.approx(970.0)
    # 2 school alarms + the all-schools one at $1, 2 latency series at $16 (decision 0012's deployed option).
    assert services["CloudWatch alarms"]["usd"] == pytest.approx(3 + 32)
    # Nightly compaction: 2 schools x 20 nights, each a 10 MB-minimum CTAS ($0.0105) and 4 transitions ($4).
    assert services["Lake compaction"]["usd"] == pytest.approx(40 * (0.01048576 + 4), abs=0.01)
    assert result["total_usd"] == pytest.approx(sum(s["usd"] for s in services.values()))
    assert result["per_school_usd"] == pytest.approx(result["total_usd"] / 2, abs=0.001)


def test_sizing_at_recess() -> None:
    sizing = model(MEASURED, SCENARIO, ZERO_PRICES)["sizing"]
    # Half of 1 exercise in the one 6-second recess: 2 schools x 10 students x 0.5 / 6 s = 1.67 events/s.
    assert sizing["recess_events_per_s"] == pytest.approx(1.7)
    assert sizing["lambda_concurrency_recess"] == pytest.approx(0.03)  # 1.67 / 50 a batch x 1 s
    # The hottest school is twice the average: 2 x 10 students x 0.5 / 6 s = 1.67 events/s x 2 WRU.
    assert sizing["hottest_school_wcu_per_s"] == pytest.approx(3.3)
    assert sizing["firehose_active_partitions"] == 2


def test_per_school_alarm_options() -> None:
    alarms = {o["option"]: o for o in model(MEASURED, SCENARIO, ZERO_PRICES)["decisions"]["alarms"]}
    # A series bills 20 school days x 8 h of 730 h: at $73 a series-month, $16 a series.
    both = alarms["a standard p95 alarm per school, count and latency series"]
    assert (both["alarms"], both["per_school_series"]) == (3, 4)  # 2 schools + the all-schools alarm
    assert (both["alarms_usd"], both["metrics_usd"], both["total_usd"]) == (3, 64, 67)
    latency = alarms["a standard p95 alarm per school, latency series only"]
    assert (latency["metrics_usd"], latency["total_usd"], latency["deployed"]) == (32, 35, True)
    assert not both["deployed"]
    # A query alarm bills per series it analyses ($1 each), plus the all-schools p95 alarm.
    insights = alarms["Metrics Insights query alarms"]
    assert (insights["alarms"], insights["alarms_usd"], insights["total_usd"]) == (1, 3, 35)
    # One rule ($5), its 420 interactive requests at $1,000 a million, one alarm, no series.
    rule = alarms["a Contributor Insights rule + 1 alarm"]
    assert (rule["rules_usd"], rule["metrics_usd"], rule["total_usd"]) == (5.42, 0, 6.42)


def test_fargate_task_sizes_at_the_peak() -> None:
    sizes = {r["vcpu"]: r for r in model(MEASURED, SCENARIO, ZERO_PRICES)["decisions"]["fargate_sizes"]}
    # Peak 0.0011667 req/s; a task carries 0.001 req/s/vCPU x 0.5 x its usable vCPU (at most 1: one process).
    assert [sizes[v]["tasks_at_peak"] for v in (0.25, 0.5, 1.0, 2.0)] == [10, 5, 3, 3]
    assert all(r["minimum_tasks"] == 2 for r in sizes.values())
    # 2 tasks all month (1,460 h) + the rest for 20 days x 8 h, at $1 a vCPU-hour.
    assert sizes[0.25]["task_hours"] == 1460 + 8 * 160
    assert sizes[0.25]["usd"] == pytest.approx(2740 * 0.25)
    assert sizes[0.5]["usd"] == pytest.approx(970.0)
    assert sizes[1.0]["usd"] == pytest.approx(1620.0)
    assert sizes[2.0]["usd"] == pytest.approx(3240.0)  # the same tasks as 1 vCPU, twice the price
    assert sizes[0.5]["deployed"]
    assert not sizes[1.0]["deployed"]
    assert [sizes[v]["cpu_ms_per_request_at_share"] for v in (0.25, 0.5, 1.0, 2.0)] == [8, 4, 2, 2]
    # One AZ lost: 10 tasks leave 5, 5 leave 2, 3 leave 1 (the AZ with more goes).
    assert sizes[0.25]["one_az_lost_cpu"] == pytest.approx(0.0011667 / (5 * 0.001 * 0.25), abs=0.001)
    assert sizes[0.5]["one_az_lost_cpu"] == pytest.approx(0.0011667 / (2 * 0.001 * 0.5), abs=0.001)
    assert sizes[2.0]["one_az_lost_cpu"] == pytest.approx(0.0011667 / 0.001, abs=0.001)


def test_lake_files_and_compaction_schedules() -> None:
    prices = copy.deepcopy(ZERO_PRICES)
    prices["s3"].update(get_per_thousand=1, put_per_thousand=1, storage_gb_month=1000)
    prices["stepfunctions"]["transition_per_thousand"] = 1
    lake = model(MEASURED, SCENARIO, prices)["decisions"]["lake_files"]
    # 210 rows a school-month; a 3,600 s buffer flushes 20 days x 8 h = 160 files (8 a day).
    assert lake["rows_per_partition_month"] == 210
    assert (lake["files_per_partition_month"], lake["files_per_partition_day"]) == (160, 8)
    assert lake["bytes_per_file"] == round(210 / 160 * 100 + 1000)
    schedules = {r["schedule"]: r for r in lake["schedules"]}
    # A report reads 3 months: 2 closed + half the open one (none: 2 x 160 + 80; monthly: 2 + 80;
    # nightly: 2 + the month-to-date file + half a day's 8), 40 reports a month.
    assert [schedules[n]["files_per_report"] for n in ("none", "monthly", "nightly")] == [400, 82, 7]
    assert [schedules[n]["s3_gets"] for n in ("none", "monthly", "nightly")] == [16_000, 3_280, 280]
    # 63 kB of rows + 400 files x 1 kB is under Athena's 10 MB minimum: $0.0105 a report at $1,000/TB.
    assert schedules["none"]["bytes_scanned_per_report"] == 10_485_760
    assert schedules["none"]["reports_usd"] == pytest.approx(16 + 40 * 0.01048576, abs=0.01)
    assert schedules["none"]["compaction_usd"] == 0
    # Monthly: 2 runs, each 160 GETs, 3 PUT-class requests, a 10 MB CTAS and 4 transitions.
    assert schedules["monthly"]["compaction_usd"] == pytest.approx(
        2 * (0.16 + 0.003 + 0.01048576 + 0.004), abs=0.01
    )
    # Storage beyond one file a month (a file: 210 / 160 rows x 100 B + 1,000 B; 3 months of versions),
    # per partition: none keeps its month's 160 files' own 1,000 B; monthly half the open month's and
    # the 160 replaced files; nightly half a day's, the 160 files and 19 / 2 month-to-date files of
    # 21,000 B on average. 2 partitions, $1,000 a GB.
    assert schedules["none"]["storage_usd"] == pytest.approx(2 * 160 * 1000 / 1e6)
    assert schedules["monthly"]["storage_usd"] == pytest.approx(
        2 * (80 * 1000 + 160 * 1131.25 * 3) / 1e6, abs=0.01
    )
    assert schedules["nightly"]["storage_usd"] == pytest.approx(
        2 * (4 * 1000 + (160 * 1131.25 + 9.5 * 21_000) * 3) / 1e6, abs=0.01
    )
    assert schedules["none"]["total_usd"] == pytest.approx(16 + 0.4194 + 0.32, abs=0.01)
    assert schedules["monthly"]["total_usd"] == pytest.approx(3.28 + 0.4194 + 0.355 + 1.246, abs=0.01)
    # Nightly: 40 runs, each 1 + 8 GETs; reports pay 280 GETs.
    assert schedules["nightly"]["compaction_runs"] == 40
    assert schedules["nightly"]["compaction_usd"] == pytest.approx(
        40 * (0.009 + 0.003 + 0.01048576 + 0.004), abs=0.01
    )
    assert schedules["nightly"]["total_usd"] == pytest.approx(0.28 + 0.4194 + 1.0594 + 2.291, abs=0.01)
    assert [schedules[n]["local_read_ms_per_report"] for n in ("none", "monthly", "nightly")] == [
        200,
        41,
        3.5,
    ]
