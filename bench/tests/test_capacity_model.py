"""The cost model's arithmetic on a tiny scenario, every expected figure worked out by hand here."""

from __future__ import annotations

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
        "enrich_memory_mib": 1024, "grading_task_vcpu": 0.5, "grading_task_memory_gib": 1.0, "grading_min_tasks": 2,
        "other_services": {}, "processor_max_concurrency": 10, "waf_rules": 2,
    },
    "burst": {"events_per_batch": 50, "duration_ms_mean": 1000.0, "message_bytes_mean": 1000},
    "sync": {"state_transitions": 9, "batches": 3, "wall_seconds": 3.0},
    "lake": {
        "json_bytes_per_row": 600, "parquet_bytes_per_row_one_file": 100, "school_rows": 10,
        "reports": {"report: subject averages": {"bytes_scanned": 1000}}, "enrichment": {"cpu_ms_per_record": 0.0},
    },
    "grading_cpu": {"requests_per_second_per_vcpu": 0.001},
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
    "cloudwatch": {"logs_ingested_gb": 0, "logs_stored_gb_month": 0},
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
