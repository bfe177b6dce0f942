"""Helpers for the roster listings' tests: an in-memory ``RosterReader`` for unit tests, and, for the
emulator, assignment items written as the table design lays them out, a REST app and a gRPC server
around the listings."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from fastapi import FastAPI
from fastapi.testclient import TestClient

from luca.common.v1 import common_pb2
from luca.grading.v1 import roster_pb2_grpc
from luca_grading.bootstrap import Container
from luca_grading.domain.model import Assignment
from luca_grading.entrypoints.grpc_calls import ERROR_DOMAIN, CallRunner
from luca_grading.entrypoints.grpc_roster import ROSTER_SERVICE_NAME, RosterServicer
from luca_grading.entrypoints.rest_auth import principal
from luca_grading.entrypoints.rest_roster import roster_router
from luca_grading.service_layer.listings import HeldCourse, Page, RosterListings
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student, Subject, Term
from luca_platform.grpc_server import build_server
from luca_platform.pagination import Position
from luca_platform.rest import install_problem_handlers
from luca_testing.seed import SchoolSeed

T = TypeVar("T")
CURSOR_KEY = "test-cursor-key-0123456789abcdefghijklmnop"
ASSIGNED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Timer:
    """A settable clock for cursor ages (seconds since the epoch)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- an in-memory reader ---------------------------------------------------------------------------
class FakeRosterReader:
    """One school's roster in memory, paged like the adapter: a position is the last key shown."""

    def __init__(self, school_id: SchoolId, calls: Counter[str]) -> None:
        self.school_id = school_id
        self.calls = calls
        self.courses_by_id: dict[CourseId, Course] = {}
        self.students: dict[StudentId, Student] = {}
        self.subjects_by_id: dict[SubjectId, Subject] = {}
        self.terms_by_id: dict[TermId, Term] = {}
        self.assigned: list[Assignment] = []

    # seeding
    def course_with(self, course_id: str, students: int = 0) -> FakeRosterReader:
        course = CourseId(course_id)
        self.courses_by_id[course] = Course(self.school_id, course, f"Course {course_id}")
        for n in range(students):
            sid = StudentId(f"{course_id}-st-{n:03d}")
            self.students[sid] = Student(self.school_id, sid, course, f"Student {n}")
        return self

    def assign(self, teacher: str, course_id: str, *subjects: str) -> FakeRosterReader:
        for subject in subjects:
            self.assigned.append(
                Assignment(
                    self.school_id,
                    TeacherId(teacher),
                    CourseId(course_id),
                    SubjectId(subject),
                    ASSIGNED_AT,
                    "admin",
                )
            )
        return self

    # the port
    def courses(self, limit: int, start: Position | None) -> Page[Course]:
        self.calls["courses"] += 1
        return _page(self.courses_by_id, limit, start)

    def held_courses(self, teacher_id: TeacherId, limit: int, start: Position | None) -> Page[HeldCourse]:
        self.calls["held_courses"] += 1
        held: dict[CourseId, list[SubjectId]] = {}
        for a in sorted(self.assigned, key=lambda a: (a.course_id, a.subject_id)):
            if a.teacher_id == teacher_id:
                held.setdefault(a.course_id, []).append(a.subject_id)
        return _page({c: HeldCourse(c, tuple(s)) for c, s in held.items()}, limit, start)

    def courses_named(self, course_ids: Sequence[CourseId]) -> Mapping[CourseId, Course]:
        return {c: self.courses_by_id[c] for c in course_ids if c in self.courses_by_id}

    def course(self, course_id: CourseId) -> Course | None:
        self.calls["course"] += 1
        return self.courses_by_id.get(course_id)

    def holds_course(self, teacher_id: TeacherId, course_id: CourseId) -> bool:
        self.calls["holds_course"] += 1
        return any(a.teacher_id == teacher_id and a.course_id == course_id for a in self.assigned)

    def course_students(self, course_id: CourseId, limit: int, start: Position | None) -> Page[Student]:
        self.calls["course_students"] += 1
        return _page(
            {s.student_id: s for s in self.students.values() if s.course_id == course_id}, limit, start
        )

    def subjects(self, limit: int, start: Position | None) -> Page[Subject]:
        self.calls["subjects"] += 1
        return _page(self.subjects_by_id, limit, start)

    def terms(self, limit: int, start: Position | None) -> Page[Term]:
        self.calls["terms"] += 1
        return _page(self.terms_by_id, limit, start)

    def assignments(self, teacher_id: TeacherId, limit: int, start: Position | None) -> Page[Assignment]:
        self.calls["assignments"] += 1
        mine = {f"{a.course_id}#{a.subject_id}": a for a in self.assigned if a.teacher_id == teacher_id}
        return _page(mine, limit, start)


def _page(by_key: Mapping[str, T], limit: int, start: Position | None) -> Page[T]:
    after = start["after"] if start else None
    rest = [(k, by_key[k]) for k in sorted(by_key) if after is None or k > after]
    shown = rest[:limit]
    return Page([v for _, v in shown], {"after": shown[-1][0]} if len(rest) > limit else None)


class FakeRosterReaders:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.schools: dict[SchoolId, FakeRosterReader] = {}

    def for_school(self, school_id: SchoolId) -> FakeRosterReader:
        if school_id not in self.schools:
            self.schools[school_id] = FakeRosterReader(school_id, self.calls)
        return self.schools[school_id]


# -- the emulator ----------------------------------------------------------------------------------
def put_assignment(seed: SchoolSeed, teacher: str, course: str, subject: str) -> None:
    """An assignment item exactly as the table design lays it out (grading's private item)."""
    school = seed.school_id
    seed.put(
        {
            "PK": f"SCHOOL#{school}#TEACHER#{teacher}",
            "SK": f"ASSIGN#{course}#{subject}",
            "GSI1PK": f"SCHOOL#{school}#COURSE#{course}",
            "GSI1SK": f"TEACHER#{teacher}#{subject}",
            "type": "Assignment",
            "schema_version": 1,
            "school_id": school,
            "teacher_id": teacher,
            "course_id": course,
            "subject_id": subject,
            "assigned_at": "2026-03-01T12:00:00.000000Z",
            "assigned_by": "admin-" + school,
        }
    )


def rest_app(listings: RosterListings, container: Container) -> FastAPI:
    """The listing routes on an app of their own, authenticated by the service's own dependency."""
    app = FastAPI()
    app.state.container = container  # where the service's authentication dependency finds it
    install_problem_handlers(
        app,
        log=logging.getLogger("test.listings"),
        correlation=lambda _request: None,
        boundary_detail="that resource is not part of your school",
        unavailable_detail="the school's records are unavailable; try again shortly",
        retry_after_seconds=2,
    )
    app.include_router(roster_router(listings, principal))
    return app


@contextmanager
def grpc_channel(listings: RosterListings, container: Container) -> Iterator[grpc.Channel]:
    calls = CallRunner(container, ROSTER_SERVICE_NAME, ERROR_DOMAIN)
    server, port = build_server(
        service_name=ROSTER_SERVICE_NAME,
        register=lambda s: roster_pb2_grpc.add_RosterServiceServicer_to_server(
            RosterServicer(listings, calls), s
        ),
        authenticate=container.authenticator.authenticate,
        address="127.0.0.1:0",
        workers=4,
        traced=False,
        error_domain=ERROR_DOMAIN,
    )
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        server.stop(0)


def walk(
    fetch: Callable[[str | None], tuple[list[Any], str | None]], *, max_pages: int = 100
) -> list[list[Any]]:
    """Every page of a listing, following next cursors until there is none."""
    pages: list[list[Any]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        items, cursor = fetch(cursor)
        pages.append(items)
        if not cursor:
            return pages
    raise AssertionError("the listing never ended")


def rest_pages(
    api: TestClient, path: str, headers: dict[str, str], size: int | None
) -> list[list[dict[str, Any]]]:
    """Every page of a REST listing, checking each answer's shape."""

    def fetch(cursor: str | None) -> tuple[list[Any], str | None]:
        params = {k: v for k, v in (("page_size", size), ("cursor", cursor)) if v is not None}
        response = api.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        return body["items"], body["next_cursor"]

    return walk(fetch)


def grpc_pages(
    call: Callable[..., Any],
    request_type: Callable[..., Any],
    field: str,
    metadata: Any,
    size: int,
    **request: Any,
) -> list[list[Any]]:
    """Every page of a gRPC listing; ``field`` names the response's repeated items."""

    def fetch(cursor: str | None) -> tuple[list[Any], str | None]:
        page = common_pb2.PageRequest(page_size=size, page_token=cursor or "")
        response = call(request_type(page=page, **request), metadata=metadata)
        return list(getattr(response, field)), response.page.next_page_token or None

    return walk(fetch)


def assert_refused(response: Any, status: int, kind: str) -> dict[str, Any]:
    """A problem answer of ``kind``, with no listing in it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + kind), body
    assert "items" not in body
    return body
