"""gRPC contract of ``luca.analytics.v1.AnalyticsService``: the generated client stubs against an
in-process server on a free port, the reports running for real over the test fakes (``FakeLake``
answers canned rows and remembers which school it was asked for).

``tests/integration/test_api.py`` already runs each RPC over the DuckDB lake (happy paths, a crafted
term or subject, a student and a stranger on SubjectAverages, a smuggled school, the lake down on
SubjectAverages). This file adds what it leaves out: health for the whole server and reflection,
every response field, and every error status of every RPC (code, ``google.rpc.ErrorInfo`` reason
and domain, ``google.rpc.BadRequest`` field), each refused before the lake is asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from botocore.exceptions import ClientError
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from luca.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from luca_analytics.bootstrap import Container
from luca_analytics.domain.lake import student_key
from luca_analytics.entrypoints.grpc_server import create_server
from luca_analytics.service_layer.reports import LakeUnavailable, Reports
from luca_kernel.errors import Reason, TenantBoundaryViolation
from luca_kernel.grading import GradingRule
from luca_testing import grpc_status

SERVICE = "luca.analytics.v1.AnalyticsService"
DOMAIN = "analytics.luca.school"
TERM = "2025-T1"

# One valid request per RPC, and the lake query each one runs.
VALID: dict[str, Message] = {
    "SubjectAverages": analytics_pb2.SubjectAveragesRequest(term_id=TERM),
    "StudentsBelowPassing": analytics_pb2.StudentsBelowPassingRequest(term_id=TERM),
    "BehaviorTrend": analytics_pb2.BehaviorTrendRequest(from_month="2025-03", to_month="2025-04"),
    "GradeDistribution": analytics_pb2.GradeDistributionRequest(term_id=TERM, subject_id="math"),
}
RPCS = sorted(VALID)


@dataclass
class Served:
    stub: analytics_pb2_grpc.AnalyticsServiceStub
    channel: grpc.Channel
    lake: Any


@pytest.fixture
def serve(
    fake_authenticator: Any, fake_rules: Any, fake_roster: Any, pseudonym_key: bytes
) -> Iterator[Callable[..., Served]]:
    """``serve(lake, rules=..., roster=...)``: the service over that lake, on a free loopback port."""
    servers: list[grpc.Server] = []
    channels: list[grpc.Channel] = []

    def start(lake: Any, *, rules: Any = None, roster: Any = None) -> Served:
        reports = Reports(
            lake=lake, rules=rules or fake_rules, roster=roster or fake_roster, pseudonym_key=pseudonym_key
        )
        server, port = create_server(
            Container(reports=reports, authenticator=fake_authenticator), address="127.0.0.1:0", workers=2
        )
        server.start()
        servers.append(server)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        channels.append(channel)
        return Served(analytics_pb2_grpc.AnalyticsServiceStub(channel), channel, lake)

    yield start
    for channel in channels:
        channel.close()
    for server in servers:
        server.stop(None)


@pytest.fixture
def served(serve: Callable[..., Served], fake_lake: Any) -> Served:
    return serve(fake_lake)


def auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def call(served: Served, rpc: str, request: Message | None = None, caller: str | None = "admin-a") -> Any:
    metadata = auth(caller) if caller is not None else ()
    return getattr(served.stub, rpc)(request or VALID[rpc], metadata=metadata, timeout=10)


def refused(error: grpc.RpcError) -> tuple[grpc.StatusCode, error_details_pb2.ErrorInfo, list[str]]:
    return grpc_status.refused(error, domain=DOMAIN)


def test_every_rpc_of_the_proto_has_a_contract_here() -> None:
    assert set(analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].methods_by_name) == set(RPCS)


# -- health and reflection ----------------------------------------------------------------------------
def test_health_is_serving_for_the_server_and_reflection_lists_the_service(served: Served) -> None:
    health = health_pb2_grpc.HealthStub(served.channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(served.channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
    ]
    listed, described = reflect.ServerReflectionInfo(iter(requests), timeout=5)
    assert SERVICE in {s.name for s in listed.list_services_response.service}
    assert described.file_descriptor_response.file_descriptor_proto


# -- every response field -----------------------------------------------------------------------------
def test_subject_averages_fields(served: Served) -> None:
    served.lake.rows["subject_averages"] = [
        {"subject_id": "math", "term_id": TERM, "weighted_average": 5.25, "grades": 6, "students": 4}
    ]

    (average,) = call(served, "SubjectAverages", caller="service-a").averages

    assert (average.subject_id, average.term_id, average.weighted_average) == ("math", TERM, 5.25)
    assert (average.grades, average.students) == (6, 4)
    assert served.lake.calls == [("school-a", "subject_averages", {"term_id": TERM})]


def test_students_below_passing_fields(served: Served, pseudonym_key: bytes) -> None:
    served.lake.rows["student_averages"] = [
        {"student_key": student_key(pseudonym_key, "school-a", "st-2"), "subject_id": "math"}
        | {"weighted_average": 3.44, "grades": 3},
        {"student_key": student_key(pseudonym_key, "school-a", "st-1"), "subject_id": "math"}
        | {"weighted_average": 6.0, "grades": 2},  # passing: not listed
        {"student_key": "f" * 64, "subject_id": "math", "weighted_average": 2.0, "grades": 1},
    ]

    below = call(served, "StudentsBelowPassing", caller="teacher-a").students

    assert [(s.student_id, s.subject_id, s.grades) for s in below] == [("st-2", "math", 3), ("", "math", 1)]
    assert [(s.weighted_average, s.passing_grade) for s in below] == [(3.4, 4.0), (2.0, 4.0)]
    assert [asked[0] for asked in served.lake.calls] == ["school-a"]


def test_behavior_trend_fields(served: Served) -> None:
    served.lake.rows["behavior_trend"] = [
        {"year": 2025, "month": 3, "positive": 2, "negative": 1},
        {"year": 2025, "month": 4, "positive": 0, "negative": 1},
    ]

    months = call(served, "BehaviorTrend").months

    assert [(m.month, m.positive, m.negative) for m in months] == [("2025-03", 2, 1), ("2025-04", 0, 1)]
    assert served.lake.calls == [("school-a", "behavior_trend", {"from_month": 202503, "to_month": 202504})]


def test_grade_distribution_fields(served: Served) -> None:
    served.lake.rows["grade_distribution"] = [{"score": 1.0, "grades": 2}, {"score": 7.0, "grades": 1}]

    buckets = call(
        served,
        "GradeDistribution",
        analytics_pb2.GradeDistributionRequest(term_id=TERM, subject_id="math", bucket_width=2.0),
    ).buckets

    assert [(b.from_score, b.to_score, b.grades) for b in buckets] == [
        (1.0, 3.0, 2),
        (3.0, 5.0, 0),
        (5.0, 7.0, 1),  # the top of the scale counts in the last bucket
    ]


# -- UNAUTHENTICATED ----------------------------------------------------------------------------------
@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", "Bearer forged"),), (("authorization", "admin-a"),)],
    ids=["no-token", "unknown-token", "not-bearer"],
)
def test_a_call_without_a_valid_token_is_unauthenticated(
    served: Served, rpc: str, metadata: tuple[tuple[str, str], ...]
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        getattr(served.stub, rpc)(VALID[rpc], metadata=metadata, timeout=10)

    code, _info, fields = refused(error.value)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert fields == []  # the reason: see test_reasons_are_the_wire_names_of_error_reason
    assert served.lake.calls == []


@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", "Bearer forged"),), (("authorization", "admin-a"),)],
    ids=["no-token", "unknown-token", "not-bearer"],
)
def test_a_request_the_contract_refuses_without_a_valid_token_is_unauthenticated(
    served: Served, metadata: tuple[tuple[str, str], ...]
) -> None:
    # term_id breaks its buf.validate pattern: still UNAUTHENTICATED, authentication comes first.
    with pytest.raises(grpc.RpcError) as error:
        served.stub.SubjectAverages(analytics_pb2.SubjectAveragesRequest(term_id="2025"), metadata=metadata)

    code, info, fields = refused(error.value)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert info.reason == "UNAUTHENTICATED"
    assert fields == []


# -- PERMISSION_DENIED --------------------------------------------------------------------------------
@pytest.mark.parametrize("rpc", RPCS)
def test_a_student_reads_no_report(served: Served, rpc: str) -> None:
    with pytest.raises(grpc.RpcError) as error:
        call(served, rpc, caller="student-a")

    code, info, fields = refused(error.value)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert info.reason == "NOT_YOUR_SCHOOL"  # every Forbidden, a role refusal too
    assert fields == []
    assert served.lake.calls == []


@pytest.mark.parametrize("rpc", RPCS)
def test_another_schools_data_refused_by_the_tenant_guard_is_denied_and_not_shown(
    serve: Callable[..., Served], rpc: str
) -> None:
    class GuardedLake:
        """A lake whose school guard refused a key: a bug that reached another school's partition."""

        def query(self, school_id: str, sql_name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
            raise TenantBoundaryViolation("refused partition school_id=school-b")

    served = serve(GuardedLake())
    with pytest.raises(grpc.RpcError) as error:
        call(served, rpc)

    code, info, fields = refused(error.value)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert info.reason == "NOT_YOUR_SCHOOL"
    assert fields == []
    assert "school-b" not in str(rpc_status.from_call(error.value))  # type: ignore[arg-type]


@pytest.mark.parametrize("rpc", ["StudentsBelowPassing", "BehaviorTrend", "GradeDistribution"])
def test_a_smuggled_school_field_or_header_is_ignored(served: Served, rpc: str) -> None:
    # The requests have no school: an unknown field 15 (string) and a school header name one anyway.
    smuggled = VALID[rpc].SerializeToString() + b"\x7a\x08school-b"
    method = served.channel.unary_unary(
        f"/{SERVICE}/{rpc}",
        request_serializer=lambda raw: raw,
        response_deserializer=lambda raw: raw,
    )
    method(smuggled, metadata=(*auth("admin-a"), ("x-school-id", "school-b")), timeout=10)
    call(served, rpc, caller="admin-b")

    assert [school for school, *_ in served.lake.calls] == ["school-a", "school-b"]


# -- INVALID_ARGUMENT ---------------------------------------------------------------------------------
Averages = analytics_pb2.SubjectAveragesRequest
Below = analytics_pb2.StudentsBelowPassingRequest
Trend = analytics_pb2.BehaviorTrendRequest
Spread = analytics_pb2.GradeDistributionRequest


@pytest.mark.parametrize(
    ("rpc", "request_message", "field"),
    [
        ("SubjectAverages", Averages(term_id="2025-T5"), "term_id"),
        ("StudentsBelowPassing", Below(), "term_id"),  # required
        ("StudentsBelowPassing", Below(term_id="2025"), "term_id"),
        ("StudentsBelowPassing", Below(term_id=TERM, subject_id="math' OR '1'='1"), "subject_id"),
        ("StudentsBelowPassing", Below(term_id=TERM, subject_id="x" * 65), "subject_id"),
        ("BehaviorTrend", Trend(from_month="2025-13"), "from_month"),
        ("BehaviorTrend", Trend(to_month="2025-3"), "to_month"),
        ("BehaviorTrend", Trend(from_month="2025-05", to_month="2025-04"), "from_month"),
        ("GradeDistribution", Spread(), "term_id"),  # required
        ("GradeDistribution", Spread(term_id=TERM, subject_id="math;--"), "subject_id"),
        ("GradeDistribution", Spread(term_id=TERM, bucket_width=-0.5), "bucket_width"),
        ("GradeDistribution", Spread(term_id=TERM, bucket_width=math.nan), "bucket_width"),
        ("GradeDistribution", Spread(term_id=TERM, bucket_width=math.inf), "bucket_width"),
        ("GradeDistribution", Spread(term_id=TERM, bucket_width=0.01), "bucket_width"),  # 600 buckets
        ("GradeDistribution", Spread(term_id=TERM, bucket_width=7.0), "bucket_width"),  # wider than 1-7
    ],
)
def test_a_bad_argument_is_invalid_argument_naming_the_field(
    served: Served, rpc: str, request_message: Message, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        call(served, rpc, request_message)

    code, _info, fields = refused(error.value)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields == [field]
    assert served.lake.calls == []


# -- UNAVAILABLE --------------------------------------------------------------------------------------
class DownLake:
    def query(self, school_id: str, sql_name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        raise LakeUnavailable(f"engine failed for {sql_name}: s3://lake/school-a", query_execution_id="q-1")


@pytest.mark.parametrize("rpc", ["StudentsBelowPassing", "BehaviorTrend", "GradeDistribution"])
def test_the_lake_down_is_unavailable_and_the_cause_is_not_shown(
    serve: Callable[..., Served], rpc: str
) -> None:
    served = serve(DownLake())
    with pytest.raises(grpc.RpcError) as error:
        call(served, rpc)

    code, info, fields = refused(error.value)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert info.reason == "LAKE_UNAVAILABLE"
    assert fields == []
    assert error.value.details() == LakeUnavailable.detail


# -- reasons on the wire, the school's table down ----------------------------------------------------
@pytest.mark.parametrize(
    ("rpc", "request_message", "caller", "reason"),
    [
        ("SubjectAverages", Averages(), None, Reason.UNAUTHENTICATED.name),
        ("StudentsBelowPassing", Below(), "admin-a", Reason.VALIDATION.name),
    ],
)
def test_reasons_are_the_wire_names_of_error_reason(
    served: Served, rpc: str, request_message: Message, caller: str | None, reason: str
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        call(served, rpc, request_message, caller)

    assert refused(error.value)[1].reason == reason


class DownTable:
    """The school's table (rules, roster) cannot answer."""

    def _fail(self) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "arn:secret"}}, "Query")

    def rule_for(self, school_id: str, subject_id: str) -> GradingRule:
        return self._fail()

    def student_ids(self, school_id: str) -> list[str]:
        return self._fail()


@pytest.mark.parametrize("rpc", ["StudentsBelowPassing", "GradeDistribution"])
def test_the_schools_table_down_is_unavailable(
    serve: Callable[..., Served], fake_lake: Any, pseudonym_key: bytes, rpc: str
) -> None:
    fake_lake.rows["student_averages"] = [
        {"student_key": student_key(pseudonym_key, "school-a", "st-2"), "subject_id": "math"}
        | {"weighted_average": 3.0, "grades": 1}
    ]
    served = serve(fake_lake, rules=DownTable(), roster=DownTable())
    with pytest.raises(grpc.RpcError) as error:
        call(served, rpc)

    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    assert refused(error.value)[1].reason == "DEPENDENCY_UNAVAILABLE"
    assert "secret" not in (error.value.details() or "")
    assert "secret" not in str(rpc_status.from_call(error.value))  # type: ignore[arg-type]
