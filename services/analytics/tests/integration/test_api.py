"""The gRPC service and the REST app in-process, over the three-school lake, with a fake
authenticator: typed errors, and no request shape that reads another school."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from luca.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from luca_analytics.adapters.duckdb_lake import DuckDbLake
from luca_analytics.bootstrap import Container, bootstrap
from luca_analytics.config import AnalyticsSettings
from luca_analytics.entrypoints import grpc_server
from luca_analytics.entrypoints.rest import create_app
from luca_analytics.service_layer.reports import LakeUnavailable, Reports

OTHER_SCHOOLS_SUBJECTS = {"secret-school-b", "secret-school-c"}


@pytest.fixture
def lake(lake_directory: tuple[Path, dict[str, list[str]]]) -> DuckDbLake:
    return DuckDbLake.local(str(lake_directory[0]), duckdb_threads=1)


@pytest.fixture
def container(
    lake_directory: tuple[Path, dict[str, list[str]]],
    lake: DuckDbLake,
    fake_rules: Any,
    fake_roster: Any,
    fake_authenticator: Any,
    pseudonym_key: bytes,
) -> Container:
    settings = AnalyticsSettings(
        table_name="luca",
        user_pool_id="pool",
        user_pool_client_id="client",
        pseudonym_key=pseudonym_key,
        lake_directory=str(lake_directory[0]),
    )
    return bootstrap(
        settings, lake=lake, rules=fake_rules, roster=fake_roster, authenticator=fake_authenticator
    )


# -- gRPC -------------------------------------------------------------------------------------------
@pytest.fixture
def channel(container: Container) -> Iterator[grpc.Channel]:
    server, port = grpc_server.create_server(container, address="127.0.0.1:0", workers=2)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        server.stop(None)


def _auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _details(error: grpc.RpcError) -> list[Any]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    found: list[Any] = []
    for detail in status.details:
        for kind in (error_details_pb2.BadRequest, error_details_pb2.ErrorInfo):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found.append(message)
    return found


def test_grpc_health_and_a_report(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=grpc_server.SERVICE_NAME), timeout=5
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
    response = stub.SubjectAverages(
        analytics_pb2.SubjectAveragesRequest(term_id="2025-T1"), metadata=_auth("admin-a"), timeout=10
    )
    assert [(a.subject_id, a.grades, a.students) for a in response.averages] == [
        ("lang", 2, 2),
        ("math", 6, 4),
    ]
    below = stub.StudentsBelowPassing(
        analytics_pb2.StudentsBelowPassingRequest(term_id="2025-T1"), metadata=_auth("teacher-a"), timeout=10
    )
    assert [(s.subject_id, s.student_id) for s in below.students] == [
        ("lang", "st-1"),
        ("math", "st-2"),
        ("math", "st-3"),
        ("math", ""),  # unidentified
    ]
    trend = stub.BehaviorTrend(analytics_pb2.BehaviorTrendRequest(), metadata=_auth("service-a"), timeout=10)
    assert [(m.month, m.positive, m.negative) for m in trend.months] == [("2025-03", 2, 1), ("2025-04", 0, 1)]
    spread = stub.GradeDistribution(
        analytics_pb2.GradeDistributionRequest(term_id="2025-T1", subject_id="math", bucket_width=1.0),
        metadata=_auth("admin-a"),
        timeout=10,
    )
    assert sum(b.grades for b in spread.buckets) == 6
    assert len(spread.buckets) == 6


def test_grpc_a_crafted_term_is_invalid_argument_naming_the_field(channel: grpc.Channel) -> None:
    stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
    with pytest.raises(grpc.RpcError) as refused:
        stub.SubjectAverages(
            analytics_pb2.SubjectAveragesRequest(term_id="2025-T1' OR school_id <> 'x"),
            metadata=_auth("admin-a"),
            timeout=10,
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    (_info, bad) = _details(refused.value)
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert bad.field_violations[0].field == "term_id"


def test_grpc_a_crafted_subject_is_invalid_argument(channel: grpc.Channel) -> None:
    stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
    with pytest.raises(grpc.RpcError) as refused:
        stub.StudentsBelowPassing(
            analytics_pb2.StudentsBelowPassingRequest(term_id="2025-T1", subject_id="math'; DROP TABLE x;--"),
            metadata=_auth("admin-a"),
            timeout=10,
        )
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_grpc_students_are_denied_and_strangers_unauthenticated(channel: grpc.Channel) -> None:
    stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
    with pytest.raises(grpc.RpcError) as denied:
        stub.SubjectAverages(analytics_pb2.SubjectAveragesRequest(), metadata=_auth("student-a"), timeout=10)
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    (info,) = _details(denied.value)
    assert info.domain == grpc_server.ERROR_DOMAIN
    with pytest.raises(grpc.RpcError) as stranger:
        stub.SubjectAverages(analytics_pb2.SubjectAveragesRequest(), timeout=10)
    assert stranger.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_grpc_a_smuggled_school_field_or_header_is_ignored(channel: grpc.Channel) -> None:
    # SubjectAveragesRequest has no school: send one anyway as an unknown field (number 15, string),
    # plus a school header; the answer is still the token's school only.
    smuggled = analytics_pb2.SubjectAveragesRequest().SerializeToString() + b"\x7a\x08school-b"
    call = channel.unary_unary(
        f"/{grpc_server.SERVICE_NAME}/SubjectAverages",
        request_serializer=lambda raw: raw,
        response_deserializer=analytics_pb2.SubjectAveragesResponse.FromString,
    )
    response = call(smuggled, metadata=(*_auth("admin-a"), ("x-school-id", "school-b")), timeout=10)
    subjects = {a.subject_id for a in response.averages}
    assert subjects == {"lang", "math"}
    assert not subjects & OTHER_SCHOOLS_SUBJECTS
    assert [a.grades for a in response.averages if a.term_id == "2025-T1"] == [2, 6]


# -- REST -------------------------------------------------------------------------------------------
@pytest.fixture
def client(container: Container) -> TestClient:
    return TestClient(create_app(container))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_rest_reports(client: TestClient) -> None:
    averages = client.get(
        "/v1/analytics/subject-averages", params={"term_id": "2025-T1"}, headers=_bearer("admin-a")
    )
    assert averages.status_code == 200
    body = averages.json()
    assert body["school_id"] == "school-a"
    assert [(a["subject_id"], a["grades"]) for a in body["averages"]] == [("lang", 2), ("math", 6)]
    below = client.get(
        "/v1/analytics/students-below-passing", params={"term_id": "2025-T1"}, headers=_bearer("admin-a")
    ).json()["students"]
    assert [(s["student_id"], s["identified"]) for s in below][-1] == (None, False)
    trend = client.get(
        "/v1/analytics/behavior-trend", params={"from_month": "2025-04"}, headers=_bearer("admin-a")
    )
    assert trend.json()["months"] == [{"month": "2025-04", "positive": 0, "negative": 1}]
    spread = client.get(
        "/v1/analytics/grade-distribution",
        params={"term_id": "2025-T1", "bucket_width": "2"},
        headers=_bearer("teacher-a"),
    ).json()["buckets"]
    assert [b["grades"] for b in spread] == [1, 3, 4]


def test_rest_a_school_a_token_naming_school_b_gets_403_and_no_rows(client: TestClient) -> None:
    response = client.get(
        "/v1/analytics/subject-averages", params={"school_id": "school-b"}, headers=_bearer("admin-a")
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 403
    assert "averages" not in body
    assert "school-b" not in response.text.replace("school_id=school-b", "")
    own = client.get(
        "/v1/analytics/subject-averages", params={"school_id": "school-a"}, headers=_bearer("admin-a")
    )
    assert own.status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("subject-averages", {"term_id": "2025-T1' OR school_id <> 'x"}, "term_id"),
        (
            "students-below-passing",
            {"term_id": "2025-T1", "subject_id": "math'; DROP TABLE x; --"},
            "subject_id",
        ),
        ("grade-distribution", {"term_id": "2025-T1", "subject_id": 'math" OR "1"="1'}, "subject_id"),
        ("grade-distribution", {"term_id": "2025-T1", "bucket_width": "nan"}, "bucket_width"),
        ("grade-distribution", {"term_id": "2025-T1", "bucket_width": "0.001"}, "bucket_width"),
        ("behavior-trend", {"from_month": "2025-01'--"}, "from_month"),
        ("subject-averages", {"school": "school-b"}, "school"),  # not a parameter of any report
        ("subject-averages", {"subject_id": "math"}, "subject_id"),  # not one of this report's
        # An empty value breaks the parameter's pattern: it is not an absent parameter.
        ("subject-averages", {"term_id": ""}, "term_id"),
        ("behavior-trend", {"to_month": ""}, "to_month"),
        ("students-below-passing", {"term_id": "2025-T1", "subject_id": ""}, "subject_id"),
        ("subject-averages", {"school_id": ""}, "school_id"),
    ],
)
def test_rest_crafted_parameters_are_400_problems(
    client: TestClient, path: str, params: dict[str, str], field: str
) -> None:
    response = client.get(f"/v1/analytics/{path}", params=params, headers=_bearer("admin-a"))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["errors"][0]["field"] == field
    assert body["type"].endswith("/validation")


def test_rest_a_repeated_parameter_is_refused(client: TestClient) -> None:
    response = client.get(
        "/v1/analytics/subject-averages?term_id=2025-T1&term_id=2025-T2", headers=_bearer("admin-a")
    )
    assert response.status_code == 400


def test_rest_a_method_a_report_does_not_take_is_a_405_problem_with_allow(client: TestClient) -> None:
    response = client.post("/v1/analytics/subject-averages", headers=_bearer("admin-a"))

    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["allow"] == "GET"


def test_rest_students_unknown_reports_and_strangers(client: TestClient) -> None:
    assert client.get("/v1/analytics/subject-averages", headers=_bearer("student-a")).status_code == 403
    assert client.get("/v1/analytics/everything", headers=_bearer("admin-a")).status_code == 404
    stranger = client.get("/v1/analytics/subject-averages")
    assert stranger.status_code == 401
    assert stranger.headers["www-authenticate"] == "Bearer"
    assert stranger.headers["content-type"].startswith("application/problem+json")


# -- the lake unavailable ----------------------------------------------------------------------------
class DownLake:
    """A lake whose engine cannot answer (Athena failing, the bucket unreachable)."""

    def query(self, school_id: str, sql_name: str, params: Any) -> list[dict[str, Any]]:
        raise LakeUnavailable(f"engine down for {sql_name}", query_execution_id="q-1")


@pytest.fixture
def down_container(fake_rules: Any, fake_roster: Any, fake_authenticator: Any) -> Container:
    reports = Reports(lake=DownLake(), rules=fake_rules, roster=fake_roster, pseudonym_key=b"k")
    return Container(reports=reports, authenticator=fake_authenticator)


def test_rest_an_unavailable_lake_is_a_503_problem_with_retry_after(down_container: Container) -> None:
    response = TestClient(create_app(down_container)).get(
        "/v1/analytics/subject-averages", params={"term_id": "2025-T1"}, headers=_bearer("admin-a")
    )

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "5"
    assert "engine down" not in response.text  # the cause is logged, not shown
    assert response.json()["detail"] == LakeUnavailable.detail


class DownTable:
    """The school's table (rules, roster) cannot answer: throttled, an outage."""

    def _fail(self) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "arn:secret"}}, "Query")

    def rule_for(self, school_id: str, subject_id: str) -> Any:
        return self._fail()

    def student_ids(self, school_id: str) -> Any:
        return self._fail()


def test_rest_an_unreadable_school_table_is_a_503_problem_with_retry_after(
    lake: DuckDbLake, fake_authenticator: Any
) -> None:
    reports = Reports(lake=lake, rules=DownTable(), roster=DownTable(), pseudonym_key=b"k")
    client = TestClient(create_app(Container(reports=reports, authenticator=fake_authenticator)))

    for path in ("students-below-passing", "grade-distribution"):
        response = client.get(
            f"/v1/analytics/{path}", params={"term_id": "2025-T1"}, headers=_bearer("admin-a")
        )
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["retry-after"] == "5"
        assert response.json()["type"].endswith("/dependency-unavailable")
        assert "secret" not in response.text  # botocore's text is logged, not shown


def test_grpc_an_unavailable_lake_is_unavailable(down_container: Container) -> None:
    server, port = grpc_server.create_server(down_container, address="127.0.0.1:0", workers=1)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.SubjectAverages(
                    analytics_pb2.SubjectAveragesRequest(term_id="2025-T1"),
                    metadata=_auth("admin-a"),
                    timeout=10,
                )
    finally:
        server.stop(None)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    (info,) = [d for d in _details(refused.value) if isinstance(d, error_details_pb2.ErrorInfo)]
    assert info.reason == "LAKE_UNAVAILABLE"
