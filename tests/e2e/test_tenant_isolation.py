"""Tenant isolation on the running platform: school A's tokens never reach school B's data.

Every route is tried, over REST through the gateway (and straight at the service, to show it does
not rely on the edge) and over gRPC against the service, with real Cognito tokens. Each attempt must
be refused (403/404; PERMISSION_DENIED/NOT_FOUND) and its answer must carry none of B's data. A
forged tenant header must change nothing. Afterwards B's data is exactly what it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import grpc
import httpx
import pytest
from grpc_status import rpc_status

from luca.common.v1 import common_pb2
from luca.grading.v1 import grading_pb2, grading_pb2_grpc
from luca_infra.local.demo import SCHOOL_A, SCHOOL_B
from luca_infra.local.platform import LocalPlatform
from luca_platform.tokens import ServiceTokenIssuer

if TYPE_CHECKING:
    from conftest import Auth

pytestmark = pytest.mark.e2e

A, B = SCHOOL_A.school_id, SCHOOL_B.school_id
B_STUDENT = SCHOOL_B.student_user_id
B_ONLY_SUBJECT = next(s for s in SCHOOL_B.subjects if s not in SCHOOL_A.subjects)
TERM = SCHOOL_B.term_id
FORGED = {"X-School-Id": B, "X-Luca-School-Id": B, "X-Tenant-Id": B}


@dataclass(frozen=True)
class SchoolBData:
    """What school B holds; none of it may appear in an answer to school A."""

    evaluation_ids: frozenset[str]
    secrets: frozenset[str]


def school_b_view(gateway: httpx.Client, auth: Auth) -> dict[str, Any]:
    headers = auth.headers(B, "teacher")
    grades = gateway.get(f"/v1/courses/{SCHOOL_B.course_id}/terms/{TERM}/grades", headers=headers)
    profile = gateway.get(f"/v1/students/{B_STUDENT}/behavior-profile", headers=headers)
    rule = gateway.get("/v1/grading-rules/math", headers=headers)
    assert grades.status_code == profile.status_code == rule.status_code == 200
    return {"grades": grades.json(), "profile": profile.json(), "rule": rule.json()}


@pytest.fixture(scope="module")
def school_b(gateway: httpx.Client, auth: Auth) -> Iterator[SchoolBData]:
    before = school_b_view(gateway, auth)
    evaluations = before["grades"]["evaluations"]
    assert evaluations, "the demo seed gives school B grades"
    secrets = {s.display_name for s in SCHOOL_B.students}
    secrets |= {SCHOOL_B.course_name, *SCHOOL_B.subjects.values()}
    secrets |= {g.description for g in SCHOOL_B.grades}
    secrets |= {e["evaluation_id"] for e in evaluations}
    secrets |= {n["note_id"] for n in before["profile"]["recent_notes"]}
    secrets |= {n["text"] for n in before["profile"]["recent_notes"]}
    yield SchoolBData(frozenset(e["evaluation_id"] for e in evaluations), frozenset(secrets))
    # Whatever A tried, B's data is exactly as it was (nothing written, nothing overwritten).
    assert school_b_view(gateway, auth) == before


def assert_leaks_nothing(text: str, school_b: SchoolBData) -> None:
    leaked = sorted(secret for secret in school_b.secrets if secret in text)
    assert not leaked, f"school B data in the answer: {leaked}"


# -- REST ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    # A write naming another school's student/course/subject in its body gets 404 (unknown-student
    # etc.): from the caller's school it does not exist, exactly like an id that exists nowhere.
    statuses: tuple[int, ...] = (403, 404)


def teacher_attempts() -> list[Attempt]:
    grade = {
        "student_id": B_STUDENT,
        "course_id": SCHOOL_B.course_id,
        "subject_id": "math",
        "term_id": TERM,
        "score": "6.0",
    }
    note = {"student_id": B_STUDENT, "course_id": SCHOOL_B.course_id, "kind": "negative", "text": "x"}
    rule = {"scale": "chilean", "passing_grade": "4.0"}
    return [
        Attempt("student evaluations", "GET", f"/v1/students/{B_STUDENT}/evaluations"),
        Attempt(
            "filtered evaluations",
            "GET",
            f"/v1/students/{B_STUDENT}/evaluations?term_id={TERM}&subject_id=math",
        ),
        Attempt("behavior profile", "GET", f"/v1/students/{B_STUDENT}/behavior-profile"),
        Attempt("course grades", "GET", f"/v1/courses/{SCHOOL_B.course_id}/terms/{TERM}/grades"),
        Attempt(
            "course grades by subject",
            "GET",
            f"/v1/courses/{SCHOOL_B.course_id}/terms/{TERM}/grades?subject_id=math",
        ),
        Attempt("record a grade", "POST", "/v1/evaluations", grade, (403, 404)),
        Attempt("record a behavior note", "POST", "/v1/behavior-notes", note, (403, 404)),
        Attempt("put a grading rule", "PUT", f"/v1/grading-rules/{B_ONLY_SUBJECT}", rule, (403,)),
        Attempt("put the default rule", "PUT", "/v1/grading-rules/*", rule, (403,)),
        Attempt("put a course", "PUT", f"/v1/courses/{SCHOOL_B.course_id}", {"name": "x"}, (403,)),
        Attempt("put a subject", "PUT", f"/v1/subjects/{B_ONLY_SUBJECT}", {"name": "x"}, (403,)),
        Attempt(
            "put a student",
            "PUT",
            f"/v1/students/{B_STUDENT}",
            {"course_id": SCHOOL_B.course_id, "display_name": "x"},
            (403,),
        ),
    ]


def admin_attempts() -> list[Attempt]:
    """A's admin may write A's roster and rules; B's ids in the request must not reach B."""
    rule = {"scale": "chilean", "passing_grade": "4.0"}
    student = {"course_id": SCHOOL_B.course_id, "display_name": "x"}
    return [
        Attempt("put a rule for B's subject", "PUT", f"/v1/grading-rules/{B_ONLY_SUBJECT}", rule, (404,)),
        Attempt("enrol into B's course", "PUT", f"/v1/students/{B_STUDENT}", student, (404,)),
        Attempt("read B's course", "GET", f"/v1/courses/{SCHOOL_B.course_id}/terms/{TERM}/grades"),
        Attempt("read B's student", "GET", f"/v1/students/{B_STUDENT}/evaluations"),
    ]


def send(client: httpx.Client, attempt: Attempt, headers: dict[str, str]) -> httpx.Response:
    extra = {"Idempotency-Key": f"e2e-{uuid.uuid4()}"} if attempt.method == "POST" else {}
    return client.request(attempt.method, attempt.path, json=attempt.body, headers=headers | extra)


@pytest.fixture(scope="module", params=["gateway", "service"])
def rest(request: pytest.FixtureRequest, platform: LocalPlatform) -> Iterator[httpx.Client]:
    """REST through the gateway, and straight at the service (it must not rely on the edge)."""
    base = platform.gateway_url if request.param == "gateway" else platform.grading_rest_url
    with httpx.Client(base_url=base, timeout=15, trust_env=False) as client:
        yield client


@pytest.mark.parametrize("forged", [False, True], ids=["plain", "forged-tenant-header"])
@pytest.mark.parametrize("attempt", teacher_attempts(), ids=lambda a: a.name)
def test_a_teacher_of_a_reaches_no_school_b_resource(
    rest: httpx.Client, auth: Auth, school_b: SchoolBData, attempt: Attempt, forged: bool
) -> None:
    headers = auth.headers(A, "teacher") | (FORGED if forged else {})

    response = send(rest, attempt, headers)

    assert response.status_code in attempt.statuses, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert_leaks_nothing(response.text, school_b)


@pytest.mark.parametrize("attempt", admin_attempts(), ids=lambda a: a.name)
def test_an_admin_of_a_reaches_no_school_b_resource(
    rest: httpx.Client, auth: Auth, school_b: SchoolBData, attempt: Attempt
) -> None:
    response = send(rest, attempt, auth.headers(A, "admin") | FORGED)

    assert response.status_code in attempt.statuses, response.text
    assert_leaks_nothing(response.text, school_b)


def test_the_rule_of_a_subject_only_b_has_is_not_found_for_a(
    rest: httpx.Client, auth: Auth, school_b: SchoolBData
) -> None:
    response = rest.get(f"/v1/grading-rules/{B_ONLY_SUBJECT}", headers=auth.headers(A, "teacher") | FORGED)

    assert response.status_code == 404, response.text
    assert response.json()["type"].endswith("/unknown-subject")
    assert_leaks_nothing(response.text, school_b)


def test_a_forged_tenant_header_does_not_change_whose_data_a_teacher_reads(
    rest: httpx.Client, auth: Auth, school_b: SchoolBData
) -> None:
    plain = rest.get(
        f"/v1/students/{SCHOOL_A.student_user_id}/evaluations", headers=auth.headers(A, "teacher")
    )
    forged = rest.get(
        f"/v1/students/{SCHOOL_A.student_user_id}/evaluations", headers=auth.headers(A, "teacher") | FORGED
    )

    assert plain.status_code == forged.status_code == 200
    assert forged.json()["evaluations"] == plain.json()["evaluations"]
    assert {e["student_id"] for e in forged.json()["evaluations"]} == {SCHOOL_A.student_user_id}
    assert_leaks_nothing(forged.text, school_b)


# -- roles inside a school ------------------------------------------------------------------------------
def test_a_student_reads_only_their_own_record(
    gateway: httpx.Client, auth: Auth, school_b: SchoolBData
) -> None:
    student = auth.headers(A, "student")
    own = SCHOOL_A.student_user_id
    classmate = SCHOOL_A.students[1].student_id

    mine = gateway.get(f"/v1/students/{own}/evaluations", headers=student)
    my_profile = gateway.get(f"/v1/students/{own}/behavior-profile", headers=student)

    assert mine.status_code == 200
    assert {e["student_id"] for e in mine.json()["evaluations"]} == {own}
    assert my_profile.status_code == 200
    for path in (
        f"/v1/students/{classmate}/evaluations",
        f"/v1/students/{classmate}/behavior-profile",
        f"/v1/students/{B_STUDENT}/evaluations",
        f"/v1/courses/{SCHOOL_A.course_id}/terms/{TERM}/grades",
        "/v1/grading-rules/math",
    ):
        response = gateway.get(path, headers=student | FORGED)
        assert response.status_code == 403, (path, response.text)
        assert SCHOOL_A.students[1].display_name not in response.text
        assert_leaks_nothing(response.text, school_b)


def test_a_student_cannot_record_grades(gateway: httpx.Client, auth: Auth) -> None:
    body = {
        "student_id": SCHOOL_A.student_user_id,
        "course_id": SCHOOL_A.course_id,
        "subject_id": "math",
        "term_id": TERM,
        "score": "7.0",
    }
    headers = auth.headers(A, "student", **{"Idempotency-Key": f"e2e-{uuid.uuid4()}"})

    assert gateway.post("/v1/evaluations", json=body, headers=headers).status_code == 403


def test_a_teacher_cannot_change_grading_rules(gateway: httpx.Client, auth: Auth) -> None:
    rule = {"scale": "percentage", "passing_grade": "50"}

    response = gateway.put("/v1/grading-rules/math", json=rule, headers=auth.headers(A, "teacher"))
    current = gateway.get("/v1/grading-rules/math", headers=auth.headers(A, "teacher"))

    assert response.status_code == 403
    assert current.json()["scale"] == "chilean"


# -- gRPC -------------------------------------------------------------------------------------------------
def grpc_attempts() -> list[tuple[str, str, Any, tuple[grpc.StatusCode, ...]]]:
    missing = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
    return [
        (
            "ListStudentEvaluations",
            "student evaluations",
            grading_pb2.ListStudentEvaluationsRequest(student_id=B_STUDENT),
            missing,
        ),
        (
            "ListStudentEvaluations",
            "filtered evaluations",
            grading_pb2.ListStudentEvaluationsRequest(student_id=B_STUDENT, term_id=TERM, subject_id="math"),
            missing,
        ),
        (
            "ListCourseGrades",
            "course grades",
            grading_pb2.ListCourseGradesRequest(course_id=SCHOOL_B.course_id, term_id=TERM),
            missing,
        ),
        (
            "GetBehaviorProfile",
            "behavior profile",
            grading_pb2.GetBehaviorProfileRequest(student_id=B_STUDENT),
            missing,
        ),
        (
            "RecordEvaluation",
            "record a grade",
            grading_pb2.RecordEvaluationRequest(
                request_id=f"e2e-{uuid.uuid4()}",
                student_id=B_STUDENT,
                course_id=SCHOOL_B.course_id,
                subject_id="math",
                term_id=TERM,
                score=common_pb2.Decimal(value="6.0"),
            ),
            missing,
        ),
        (
            "RecordBehaviorNote",
            "record a behavior note",
            grading_pb2.RecordBehaviorNoteRequest(
                request_id=f"e2e-{uuid.uuid4()}",
                student_id=B_STUDENT,
                course_id=SCHOOL_B.course_id,
                kind=grading_pb2.BEHAVIOR_KIND_NEGATIVE,
                text="x",
            ),
            missing,
        ),
        (
            "PutGradingRule",
            "put a grading rule",
            grading_pb2.PutGradingRuleRequest(
                rule=grading_pb2.GradingRule(
                    subject_id=B_ONLY_SUBJECT,
                    scale=grading_pb2.SCALE_KIND_CHILEAN,
                    passing_grade=common_pb2.Decimal(value="4.0"),
                )
            ),
            (grpc.StatusCode.PERMISSION_DENIED,),
        ),
    ]


GRPC_ATTEMPTS = grpc_attempts()


def call(stub: grading_pb2_grpc.GradingServiceStub, method: str, request: Any, metadata: Any) -> Any:
    return getattr(stub, method)(request, metadata=metadata, timeout=10)


def grpc_error_text(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    return f"{error.details()} {status}"


@pytest.mark.parametrize("forged", [False, True], ids=["plain", "forged-tenant-metadata"])
@pytest.mark.parametrize(
    ("method", "name", "request_message", "codes"), GRPC_ATTEMPTS, ids=[a[1] for a in GRPC_ATTEMPTS]
)
def test_grpc_a_teacher_of_a_reaches_no_school_b_resource(
    grading_stub: grading_pb2_grpc.GradingServiceStub,
    auth: Auth,
    school_b: SchoolBData,
    method: str,
    name: str,
    request_message: Any,
    codes: tuple[grpc.StatusCode, ...],
    forged: bool,
) -> None:
    metadata = auth.metadata(A, "teacher") + ((("x-school-id", B),) if forged else ())

    with pytest.raises(grpc.RpcError) as refused:
        call(grading_stub, method, request_message, metadata)

    assert refused.value.code() in codes, name
    assert_leaks_nothing(grpc_error_text(refused.value), school_b)


def test_grpc_the_rule_of_a_subject_only_b_has_is_not_found_for_a(
    grading_stub: grading_pb2_grpc.GradingServiceStub, auth: Auth, school_b: SchoolBData
) -> None:
    request = grading_pb2.GetGradingRuleRequest(subject_id=B_ONLY_SUBJECT)

    with pytest.raises(grpc.RpcError) as refused:
        grading_stub.GetGradingRule(request, metadata=auth.metadata(A, "teacher"), timeout=10)

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert_leaks_nothing(grpc_error_text(refused.value), school_b)


def test_grpc_a_student_reads_only_their_own_record(
    grading_stub: grading_pb2_grpc.GradingServiceStub, auth: Auth
) -> None:
    metadata = auth.metadata(A, "student")
    own = grading_stub.ListStudentEvaluations(
        grading_pb2.ListStudentEvaluationsRequest(student_id=SCHOOL_A.student_user_id), metadata=metadata
    )

    assert {e.student_id for e in own.evaluations} == {SCHOOL_A.student_user_id}
    with pytest.raises(grpc.RpcError) as refused:
        grading_stub.ListStudentEvaluations(
            grading_pb2.ListStudentEvaluationsRequest(student_id=SCHOOL_A.students[1].student_id),
            metadata=metadata,
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer garbage", "Basic abc", "expired"],
    ids=["no-metadata", "garbage", "not-bearer", "expired"],
)
@pytest.mark.parametrize(
    ("method", "name", "request_message", "codes"), GRPC_ATTEMPTS, ids=[a[1] for a in GRPC_ATTEMPTS]
)
def test_grpc_unauthenticated_calls_are_refused(
    grading_stub: grading_pb2_grpc.GradingServiceStub,
    auth: Auth,
    authorization: str | None,
    method: str,
    name: str,
    request_message: Any,
    codes: tuple[grpc.StatusCode, ...],
) -> None:
    if authorization == "expired":
        authorization = f"Bearer {auth.expired_token(A, 'teacher')}"
    metadata = (("authorization", authorization),) if authorization else ()

    with pytest.raises(grpc.RpcError) as refused:
        call(grading_stub, method, request_message, metadata)

    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, name


def test_grpc_a_service_identity_acts_for_the_school_it_names_only(
    platform: LocalPlatform, grading_stub: grading_pb2_grpc.GradingServiceStub, school_b: SchoolBData
) -> None:
    issuer = ServiceTokenIssuer(
        kms=boto3.client("kms", region_name=platform.resources.region, endpoint_url=platform.emulator_url),
        key_id=platform.resources.service_key_id,
        service="e2e-report-tool",
    )
    metadata = (("authorization", f"Bearer {issuer.token_for(A)}"),)

    own = grading_stub.ListCourseGrades(
        grading_pb2.ListCourseGradesRequest(course_id=SCHOOL_A.course_id, term_id=TERM), metadata=metadata
    )
    with pytest.raises(grpc.RpcError) as refused:
        grading_stub.ListCourseGrades(
            grading_pb2.ListCourseGradesRequest(course_id=SCHOOL_B.course_id, term_id=TERM), metadata=metadata
        )

    assert own.evaluations
    assert refused.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
    assert_leaks_nothing(grpc_error_text(refused.value), school_b)
