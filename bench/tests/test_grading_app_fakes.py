"""The CPU bench's indexed fake store answers a student's and a course's grades exactly as the
service's test fake does (same grades, same order), without scanning the school."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bench.capacity import grading_app
from luca_grading.domain.model import Evaluation


def grade(n: int, student: str, course: str, term: str, subject: str) -> Evaluation:
    return Evaluation(
        school_id="school-a",  # type: ignore[arg-type]
        evaluation_id=f"ev-{n:04d}",
        student_id=student,  # type: ignore[arg-type]
        course_id=course,  # type: ignore[arg-type]
        subject_id=subject,  # type: ignore[arg-type]
        term_id=term,  # type: ignore[arg-type]
        score=Decimal("5.5"),
        weight=Decimal("1"),
        teacher_id="t-1",  # type: ignore[arg-type]
        recorded_at=datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_the_indexed_fake_answers_as_the_tests_fake() -> None:
    fakes = grading_app.grading_fakes()
    plain: Any = fakes.FakeRepositories().for_school("school-a")
    indexed: Any = grading_app.indexed_fakes(fakes)().for_school("school-a")
    combos = list(itertools.product(("st-1", "st-2", "st-3"), ("1A", "1B"), ("T1", "T2"), ("math", "art")))
    for n in range(60):
        evaluation = grade(n, *combos[(n * 7) % len(combos)])
        assert plain.add_evaluation(evaluation) is None
        assert indexed.add_evaluation(evaluation) is None
    # A retry lands on the stored grade and adds nothing.
    again = grade(3, *combos[21])
    assert indexed.add_evaluation(again) == plain.add_evaluation(again) is not None

    for student, term, subject in itertools.product(("st-1", "st-3", "st-9"), ("T1", None), ("math", None)):
        expected = plain.student_evaluations(student, term, subject)
        assert indexed.student_evaluations(student, term, subject) == expected
    for course, term, subject in itertools.product(("1A", "1B", "9Z"), ("T1", "T2"), ("art", None)):
        expected = plain.course_evaluations(course, term, subject)
        assert indexed.course_evaluations(course, term, subject) == expected
    assert indexed.calls["course_evaluations"] == plain.calls["course_evaluations"]
    assert indexed.course_evaluations("1A", "T1")  # the cases above were not all empty


def test_steady_reads_record_into_a_term_the_reads_do_not_read() -> None:
    seeded = list(grading_app.seed_requests(2, 1, (grading_app.RECORD_TERM_STEADY,)))
    assert seeded[0][:3] == ("admin", "PUT", f"/v1/terms/{grading_app.RECORD_TERM_STEADY}")
    assert list(grading_app.seed_requests(2, 1)) == seeded[1:]
    workload = grading_app.Workload(grading_app.students(2), record_term=grading_app.RECORD_TERM_STEADY)
    body = workload.request("record a grade", 0)[3]
    assert body is not None
    assert body["term_id"] == grading_app.RECORD_TERM_STEADY
    for read in ("read: student's evaluations", "read: course grades"):
        assert grading_app.TERM in workload.request(read, 0)[2]
