"""The grading service's role policy: who may do what. Every service-layer operation asks it first.

A Principal is built only by the token verifiers (``luca_platform.tokens``); its school is the one
the token carries.
"""

from __future__ import annotations

from luca_kernel.access import Principal, Role
from luca_kernel.errors import Forbidden
from luca_kernel.ids import StudentId


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
