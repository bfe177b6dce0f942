"""The listing use cases over an in-memory roster: who may list what, pages that cover every item
once, and cursors that lead back only into the listing, school (and teacher) that made them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from grading_fakes import admin, student, teacher
from listing_fixtures import CURSOR_KEY, FakeRosterReaders, Timer, walk
from luca_grading.service_layer.listings import Listing, RosterListings
from luca_kernel.access import Principal, Role
from luca_kernel.errors import Forbidden, InvalidCursor, InvalidInput, UnknownCourse
from luca_kernel.ids import SchoolId, SubjectId, TermId
from luca_kernel.roster import Subject, Term


@pytest.fixture
def readers() -> FakeRosterReaders:
    readers = FakeRosterReaders()
    a = readers.for_school(SchoolId("school-a"))
    for n in range(7):
        a.course_with(f"c{n}", students=5 if n == 0 else 0)
    a.course_with("1B", students=3)
    # t-1 teaches three subjects in c0, one in c1..c4: five courses.
    a.assign("t-1", "c0", "history", "math", "science")
    for n in range(1, 5):
        a.assign("t-1", f"c{n}", "math")
    for n in range(5):
        a.subjects_by_id[SubjectId(f"sub-{n}")] = Subject(
            SchoolId("school-a"), SubjectId(f"sub-{n}"), f"S{n}"
        )
        a.terms_by_id[TermId(f"t-{n}")] = Term(SchoolId("school-a"), TermId(f"t-{n}"), f"T{n}")
    b = readers.for_school(SchoolId("school-b"))
    b.course_with("c0", students=5)
    return readers


@pytest.fixture
def timer() -> Timer:
    return Timer()


@pytest.fixture
def listings(readers: FakeRosterReaders, timer: Timer) -> RosterListings:
    return RosterListings(readers=readers, cursor_keys=[CURSOR_KEY], timer=timer)


def pages_of(call: Callable[[int | None, str | None], Listing[Any]], size: int | None) -> list[list[Any]]:
    def fetch(cursor: str | None) -> tuple[list[Any], str | None]:
        page = call(size, cursor)
        return list(page.items), page.next_cursor

    return walk(fetch)


# -- walking every listing -------------------------------------------------------------------------
def test_a_teachers_courses_are_theirs_whole_and_each_once(listings: RosterListings) -> None:
    pages = pages_of(lambda size, cursor: listings.courses(teacher(), size, cursor), 2)
    assert [len(p) for p in pages] == [2, 2, 1]
    courses = [c for page in pages for c in page]
    assert [c.course_id for c in courses] == ["c0", "c1", "c2", "c3", "c4"]
    assert courses[0].subject_ids == ("history", "math", "science")
    assert courses[0].name == "Course c0"


def test_an_admin_lists_every_course_of_the_school(listings: RosterListings) -> None:
    pages = pages_of(lambda size, cursor: listings.courses(admin(), size, cursor), 3)
    ids = [c.course_id for page in pages for c in page]
    assert ids == ["1B", "c0", "c1", "c2", "c3", "c4", "c5", "c6"]
    assert all(c.subject_ids == () for page in pages for c in page)


@pytest.mark.parametrize("size", [1, 2, 5, 6, None])
def test_a_course_students_subjects_and_terms_are_walked_once(
    listings: RosterListings, size: int | None
) -> None:
    students = pages_of(lambda s, c: listings.course_students(teacher(), "c0", s, c), size)
    assert sorted(st.student_id for p in students for st in p) == [f"c0-st-{n:03d}" for n in range(5)]
    assert len({st.student_id for p in students for st in p}) == 5
    subjects = pages_of(lambda s, c: listings.subjects(student(), s, c), size)
    assert [s.subject_id for p in subjects for s in p] == [f"sub-{n}" for n in range(5)]
    terms = pages_of(lambda s, c: listings.terms(teacher(), s, c), size)
    assert [t.term_id for p in terms for t in p] == [f"t-{n}" for n in range(5)]
    # No empty trailing page: the last page is the one without a cursor.
    assert all(p for p in students + subjects + terms)


def test_an_admin_walks_a_teachers_assignments(listings: RosterListings) -> None:
    pages = pages_of(lambda s, c: listings.teacher_assignments(admin(), "t-1", s, c), 3)
    pairs = [(a.course_id, a.subject_id) for p in pages for a in p]
    assert len(pairs) == len(set(pairs)) == 7
    assert ("c0", "science") in pairs


def test_the_default_page_is_fifty(readers: FakeRosterReaders, listings: RosterListings) -> None:
    many = readers.for_school(SchoolId("school-a"))
    many.course_with("big", students=120)
    page = listings.course_students(admin(), "big")
    assert len(page.items) == 50
    assert page.next_cursor


@pytest.mark.parametrize("size", [0, -1, 201])
def test_a_page_size_out_of_range_is_refused(listings: RosterListings, size: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        listings.subjects(teacher(), size)
    assert caught.value.field == "page_size"


# -- who may list what -----------------------------------------------------------------------------
def test_students_may_not_list_courses_or_a_courses_students(listings: RosterListings) -> None:
    with pytest.raises(Forbidden):
        listings.courses(student())
    with pytest.raises(Forbidden):
        listings.course_students(student(), "c0")


def test_students_may_list_subjects_and_terms(listings: RosterListings) -> None:
    assert listings.subjects(student()).items
    assert listings.terms(student()).items


def test_a_teacher_lists_only_the_students_of_a_course_they_teach(
    listings: RosterListings, readers: FakeRosterReaders
) -> None:
    with pytest.raises(Forbidden):
        listings.course_students(teacher(), "1B")
    # Refused before the course is looked up: a teacher cannot probe which courses exist.
    with pytest.raises(Forbidden):
        listings.course_students(teacher(), "no-such-course")
    assert readers.calls["course"] == 0
    assert readers.calls["course_students"] == 0
    with pytest.raises(Forbidden):
        listings.course_students(teacher(name="t-2"), "c0")


def test_an_unknown_course_is_not_found_for_an_admin(listings: RosterListings) -> None:
    with pytest.raises(UnknownCourse):
        listings.course_students(admin(), "no-such-course")
    with pytest.raises(InvalidInput) as caught:
        listings.course_students(admin(), "bad#id")
    assert caught.value.field == "course_id"


def test_an_internal_service_reads_like_an_admin(listings: RosterListings) -> None:
    service = Principal(SchoolId("school-a"), subject="reports", roles=frozenset({Role.SERVICE}))
    assert len(listings.courses(service, 200).items) == 8
    assert len(listings.course_students(service, "1B").items) == 3
    with pytest.raises(Forbidden):
        listings.teacher_assignments(service, "t-1")


def test_only_admins_list_a_teachers_assignments(listings: RosterListings) -> None:
    for caller in (teacher(), teacher(name="t-2"), student()):
        with pytest.raises(Forbidden):
            listings.teacher_assignments(caller, "t-1")


def test_a_teacher_whose_name_cannot_be_a_teacher_id_holds_nothing(
    listings: RosterListings, readers: FakeRosterReaders
) -> None:
    odd = teacher(name="ana#1")  # a user name no admin could assign (ids hold no '#')
    assert listings.courses(odd).items == ()
    with pytest.raises(Forbidden):
        listings.course_students(odd, "c0")
    assert readers.calls["held_courses"] == readers.calls["holds_course"] == 0


def test_a_teacher_without_assignments_has_no_courses(listings: RosterListings) -> None:
    page = listings.courses(teacher(name="t-new"))
    assert page.items == ()
    assert page.next_cursor is None


# -- cursors ---------------------------------------------------------------------------------------
def first_cursor(listings: RosterListings) -> str:
    cursor = listings.course_students(admin(), "c0", 2).next_cursor
    assert cursor
    return cursor


def test_a_cursor_from_another_school_is_refused_and_never_read(
    listings: RosterListings, readers: FakeRosterReaders
) -> None:
    cursor = first_cursor(listings)
    before = readers.calls["course_students"]
    with pytest.raises(InvalidCursor) as caught:
        listings.course_students(admin("school-b"), "c0", 2, cursor)
    assert caught.value.field == "cursor"
    assert readers.calls["course_students"] == before


def test_a_cursor_from_another_query_is_refused(listings: RosterListings) -> None:
    cursor = first_cursor(listings)
    with pytest.raises(InvalidCursor):
        listings.course_students(admin(), "1B", 2, cursor)
    with pytest.raises(InvalidCursor):
        listings.subjects(admin(), 2, cursor)
    with pytest.raises(InvalidCursor):
        listings.courses(admin(), 2, cursor)


def test_a_teachers_courses_cursor_is_the_teachers_own(listings: RosterListings) -> None:
    cursor = listings.courses(teacher(), 1).next_cursor
    assert cursor
    with pytest.raises(InvalidCursor):
        listings.courses(teacher(name="t-2"), 1, cursor)
    with pytest.raises(InvalidCursor):
        listings.courses(admin(), 1, cursor)
    assert listings.courses(teacher(), 1, cursor).items[0].course_id == "c1"


def test_the_page_size_may_change_between_pages(listings: RosterListings) -> None:
    cursor = first_cursor(listings)
    rest = listings.course_students(admin(), "c0", 10, cursor)
    assert [s.student_id for s in rest.items] == [f"c0-st-{n:03d}" for n in range(2, 5)]


def test_a_tampered_cursor_is_refused(listings: RosterListings) -> None:
    cursor = first_cursor(listings)
    tampered = cursor[:5] + ("A" if cursor[5] != "A" else "B") + cursor[6:]
    with pytest.raises(InvalidCursor):
        listings.course_students(admin(), "c0", 2, tampered)


def test_a_cursor_expires_after_a_day(listings: RosterListings, timer: Timer) -> None:
    cursor = first_cursor(listings)
    timer.now += 24 * 3600 + 1
    with pytest.raises(InvalidCursor) as caught:
        listings.course_students(admin(), "c0", 2, cursor)
    assert "expired" in caught.value.detail


def test_a_cursor_survives_a_key_rotation(readers: FakeRosterReaders, timer: Timer) -> None:
    new_key = "n" * 40
    old = RosterListings(readers=readers, cursor_keys=[CURSOR_KEY], timer=timer)
    rotated = RosterListings(readers=readers, cursor_keys=[new_key, CURSOR_KEY], timer=timer)
    cursor = old.subjects(admin(), 2).next_cursor
    assert cursor
    assert [s.subject_id for s in rotated.subjects(admin(), 2, cursor).items] == ["sub-2", "sub-3"]
    retired = RosterListings(readers=readers, cursor_keys=[new_key], timer=timer)
    with pytest.raises(InvalidCursor):
        retired.subjects(admin(), 2, cursor)


def test_a_cursor_does_not_outlive_the_callers_access(listings: RosterListings) -> None:
    cursor = listings.course_students(teacher(), "c0", 2).next_cursor
    assert cursor
    # Another teacher of the same school holding the cursor is still refused: access is checked per page.
    with pytest.raises(Forbidden):
        listings.course_students(teacher(name="t-2"), "c0", 2, cursor)
