"""The JSON bodies of the routes a teacher calls most, built straight from the domain objects.

A pydantic model per grade, then FastAPI checking the list of them again, cost about 4 µs a grade,
and a course's grades are hundreds. Here a grade becomes the dict its declared model would dump
(``rest_models.EvaluationOut`` is built from the same dict) and a body is serialised once. The
routes keep their models as ``response_model``, so the document is unchanged; tests hold each body
to its model.
"""

from typing import Any

from pydantic_core import to_json
from starlette.responses import Response

from luca_grading.domain.model import Evaluation, SubjectAverage


def evaluation(e: Evaluation) -> dict[str, Any]:
    """``EvaluationOut``'s fields."""
    return {
        "evaluation_id": e.evaluation_id,
        "student_id": e.student_id,
        "course_id": e.course_id,
        "subject_id": e.subject_id,
        "term_id": e.term_id,
        "score": str(e.score),
        "weight": str(e.weight),
        "teacher_id": e.teacher_id,
        "recorded_at": e.recorded_at.isoformat(),
        "description": e.description,
        "version": e.version,
        "retracted": e.retracted,
        "updated_at": e.updated_at.isoformat() if e.updated_at else None,
    }


def average(a: SubjectAverage) -> dict[str, Any]:
    """``AverageOut``'s fields."""
    return {
        "subject_id": a.subject_id,
        "term_id": a.term_id,
        "weighted_average": str(a.weighted_average),
        "passing": a.passing,
        "evaluation_count": a.evaluation_count,
    }


def student_average(student_id: str, a: SubjectAverage) -> dict[str, Any]:
    """``StudentAverageOut``'s fields (the student last, as the model declares it)."""
    return {**average(a), "student_id": student_id}


def json_response(
    body: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(to_json(body), status_code=status_code, headers=headers, media_type="application/json")


def recorded_response(body: dict[str, Any], replayed: bool) -> Response:
    """An idempotent write's answer: 201, or 200 with ``Idempotent-Replayed`` for a replay (what
    ``rest_guard.mark_replay`` does to a response FastAPI builds)."""
    if replayed:
        return json_response(body, 200, {"Idempotent-Replayed": "true"})
    return json_response(body, 201)
