"""REST listings of the roster (``/v1``): the caller's courses, a course's students, the school's
subjects and terms, a teacher's assignments. Translation only; the use cases are ``RosterListings``.

Every listing answers ``{"items": [...], "next_cursor": "..." | null}`` and takes ``page_size``
(1-200, default 50) and ``cursor`` (the previous page's ``next_cursor``). The caller comes from the
app's authentication dependency, so the school is always the token's.

No ``from __future__ import annotations``: FastAPI must see the route's annotations as objects, and
the caller's dependency type is local to ``roster_router``.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Self

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from luca_grading.entrypoints.rest_models import AssignmentOut
from luca_grading.entrypoints.rest_responses import READ, problems
from luca_grading.service_layer.listings import CourseEntry, RosterListings
from luca_kernel.access import Principal
from luca_kernel.roster import Student, Subject, Term
from luca_platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from luca_platform.rest_routes import WorkerRoute

# Bounds are documented, not enforced here: the use case refuses a size out of range with the same
# 400 problem on REST as on gRPC.
PageSize = Annotated[
    int | None,
    Query(
        description=f"items per page, 1-{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})",
        json_schema_extra={"minimum": 1, "maximum": MAX_PAGE_SIZE},
    ),
]
Cursor = Annotated[
    str | None,
    Query(description="the next_cursor of the previous page; omit for the first page"),
]


class CourseOut(BaseModel):
    course_id: str
    name: str
    subject_ids: list[str]

    @classmethod
    def of(cls, c: CourseEntry) -> Self:
        return cls(course_id=c.course_id, name=c.name, subject_ids=list(c.subject_ids))


class StudentOut(BaseModel):
    student_id: str
    course_id: str
    display_name: str

    @classmethod
    def of(cls, s: Student) -> Self:
        return cls(student_id=s.student_id, course_id=s.course_id, display_name=s.display_name)


class SubjectOut(BaseModel):
    subject_id: str
    name: str

    @classmethod
    def of(cls, s: Subject) -> Self:
        return cls(subject_id=s.subject_id, name=s.name)


class TermSummaryOut(BaseModel):
    """A term as anyone of the school may list it: not who closed it (``TermOut`` is the admin's)."""

    term_id: str
    name: str
    closed: bool
    closed_at: str | None

    @classmethod
    def of(cls, t: Term) -> Self:
        return cls(
            term_id=t.term_id,
            name=t.name,
            closed=t.closed,
            closed_at=t.closed_at.isoformat() if t.closed_at else None,
        )


class CoursePage(BaseModel):
    items: list[CourseOut]
    next_cursor: str | None


class StudentPage(BaseModel):
    items: list[StudentOut]
    next_cursor: str | None


class SubjectPage(BaseModel):
    items: list[SubjectOut]
    next_cursor: str | None


class TermPage(BaseModel):
    items: list[TermSummaryOut]
    next_cursor: str | None


class AssignmentPage(BaseModel):
    items: list[AssignmentOut]
    next_cursor: str | None


def roster_router(listings: RosterListings, caller: Callable[..., Awaitable[Principal]]) -> APIRouter:
    """The listing routes; ``caller`` is the app's dependency that authenticates the request."""
    router = APIRouter(prefix="/v1", tags=["roster"], responses=problems(*READ), route_class=WorkerRoute)
    Caller = Annotated[Principal, Depends(caller)]

    @router.get("/courses", response_model=CoursePage)
    def list_courses(principal: Caller, page_size: PageSize = None, cursor: Cursor = None) -> CoursePage:
        """The courses the caller teaches, with their subjects there; an admin's: every course."""
        page = listings.courses(principal, page_size, cursor)
        return CoursePage(items=[CourseOut.of(c) for c in page.items], next_cursor=page.next_cursor)

    @router.get("/courses/{course_id}/students", response_model=StudentPage)
    def list_course_students(
        course_id: str, principal: Caller, page_size: PageSize = None, cursor: Cursor = None
    ) -> StudentPage:
        """The course's students (teachers of the course and admins)."""
        page = listings.course_students(principal, course_id, page_size, cursor)
        return StudentPage(items=[StudentOut.of(s) for s in page.items], next_cursor=page.next_cursor)

    @router.get("/subjects", response_model=SubjectPage)
    def list_subjects(principal: Caller, page_size: PageSize = None, cursor: Cursor = None) -> SubjectPage:
        """The school's subjects."""
        page = listings.subjects(principal, page_size, cursor)
        return SubjectPage(items=[SubjectOut.of(s) for s in page.items], next_cursor=page.next_cursor)

    @router.get("/terms", response_model=TermPage)
    def list_terms(principal: Caller, page_size: PageSize = None, cursor: Cursor = None) -> TermPage:
        """The school's terms, and whether each is closed."""
        page = listings.terms(principal, page_size, cursor)
        return TermPage(items=[TermSummaryOut.of(t) for t in page.items], next_cursor=page.next_cursor)

    @router.get("/teachers/{teacher_id}/assignments", response_model=AssignmentPage)
    def list_teacher_assignments(
        teacher_id: str, principal: Caller, page_size: PageSize = None, cursor: Cursor = None
    ) -> AssignmentPage:
        """The (course, subject) pairs a teacher is assigned to (school admins only)."""
        page = listings.teacher_assignments(principal, teacher_id, page_size, cursor)
        return AssignmentPage(items=[AssignmentOut.of(a) for a in page.items], next_cursor=page.next_cursor)

    return router
