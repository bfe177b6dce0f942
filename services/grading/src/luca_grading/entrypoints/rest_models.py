"""The grading REST API's wire shapes: what clients send and receive (pydantic, so the OpenAPI
document states every constraint)."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from luca.grading.v1 import grading_pb2
from luca_grading.domain.model import (
    Assignment,
    BehaviorNote,
    BehaviorProfile,
    Evaluation,
    EvaluationChange,
    SubjectAverage,
)
from luca_grading.entrypoints import rest_bodies as bodies
from luca_kernel.grading import SCALE_BOUNDS, GradingRule, Rounding, ScaleKind
from luca_kernel.roster import Term
from luca_platform.contract_rules import pydantic_field

# Constraints of fields that are also gRPC fields come from the contract's buf.validate rules, so
# REST, gRPC and the edge refuse the same inputs.
_RECORD = grading_pb2.RecordEvaluationRequest.DESCRIPTOR
_NOTE = grading_pb2.RecordBehaviorNoteRequest.DESCRIPTOR
_CORRECT = grading_pb2.CorrectEvaluationRequest.DESCRIPTOR


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Score = Annotated[
    Decimal, Field(allow_inf_nan=False, max_digits=6, description="score on the school's scale")
]
Id = Annotated[str, Field(**pydantic_field(_RECORD, "student_id"))]
Weight = Annotated[Decimal, Field(allow_inf_nan=False, gt=0, le=100, max_digits=6, decimal_places=3)]


class RecordEvaluationBody(Strict):
    student_id: Id
    course_id: Id
    subject_id: Id
    term_id: Id
    score: Score
    weight: Weight | None = None
    description: Annotated[str, Field(**pydantic_field(_RECORD, "description"))] = ""


class EvaluationOut(BaseModel):
    evaluation_id: str
    student_id: str
    course_id: str
    subject_id: str
    term_id: str
    score: str
    weight: str
    teacher_id: str
    recorded_at: str
    description: str
    version: int = Field(
        description='the grade\'s version: send it back as If-Match "v<version>" to change it'
    )
    retracted: bool
    updated_at: str | None = None

    @classmethod
    def of(cls, e: Evaluation) -> Self:
        return cls(**bodies.evaluation(e))


class AverageOut(BaseModel):
    subject_id: str
    term_id: str
    weighted_average: str
    passing: bool
    evaluation_count: int

    @classmethod
    def of(cls, a: SubjectAverage) -> Self:
        return cls(**bodies.average(a))


class StudentEvaluationsOut(BaseModel):
    student_id: str
    evaluations: list[EvaluationOut]
    averages: list[AverageOut]


class StudentAverageOut(AverageOut):
    student_id: str


class CourseGradesOut(BaseModel):
    course_id: str
    term_id: str
    evaluations: list[EvaluationOut]
    averages: list[StudentAverageOut]


class RecordBehaviorNoteBody(Strict):
    student_id: Id
    course_id: Id
    kind: Literal["positive", "negative"]
    text: Annotated[str, Field(**pydantic_field(_NOTE, "text"))]


class BehaviorNoteOut(BaseModel):
    note_id: str
    student_id: str
    course_id: str
    kind: str
    text: str
    teacher_id: str
    recorded_at: str

    @classmethod
    def of(cls, n: BehaviorNote) -> Self:
        return cls(
            note_id=n.note_id,
            student_id=n.student_id,
            course_id=n.course_id,
            kind=n.kind.value,
            text=n.text,
            teacher_id=n.teacher_id,
            recorded_at=n.recorded_at.isoformat(),
        )


class BehaviorProfileOut(BaseModel):
    student_id: str
    positive_count: int
    negative_count: int
    recent_notes: list[BehaviorNoteOut]

    @classmethod
    def of(cls, p: BehaviorProfile) -> Self:
        return cls(
            student_id=p.student_id,
            positive_count=p.positive_count,
            negative_count=p.negative_count,
            recent_notes=[BehaviorNoteOut.of(n) for n in p.recent_notes],
        )


# The passing grades each scale allows (the kernel's SCALE_BOUNDS), as a number and as a plain
# decimal string: the use case refuses any other with a 400 naming the scale.
_PASSING_STRING = {
    ScaleKind.CHILEAN: r"^(?:[1-6](?:\.[0-9]+)?|7(?:\.0+)?)$",
    ScaleKind.PERCENTAGE: r"^(?:100(?:\.0+)?|[0-9]{1,2}(?:\.[0-9]+)?)$",
}


def _passing_grade_by_scale() -> list[Any]:  # JSON values: pydantic types them invariantly
    branches: list[Any] = []
    for scale, (low, high) in SCALE_BOUNDS.items():
        grade = {
            "anyOf": [
                {"type": "number", "minimum": float(low), "maximum": float(high)},
                {"type": "string", "pattern": _PASSING_STRING[scale]},
            ]
        }
        branch: dict[str, Any] = {"properties": {"scale": {"const": scale.value}, "passing_grade": grade}}
        if scale != ScaleKind.CHILEAN:  # the default scale: the body may leave it out
            branch["required"] = ["scale"]
        branches.append(branch)
    return branches


def _json_integer(value: object) -> object:
    """A JSON integer (1 or 1.0, as JSON Schema has it), not what pydantic's lax mode would turn
    into one: a boolean or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("an integer is required")
    return value


class GradingRuleBody(Strict):
    # The passing grade must lie on the body's own scale: one branch per scale.
    model_config = ConfigDict(**Strict.model_config, json_schema_extra={"anyOf": _passing_grade_by_scale()})

    scale: ScaleKind = ScaleKind.CHILEAN
    passing_grade: Annotated[Decimal, Field(allow_inf_nan=False)]
    rounding: Rounding = Rounding.HALF_UP
    decimals: Annotated[int, Field(ge=0, le=2), BeforeValidator(_json_integer)] = 1
    default_weight: Weight = Decimal("1")


class GradingRuleOut(BaseModel):
    subject_id: str
    scale: str
    passing_grade: str
    rounding: str
    decimals: int
    default_weight: str
    updated_at: str | None

    @classmethod
    def of(cls, r: GradingRule) -> Self:
        return cls(
            subject_id=r.subject_id,
            scale=r.scale.value,
            passing_grade=str(r.passing_grade),
            rounding=r.rounding.value,
            decimals=r.decimals,
            default_weight=str(r.default_weight),
            updated_at=r.updated_at.isoformat() if r.updated_at else None,
        )


class NamedBody(Strict):
    name: Annotated[str, Field(**pydantic_field(grading_pb2.PutTermRequest.DESCRIPTOR, "name"))]


class StudentBody(Strict):
    course_id: Id
    display_name: Annotated[str, Field(min_length=1, max_length=200)]


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    correlation_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


Reason = Annotated[
    str,
    Field(description="why the grade changes (kept in its history)", **pydantic_field(_CORRECT, "reason")),
]


class CorrectionBody(Strict):
    # A correction that changes nothing is a 400: at least one of the three is given, not null.
    model_config = ConfigDict(
        **Strict.model_config,
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                for name in ("score", "weight", "description")
            ]
        },
    )

    score: Score | None = None
    weight: Weight | None = None
    description: Annotated[str, Field(**pydantic_field(_CORRECT, "description"))] | None = None
    reason: Reason


class RetractionBody(Strict):
    reason: Reason


class GradeValuesOut(BaseModel):
    score: str
    weight: str
    description: str


class ChangeOut(BaseModel):
    version: int
    kind: Literal["corrected", "retracted"]
    changed_by: str
    changed_at: str
    reason: str
    correlation_id: str | None
    before: GradeValuesOut
    after: GradeValuesOut

    @classmethod
    def of(cls, c: EvaluationChange) -> Self:
        return cls(
            version=c.version,
            kind=c.kind.value,
            changed_by=c.changed_by,
            changed_at=c.changed_at.isoformat(),
            reason=c.reason,
            correlation_id=c.correlation_id or None,
            before=GradeValuesOut(
                score=str(c.before.score), weight=str(c.before.weight), description=c.before.description
            ),
            after=GradeValuesOut(
                score=str(c.after.score), weight=str(c.after.weight), description=c.after.description
            ),
        )


class EvaluationHistoryOut(BaseModel):
    evaluation: EvaluationOut
    # Oldest first; version 1 (the recording) is the evaluation itself before the first change.
    changes: list[ChangeOut]


class TermOut(BaseModel):
    term_id: str
    name: str
    closed: bool
    closed_at: str | None
    closed_by: str | None

    @classmethod
    def of(cls, t: Term) -> Self:
        return cls(
            term_id=t.term_id,
            name=t.name,
            closed=t.closed,
            closed_at=_iso(t.closed_at),
            closed_by=t.closed_by or None,
        )


class AssignmentOut(BaseModel):
    teacher_id: str
    course_id: str
    subject_id: str
    assigned_at: str
    assigned_by: str

    @classmethod
    def of(cls, a: Assignment) -> Self:
        return cls(
            teacher_id=a.teacher_id,
            course_id=a.course_id,
            subject_id=a.subject_id,
            assigned_at=a.assigned_at.isoformat(),
            assigned_by=a.assigned_by,
        )
