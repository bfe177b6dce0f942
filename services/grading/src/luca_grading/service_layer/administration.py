"""A school admin's use cases: the roster, the terms and who teaches what."""

from __future__ import annotations

from luca_grading.domain import access
from luca_grading.domain.model import Assignment
from luca_grading.service_layer.assignment_cache import AssignmentCache
from luca_grading.service_layer.common import check_id, check_name
from luca_grading.service_layer.ports import Clock, RepositoryFactory
from luca_grading.service_layer.roster_cache import RosterCache
from luca_kernel.access import Principal
from luca_kernel.errors import NotFound, UnknownCourse, UnknownSubject, UnknownTerm
from luca_kernel.ids import CourseId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student, Subject, Term


class SchoolAdministration:
    def __init__(
        self,
        *,
        repositories: RepositoryFactory,
        clock: Clock,
        assignments: AssignmentCache,
        roster: RosterCache,
    ) -> None:
        self._repositories = repositories
        self._clock = clock
        self._assignments = assignments
        # Recording trusts it for a bounded time: this task's own changes drop its entries at once.
        self._roster = roster

    # -- roster --------------------------------------------------------------------------------
    def put_course(self, principal: Principal, course_id: str, name: str) -> Course:
        access.require_admin(principal)
        course = Course(principal.school_id, CourseId(check_id(course_id, "course_id")), check_name(name))
        self._repositories.for_school(principal.school_id).put_course(course)
        return course

    def put_subject(self, principal: Principal, subject_id: str, name: str) -> Subject:
        access.require_admin(principal)
        subject = Subject(
            principal.school_id, SubjectId(check_id(subject_id, "subject_id")), check_name(name)
        )
        self._repositories.for_school(principal.school_id).put_subject(subject)
        return subject

    def put_student(
        self, principal: Principal, student_id: str, course_id: str, display_name: str
    ) -> Student:
        access.require_admin(principal)
        repo = self._repositories.for_school(principal.school_id)
        cid = CourseId(check_id(course_id, "course_id"))
        if repo.get_course(cid) is None:
            raise UnknownCourse(f"course {cid!r} does not exist in this school", field="course_id")
        student = Student(
            principal.school_id,
            StudentId(check_id(student_id, "student_id")),
            cid,
            check_name(display_name),
        )
        repo.put_student(student)
        self._roster.forget_courses(principal.school_id)
        return student

    # -- terms ---------------------------------------------------------------------------------
    def put_term(self, principal: Principal, term_id: str, name: str) -> Term:
        """Creates a term (open) or renames it; a closed term stays closed."""
        access.require_admin(principal)
        term = Term(principal.school_id, TermId(check_id(term_id, "term_id")), check_name(name))
        stored = self._repositories.for_school(principal.school_id).put_term(term)
        self._roster.forget_term(principal.school_id, term.term_id)
        return stored

    def close_term(self, principal: Principal, term_id: str) -> Term:
        """Closes a term: no new grades, teachers can no longer correct its grades, and the government
        sync may submit it. Closing again changes nothing."""
        access.require_admin(principal)
        tid = TermId(check_id(term_id, "term_id"))
        repo = self._repositories.for_school(principal.school_id)
        closed = repo.close_term(tid, self._clock.now(), principal.actor_id)
        self._roster.forget_term(principal.school_id, tid)
        if closed is None:
            raise UnknownTerm(f"term {tid!r} does not exist in this school", field="term_id")
        return closed

    # -- assignments ---------------------------------------------------------------------------
    def assign(self, principal: Principal, teacher_id: str, course_id: str, subject_id: str) -> Assignment:
        access.require_admin(principal)
        tid = TeacherId(check_id(teacher_id, "teacher_id"))
        cid = CourseId(check_id(course_id, "course_id"))
        sid = SubjectId(check_id(subject_id, "subject_id"))
        repo = self._repositories.for_school(principal.school_id)
        # An assignment vouches for its course and subject: recording trusts it instead of checking
        # the subject again in every write.
        if repo.get_course(cid) is None:
            raise UnknownCourse(f"course {cid!r} does not exist in this school", field="course_id")
        if repo.get_subject(sid) is None:
            raise UnknownSubject(f"subject {sid!r} does not exist in this school", field="subject_id")
        assignment = Assignment(
            school_id=principal.school_id,
            teacher_id=tid,
            course_id=cid,
            subject_id=sid,
            assigned_at=self._clock.now(),
            assigned_by=principal.actor_id,
        )
        repo.put_assignment(assignment)
        self._assignments.invalidate(principal.school_id, tid)
        return assignment

    def unassign(self, principal: Principal, teacher_id: str, course_id: str, subject_id: str) -> None:
        access.require_admin(principal)
        tid = TeacherId(check_id(teacher_id, "teacher_id"))
        cid = CourseId(check_id(course_id, "course_id"))
        sid = SubjectId(check_id(subject_id, "subject_id"))
        deleted = self._repositories.for_school(principal.school_id).delete_assignment(tid, cid, sid)
        self._assignments.invalidate(principal.school_id, tid)
        if not deleted:
            raise NotFound(f"teacher {tid!r} is not assigned to {sid!r} in course {cid!r}")
