"""gRPC contract of ``luca.grading.v1.GradingService``, the part ``test_grpc_contract.py`` leaves out:
the happy paths of ListCourseGrades and GetGradingRule, and every error status of every RPC (code,
``google.rpc.ErrorInfo`` reason and domain, ``google.rpc.BadRequest`` field). The generated client
stubs against an in-process server on a free port, over the emulator, with real JWTs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from grading_emulated import EmulatedGrading, TokenMint
from luca.common.v1 import common_pb2
from luca.grading.v1 import grading_pb2, grading_pb2_grpc
from luca_grading.entrypoints.grpc_server import create_server
from luca_kernel.errors import TenantBoundaryViolation
from luca_testing import grpc_status

pytestmark = pytest.mark.emulator

DOMAIN = "grading.luca.school"
TERM = "2026-T1"
pb = grading_pb2


@pytest.fixture(scope="module")
def channel(grading: EmulatedGrading) -> Iterator[grpc.Channel]:
    server, port = create_server(grading.container, address="127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
            yield chan
    finally:
        server.stop(None)


@pytest.fixture
def stub(channel: grpc.Channel) -> grading_pb2_grpc.GradingServiceStub:
    return grading_pb2_grpc.GradingServiceStub(channel)


def auth(
    grading: EmulatedGrading, role: str, school: str = "school-a", **kwargs: str
) -> list[tuple[str, str]]:
    return [("authorization", grading.bearer(school, role, **kwargs)["Authorization"])]


def dec(value: str) -> common_pb2.Decimal:
    return common_pb2.Decimal(value=value)


def evaluation(**fields: Any) -> pb.RecordEvaluationRequest:
    values: dict[str, Any] = {
        "request_id": str(uuid.uuid4()),
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "term_id": TERM,
        "score": dec("5.5"),
    }
    return pb.RecordEvaluationRequest(**(values | fields))


def note(**fields: Any) -> pb.RecordBehaviorNoteRequest:
    values: dict[str, Any] = {
        "request_id": str(uuid.uuid4()),
        "student_id": "st-1",
        "course_id": "1A",
        "kind": pb.BEHAVIOR_KIND_NEGATIVE,
        "text": "Late to class",
    }
    return pb.RecordBehaviorNoteRequest(**(values | fields))


def rule(**fields: Any) -> pb.PutGradingRuleRequest:
    values: dict[str, Any] = {
        "subject_id": "history",
        "scale": pb.SCALE_KIND_CHILEAN,
        "passing_grade": dec("4.0"),
        "decimals": 1,
    }
    return pb.PutGradingRuleRequest(rule=pb.GradingRule(**(values | fields)))


# One valid request per RPC (for the caller named in the test).
VALID: dict[str, Message] = {
    "RecordEvaluation": evaluation(),
    "ListStudentEvaluations": pb.ListStudentEvaluationsRequest(student_id="st-1"),
    "ListCourseGrades": pb.ListCourseGradesRequest(course_id="1A", term_id=TERM),
    "RecordBehaviorNote": note(),
    "GetBehaviorProfile": pb.GetBehaviorProfileRequest(student_id="st-1"),
    "GetGradingRule": pb.GetGradingRuleRequest(subject_id="math"),
    "PutGradingRule": rule(),
    "GetEvaluation": pb.GetEvaluationRequest(student_id="st-1", evaluation_id="e-1"),
    "CorrectEvaluation": pb.CorrectEvaluationRequest(
        request_id=str(uuid.uuid4()),
        student_id="st-1",
        evaluation_id="e-1",
        expected_version=1,
        score=dec("5.0"),
        reason="typo",
    ),
    "RetractEvaluation": pb.RetractEvaluationRequest(
        request_id=str(uuid.uuid4()),
        student_id="st-1",
        evaluation_id="e-1",
        expected_version=1,
        reason="twice",
    ),
    "GetEvaluationHistory": pb.GetEvaluationHistoryRequest(student_id="st-1", evaluation_id="e-1"),
    "PutTerm": pb.PutTermRequest(term_id="2027-T1", name="2027 first"),
    "CloseTerm": pb.CloseTermRequest(term_id="2027-T1"),
    "AssignTeacher": pb.AssignTeacherRequest(teacher_id="t-9", course_id="1A", subject_id="math"),
    "UnassignTeacher": pb.UnassignTeacherRequest(teacher_id="t-9", course_id="1A", subject_id="math"),
}
RPCS = sorted(VALID)


def refused(error: grpc.RpcError) -> tuple[grpc.StatusCode, error_details_pb2.ErrorInfo, list[str]]:
    return grpc_status.refused(error, domain=DOMAIN)


def fails(
    stub: grading_pb2_grpc.GradingServiceStub, rpc: str, request: Message, metadata: Any
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        getattr(stub, rpc)(request, metadata=metadata, timeout=10)
    return error.value


def test_every_rpc_of_the_proto_has_a_contract_here() -> None:
    assert set(pb.DESCRIPTOR.services_by_name["GradingService"].methods_by_name) == set(RPCS)


# -- the happy paths test_grpc_contract.py leaves out --------------------------------------------------
def test_list_course_grades_for_a_teacher_and_a_service(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading
) -> None:
    recorded = stub.RecordEvaluation(
        evaluation(student_id="st-2", score=dec("3.0"), weight=dec("2")), metadata=auth(grading, "teacher")
    ).evaluation
    service = [("authorization", f"Bearer {grading.service_tokens.token_for('school-a')}")]

    grades = stub.ListCourseGrades(VALID["ListCourseGrades"], metadata=auth(grading, "teacher"))
    assert stub.ListCourseGrades(VALID["ListCourseGrades"], metadata=service) == grades

    assert recorded in grades.evaluations
    assert (recorded.score.value, recorded.weight.value, recorded.teacher_id) == (
        "3.0",
        "2",
        "teacher-school-a",
    )
    (average,) = [a for a in grades.averages if a.student_id == "st-2"]
    assert (average.average.subject_id, average.average.term_id) == ("math", TERM)
    assert average.average.weighted_average.value == "3.0"
    assert (average.average.passing, average.average.evaluation_count) == (False, 1)


def test_get_grading_rule_answers_the_school_default_for_a_subject_without_its_own(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading
) -> None:
    got = stub.GetGradingRule(VALID["GetGradingRule"], metadata=auth(grading, "teacher")).rule

    assert got.scale == pb.SCALE_KIND_CHILEAN
    assert (got.passing_grade.value, got.decimals, got.default_weight.value) == ("4.0", 1, "1")
    assert got.rounding == pb.ROUNDING_HALF_UP


def test_a_replayed_behavior_note_returns_the_first(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading
) -> None:
    request = note()
    first = stub.RecordBehaviorNote(request, metadata=auth(grading, "teacher"))
    again = stub.RecordBehaviorNote(request, metadata=auth(grading, "teacher"))

    assert (first.replayed, again.replayed) == (False, True)
    assert again.note == first.note
    assert first.note.kind == pb.BEHAVIOR_KIND_NEGATIVE


# -- UNAUTHENTICATED ----------------------------------------------------------------------------------
def _expired(grading: EmulatedGrading) -> str:
    now = int(time.time())
    return "Bearer " + grading.mint.token("school-a", ["admins"], iat=now - 7200, exp=now - 3600)


# What a caller may send instead of a valid bearer token (None: no authorization metadata at all).
NOT_VALID: dict[str, Callable[[EmulatedGrading], str] | None] = {
    "no-token": None,
    "malformed": lambda g: "Bearer not-a-jwt",
    "expired": _expired,
    "forged": lambda g: "Bearer " + TokenMint(kid=g.mint.kid).token("school-a", ["admins"]),  # another key
    "no-school-claim": lambda g: "Bearer " + g.mint.token(None, ["admins"]),
    "no-bearer-scheme": lambda g: g.bearer("school-a", "admin")["Authorization"].removeprefix("Bearer "),
}


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize("authorization", list(NOT_VALID.values()), ids=list(NOT_VALID))
def test_a_call_without_a_valid_token_is_unauthenticated(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading, rpc: str, authorization: Any
) -> None:
    metadata = [] if authorization is None else [("authorization", authorization(grading))]

    code, info, fields = refused(fails(stub, rpc, VALID[rpc], metadata))

    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert info.reason == "UNAUTHENTICATED"
    assert fields == []


# Requests the contract's rules refuse (the validation interceptor's business, not the servicer's).
MALFORMED: dict[str, Message] = {
    "RecordEvaluation": evaluation(student_id=""),
    "GetGradingRule": pb.GetGradingRuleRequest(subject_id=""),
    "ListCourseGrades": pb.ListCourseGradesRequest(course_id=""),
}


@pytest.mark.parametrize("rpc", sorted(MALFORMED))
@pytest.mark.parametrize("authorization", list(NOT_VALID.values()), ids=list(NOT_VALID))
def test_a_malformed_call_without_a_valid_token_is_unauthenticated_not_invalid(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading, rpc: str, authorization: Any
) -> None:
    metadata = [] if authorization is None else [("authorization", authorization(grading))]

    code, info, fields = refused(fails(stub, rpc, MALFORMED[rpc], metadata))

    # Authentication before validation: nothing about the contract to a caller without a token.
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert info.reason == "UNAUTHENTICATED"
    assert fields == []


@pytest.mark.parametrize("rpc", sorted(MALFORMED))
def test_a_malformed_call_with_a_valid_token_is_invalid_argument(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading, rpc: str
) -> None:
    code, info, _fields = refused(fails(stub, rpc, MALFORMED[rpc], auth(grading, "teacher")))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert info.reason == "VALIDATION"


# -- PERMISSION_DENIED --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rpc", "role", "request_message"),
    [
        ("RecordEvaluation", "student", evaluation()),
        ("RecordEvaluation", "admin", evaluation()),  # admins manage; teachers grade
        ("RecordBehaviorNote", "student", note()),
        ("RecordBehaviorNote", "admin", note()),
        ("ListCourseGrades", "student", VALID["ListCourseGrades"]),
        ("GetBehaviorProfile", "student", pb.GetBehaviorProfileRequest(student_id="st-2")),
        ("GetGradingRule", "student", VALID["GetGradingRule"]),
        ("PutGradingRule", "student", rule()),
        ("PutTerm", "teacher", VALID["PutTerm"]),
        ("CloseTerm", "teacher", VALID["CloseTerm"]),
        ("AssignTeacher", "teacher", VALID["AssignTeacher"]),
        ("UnassignTeacher", "student", VALID["UnassignTeacher"]),
        ("GetEvaluationHistory", "student", VALID["GetEvaluationHistory"]),
        ("CorrectEvaluation", "student", VALID["CorrectEvaluation"]),
        ("RetractEvaluation", "student", VALID["RetractEvaluation"]),
    ],
)
def test_a_role_that_may_not_is_permission_denied(
    stub: grading_pb2_grpc.GradingServiceStub,
    grading: EmulatedGrading,
    rpc: str,
    role: str,
    request_message: Message,
) -> None:
    metadata = auth(grading, role, student_id="st-1") if role == "student" else auth(grading, role)

    code, info, fields = refused(fails(stub, rpc, request_message, metadata))

    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert info.reason == "FORBIDDEN"
    assert fields == []


def test_a_student_reads_their_own_profile(
    stub: grading_pb2_grpc.GradingServiceStub, grading: EmulatedGrading
) -> None:
    profile = stub.GetBehaviorProfile(
        pb.GetBehaviorProfileRequest(student_id="st-1"), metadata=auth(grading, "student", student_id="st-1")
    )
    assert profile.student_id == "st-1"


# -- NOT_FOUND: another school's entity and one that does not exist get the same answer ------------------
@pytest.mark.parametrize(
    ("rpc", "request_factory", "reason", "field"),
    [
        ("RecordEvaluation", lambda s: evaluation(student_id=s), "UNKNOWN_STUDENT", "student_id"),
        ("RecordBehaviorNote", lambda s: note(student_id=s), "UNKNOWN_STUDENT", "student_id"),
        (
            "ListStudentEvaluations",
            lambda s: pb.ListStudentEvaluationsRequest(student_id=s),
            "UNKNOWN_STUDENT",
            "student_id",
        ),
        (
            "GetBehaviorProfile",
            lambda s: pb.GetBehaviorProfileRequest(student_id=s),
            "UNKNOWN_STUDENT",
            "student_id",
        ),
        (
            "ListCourseGrades",
            lambda c: pb.ListCourseGradesRequest(course_id=c, term_id=TERM),
            "UNKNOWN_COURSE",
            "course_id",
        ),
        ("RecordEvaluation", lambda s: evaluation(subject_id=s), "UNKNOWN_SUBJECT", "subject_id"),
        ("GetGradingRule", lambda s: pb.GetGradingRuleRequest(subject_id=s), "UNKNOWN_SUBJECT", "subject_id"),
        ("PutGradingRule", lambda s: rule(subject_id=s), "UNKNOWN_SUBJECT", "subject_id"),
    ],
)
def test_an_unknown_or_another_schools_entity_is_not_found(
    stub: grading_pb2_grpc.GradingServiceStub,
    grading: EmulatedGrading,
    rpc: str,
    request_factory: Any,
    reason: str,
    field: str,
) -> None:
    # A teacher asking for a course they do not teach is refused before existence is looked at
    # (test_a_teacher_without_the_assignment...); an admin sees NOT_FOUND.
    role = "admin" if rpc in ("PutGradingRule", "ListCourseGrades") else "teacher"
    # st-9 and course 2B exist in school B only; "physics" in no school.
    other = {"student_id": "st-9", "course_id": "2B", "subject_id": "physics"}[field]
    answers = []
    for entity in (other, "zz-nowhere"):
        error = fails(stub, rpc, request_factory(entity), auth(grading, role))
        code, info, fields = refused(error)
        answers.append((code, info.reason, fields, (error.details() or "").replace(entity, "<id>")))

    assert answers[0] == answers[1]  # a probe learns nothing
    assert answers[0][:3] == (grpc.StatusCode.NOT_FOUND, reason, [])
    assert "Zoe" not in answers[0][3]


# -- INVALID_ARGUMENT ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rpc", "request_message", "reason", "field"),
    [
        ("RecordEvaluation", evaluation(score=dec("")), "VALIDATION", "score"),
        ("RecordEvaluation", evaluation(score=dec("abc")), "VALIDATION", "score"),
        ("RecordEvaluation", evaluation(score=dec("NaN")), "VALIDATION", "score"),
        ("RecordEvaluation", evaluation(score=dec("5.55")), "VALIDATION", "score"),
        ("RecordEvaluation", evaluation(score=dec("0.5")), "SCORE_OUT_OF_SCALE", "score"),
        ("RecordEvaluation", evaluation(weight=dec("0")), "VALIDATION", "weight"),
        ("RecordEvaluation", evaluation(weight=dec("x")), "VALIDATION", "weight"),
        ("RecordEvaluation", evaluation(student_id=""), "VALIDATION", "student_id"),
        ("RecordEvaluation", evaluation(course_id="1A#school-b"), "VALIDATION", "course_id"),
        ("RecordEvaluation", evaluation(course_id="2B"), "VALIDATION", "course_id"),  # not enrolled there
        ("RecordEvaluation", evaluation(subject_id=""), "VALIDATION", "subject_id"),
        ("RecordEvaluation", evaluation(term_id=""), "VALIDATION", "term_id"),
        ("RecordEvaluation", evaluation(description="x" * 2001), "VALIDATION", "description"),
        (
            "ListStudentEvaluations",
            pb.ListStudentEvaluationsRequest(student_id=""),
            "VALIDATION",
            "student_id",
        ),
        (
            "ListStudentEvaluations",
            pb.ListStudentEvaluationsRequest(student_id="st-1", subject_id="math"),
            "VALIDATION",
            "subject_id",  # needs term_id
        ),
        ("ListCourseGrades", pb.ListCourseGradesRequest(course_id="1A"), "VALIDATION", "term_id"),
        (
            "ListCourseGrades",
            pb.ListCourseGradesRequest(course_id="", term_id=TERM),
            "VALIDATION",
            "course_id",
        ),
        ("RecordBehaviorNote", note(kind=pb.BEHAVIOR_KIND_UNSPECIFIED), "VALIDATION", "kind"),
        ("RecordBehaviorNote", note(text="   "), "VALIDATION", "text"),
        ("RecordBehaviorNote", note(text="x" * 2001), "VALIDATION", "text"),
        ("RecordBehaviorNote", note(student_id="st 1"), "VALIDATION", "student_id"),
        ("GetBehaviorProfile", pb.GetBehaviorProfileRequest(student_id=""), "VALIDATION", "student_id"),
        ("GetGradingRule", pb.GetGradingRuleRequest(subject_id=""), "VALIDATION", "subject_id"),
        ("PutGradingRule", rule(scale=pb.SCALE_KIND_UNSPECIFIED), "VALIDATION", "rule.scale"),
        ("PutGradingRule", rule(passing_grade=dec("")), "VALIDATION", "rule.passing_grade"),
        ("PutGradingRule", rule(passing_grade=dec("four")), "VALIDATION", "rule.passing_grade"),
        ("PutGradingRule", rule(default_weight=dec("heavy")), "VALIDATION", "rule.default_weight"),
    ],
)
def test_a_bad_argument_is_invalid_argument_naming_the_field(
    stub: grading_pb2_grpc.GradingServiceStub,
    grading: EmulatedGrading,
    rpc: str,
    request_message: Message,
    reason: str,
    field: str,
) -> None:
    role = "admin" if rpc == "PutGradingRule" else "teacher"

    code, info, fields = refused(fails(stub, rpc, request_message, auth(grading, role)))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert info.reason == reason
    assert fields == [field]


# -- FAILED_PRECONDITION ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rpc", "first", "second"),
    [
        (
            "RecordEvaluation",
            evaluation(request_id="reused-key-1"),
            evaluation(request_id="reused-key-1", score=dec("6.0")),
        ),
        (
            "RecordBehaviorNote",
            note(request_id="reused-key-2"),
            note(request_id="reused-key-2", text="Other"),
        ),
    ],
)
def test_a_request_id_reused_for_another_request_is_failed_precondition(
    stub: grading_pb2_grpc.GradingServiceStub,
    grading: EmulatedGrading,
    rpc: str,
    first: Message,
    second: Message,
) -> None:
    getattr(stub, rpc)(first, metadata=auth(grading, "teacher"))

    code, info, fields = refused(fails(stub, rpc, second, auth(grading, "teacher")))

    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert info.reason == "IDEMPOTENCY_KEY_REUSED"
    assert fields == []  # BadRequest goes with INVALID_ARGUMENT only


# -- BadRequest names the request's field path; a refused tenant boundary has details ----------------
@pytest.mark.parametrize(
    ("rpc", "request_message", "field"),
    [
        ("RecordEvaluation", evaluation(request_id="short"), "request_id"),
        ("RecordBehaviorNote", note(request_id="has spaces in it"), "request_id"),
        ("PutGradingRule", rule(passing_grade=dec("9.0")), "rule.passing_grade"),
        ("PutGradingRule", rule(decimals=5), "rule.decimals"),
        ("PutGradingRule", rule(default_weight=dec("-1")), "rule.default_weight"),
        ("PutGradingRule", rule(subject_id="bad id"), "rule.subject_id"),
    ],
)
def test_bad_request_names_the_field_of_the_request(
    stub: grading_pb2_grpc.GradingServiceStub,
    grading: EmulatedGrading,
    rpc: str,
    request_message: Message,
    field: str,
) -> None:
    role = "admin" if rpc == "PutGradingRule" else "teacher"

    code, _, fields = refused(fails(stub, rpc, request_message, auth(grading, role)))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert fields == [field]


class BoundaryService:
    """A service whose repository's tenant guard refused a key (a bug that built another school's)."""

    def __getattr__(self, name: str) -> Any:
        def refuse(*args: object, **kwargs: object) -> Any:
            raise TenantBoundaryViolation("refused a key outside school 'school-a'")

        return refuse


def test_a_refused_tenant_boundary_is_permission_denied_with_details(grading: EmulatedGrading) -> None:
    server, port = create_server(replace(grading.container, service=BoundaryService()), address="127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
            error = fails(
                grading_pb2_grpc.GradingServiceStub(chan),
                "ListStudentEvaluations",
                VALID["ListStudentEvaluations"],
                auth(grading, "teacher"),
            )
    finally:
        server.stop(None)

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused(error)[1].reason == "FORBIDDEN"
    assert "school-a" not in str(rpc_status.from_call(error))  # type: ignore[arg-type]
