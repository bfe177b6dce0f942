"""Demo schools: Cognito users (teacher, student, admin per school) and a roster seeded over REST.

Users get their school (and a student their student id) as immutable custom attributes, set by an
admin call, and their role as a Cognito group: what the ID token then carries is exactly what the
gateway and the service check. The roster is written through the grading REST API with the
school admin's real token, so seeding runs the same path a school's own tools would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import httpx

from luca_infra.definitions import PLATFORM_DEFINITION, UserPoolDefinition
from luca_infra.schools.rules import rest_body, school_default_rule
from luca_kernel.access import Role

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_ssm import SSMClient

DemoRole = Literal["teacher", "student", "admin"]
DEMO_ROLES: tuple[DemoRole, ...] = ("teacher", "student", "admin")
# Local only: every demo user signs in with it (ADMIN_USER_PASSWORD_AUTH from the token helper).
DEMO_PASSWORD = "Luca-demo-2025!"  # noqa: S105 - a demo credential for the emulator only
# The demo's past term: seeded with grades, then closed by the admin (what the government sync
# submits); and the current one, open, where teachers record new grades.
DEMO_TERM = "2025-T1"
CURRENT_TERM = "2025-T2"
# The service's roles are its Cognito groups; the demo's role names map onto them.
_ROLE_GROUP: dict[DemoRole, Role] = {"teacher": Role.TEACHER, "student": Role.STUDENT, "admin": Role.ADMIN}


@dataclass(frozen=True, slots=True)
class DemoStudent:
    student_id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class DemoGrade:
    student_id: str
    subject_id: str
    score: Decimal
    description: str


@dataclass(frozen=True, slots=True)
class DemoSchool:
    """One school's demo data. The first student is the one the student user signs in as."""

    school_id: str
    course_id: str
    course_name: str
    subjects: Mapping[str, str]
    students: tuple[DemoStudent, ...]
    grades: tuple[DemoGrade, ...] = ()
    # The school's default rule (subject "*"), as the REST body; None keeps the Chilean default.
    default_rule: Mapping[str, Any] | None = None
    term_id: str = DEMO_TERM
    current_term_id: str = CURRENT_TERM
    # The whole school's enrolment (the demo seeds a few of them): it sets the school's edge tier.
    enrolment: int = 1200
    # One behavior note about the student user: (kind, text), kind "positive" or "negative".
    behavior_note: tuple[str, str] | None = None

    def username(self, role: DemoRole) -> str:
        return f"{self.school_id}-{role}"

    @property
    def student_user_id(self) -> str:
        return self.students[0].student_id

    def usernames(self) -> dict[DemoRole, str]:
        return {role: self.username(role) for role in DEMO_ROLES}


SCHOOL_A = DemoSchool(
    school_id="demo-school-a",
    course_id="1A",
    course_name="Primero Medio A",
    subjects={"math": "Matemática", "history": "Historia"},
    students=(
        DemoStudent("st-a-001", "Ana Rojas"),
        DemoStudent("st-a-002", "Benjamín Soto"),
        DemoStudent("st-a-003", "Camila Fuentes"),
    ),
    grades=(
        DemoGrade("st-a-001", "math", Decimal("6.5"), "Prueba 1: fracciones"),
        DemoGrade("st-a-002", "math", Decimal("5.8"), "Prueba 1: fracciones"),
        DemoGrade("st-a-002", "history", Decimal("4.2"), "Ensayo: independencia"),
    ),
    behavior_note=("positive", "Ayudó a sus compañeros en el laboratorio"),
)
SCHOOL_B = DemoSchool(
    school_id="demo-school-b",
    enrolment=450,
    course_id="2B",
    course_name="Segundo Medio B",
    subjects={"math": "Matemáticas", "science": "Ciencias"},
    students=(
        DemoStudent("st-b-101", "Zoe Bravo"),
        DemoStudent("st-b-102", "Diego Morales"),
        DemoStudent("st-b-103", "Elisa Paredes"),
    ),
    grades=(
        DemoGrade("st-b-101", "math", Decimal("87"), "Control de álgebra B"),
        DemoGrade("st-b-102", "science", Decimal("92"), "Informe de laboratorio B"),
        DemoGrade("st-b-103", "math", Decimal("55"), "Control de álgebra B"),
    ),
    default_rule={"scale": "percentage", "passing_grade": "60", "decimals": 0},
    behavior_note=("negative", "Llegó tarde tres veces esta semana (B)"),
)
DEMO_SCHOOLS: tuple[DemoSchool, ...] = (SCHOOL_A, SCHOOL_B)


def group_for(role: DemoRole, pool: UserPoolDefinition = PLATFORM_DEFINITION.user_pool) -> str:
    group = _ROLE_GROUP[role].value
    if group not in pool.groups:
        raise ValueError(f"the user pool definition has no group {group!r} for role {role!r}")
    return group


@dataclass
class DemoIdentities:
    """Creates the demo users in the user pool and signs them in."""

    cognito: CognitoIdentityProviderClient
    user_pool_id: str
    client_id: str
    pool: UserPoolDefinition = field(default_factory=lambda: PLATFORM_DEFINITION.user_pool)

    def create_users(self, school: DemoSchool) -> dict[DemoRole, str]:
        for role in DEMO_ROLES:
            self.create_user(school.school_id, role, school.username(role), student_id=school.student_user_id)
        return school.usernames()

    def create_user(
        self, school_id: str, role: DemoRole, username: str, *, student_id: str | None = None
    ) -> str:
        """A confirmed user of ``school_id`` in the role's group (re-running is harmless)."""
        attributes = [{"Name": self.pool.school_claim, "Value": school_id}]
        if role == "student" and student_id:
            attributes.append({"Name": self.pool.student_claim, "Value": student_id})
        with contextlib.suppress(self.cognito.exceptions.UsernameExistsException):
            self.cognito.admin_create_user(
                UserPoolId=self.user_pool_id,
                Username=username,
                UserAttributes=attributes,  # type: ignore[arg-type]
                MessageAction="SUPPRESS",
            )
        # A permanent password skips the FORCE_CHANGE_PASSWORD challenge of a fresh admin-created user.
        self.cognito.admin_set_user_password(
            UserPoolId=self.user_pool_id, Username=username, Password=DEMO_PASSWORD, Permanent=True
        )
        self.cognito.admin_add_user_to_group(
            UserPoolId=self.user_pool_id, Username=username, GroupName=group_for(role, self.pool)
        )
        return username

    def id_token(self, username: str, password: str = DEMO_PASSWORD) -> str:
        return id_token(self.cognito, self.user_pool_id, self.client_id, username, password)


def id_token(
    cognito: CognitoIdentityProviderClient, user_pool_id: str, client_id: str, username: str, password: str
) -> str:
    """Sign a user in server-side (ADMIN_USER_PASSWORD_AUTH) and return the Cognito ID token."""
    result = cognito.admin_initiate_auth(
        UserPoolId=user_pool_id,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    if "AuthenticationResult" not in result:
        raise RuntimeError(f"sign-in for {username} needs a challenge: {result.get('ChallengeName')}")
    return result["AuthenticationResult"]["IdToken"]


class SeedError(RuntimeError):
    pass


# One marker parameter per seeded school, in the emulator's SSM (so it lives and dies with its state).
SEEDED_PARAMETER_PREFIX = "/luca/local/demo-seeded"


def seeded(ssm: SSMClient, school: DemoSchool) -> bool:
    """Whether ``school``'s demo data was seeded into this emulator's state (a resumed one)."""
    try:
        ssm.get_parameter(Name=f"{SEEDED_PARAMETER_PREFIX}/{school.school_id}")
    except ssm.exceptions.ParameterNotFound:
        return False
    return True


def mark_seeded(ssm: SSMClient, school: DemoSchool) -> None:
    ssm.put_parameter(
        Name=f"{SEEDED_PARAMETER_PREFIX}/{school.school_id}", Value="1", Type="String", Overwrite=True
    )


def seed_school(rest_url: str, school: DemoSchool, *, admin_token: str, teacher_token: str) -> None:
    """Roster, the term, the teacher's assignments, default rule, grades and a behavior note for
    ``school`` through the grading REST API.

    Writes are idempotent (PUTs, and POSTs with fixed Idempotency-Keys), so seeding twice is harmless.
    """
    admin = {"Authorization": f"Bearer {admin_token}"}
    teacher = {"Authorization": f"Bearer {teacher_token}"}
    with httpx.Client(base_url=rest_url, timeout=10, trust_env=False) as client:

        def call(method: str, path: str, headers: dict[str, str], body: Mapping[str, Any]) -> None:
            response = client.request(method, path, headers=headers, json=body)
            if response.status_code >= 300:
                raise SeedError(
                    f"{method} {path} for {school.school_id}: {response.status_code} {response.text}"
                )

        call("PUT", f"/v1/courses/{school.course_id}", admin, {"name": school.course_name})
        for subject_id, name in school.subjects.items():
            call("PUT", f"/v1/subjects/{subject_id}", admin, {"name": name})
        for student in school.students:
            call(
                "PUT",
                f"/v1/students/{student.student_id}",
                admin,
                {"course_id": school.course_id, "display_name": student.display_name},
            )
        for term_id in (school.term_id, school.current_term_id):
            call("PUT", f"/v1/terms/{term_id}", admin, {"name": f"Term {term_id}"})
        # The demo teacher teaches every subject of the course (an admin's assignment, as in a school).
        teacher_id = school.username("teacher")
        for subject_id in school.subjects:
            call("PUT", f"/v1/teachers/{teacher_id}/assignments/{school.course_id}/{subject_id}", admin, {})
        if school.default_rule is not None:
            # The same default rule a school created with `luca schools create` gets.
            call("PUT", "/v1/grading-rules/*", admin, rest_body(school_default_rule(school.default_rule)))
        for number, grade in enumerate(school.grades, start=1):
            body = {
                "student_id": grade.student_id,
                "course_id": school.course_id,
                "subject_id": grade.subject_id,
                "term_id": school.term_id,
                "score": str(grade.score),
                "description": grade.description,
            }
            key = {"Idempotency-Key": f"demo-seed-{school.school_id}-grade-{number}"}
            call("POST", "/v1/evaluations", teacher | key, body)
        if school.behavior_note is not None:
            kind, text = school.behavior_note
            note = {
                "student_id": school.student_user_id,
                "course_id": school.course_id,
                "kind": kind,
                "text": text,
            }
            key = {"Idempotency-Key": f"demo-seed-{school.school_id}-note-1"}
            call("POST", "/v1/behavior-notes", teacher | key, note)
        # The past term is over: closing it is what lets the government sync submit it.
        call("POST", f"/v1/terms/{school.term_id}/closure", admin, {})


def example_evaluation(school: DemoSchool = SCHOOL_A) -> dict[str, str]:
    """A valid POST /v1/evaluations body for ``school``'s seeded roster, in its open term (the ready
    banner prints it)."""
    percentage = school.default_rule is not None and school.default_rule.get("scale") == "percentage"
    return {
        "student_id": school.student_user_id,
        "course_id": school.course_id,
        "subject_id": next(iter(school.subjects)),
        "term_id": school.current_term_id,
        "score": "78" if percentage else "6.3",
        "description": "Disertación",
    }
