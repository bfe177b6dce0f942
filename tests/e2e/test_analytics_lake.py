"""The lake end to end: grades recorded through the gateway reach the Parquet lake and the reports.

The platform's own pipeline (stream poller + Firehose-like buffer, TTL reaper) and its analytics
service (its own process, behind the gateway's ``/v1/analytics`` route and on its gRPC port). The lake
is read back with the adapter the service uses (``DuckDbLake`` over the emulator's S3), whose scan
statistics say which files a query was given.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

import boto3
import grpc
import httpx
import pyarrow.compute as pc
import pytest
from grpc_status import rpc_status

from luca.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from luca_analytics.adapters.duckdb_lake import DuckDbLake
from luca_analytics.adapters.lake_schema import LAKE_PREFIX
from luca_infra.cli.up import report_flow
from luca_infra.local.demo import SCHOOL_A, SCHOOL_B
from luca_infra.local.platform import LocalPlatform, PlatformState
from luca_ingest.adapters.dynamodb_store import exercise_result_item
from luca_ingest.domain.events import EventKind, ExerciseResult, ExerciseSubmission, StudentEvent
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId
from luca_testing.polling import eventually

from .conftest import Auth

pytestmark = pytest.mark.e2e

T = TypeVar("T")
# A term no other test records grades in, so this module's averages are exactly its own grades.
LAKE_TERM = "2031-T3"
# The buffer interval is 5 s; a change is queryable well within this.
LAKE_WAIT_SECONDS = 40.0


def wait_for(
    produce: Callable[[], T | None], timeout: float = LAKE_WAIT_SECONDS, what: str = "a lake row"
) -> T:
    return eventually(produce, timeout=timeout, interval=0.25, what=what)


@pytest.fixture(scope="module")
def lake(platform: LocalPlatform) -> DuckDbLake:
    assert platform.lake is not None
    return DuckDbLake.s3(
        platform.lake.bucket, region=platform.resources.region, endpoint_url=platform.emulator_url
    )


def lake_rows(lake: DuckDbLake, school_id: str, record_id: str) -> list[dict[str, Any]]:
    dataset, _ = lake.school_dataset(school_id)
    table = dataset.to_table(filter=pc.field("record_id") == record_id)
    return table.to_pylist()


@pytest.fixture(scope="module")
def recorded(platform: LocalPlatform, gateway: httpx.Client, auth: Auth) -> list[dict[str, Any]]:
    """Three grades school A's teacher records through the gateway in ``LAKE_TERM``, one in school B."""
    for school in (SCHOOL_A, SCHOOL_B):  # each school's admin opens the term first
        opened = gateway.put(
            f"/v1/terms/{LAKE_TERM}",
            json={"name": "Lake term"},
            headers=auth.headers(school.school_id, "admin"),
        )
        assert opened.status_code == 200, opened.text
    grades = []
    for school, score in ((SCHOOL_A, "6.0"), (SCHOOL_A, "4.0"), (SCHOOL_A, "5.5"), (SCHOOL_B, "7.0")):
        body = {
            "student_id": school.student_user_id,
            "course_id": school.course_id,
            "subject_id": next(iter(school.subjects)),
            "term_id": LAKE_TERM,
            "score": "78"
            if school.default_rule and school.default_rule.get("scale") == "percentage"
            else score,
            "description": "Control de lectura",
        }
        headers = auth.headers(school.school_id, "teacher", **{"Idempotency-Key": f"lake-{uuid.uuid4()}"})
        response = gateway.post("/v1/evaluations", json=body, headers=headers)
        assert response.status_code == 201, response.text
        grades.append({**response.json(), "school_id": school.school_id})
    return grades


def test_a_grade_recorded_through_the_gateway_is_queryable_in_the_lake(
    lake: DuckDbLake, recorded: list[dict[str, Any]], gateway: httpx.Client, auth: Auth
) -> None:
    a_grades = [g for g in recorded if g["school_id"] == SCHOOL_A.school_id]

    # THEN each grade lands in its school's partition, once, pseudonymised
    for grade in a_grades:
        (row,) = wait_for(
            partial(lake_rows, lake, SCHOOL_A.school_id, grade["evaluation_id"]),
            what=f"evaluation {grade['evaluation_id']} in the lake",
        )
        assert row["change"] == "INSERT"
        assert row["term_id"] == LAKE_TERM
        assert row["score"] == pytest.approx(float(grade["score"]))
        assert grade["student_id"] not in str(row)  # only the keyed pseudonym, never the id

    # AND the school admin's report over the lake, through the gateway, counts exactly them
    response = gateway.get(
        "/v1/analytics/subject-averages",
        params={"term_id": LAKE_TERM},
        headers=auth.headers(SCHOOL_A.school_id, "admin"),
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["school_id"] == SCHOOL_A.school_id
    (average,) = report["averages"]
    assert average["grades"] == len(a_grades)
    assert average["students"] == 1
    expected = sum(float(g["score"]) for g in a_grades) / len(a_grades)
    assert average["weighted_average"] == pytest.approx(expected, abs=0.01)


def test_the_report_is_served_over_grpc_for_the_token_school_only(
    platform: LocalPlatform, lake: DuckDbLake, recorded: list[dict[str, Any]], auth: Auth
) -> None:
    b_grade = next(g for g in recorded if g["school_id"] == SCHOOL_B.school_id)
    wait_for(lambda: lake_rows(lake, SCHOOL_B.school_id, b_grade["evaluation_id"]), what="school B's grade")
    with grpc.insecure_channel(platform.analytics_grpc_target) as channel:
        stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
        answer = stub.SubjectAverages(
            analytics_pb2.SubjectAveragesRequest(term_id=LAKE_TERM),
            metadata=auth.metadata(SCHOOL_B.school_id, "admin"),
            timeout=20,
        )
        (average,) = answer.averages
        assert average.grades == 1  # school B's one grade, none of school A's three

        with pytest.raises(grpc.RpcError) as refused:
            stub.SubjectAverages(
                analytics_pb2.SubjectAveragesRequest(term_id="not-a-term"),
                metadata=auth.metadata(SCHOOL_B.school_id, "admin"),
                timeout=20,
            )
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(cast(grpc.Call, refused.value))
        assert status is not None
        assert status.details  # BadRequest names the field


def test_a_one_school_query_touches_only_that_schools_files(
    platform: LocalPlatform, lake: DuckDbLake, recorded: list[dict[str, Any]]
) -> None:
    for grade in recorded:
        wait_for(partial(lake_rows, lake, grade["school_id"], grade["evaluation_id"]))

    rows, statistics = lake.query_with_statistics(
        SCHOOL_A.school_id, "subject_averages", {"term_id": LAKE_TERM}
    )

    assert rows
    whole, school_a = lake.size(), lake.size(SCHOOL_A.school_id)
    assert whole.files > school_a.files > 0  # the lake holds school B's files too
    assert statistics.file_count == school_a.files
    assert statistics.bytes_read == school_a.bytes < whole.bytes
    prefix = f"{platform.lake.bucket if platform.lake else ''}/{LAKE_PREFIX}/school_id={SCHOOL_A.school_id}/"
    assert all(path.startswith(prefix) for path in statistics.files_read)


@pytest.mark.parametrize(
    "query",
    [
        {"term_id": LAKE_TERM, "school_id": SCHOOL_B.school_id},
        {"term_id": LAKE_TERM, "school_id": f"{SCHOOL_A.school_id}' OR school_id <> '"},
        {"term_id": f"{LAKE_TERM}' OR '1'='1"},
    ],
    ids=["names-another-school", "crafted-school", "crafted-term"],
)
def test_a_cross_school_report_attempt_returns_4xx_and_no_rows(
    gateway: httpx.Client, auth: Auth, recorded: list[dict[str, Any]], query: dict[str, str]
) -> None:
    response = gateway.get(
        "/v1/analytics/subject-averages", params=query, headers=auth.headers(SCHOOL_A.school_id, "admin")
    )

    crafted_term = "school_id" not in query
    assert response.status_code == (400 if crafted_term else 403), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == response.status_code
    assert "averages" not in body


def test_reports_need_a_verified_token_and_are_not_for_students(gateway: httpx.Client, auth: Auth) -> None:
    anonymous = gateway.get("/v1/analytics/subject-averages", params={"term_id": LAKE_TERM})
    student = gateway.get(
        "/v1/analytics/subject-averages",
        params={"term_id": LAKE_TERM},
        headers=auth.headers(SCHOOL_A.school_id, "student"),
    )

    assert anonymous.status_code == 401
    assert student.status_code == 403
    assert "averages" not in student.json()


def test_a_remove_never_lands(platform: LocalPlatform, lake: DuckDbLake) -> None:
    """An exercise result past its 30 days is reaped (as DynamoDB's TTL would); the lake keeps it."""
    assert platform.lake is not None
    assert platform.lake.pipeline is not None
    assert platform.lake.reaper is not None
    graded_at = datetime.now(UTC) - timedelta(days=31)
    event = StudentEvent(
        school_id=SchoolId(SCHOOL_A.school_id),
        event_id=f"evt-lake-{uuid.uuid4().hex[:12]}",
        student_id=StudentId(SCHOOL_A.student_user_id),
        course_id=CourseId(SCHOOL_A.course_id),
        subject_id=SubjectId(next(iter(SCHOOL_A.subjects))),
        occurred_at=graded_at,
        schema_version=1,
        kind=EventKind.EXERCISE_SUBMISSION,
        submission=ExerciseSubmission(exercise_id="fracciones-1", correct=2, total=3),
    )
    item = exercise_result_item(ExerciseResult(event, Decimal("5.0"), True, graded_at))
    resources = platform.resources
    table = boto3.resource(
        "dynamodb", region_name=resources.region, endpoint_url=platform.emulator_url
    ).Table(resources.table_name)
    # The reaper also runs on its own every 30 s: count from before the item exists.
    removals_before = platform.lake.pipeline.counters.skipped["remove"]
    reaped_before = platform.lake.reaper.deleted
    table.put_item(Item=item)
    (inserted,) = wait_for(lambda: lake_rows(lake, SCHOOL_A.school_id, event.event_id), what="the result")

    # WHEN the reaper runs (every 30 s on its own; now, for the test)
    platform.lake.reaper.reap_due()

    # THEN the item is gone from the table, its REMOVE was read and skipped, and the lake still has
    # exactly the one version it had
    assert platform.lake.reaper.deleted > reaped_before
    assert "Item" not in table.get_item(Key={"PK": item["PK"], "SK": item["SK"]})
    wait_for(
        lambda: (
            platform.lake is not None
            and platform.lake.pipeline is not None
            and platform.lake.pipeline.counters.skipped["remove"] > removals_before
        ),
        what="the REMOVE read from the stream",
    )
    platform.lake.pipeline.flush()
    assert lake_rows(lake, SCHOOL_A.school_id, event.event_id) == [inserted]
    everything, _ = lake.school_dataset(SCHOOL_A.school_id)
    assert "REMOVE" not in set(everything.to_table(columns=["change"]).column("change").to_pylist())


def test_the_state_file_and_banner_name_the_analytics_service(platform: LocalPlatform) -> None:
    state = PlatformState.read(platform.config.state_dir)

    assert state.analytics_grpc_target == platform.analytics_grpc_target
    assert state.analytics_rest_url == platform.analytics_rest_url
    assert state.lake_bucket == (platform.lake.bucket if platform.lake else "")


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash"
)
def test_the_printed_report_commands_work_when_pasted_into_a_shell(
    platform: LocalPlatform, lake: DuckDbLake, recorded: list[dict[str, Any]]
) -> None:
    state_dir = platform.config.state_dir
    luca = Path(sys.executable).with_name("luca")
    script = report_flow(PlatformState.read(state_dir), command=str(luca), state_dir=state_dir)
    for grade in recorded:
        wait_for(partial(lake_rows, lake, grade["school_id"], grade["evaluation_id"]))

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )

    assert result.returncode == 0, result.stderr
    report, _, listing = result.stdout.partition("\n")
    assert json.loads(report)["school_id"] == SCHOOL_A.school_id
    assert f"school_id={SCHOOL_A.school_id}/" in listing
    assert SCHOOL_B.school_id not in listing
    assert "rows out" in listing
