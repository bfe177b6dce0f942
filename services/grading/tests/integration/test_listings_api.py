"""The roster listings end to end: REST and gRPC, real JWTs, the adapter on the emulator's table with
per-school clients, items written as their owner lays them out.

GIVEN two schools with courses, students, subjects, terms, and a teacher's assignments
THEN  every listing walks every item exactly once, page by page, over REST and gRPC; page sizes are
      bounded; a cursor replayed by another school, for another query, altered or expired is a 400
      (INVALID_ARGUMENT / INVALID_CURSOR) with no data; roles are enforced.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from fastapi.testclient import TestClient

from grading_emulated import EmulatedGrading, build
from listing_fixtures import (
    CURSOR_KEY,
    Timer,
    assert_refused,
    grpc_channel,
    grpc_pages,
    put_assignment,
    rest_app,
    rest_pages,
)
from luca.common.v1 import common_pb2
from luca.grading.v1 import roster_pb2 as pb
from luca.grading.v1 import roster_pb2_grpc
from luca_grading.adapters.dynamodb_listings import DynamoRosterReader, DynamoRosterReaders
from luca_grading.entrypoints.grpc_calls import ERROR_DOMAIN
from luca_grading.service_layer.listings import RosterListings
from luca_kernel.errors import InvalidCursor, TenantBoundaryViolation
from luca_kernel.ids import SchoolId, TeacherId
from luca_testing.grpc_status import refused
from luca_testing.seed import SchoolSeed

pytestmark = pytest.mark.emulator

TEACHER = "teacher-school-a"  # the username of grading.bearer("school-a", "teacher")
COURSES_A = sorted(["1B", "big", *(f"c{n:02d}" for n in range(7))])
STUDENTS_C00 = [f"st-c00-{n:02d}" for n in range(7)]
SUBJECTS_A = [f"sub-{n}" for n in range(5)]
TERMS_A = [f"2026-T{n}" for n in range(1, 6)]
HELD = {"c00": ["history", "math", "science"], "c01": ["math"], "c02": ["math"], "c03": ["art", "math"]}
CLOSED_AT = datetime(2026, 4, 30, 18, 0, tzinfo=UTC)


@dataclass
class Env:
    grading: EmulatedGrading
    listings: RosterListings
    timer: Timer
    api: TestClient
    stub: roster_pb2_grpc.RosterServiceStub
    seed_a: SchoolSeed

    @property
    def reader_a(self) -> DynamoRosterReader:
        readers = DynamoRosterReaders(clients=self.grading.clients, table_name=self.grading.table_name)
        return readers.for_school(SchoolId("school-a"))


@pytest.fixture(scope="module")
def env(emulator_endpoint: str) -> Iterator[Env]:
    grading = build(emulator_endpoint)
    a = SchoolSeed(grading.clients, grading.table_name, "school-a")
    for course in COURSES_A:
        a.course(course)
    for student in STUDENTS_C00:
        a.student(student, "c00")
    for n in range(3):
        a.student(f"st-1b-{n}", "1B")
    for n in range(60):
        a.student(f"st-big-{n:02d}", "big")
    for subject in SUBJECTS_A:
        a.subject(subject)
    for term in TERMS_A:
        a.term(term, closed_at=CLOSED_AT if term == "2026-T1" else None)
    for course, subjects in HELD.items():
        for subject in subjects:
            put_assignment(a, TEACHER, course, subject)
    b = SchoolSeed(grading.clients, grading.table_name, "school-b").course("c00").subject("sub-0")
    for n in range(4):
        b.student(f"st-b-{n}", "c00")
    timer = Timer(time.time())
    listings = RosterListings(
        readers=DynamoRosterReaders(clients=grading.clients, table_name=grading.table_name),
        cursor_keys=[CURSOR_KEY],
        timer=timer,
    )
    with (
        TestClient(rest_app(listings, grading.container), raise_server_exceptions=False) as api,
        grpc_channel(listings, grading.container) as channel,
    ):
        yield Env(grading, listings, timer, api, roster_pb2_grpc.RosterServiceStub(channel), a)


@pytest.fixture(autouse=True)
def fresh_clock(env: Env) -> None:
    env.timer.now = time.time()


def meta(env: Env, school: str, role: str) -> list[tuple[str, str]]:
    return [("authorization", env.grading.bearer(school, role)["Authorization"])]


# -- every listing, every item once ----------------------------------------------------------------
LISTINGS = {
    # name: (REST path, role, id field, expected ids in order)
    "teacher's courses": ("/v1/courses", "teacher", "course_id", sorted(HELD)),
    "admin's courses": ("/v1/courses", "admin", "course_id", COURSES_A),
    "course students": ("/v1/courses/c00/students", "teacher", "student_id", STUDENTS_C00),
    "subjects": ("/v1/subjects", "student", "subject_id", SUBJECTS_A),
    "terms": ("/v1/terms", "student", "term_id", TERMS_A),
    "assignments": (
        f"/v1/teachers/{TEACHER}/assignments",
        "admin",
        "subject_id",
        [s for c in sorted(HELD) for s in HELD[c]],
    ),
}


@pytest.mark.parametrize("name", LISTINGS)
@pytest.mark.parametrize("size", [1, 3])
def test_rest_walks_every_item_once(env: Env, name: str, size: int) -> None:
    path, role, field, expected = LISTINGS[name]
    pages = rest_pages(env.api, path, env.grading.bearer("school-a", role), size)
    assert [item[field] for page in pages for item in page] == expected
    assert all(0 < len(page) <= size for page in pages)


def test_rest_items_say_what_the_apps_show(env: Env) -> None:
    teacher = env.grading.bearer("school-a", "teacher")
    (courses,) = rest_pages(env.api, "/v1/courses", teacher, None)
    assert courses[0] == {"course_id": "c00", "name": "Course c00", "subject_ids": HELD["c00"]}
    (terms,) = rest_pages(env.api, "/v1/terms", teacher, None)
    assert terms[0]["closed"] is True
    assert datetime.fromisoformat(terms[0]["closed_at"]) == CLOSED_AT
    assert terms[1] == {"term_id": "2026-T2", "name": "Term 2026-T2", "closed": False, "closed_at": None}
    admin = env.grading.bearer("school-a", "admin")
    (assignments,) = rest_pages(env.api, f"/v1/teachers/{TEACHER}/assignments", admin, None)
    assert assignments[0]["assigned_by"] == "admin-school-a"
    assert assignments[0]["teacher_id"] == TEACHER
    (students,) = rest_pages(env.api, "/v1/courses/c00/students", admin, None)
    assert students[0] == {"student_id": "st-c00-00", "course_id": "c00", "display_name": "Student st-c00-00"}


def test_a_teacher_with_several_subjects_in_a_course_sees_it_once_per_page_walk(env: Env) -> None:
    pages = rest_pages(env.api, "/v1/courses", env.grading.bearer("school-a", "teacher"), 1)
    assert [[c["course_id"] for c in page] for page in pages] == [[c] for c in sorted(HELD)]
    assert [page[0]["subject_ids"] for page in pages] == [HELD[c] for c in sorted(HELD)]


@pytest.mark.parametrize("size", [1, 4])
def test_grpc_walks_every_item_once(env: Env, size: int) -> None:
    stub = env.stub
    teacher, admin, student = (meta(env, "school-a", r) for r in ("teacher", "admin", "student"))
    courses = grpc_pages(stub.ListCourses, pb.ListCoursesRequest, "courses", teacher, size)
    assert [(c.course_id, list(c.subject_ids)) for p in courses for c in p] == list(HELD.items())
    every = grpc_pages(stub.ListCourses, pb.ListCoursesRequest, "courses", admin, size)
    assert [c.course_id for p in every for c in p] == COURSES_A
    request, field = pb.ListCourseStudentsRequest, "students"
    students = grpc_pages(stub.ListCourseStudents, request, field, teacher, size, course_id="c00")
    assert [s.student_id for p in students for s in p] == STUDENTS_C00
    subjects = grpc_pages(stub.ListSubjects, pb.ListSubjectsRequest, "subjects", student, size)
    assert [s.subject_id for p in subjects for s in p] == SUBJECTS_A
    terms = grpc_pages(stub.ListTerms, pb.ListTermsRequest, "terms", student, size)
    assert [(t.term_id, t.closed) for p in terms for t in p] == [(t, t == "2026-T1") for t in TERMS_A]
    assert terms[0][0].closed_at.ToDatetime(tzinfo=UTC) == CLOSED_AT
    request, field = pb.ListTeacherAssignmentsRequest, "assignments"
    assignments = grpc_pages(stub.ListTeacherAssignments, request, field, admin, size, teacher_id=TEACHER)
    pairs = [(c, s) for c in HELD for s in HELD[c]]
    assert [(a.course_id, a.subject_id) for p in assignments for a in p] == pairs


def test_another_schools_items_are_never_listed(env: Env) -> None:
    admin_b = env.grading.bearer("school-b", "admin")
    (courses,) = rest_pages(env.api, "/v1/courses", admin_b, None)
    assert [c["course_id"] for c in courses] == ["c00"]
    (students,) = rest_pages(env.api, "/v1/courses/c00/students", admin_b, None)
    assert [s["student_id"] for s in students] == [f"st-b-{n}" for n in range(4)]


# -- page sizes ------------------------------------------------------------------------------------
def test_page_size_defaults_to_fifty_and_accepts_up_to_two_hundred(env: Env) -> None:
    admin = env.grading.bearer("school-a", "admin")
    first = env.api.get("/v1/courses/big/students", headers=admin).json()
    assert len(first["items"]) == 50
    assert first["next_cursor"]
    everything = env.api.get("/v1/courses/big/students", params={"page_size": 200}, headers=admin).json()
    assert len(everything["items"]) == 60
    assert everything["next_cursor"] is None
    response = env.stub.ListCourseStudents(
        pb.ListCourseStudentsRequest(course_id="big"), metadata=meta(env, "school-a", "admin")
    )
    assert len(response.students) == 50
    assert response.page.next_page_token


@pytest.mark.parametrize("size", [0, -5, 201])
def test_a_page_size_out_of_range_is_a_400(env: Env, size: int) -> None:
    response = env.api.get(
        "/v1/subjects", params={"page_size": size}, headers=env.grading.bearer("school-a", "admin")
    )
    body = assert_refused(response, 400, "validation")
    assert body["errors"] == [{"field": "page_size", "reason": "validation"}]
    if size == 0:  # proto3's 0 is "unset": the default
        return
    with pytest.raises(grpc.RpcError) as raised:
        env.stub.ListSubjects(
            pb.ListSubjectsRequest(page=common_pb2.PageRequest(page_size=size)),
            metadata=meta(env, "school-a", "admin"),
        )
    code, info, fields = refused(raised.value, domain=ERROR_DOMAIN)
    assert (code, info.reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION", ["page.page_size"])


# -- cursors ---------------------------------------------------------------------------------------
def rest_cursor(env: Env, path: str, school: str = "school-a", role: str = "admin") -> str:
    response = env.api.get(path, params={"page_size": 2}, headers=env.grading.bearer(school, role))
    cursor = response.json()["next_cursor"]
    assert cursor
    return str(cursor)


def grpc_invalid_cursor(call: Callable[[], Any]) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    code, info, fields = refused(raised.value, domain=ERROR_DOMAIN)
    assert (code, info.reason, fields) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_CURSOR",
        ["page.page_token"],
    )


def students_call(env: Env, school: str, course: str, cursor: str) -> Callable[[], Any]:
    request = pb.ListCourseStudentsRequest(
        course_id=course, page=common_pb2.PageRequest(page_size=2, page_token=cursor)
    )
    return lambda: env.stub.ListCourseStudents(request, metadata=meta(env, school, "admin"))


def test_a_cursor_replayed_by_another_school_is_refused_with_no_data(env: Env) -> None:
    # Both schools have a course c00: the same route and parameters, another tenant.
    cursor = rest_cursor(env, "/v1/courses/c00/students")
    response = env.api.get(
        "/v1/courses/c00/students",
        params={"page_size": 2, "cursor": cursor},
        headers=env.grading.bearer("school-b", "admin"),
    )
    body = assert_refused(response, 400, "invalid-cursor")
    assert "st-" not in response.text
    assert body["errors"] == [{"field": "cursor", "reason": "invalid-cursor"}]
    grpc_invalid_cursor(students_call(env, "school-b", "c00", cursor))


def test_a_cursor_of_another_query_is_refused(env: Env) -> None:
    cursor = rest_cursor(env, "/v1/courses/c00/students")
    admin = env.grading.bearer("school-a", "admin")
    other_course = env.api.get("/v1/courses/1B/students", params={"cursor": cursor}, headers=admin)
    assert_refused(other_course, 400, "invalid-cursor")
    other_listing = env.api.get("/v1/subjects", params={"cursor": cursor}, headers=admin)
    assert_refused(other_listing, 400, "invalid-cursor")
    grpc_invalid_cursor(students_call(env, "school-a", "1B", cursor))
    subjects = rest_cursor(env, "/v1/subjects")
    assert_refused(
        env.api.get("/v1/terms", params={"cursor": subjects}, headers=admin), 400, "invalid-cursor"
    )


def test_a_tampered_cursor_is_refused(env: Env) -> None:
    cursor = rest_cursor(env, "/v1/courses/c00/students")
    admin = env.grading.bearer("school-a", "admin")
    # A cursor's JSON payload always starts "ey" in base64url: "A" + ... is always another one.
    for tampered in (cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB"), "A" + cursor[1:], cursor + "x"):
        response = env.api.get("/v1/courses/c00/students", params={"cursor": tampered}, headers=admin)
        assert_refused(response, 400, "invalid-cursor")
        grpc_invalid_cursor(students_call(env, "school-a", "c00", tampered))


def test_an_expired_cursor_is_refused(env: Env) -> None:
    cursor = rest_cursor(env, "/v1/courses/c00/students")
    env.timer.now += 24 * 3600 + 60
    response = env.api.get(
        "/v1/courses/c00/students", params={"cursor": cursor}, headers=env.grading.bearer("school-a", "admin")
    )
    assert "expired" in assert_refused(response, 400, "invalid-cursor")["detail"]
    grpc_invalid_cursor(students_call(env, "school-a", "c00", cursor))


def test_a_grpc_cursor_continues_over_rest(env: Env) -> None:
    # One use case behind both: a token is a cursor whichever protocol made it.
    first = env.stub.ListSubjects(
        pb.ListSubjectsRequest(page=common_pb2.PageRequest(page_size=3)),
        metadata=meta(env, "school-a", "admin"),
    )
    rest = env.api.get(
        "/v1/subjects",
        params={"cursor": first.page.next_page_token},
        headers=env.grading.bearer("school-a", "teacher"),
    ).json()
    assert [s.subject_id for s in first.subjects] + [s["subject_id"] for s in rest["items"]] == SUBJECTS_A


# -- who may list what -----------------------------------------------------------------------------
def test_a_teacher_without_an_assignment_in_the_course_is_refused_its_students(env: Env) -> None:
    teacher = env.grading.bearer("school-a", "teacher")
    assert_refused(env.api.get("/v1/courses/1B/students", headers=teacher), 403, "forbidden")
    assert_refused(env.api.get("/v1/courses/no-such/students", headers=teacher), 403, "forbidden")
    stranger = env.grading.mint.token("school-a", ["teachers"], username="teacher-unassigned")
    response = env.api.get("/v1/courses/c00/students", headers={"Authorization": f"Bearer {stranger}"})
    assert_refused(response, 403, "forbidden")
    with pytest.raises(grpc.RpcError) as raised:
        env.stub.ListCourseStudents(
            pb.ListCourseStudentsRequest(course_id="1B"), metadata=meta(env, "school-a", "teacher")
        )
    assert refused(raised.value, domain=ERROR_DOMAIN)[1].reason == "FORBIDDEN"


def test_students_are_refused_courses_rosters_and_assignments(env: Env) -> None:
    student = env.grading.bearer("school-a", "student", student_id="st-c00-00")
    for path in ("/v1/courses", "/v1/courses/c00/students", f"/v1/teachers/{TEACHER}/assignments"):
        assert_refused(env.api.get(path, headers=student), 403, "forbidden")
    with pytest.raises(grpc.RpcError) as raised:
        env.stub.ListCourses(pb.ListCoursesRequest(), metadata=meta(env, "school-a", "student"))
    code, info, _ = refused(raised.value, domain=ERROR_DOMAIN)
    assert (code, info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")


def test_only_admins_list_a_teachers_assignments(env: Env) -> None:
    teacher = env.grading.bearer("school-a", "teacher")
    assert_refused(env.api.get(f"/v1/teachers/{TEACHER}/assignments", headers=teacher), 403, "forbidden")
    request = pb.ListTeacherAssignmentsRequest(teacher_id=TEACHER)
    with pytest.raises(grpc.RpcError) as raised:
        env.stub.ListTeacherAssignments(request, metadata=meta(env, "school-a", "teacher"))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_an_unknown_course_is_not_found_for_an_admin(env: Env) -> None:
    admin = env.grading.bearer("school-a", "admin")
    assert_refused(env.api.get("/v1/courses/no-such/students", headers=admin), 404, "unknown-course")
    request = pb.ListCourseStudentsRequest(course_id="no-such")
    with pytest.raises(grpc.RpcError) as raised:
        env.stub.ListCourseStudents(request, metadata=meta(env, "school-a", "admin"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_an_unauthenticated_listing_is_refused(env: Env) -> None:
    assert_refused(env.api.get("/v1/subjects"), 401, "unauthenticated")
    with pytest.raises(grpc.RpcError) as raised:
        env.stub.ListSubjects(pb.ListSubjectsRequest())
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


# -- the adapter -----------------------------------------------------------------------------------
def test_a_subject_assigned_mid_walk_does_not_bring_its_course_back(env: Env) -> None:
    teacher = "teacher-mid-walk"
    for course in ("c00", "c01"):
        put_assignment(env.seed_a, teacher, course, "math")
    reader = env.reader_a
    first = reader.held_courses(TeacherId(teacher), 1, None)
    assert [c.course_id for c in first.items] == ["c00"]
    assert first.next_position
    put_assignment(env.seed_a, teacher, "c00", "science")  # sorts after the page's last item
    second = reader.held_courses(TeacherId(teacher), 1, first.next_position)
    assert [c.course_id for c in second.items] == ["c01"]
    assert second.next_position is None


def test_the_adapter_refuses_a_start_key_outside_its_school_or_listing(env: Env) -> None:
    reader = env.reader_a
    page = reader.subjects(2, None)
    assert page.next_position
    foreign = {**page.next_position, "PK": "SCHOOL#school-b#CATALOG"}
    with pytest.raises(TenantBoundaryViolation):
        reader.subjects(2, foreign)
    with pytest.raises(InvalidCursor):
        reader.terms(2, page.next_position)  # a subjects position in the terms listing
