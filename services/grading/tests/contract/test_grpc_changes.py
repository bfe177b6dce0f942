"""Corrections, retractions, history, terms and assignments over gRPC: the same service layer as REST,
answered with google.rpc statuses (reason, field, and the facts a client branches on as metadata)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from grading_emulated import EmulatedGrading, build, seed_roster
from luca.common.v1 import common_pb2
from luca.grading.v1 import grading_pb2 as pb
from luca.grading.v1 import grading_pb2_grpc
from luca_grading.entrypoints.grpc_server import create_server
from luca_testing import grpc_status

pytestmark = pytest.mark.emulator
DOMAIN = "grading.luca.school"
TERM = "2026-T1"


@pytest.fixture(scope="module")
def grading(emulator_endpoint: str) -> EmulatedGrading:
    built = build(emulator_endpoint)
    seed_roster(built, "school-a", {"st-1": "Ana Rojas"})
    seed_roster(built, "school-b", {"st-9": "Zoe Bravo"})
    return built


@pytest.fixture(scope="module")
def stub(grading: EmulatedGrading) -> Iterator[grading_pb2_grpc.GradingServiceStub]:
    server, port = create_server(grading.container, address="127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield grading_pb2_grpc.GradingServiceStub(channel)
    finally:
        server.stop(None)


def auth(grading: EmulatedGrading, role: str, school: str = "school-a", username: str | None = None) -> Any:
    if username:
        return [("authorization", "Bearer " + grading.mint.token(school, [f"{role}s"], username=username))]
    return [("authorization", grading.bearer(school, role)["Authorization"])]


def dec(value: str) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=value)


def record(stub: Any, grading: EmulatedGrading, term: str = TERM, score: str = "4.5") -> pb.Evaluation:
    return stub.RecordEvaluation(
        pb.RecordEvaluationRequest(
            request_id=str(uuid.uuid4()),
            student_id="st-1",
            course_id="1A",
            subject_id="math",
            term_id=term,
            score=dec(score),
        ),
        metadata=auth(grading, "teacher"),
    ).evaluation


def correct(
    evaluation: pb.Evaluation, version: int, score: str = "5.4", **fields: Any
) -> pb.CorrectEvaluationRequest:
    values: dict[str, Any] = {
        "request_id": str(uuid.uuid4()),
        "student_id": evaluation.student_id,
        "evaluation_id": evaluation.evaluation_id,
        "expected_version": version,
        "score": dec(score),
        "reason": "typo",
    }
    return pb.CorrectEvaluationRequest(**(values | fields))


def refused(call: Any) -> tuple[grpc.StatusCode, Any, list[str]]:
    with pytest.raises(grpc.RpcError) as error:
        call()
    return grpc_status.refused(error.value, domain=DOMAIN)


def test_correct_then_a_stale_or_missing_version_is_a_failed_precondition(
    stub: Any, grading: EmulatedGrading
) -> None:
    teacher = auth(grading, "teacher")
    recorded = record(stub, grading)
    assert recorded.version == 1

    request = correct(recorded, 1)
    done = stub.CorrectEvaluation(request, metadata=teacher)
    again = stub.CorrectEvaluation(request, metadata=teacher)

    assert (done.evaluation.version, done.evaluation.score.value, done.replayed) == (2, "5.4", False)
    assert (again.replayed, again.evaluation) == (True, done.evaluation)
    code, info, _ = refused(lambda: stub.CorrectEvaluation(correct(recorded, 1, "3.0"), metadata=teacher))
    assert (code, info.reason, info.metadata["current_version"]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "VERSION_MISMATCH",
        "2",
    )
    code, info, _ = refused(lambda: stub.CorrectEvaluation(correct(recorded, 0), metadata=teacher))
    assert (code, info.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "PRECONDITION_REQUIRED")
    code, info, fields = refused(
        lambda: stub.CorrectEvaluation(correct(recorded, 2, reason=""), metadata=teacher)
    )
    assert (code, info.reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION", ["reason"])
    code, info, fields = refused(
        lambda: stub.CorrectEvaluation(correct(recorded, 2, request_id="x"), metadata=teacher)
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["request_id"])


def test_retract_hides_the_grade_and_the_history_tells_every_change(
    stub: Any, grading: EmulatedGrading
) -> None:
    teacher = auth(grading, "teacher")
    recorded = record(stub, grading, score="2.0")
    stub.CorrectEvaluation(correct(recorded, 1, "2.5"), metadata=teacher)

    retracted = stub.RetractEvaluation(
        pb.RetractEvaluationRequest(
            request_id=str(uuid.uuid4()),
            student_id="st-1",
            evaluation_id=recorded.evaluation_id,
            expected_version=2,
            reason="entered twice",
        ),
        metadata=teacher,
    ).evaluation

    assert (retracted.retracted, retracted.version) == (True, 3)
    listed = stub.ListStudentEvaluations(
        pb.ListStudentEvaluationsRequest(student_id="st-1"), metadata=teacher
    )
    assert recorded.evaluation_id not in [e.evaluation_id for e in listed.evaluations]
    history = stub.GetEvaluationHistory(
        pb.GetEvaluationHistoryRequest(student_id="st-1", evaluation_id=recorded.evaluation_id),
        metadata=teacher,
    )
    assert [(c.version, c.kind, c.before.score.value, c.after.score.value) for c in history.changes] == [
        (2, pb.CHANGE_KIND_CORRECTED, "2.0", "2.5"),
        (3, pb.CHANGE_KIND_RETRACTED, "2.5", "2.5"),
    ]
    code, info, _ = refused(lambda: stub.CorrectEvaluation(correct(recorded, 3), metadata=teacher))
    assert (code, info.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "RETRACTED")


def test_a_teacher_without_the_assignment_is_permission_denied_on_every_rpc(
    stub: Any, grading: EmulatedGrading
) -> None:
    recorded = record(stub, grading)
    nobody = auth(grading, "teacher", username="teacher-nobody")
    ref = {"student_id": "st-1", "evaluation_id": recorded.evaluation_id}
    calls = {
        "RecordEvaluation": pb.RecordEvaluationRequest(
            request_id=str(uuid.uuid4()),
            student_id="st-1",
            course_id="1A",
            subject_id="math",
            term_id=TERM,
            score=dec("5.0"),
        ),
        "ListCourseGrades": pb.ListCourseGradesRequest(course_id="1A", term_id=TERM),
        "ListStudentEvaluations": pb.ListStudentEvaluationsRequest(student_id="st-1"),
        "GetBehaviorProfile": pb.GetBehaviorProfileRequest(student_id="st-1"),
        "RecordBehaviorNote": pb.RecordBehaviorNoteRequest(
            request_id=str(uuid.uuid4()),
            student_id="st-1",
            course_id="1A",
            kind=pb.BEHAVIOR_KIND_POSITIVE,
            text="x",
        ),
        "GetEvaluation": pb.GetEvaluationRequest(**ref),
        "GetEvaluationHistory": pb.GetEvaluationHistoryRequest(**ref),
        "CorrectEvaluation": correct(recorded, 1),
        "RetractEvaluation": pb.RetractEvaluationRequest(
            request_id=str(uuid.uuid4()), expected_version=1, reason="x", **ref
        ),
    }
    for rpc, request in calls.items():
        code, info, _ = refused(lambda rpc=rpc, request=request: getattr(stub, rpc)(request, metadata=nobody))
        assert (code, info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN"), rpc


def test_terms_and_assignments_are_managed_by_admins(stub: Any, grading: EmulatedGrading) -> None:
    admin, teacher = auth(grading, "admin"), auth(grading, "teacher")
    recorded = record(stub, grading, term="2025-T1")
    term = stub.CloseTerm(pb.CloseTermRequest(term_id="2025-T1"), metadata=admin).term
    assert (term.closed, term.closed_by) == (True, "admin-school-a")

    code, info, _ = refused(lambda: record(stub, grading, term="2025-T1"))
    assert (code, info.reason, info.metadata["term_id"]) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "TERM_CLOSED",
        "2025-T1",
    )
    code, info, _ = refused(lambda: stub.CorrectEvaluation(correct(recorded, 1), metadata=teacher))
    assert info.reason == "TERM_CLOSED"
    assert stub.CorrectEvaluation(correct(recorded, 1), metadata=admin).evaluation.version == 2

    made = stub.AssignTeacher(
        pb.AssignTeacherRequest(teacher_id="teacher-nobody", course_id="1A", subject_id="math"),
        metadata=admin,
    )
    assert made.assignment.assigned_by == "admin-school-a"
    nobody = auth(grading, "teacher", username="teacher-nobody")
    assert stub.ListCourseGrades(
        pb.ListCourseGradesRequest(course_id="1A", term_id=TERM, subject_id="math"), metadata=nobody
    )
    stub.UnassignTeacher(
        pb.UnassignTeacherRequest(teacher_id="teacher-nobody", course_id="1A", subject_id="math"),
        metadata=admin,
    )
    code, info, _ = refused(
        lambda: stub.UnassignTeacher(
            pb.UnassignTeacherRequest(teacher_id="teacher-nobody", course_id="1A", subject_id="math"),
            metadata=admin,
        )
    )
    assert (code, info.reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    code, info, _ = refused(
        lambda: stub.PutTerm(pb.PutTermRequest(term_id="2027-T1", name="x"), metadata=teacher)
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert (
        stub.PutTerm(pb.PutTermRequest(term_id="2027-T1", name="2027 first"), metadata=admin).term.closed
        is False
    )


def test_another_school_cannot_read_or_change_a_grade(stub: Any, grading: EmulatedGrading) -> None:
    recorded = record(stub, grading, score="6.0")
    for role in ("teacher", "admin"):
        other = auth(grading, role, school="school-b")
        for call in (
            lambda other=other: stub.GetEvaluation(
                pb.GetEvaluationRequest(student_id="st-1", evaluation_id=recorded.evaluation_id),
                metadata=other,
            ),
            lambda other=other: stub.CorrectEvaluation(correct(recorded, 1, "1.0"), metadata=other),
        ):
            code, _, _ = refused(call)
            assert code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
    got = stub.GetEvaluation(
        pb.GetEvaluationRequest(student_id="st-1", evaluation_id=recorded.evaluation_id),
        metadata=auth(grading, "teacher"),
    ).evaluation
    assert (got.version, got.score.value) == (1, "6.0")
