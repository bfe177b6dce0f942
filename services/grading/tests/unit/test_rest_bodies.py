"""The bodies the busiest routes render without pydantic models are exactly their declared models'."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from luca_grading.domain.model import Evaluation, SubjectAverage
from luca_grading.entrypoints import rest_bodies as bodies
from luca_grading.entrypoints.rest_models import (
    AverageOut,
    CourseGradesOut,
    EvaluationOut,
    StudentAverageOut,
    StudentEvaluationsOut,
)
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId

AT = datetime(2026, 3, 9, 14, 5, 7, 123456, tzinfo=UTC)


def grade(**changes: object) -> Evaluation:
    fields: dict[str, object] = {
        "school_id": SchoolId("school-a"),
        "evaluation_id": "ev-1",
        "student_id": StudentId("st-1"),
        "course_id": CourseId("1A"),
        "subject_id": SubjectId("math"),
        "term_id": TermId("2026-T1"),
        "score": Decimal("6.5"),
        "weight": Decimal("1"),
        "teacher_id": TeacherId("teacher-1"),
        "recorded_at": AT,
        "description": "Prueba de unidad ñandú",
        **changes,
    }
    return Evaluation(**fields)  # type: ignore[arg-type]


GRADES = [
    grade(),
    grade(score=Decimal("7.0"), weight=Decimal("0.25"), version=3, updated_at=AT, retracted=True),
    grade(score=Decimal("85"), description="", weight=Decimal("2.5")),
]
AVERAGE = SubjectAverage(SubjectId("math"), TermId("2026-T1"), Decimal("5.8"), True, 3)


@pytest.mark.parametrize("evaluation", GRADES)
def test_a_grade_is_its_models_dump(evaluation: Evaluation) -> None:
    body = bodies.evaluation(evaluation)
    assert EvaluationOut.model_validate(body).model_dump() == body  # nothing coerced, nothing missing
    assert list(body) == list(EvaluationOut.model_fields)


def test_averages_are_their_models_dump() -> None:
    assert AverageOut.model_validate(bodies.average(AVERAGE)).model_dump() == bodies.average(AVERAGE)
    student = bodies.student_average("st-1", AVERAGE)
    assert StudentAverageOut.model_validate(student).model_dump() == student
    assert list(student) == list(StudentAverageOut.model_fields)


def test_a_rendered_body_is_the_json_of_its_model() -> None:
    report = {
        "course_id": "1A",
        "term_id": "2026-T1",
        "evaluations": [bodies.evaluation(e) for e in GRADES],
        "averages": [bodies.student_average("st-1", AVERAGE)],
    }
    rendered = bodies.json_response(report).body
    assert rendered == CourseGradesOut.model_validate(report).model_dump_json().encode()
    assert json.loads(rendered) == report
    student = {"student_id": "st-1", "evaluations": [], "averages": [bodies.average(AVERAGE)]}
    assert (
        bodies.json_response(student).body
        == StudentEvaluationsOut.model_validate(student).model_dump_json().encode()
    )


def test_a_replayed_write_answers_200_and_says_so() -> None:
    first = bodies.recorded_response(bodies.evaluation(GRADES[0]), replayed=False)
    again = bodies.recorded_response(bodies.evaluation(GRADES[0]), replayed=True)
    assert (first.status_code, "idempotent-replayed" in first.headers) == (201, False)
    assert (again.status_code, again.headers["idempotent-replayed"]) == (200, "true")
    assert first.headers["content-type"] == "application/json"
