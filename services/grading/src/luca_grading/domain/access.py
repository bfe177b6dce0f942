"""The grading service's role policy: who may do what. Every service-layer operation asks it first.

A Principal is built only by the token verifiers (``luca_platform.tokens``); its school is the one
the token carries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from luca_grading.domain.model import Assignment, Evaluation
from luca_kernel.access import Principal, Role
from luca_kernel.errors import Forbidden
from luca_kernel.ids import CourseId, StudentId, SubjectId, TeacherId


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


# The shape of every id the service accepts (what an admin can assign a teacher under).
_TEACHER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def teacher_id_of(principal: Principal) -> TeacherId | None:
    """The id a teacher's assignments are kept under; None when the caller's name cannot be one (such
    a caller holds no assignment, so is refused like any unassigned teacher)."""
    actor = principal.actor_id
    return TeacherId(actor) if _TEACHER_ID.match(actor) else None


def require_staff(principal: Principal) -> None:
    if not principal.has(Role.TEACHER, Role.ADMIN):
        raise Forbidden("only the school's teachers and admins may do this")


def is_unrestricted(principal: Principal) -> bool:
    """Admins and internal services see every course; a teacher sees the courses they are assigned."""
    return principal.has(Role.ADMIN, Role.SERVICE)


def subjects_held(assignments: Iterable[Assignment], course_id: CourseId) -> frozenset[SubjectId]:
    return frozenset(a.subject_id for a in assignments if a.course_id == course_id)


def require_assignment(
    assignments: Iterable[Assignment], course_id: CourseId, subject_id: SubjectId | None = None
) -> frozenset[SubjectId]:
    """The subjects a teacher holds in the course (or that one subject); Forbidden if none."""
    held = subjects_held(assignments, course_id)
    if subject_id is not None:
        held = held & {subject_id}
    if not held:
        what = f"{subject_id!r} in course {course_id!r}" if subject_id else f"course {course_id!r}"
        raise Forbidden(f"you are not assigned to teach {what}")
    return held


def require_grade_changer(principal: Principal, evaluation: Evaluation) -> None:
    """Only the teacher who recorded a grade, or an admin of the school, may correct or retract it."""
    if principal.has(Role.ADMIN):
        return
    if principal.has(Role.TEACHER) and evaluation.teacher_id == principal.actor_id:
        return
    raise Forbidden("only the teacher who recorded this grade or a school admin may change it")
