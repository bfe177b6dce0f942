"""What the reports' REST routes say in OpenAPI: each report's answer and its query parameters.

The parameters are documented here, not declared to FastAPI: the route reads the query string itself
(an unknown or repeated parameter is a 400) and the use cases check every value. What each value must
match is read from the contract's ``buf.validate`` rules (``luca.analytics.v1``), as the gRPC server
enforces them; ``tests/contract/test_rest_parameters.py`` checks the use cases' patterns agree.
"""

from typing import Any

from pydantic import BaseModel

from luca.analytics.v1 import analytics_pb2
from luca_analytics.service_layer.reports import MAX_BUCKETS
from luca_platform.contract_rules import field_constraints
from luca_platform.problems import PROBLEM_JSON


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    correlation_id: str | None = None
    errors: list[dict[str, Any]] | None = None


class SubjectAverage(BaseModel):
    subject_id: str
    term_id: str
    weighted_average: float
    grades: int
    students: int


class StudentBelowPassing(BaseModel):
    student_id: str | None  # null: a pseudonym no roster student produces
    identified: bool
    subject_id: str
    weighted_average: float
    passing_grade: float
    grades: int


class BehaviorMonth(BaseModel):
    month: str
    positive: int
    negative: int


class GradeBucket(BaseModel):
    from_score: float
    to_score: float
    grades: int


class _Report(BaseModel):
    report: str
    school_id: str


class SubjectAveragesOut(_Report):
    averages: list[SubjectAverage]


class StudentsBelowPassingOut(_Report):
    students: list[StudentBelowPassing]


class BehaviorTrendOut(_Report):
    months: list[BehaviorMonth]


class GradeDistributionOut(_Report):
    buckets: list[GradeBucket]


ANSWERS: dict[str, type[_Report]] = {
    "subject-averages": SubjectAveragesOut,
    "students-below-passing": StudentsBelowPassingOut,
    "behavior-trend": BehaviorTrendOut,
    "grade-distribution": GradeDistributionOut,
}


def _query(name: str, description: str, schema: dict[str, Any], *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


def contract_parameter(message: Any, field: str) -> dict[str, Any]:
    """A query parameter's schema from the request message's field rules. An empty query value is
    refused (400), so the rules' "empty means absent" does not carry over: absent is the empty case."""
    constraints = field_constraints(message.DESCRIPTOR.fields_by_name[field])
    schema: dict[str, Any] = {"type": "string", "minLength": max(constraints.min_len or 0, 1)}
    if constraints.pattern is not None:
        schema["pattern"] = constraints.pattern
    if constraints.max_len is not None:
        schema["maxLength"] = constraints.max_len
    return schema


_TERM = contract_parameter(analytics_pb2.StudentsBelowPassingRequest, "term_id")
_SUBJECT = contract_parameter(analytics_pb2.StudentsBelowPassingRequest, "subject_id")
_MONTH = contract_parameter(analytics_pb2.BehaviorTrendRequest, "from_month")
_SCHOOL = _query(
    "school_id",
    "may only name the caller's own school (any other: 403); the school always comes from the token",
    {"type": "string", "minLength": 1},
)
PARAMETERS: dict[str, list[dict[str, Any]]] = {
    "subject-averages": [_query("term_id", "only this term (e.g. 2025-T1); all terms without it", _TERM)],
    "students-below-passing": [
        _query("term_id", "the term, e.g. 2025-T1", _TERM, required=True),
        _query("subject_id", "only this subject", _SUBJECT),
    ],
    "behavior-trend": [
        _query("from_month", "first month (YYYY-MM); must not be after to_month (else 400)", _MONTH),
        _query("to_month", "last month (YYYY-MM)", _MONTH),
    ],
    "grade-distribution": [
        _query("term_id", "the term, e.g. 2025-T1", _TERM, required=True),
        _query(
            "subject_id", "only this subject (its rule's scale); the school default's without it", _SUBJECT
        ),
        _query(
            "bucket_width",
            "bucket width on the scale; 0 or absent: the scale's default. Must give 1 to "
            f"{MAX_BUCKETS} buckets on the rule's scale (1-7: 0.03-6; 0-100: 0.5-100), else 400",
            {"type": "number", "minimum": 0, "maximum": 100},
        ),
    ],
}
_MEANING = {
    400: "validation: a parameter breaks its pattern or range, is unknown to the report, or repeated",
    401: "unauthenticated: no valid bearer ID token (WWW-Authenticate: Bearer)",
    403: "forbidden: students read no reports; school_id names another school",
    503: "lake-unavailable or dependency-unavailable: try again (Retry-After)",
}
_RETRY = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 0}}}


def responses() -> dict[int | str, dict[str, Any]]:
    """The problems every report route answers."""
    found: dict[int | str, dict[str, Any]] = {}
    for status, meaning in _MEANING.items():
        found[status] = {
            "content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}},
            "description": meaning,
        }
    found[401]["headers"] = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}
    found[503]["headers"] = _RETRY
    return found


def openapi_extra(report: str) -> dict[str, Any]:
    return {"parameters": [*PARAMETERS[report], _SCHOOL]}
