"""gRPC contract: the generated client stubs against an in-process server on a free port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from grading_emulated import EmulatedGrading
from luca.common.v1 import common_pb2
from luca.grading.v1 import grading_pb2, grading_pb2_grpc
from luca_grading.entrypoints.grpc_server import create_server

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def channel(grading: EmulatedGrading) -> Iterator[grpc.Channel]:
    server, port = create_server(grading.container, address="127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
        yield chan
    server.stop(0)


@pytest.fixture
def stub(channel: grpc.Channel) -> grading_pb2_grpc.GradingServiceStub:
    return grading_pb2_grpc.GradingServiceStub(channel)


def auth(grading: EmulatedGrading, school: str, role: str, **kwargs: str) -> list[tuple[str, str]]:
    return [("authorization", grading.bearer(school, role, **kwargs)["Authorization"])]


def record(
    score: str = "5.8", student: str = "st-1", request_id: str | None = None
) -> grading_pb2.RecordEvaluationRequest:
    return grading_pb2.RecordEvaluationRequest(
        request_id=request_id or str(uuid.uuid4()),
        student_id=student,
        course_id="1A",
        subject_id="math",
        term_id="2026-T1",
        score=common_pb2.Decimal(value=score),
    )


def details(error: grpc.RpcError) -> tuple[grpc.StatusCode, list[object]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "errors must carry google.rpc.Status details"
    unpacked: list[object] = []
    for detail in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                unpacked.append(message)
    return error.code(), unpacked  # type: ignore[attr-defined]


def test_health_and_reflection_are_served(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "luca.grading.v1.GradingService"):
        assert (
            health.Check(health_pb2.HealthCheckRequest(service=service)).status
            == health_pb2.HealthCheckResponse.SERVING
        )
    reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert "luca.grading.v1.GradingService" in names


def test_record_and_list_with_a_forwarded_user_token(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading
) -> None:
    request = record()
    first = stub.RecordEvaluation(request, metadata=auth(grading, "school-a", "teacher"))
    again = stub.RecordEvaluation(request, metadata=auth(grading, "school-a", "teacher"))

    assert not first.replayed
    assert again.replayed
    assert again.evaluation == first.evaluation
    listed = stub.ListStudentEvaluations(
        grading_pb2.ListStudentEvaluationsRequest(student_id="st-1", term_id="2026-T1"),
        metadata=auth(grading, "school-a", "teacher"),
    )
    assert first.evaluation.evaluation_id in [e.evaluation_id for e in listed.evaluations]
    assert listed.averages[0].weighted_average.value


def test_an_unauthenticated_call_is_refused(stub: grading_pb2_grpc.GradingServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetGradingRule(grading_pb2.GetGradingRuleRequest(subject_id="math"))
    code, info = details(raised.value)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert info[0].reason == "UNAUTHENTICATED"  # type: ignore[attr-defined]


def test_a_score_off_the_scale_is_invalid_argument_with_the_field(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        stub.RecordEvaluation(record("9.9"), metadata=auth(grading, "school-a", "teacher"))
    code, found = details(raised.value)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    info = next(d for d in found if isinstance(d, error_details_pb2.ErrorInfo))
    bad = next(d for d in found if isinstance(d, error_details_pb2.BadRequest))
    assert info.reason == "SCORE_OUT_OF_SCALE"
    assert bad.field_violations[0].field == "score"


@pytest.mark.parametrize(
    ("call", "request_message"),
    [
        ("ListStudentEvaluations", grading_pb2.ListStudentEvaluationsRequest(student_id="st-9")),
        ("GetBehaviorProfile", grading_pb2.GetBehaviorProfileRequest(student_id="st-9")),
        ("RecordEvaluation", record(student="st-9")),
        ("ListCourseGrades", grading_pb2.ListCourseGradesRequest(course_id="2B", term_id="2026-T1")),
    ],
)
def test_school_b_resources_are_not_found_for_a_school_a_teacher(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading, call: str, request_message: object
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        getattr(stub, call)(request_message, metadata=auth(grading, "school-a", "teacher"))
    code, _ = details(raised.value)
    assert code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
    assert "Zoe" not in (raised.value.details() or "")  # type: ignore[attr-defined]


def test_roles_over_grpc(stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading) -> None:
    rule = grading_pb2.GradingRule(
        subject_id="math", scale=grading_pb2.SCALE_KIND_CHILEAN, passing_grade=common_pb2.Decimal(value="4.0")
    )
    with pytest.raises(grpc.RpcError) as raised:
        stub.PutGradingRule(
            grading_pb2.PutGradingRuleRequest(rule=rule), metadata=auth(grading, "school-a", "teacher")
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    stored = stub.PutGradingRule(
        grading_pb2.PutGradingRuleRequest(rule=rule), metadata=auth(grading, "school-a", "admin")
    )
    assert stored.rule.passing_grade.value == "4.0"
    with pytest.raises(grpc.RpcError) as own_only:
        stub.ListStudentEvaluations(
            grading_pb2.ListStudentEvaluationsRequest(student_id="st-2"),
            metadata=auth(grading, "school-a", "student", student_id="st-1"),
        )
    assert own_only.value.code() == grpc.StatusCode.PERMISSION_DENIED  # type: ignore[attr-defined]


def test_a_service_identity_token_names_its_school(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading
) -> None:
    token = grading.service_tokens.token_for("school-b")
    metadata = [("authorization", f"Bearer {token}")]
    reply = stub.ListStudentEvaluations(
        grading_pb2.ListStudentEvaluationsRequest(student_id="st-9"), metadata=metadata
    )
    assert all(e.student_id == "st-9" for e in reply.evaluations)
    with pytest.raises(grpc.RpcError) as raised:
        stub.ListStudentEvaluations(
            grading_pb2.ListStudentEvaluationsRequest(student_id="st-1"), metadata=metadata
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_behavior_notes_over_grpc(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading
) -> None:
    metadata = auth(grading, "school-a", "teacher")
    with pytest.raises(grpc.RpcError) as raised:
        stub.RecordBehaviorNote(
            grading_pb2.RecordBehaviorNoteRequest(
                request_id=str(uuid.uuid4()), student_id="st-1", course_id="1A", text="x"
            ),
            metadata=metadata,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    stub.RecordBehaviorNote(
        grading_pb2.RecordBehaviorNoteRequest(
            request_id=str(uuid.uuid4()),
            student_id="st-1",
            course_id="1A",
            kind=grading_pb2.BEHAVIOR_KIND_POSITIVE,
            text="Led the group",
        ),
        metadata=metadata,
    )
    profile = stub.GetBehaviorProfile(
        grading_pb2.GetBehaviorProfileRequest(student_id="st-1"), metadata=metadata
    )
    assert profile.positive_count >= 1
