"""The grading service's REST app built in this process, as its composition root builds it, with real
RS256 tokens; over the platform's table (the store measurement) or the service's own in-memory fake
(the CPU measurement). Plus the school it is seeded with and the requests a teacher's day is made of.
"""

from __future__ import annotations

import importlib
import io
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from luca_grading.bootstrap import Container, bootstrap
from luca_grading.config import GradingSettings
from luca_grading.entrypoints.rest import create_app
from luca_platform.aws import AwsClients
from luca_platform.tokens import Authenticator, CognitoSettings, CognitoTokenVerifier
from luca_testing.tokens import CLIENT_ID, POOL_ID, StaticJWKClient, TokenMint

REPO = Path(__file__).resolve().parents[2]
SCHOOL = "cap-school"
COURSE = "1A"
SUBJECTS = ("math", "history", "language")
TERM = "2026-T1"
# Where the CPU bench's steady mode records its grades: not the term it reads.
RECORD_TERM_STEADY = "2026-T2"
TEACHER = f"teacher-{SCHOOL}"
CURSOR_KEY = "capacity-bench-cursor-key-0123456789abcdef"


def grading_fakes() -> Any:
    """The grading service's own test fakes (not copied: its tests directory is put on the path, as
    pytest's configuration does)."""
    tests = str(REPO / "services" / "grading" / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    return importlib.import_module("grading_fakes")


@dataclass
class Built:
    container: Container
    app: Any
    mint: TokenMint
    metrics: io.StringIO

    def bearer(self, role: str, school: str = SCHOOL) -> dict[str, str]:
        groups = {"teacher": ["teachers"], "student": ["students"], "admin": ["admins"]}[role]
        token = self.mint.token(school, groups, username=f"{role}-{school}")
        return {"Authorization": f"Bearer {token}"}


def build(
    *, region: str, table: str, endpoint: str | None, tenant_role: str | None, clients: AwsClients | None = None,
    fake: bool = False,
) -> Built:  # fmt: skip
    settings = GradingSettings(
        table_name=table,
        user_pool_id=POOL_ID,
        user_pool_client_id=CLIENT_ID,
        aws_region=region,
        aws_endpoint_url=endpoint,
        tenant_role_arn=tenant_role,
        rest_port=0,
        grpc_port=0,
        cursor_keys=CURSOR_KEY,
        # The steady state after the upgrade from 0.2 (docs/capacity.md); the guard adds one read.
        legacy_idempotency_guard=False,
    )
    mint = TokenMint()
    # The real verifier: RS256 signature, issuer, audience, expiry; only the key set is served locally.
    authenticator = Authenticator(
        users=CognitoTokenVerifier(
            CognitoSettings(region, POOL_ID, CLIENT_ID), jwks=StaticJWKClient(mint.jwks)
        ),
        services=None,
    )
    metrics = io.StringIO()
    if fake:
        fakes = grading_fakes()
        repositories = indexed_fakes(fakes)()
        container = bootstrap(
            settings, repositories=repositories, readers=_FakeReaders(repositories),
            authenticator=authenticator, metrics_sink=metrics,
        )  # fmt: skip
    else:
        clients = clients or AwsClients(region=region, endpoint_url=endpoint, tenant_role_arn=tenant_role)
        container = bootstrap(settings, clients=clients, authenticator=authenticator, metrics_sink=metrics)
    return Built(container, create_app(container), mint, metrics)


def indexed_fakes(fakes: Any) -> Any:
    """The service's fake repositories with each school's grades indexed by student and by course and
    term, as the table's keys index them. The test fake scans every grade of the school for a
    student's or a course's grades: the CPU bench counted those scans as the service's own, and they
    grew with every grade the run recorded. Reads answer the same grades in the same order."""

    class IndexedSchool(fakes.FakeSchoolRepository):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.by_student: dict[Any, dict[str, None]] = {}
            self.by_student_term: dict[tuple[Any, Any], dict[str, None]] = {}
            self.by_course_term: dict[tuple[Any, Any], dict[str, None]] = {}

        def add_evaluation(self, evaluation: Any) -> Any:
            stored = super().add_evaluation(evaluation)
            if stored is None:  # a grade's student, course and term never change once recorded
                self.by_student.setdefault(evaluation.student_id, {})[evaluation.evaluation_id] = None
                key = (evaluation.student_id, evaluation.term_id)
                self.by_student_term.setdefault(key, {})[evaluation.evaluation_id] = None
                key = (evaluation.course_id, evaluation.term_id)
                self.by_course_term.setdefault(key, {})[evaluation.evaluation_id] = None
            return stored

        def student_evaluations(
            self, student_id: Any, term_id: Any = None, subject_id: Any = None
        ) -> list[Any]:
            self.calls["student_evaluations"] += 1
            ids = (
                self.by_student.get(student_id, ())
                if term_id is None
                else self.by_student_term.get((student_id, term_id), ())
            )
            return [
                e
                for e in map(self.evaluations.__getitem__, ids)
                if subject_id is None or e.subject_id == subject_id
            ]

        def course_evaluations(self, course_id: Any, term_id: Any, subject_id: Any = None) -> list[Any]:
            self.calls["course_evaluations"] += 1
            return [
                e
                for e in map(self.evaluations.__getitem__, self.by_course_term.get((course_id, term_id), ()))
                if subject_id is None or e.subject_id == subject_id
            ]

    class IndexedRepositories(fakes.FakeRepositories):
        def for_school(self, school_id: Any) -> Any:
            if school_id not in self.schools:
                self.schools[school_id] = IndexedSchool(school_id, self.calls)
            return self.schools[school_id]

    return IndexedRepositories


class _FakeReaders:
    """The roster listings' reader port over the fake repositories (listings are not in the CPU mix)."""

    def __init__(self, repositories: Any) -> None:
        self._repositories = repositories

    def for_school(self, school_id: Any) -> Any:
        return self._repositories.for_school(school_id)


def students(count: int) -> list[str]:
    return [f"st-{n:03d}" for n in range(count)]


def seed_requests(
    count: int, history: int, extra_terms: tuple[str, ...] = ()
) -> Iterator[tuple[str, str, str, dict[str, Any], dict[str, str]]]:
    """(role, method, path, body, headers) that set the school up as its admin and teacher would."""
    for term in extra_terms:
        yield "admin", "PUT", f"/v1/terms/{term}", {"name": term}, {}
    yield "admin", "PUT", f"/v1/courses/{COURSE}", {"name": "First A"}, {}
    for subject in SUBJECTS:
        yield "admin", "PUT", f"/v1/subjects/{subject}", {"name": subject.title()}, {}
        yield "admin", "PUT", f"/v1/teachers/{TEACHER}/assignments/{COURSE}/{subject}", {}, {}
    yield "admin", "PUT", f"/v1/terms/{TERM}", {"name": "Term 1"}, {}
    for student in students(count):
        yield (
            "admin",
            "PUT",
            f"/v1/students/{student}",
            {"course_id": COURSE, "display_name": f"Student {student}"},
            {},
        )
    for student in students(count):
        for subject in SUBJECTS:
            for number in range(history):
                body = grade_body(student, subject, f"{4 + number % 3}.{number % 10}")
                yield (
                    "teacher",
                    "POST",
                    "/v1/evaluations",
                    body,
                    {"Idempotency-Key": f"seed-{student}-{subject}-{number}"},
                )


def grade_body(student: str, subject: str, score: str = "6.1", term: str = TERM) -> dict[str, Any]:
    return {"student_id": student, "course_id": COURSE, "subject_id": subject, "term_id": term, "score": score,
            "description": "Prueba de unidad"}  # fmt: skip


@dataclass
class Workload:
    """A teacher's requests, by operation name: what each is and how to make one."""

    roster: list[str]
    evaluations: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # student -> (id, etag)
    # The term new grades go to; the reads read TERM.
    record_term: str = TERM

    def request(self, operation: str, n: int) -> tuple[str, str, str, dict[str, Any] | None, dict[str, str]]:
        student = self.roster[n % len(self.roster)]
        subject = SUBJECTS[n % len(SUBJECTS)]
        key = {"Idempotency-Key": uuid.uuid4().hex}
        if operation == "record a grade":
            return (
                "teacher",
                "POST",
                "/v1/evaluations",
                grade_body(student, subject, term=self.record_term),
                key,
            )
        if operation == "record a behaviour note":
            body = {
                "student_id": student,
                "course_id": COURSE,
                "kind": "positive",
                "text": "Ayudó a un compañero",
            }
            return "teacher", "POST", "/v1/behavior-notes", body, key
        if operation == "read: student's evaluations":
            return "teacher", "GET", f"/v1/students/{student}/evaluations?term_id={TERM}", None, {}
        if operation == "read: course grades":
            return (
                "teacher",
                "GET",
                f"/v1/courses/{COURSE}/terms/{TERM}/grades?subject_id={subject}",
                None,
                {},
            )
        if operation == "read: grading rule":
            return "teacher", "GET", f"/v1/grading-rules/{subject}", None, {}
        if operation == "read: behaviour profile":
            return "teacher", "GET", f"/v1/students/{student}/behavior-profile", None, {}
        if operation == "read: course roster":
            return "teacher", "GET", f"/v1/courses/{COURSE}/students", None, {}
        evaluation, etag = self.evaluations[student][0]
        path = f"/v1/students/{student}/evaluations/{evaluation}"
        if operation == "read: one evaluation":
            return "teacher", "GET", path, None, {}
        if operation == "read: grade history":
            return "teacher", "GET", f"{path}/history", None, {}
        if operation == "correct a grade":
            body = {"score": "5.5", "reason": "error de digitación"}
            return "teacher", "PATCH", path, body, {**key, "If-Match": etag}
        raise ValueError(operation)
