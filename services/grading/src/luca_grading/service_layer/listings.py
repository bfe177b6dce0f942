"""The roster as the apps list it, one page at a time: the caller's courses, a course's students, the
school's subjects and terms, and (admins) a teacher's assignments.

Every listing is paginated with an opaque cursor (``luca_platform.pagination``): where the previous
page stopped, signed, and bound to the caller's school and to the query (the listing and its
parameters, not the page size: a position means the same whatever the page size, so a client may
change it between pages). A cursor from another school or another query, altered or expired is
refused and never followed. A cursor carries no authority: every page checks access again.

Who may list what:
- courses: teachers (the courses they hold an assignment in, with their subjects there), admins and
  internal services (every course); students may not.
- a course's students: admins and services, and teachers who hold an assignment in the course.
- subjects and terms: anyone of the school, students included: they are the school's catalog, hold
  no personal data, and a student's app needs their names and whether a term is closed to show the
  student's own grades.
- a teacher's assignments: admins only (it is the administration of who teaches what).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from luca_grading.domain import access
from luca_grading.domain.model import Assignment
from luca_grading.service_layer.common import check_id
from luca_kernel.access import Principal, Role
from luca_kernel.errors import Forbidden, UnknownCourse
from luca_kernel.ids import CourseId, SchoolId, SubjectId, TeacherId
from luca_kernel.roster import Course, Student, Subject, Term
from luca_platform.pagination import DEFAULT_MAX_AGE_SECONDS, CursorCodec, Position, Query, page_size

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A reader's answer: at most the asked number of items, and the position after the last one
    when more follow (None: this is the last page)."""

    items: Sequence[T]
    next_position: Position | None = None


@dataclass(frozen=True, slots=True)
class HeldCourse:
    """A course a teacher holds assignments in, and the subjects they teach there."""

    course_id: CourseId
    subject_ids: tuple[SubjectId, ...]


@dataclass(frozen=True, slots=True)
class CourseEntry:
    """A course as "my courses" lists it; ``subject_ids`` is empty in an admin's listing."""

    course_id: CourseId
    name: str
    subject_ids: tuple[SubjectId, ...] = ()


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """One page of a listing; ``next_cursor`` asks for the next one (None: there is none)."""

    items: tuple[T, ...]
    next_cursor: str | None = None


class RosterReader(Protocol):
    """One school's roster, read a page at a time. ``start`` is a ``next_position`` this reader
    returned for the same listing; ``limit`` is at least 1."""

    def courses(self, limit: int, start: Position | None) -> Page[Course]: ...

    def held_courses(self, teacher_id: TeacherId, limit: int, start: Position | None) -> Page[HeldCourse]:
        """The teacher's courses in course order, each whole (never split across pages)."""
        ...

    def courses_named(self, course_ids: Sequence[CourseId]) -> Mapping[CourseId, Course]:
        """The given courses that exist."""
        ...

    def course(self, course_id: CourseId) -> Course | None: ...

    def holds_course(self, teacher_id: TeacherId, course_id: CourseId) -> bool:
        """Whether the teacher holds at least one assignment in the course."""
        ...

    def course_students(self, course_id: CourseId, limit: int, start: Position | None) -> Page[Student]: ...

    def subjects(self, limit: int, start: Position | None) -> Page[Subject]: ...

    def terms(self, limit: int, start: Position | None) -> Page[Term]: ...

    def assignments(self, teacher_id: TeacherId, limit: int, start: Position | None) -> Page[Assignment]: ...


class RosterReaders(Protocol):
    """Hands out a reader bound to one school (with that school's credentials in AWS)."""

    def for_school(self, school_id: SchoolId) -> RosterReader: ...


class RosterListings:
    """The listing use cases, for REST and gRPC alike. ``cursor_keys``: the service's cursor keys,
    the first signs (see ``luca_platform.pagination``)."""

    def __init__(
        self,
        *,
        readers: RosterReaders,
        cursor_keys: Sequence[str | bytes],
        cursor_max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        timer: Callable[[], float] = time.time,
    ) -> None:
        self._readers = readers
        self._cursors = CursorCodec(cursor_keys, max_age_seconds=cursor_max_age_seconds, timer=timer)

    # -- the listings ----------------------------------------------------------------------------
    def courses(
        self, principal: Principal, requested_size: int | None = None, cursor: str | None = None
    ) -> Listing[CourseEntry]:
        reader = self._readers.for_school(principal.school_id)
        if access.is_unrestricted(principal):
            query: dict[str, str] = {"listing": "courses"}
            size, start = self._start(principal, query, requested_size, cursor)
            page = reader.courses(size, start)
            entries = [CourseEntry(c.course_id, c.name) for c in page.items]
            return self._listing(principal, query, entries, page.next_position)
        if not principal.has(Role.TEACHER):
            raise Forbidden("only the school's teachers and admins may list courses")
        teacher = access.teacher_id_of(principal)
        if teacher is None:
            page_size(requested_size)  # still refused when out of range, as for anyone
            return Listing(())
        # Bound to the teacher: the position lies in their own assignments.
        query = {"listing": "courses", "teacher_id": teacher}
        size, start = self._start(principal, query, requested_size, cursor)
        held = reader.held_courses(teacher, size, start)
        names = reader.courses_named([h.course_id for h in held.items])
        entries = [
            CourseEntry(h.course_id, names[h.course_id].name if h.course_id in names else "", h.subject_ids)
            for h in held.items
        ]
        return self._listing(principal, query, entries, held.next_position)

    def course_students(
        self,
        principal: Principal,
        course_id: str,
        requested_size: int | None = None,
        cursor: str | None = None,
    ) -> Listing[Student]:
        course = CourseId(check_id(course_id, "course_id"))
        reader = self._readers.for_school(principal.school_id)
        # Asked before the course's existence, so a teacher learns nothing of courses not theirs.
        if not access.is_unrestricted(principal) and not self._teaches(principal, reader, course):
            raise Forbidden(f"you may list the students of the courses you teach only, not {course!r}")
        query = {"listing": "course-students", "course_id": course}
        size, start = self._start(principal, query, requested_size, cursor)
        # Checked on the first page only: a cursor of this query was made after that check passed.
        if start is None and reader.course(course) is None:
            raise UnknownCourse(f"course {course!r} does not exist", field="course_id")
        page = reader.course_students(course, size, start)
        return self._listing(principal, query, page.items, page.next_position)

    def subjects(
        self, principal: Principal, requested_size: int | None = None, cursor: str | None = None
    ) -> Listing[Subject]:
        query = {"listing": "subjects"}
        size, start = self._start(principal, query, requested_size, cursor)
        page = self._readers.for_school(principal.school_id).subjects(size, start)
        return self._listing(principal, query, page.items, page.next_position)

    def terms(
        self, principal: Principal, requested_size: int | None = None, cursor: str | None = None
    ) -> Listing[Term]:
        query = {"listing": "terms"}
        size, start = self._start(principal, query, requested_size, cursor)
        page = self._readers.for_school(principal.school_id).terms(size, start)
        return self._listing(principal, query, page.items, page.next_position)

    def teacher_assignments(
        self,
        principal: Principal,
        teacher_id: str,
        requested_size: int | None = None,
        cursor: str | None = None,
    ) -> Listing[Assignment]:
        if not principal.has(Role.ADMIN):
            raise Forbidden("only school admins may list a teacher's assignments")
        teacher = TeacherId(check_id(teacher_id, "teacher_id"))
        query = {"listing": "teacher-assignments", "teacher_id": teacher}
        size, start = self._start(principal, query, requested_size, cursor)
        page = self._readers.for_school(principal.school_id).assignments(teacher, size, start)
        return self._listing(principal, query, page.items, page.next_position)

    @staticmethod
    def _teaches(principal: Principal, reader: RosterReader, course: CourseId) -> bool:
        teacher = access.teacher_id_of(principal)
        return principal.has(Role.TEACHER) and teacher is not None and reader.holds_course(teacher, course)

    # -- cursors ---------------------------------------------------------------------------------
    def _start(
        self, principal: Principal, query: Query, requested_size: int | None, cursor: str | None
    ) -> tuple[int, Position | None]:
        size = page_size(requested_size)
        if not cursor:  # gRPC's unset page_token is the empty string: the first page
            return size, None
        return size, self._cursors.decode(cursor, school_id=principal.school_id, query=query)

    def _listing(
        self, principal: Principal, query: Query, items: Sequence[T], next_position: Position | None
    ) -> Listing[T]:
        cursor = (
            self._cursors.encode(school_id=principal.school_id, query=query, position=next_position)
            if next_position
            else None
        )
        return Listing(tuple(items), cursor)
