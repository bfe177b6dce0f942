"""Who may do what: principals (from verified tokens) and the role policy.

A Principal is built only by the token verifiers in the adapters; its school is the one the token
carries. Every service-layer operation asks this policy first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from luca_grading.domain.errors import Forbidden
from luca_grading.domain.model import SchoolId, StudentId


class Role(StrEnum):
    TEACHER = "teachers"
    STUDENT = "students"
    ADMIN = "admins"
    # An internal service acting for exactly one school (see README: internal callers).
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Principal:
    school_id: SchoolId
    subject: str
    roles: frozenset[Role]
    student_id: StudentId | None = None
    username: str = ""

    @property
    def actor_id(self) -> str:
        """Who to record as the author of a change (teacher id, service name)."""
        return self.username or self.subject

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))


def require_grade_writer(principal: Principal) -> None:
    if not principal.has(Role.TEACHER, Role.SERVICE):
        raise Forbidden("only teachers may record grades and behavior notes")


def require_course_reader(principal: Principal) -> None:
    if not principal.has(Role.TEACHER, Role.ADMIN, Role.SERVICE):
        raise Forbidden("only teachers and admins may read a course's grades")


def require_student_reader(principal: Principal, student_id: StudentId) -> None:
    """Staff read any student of their school; a student reads only their own record."""
    if principal.has(Role.TEACHER, Role.ADMIN, Role.SERVICE):
        return
    if (
        principal.has(Role.STUDENT)
        and principal.student_id is not None
        and principal.student_id == student_id
    ):
        return
    raise Forbidden("you may read only your own evaluations and profile")


def require_rule_reader(principal: Principal) -> None:
    if not principal.has(Role.TEACHER, Role.ADMIN, Role.SERVICE):
        raise Forbidden("only staff may read grading rules")


def require_admin(principal: Principal) -> None:
    if not principal.has(Role.ADMIN):
        raise Forbidden("only school admins may manage grading rules and the roster")
