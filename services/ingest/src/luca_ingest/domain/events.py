"""Students' events and what the processor makes of them, in the school's terms.

An event arrives already shaped by the contract (``luca.ingest.v1.StudentEvent``, checked against its
JSON Schema by the adapter); this module turns it into domain values and grades it with the
school's rule for the subject. Nothing here knows about queues, tables or the wire format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from luca_kernel.errors import LucaError, ScoreOutOfScale
from luca_kernel.grading import GradingRule, parse_decimal
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId

SCHEMA_VERSIONS = frozenset({1})
# A device clock may run a little fast; an event claiming to come from further ahead is refused.
MAX_CLOCK_SKEW = timedelta(minutes=10)


class Reason(StrEnum):
    """Why a record cannot be processed. Stable: the DLQ tooling and the metrics group by it."""

    MALFORMED = "malformed"
    SCHEMA_VERSION = "unsupported_schema_version"
    NO_SCHOOL = "no_school_attribute"
    UNKNOWN_STUDENT = "unknown_student"
    NOT_ENROLLED = "student_not_in_course"
    UNKNOWN_SUBJECT = "unknown_subject"
    SCORE_OUT_OF_SCALE = "score_out_of_scale"
    NOT_THE_SUBMITTER = "student_not_the_submitter"
    INVALID = "invalid"


class Unprocessable(Exception):
    """A record that will never succeed as it is: reported as failed, it ends in the DLQ."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class EventKind(StrEnum):
    EXERCISE_SUBMISSION = "exercise_submission"


@dataclass(frozen=True, slots=True)
class ExerciseSubmission:
    exercise_id: str
    # Exactly one of these: answers checked by the app (correct, total) or a score on the scale.
    correct: int | None = None
    total: int | None = None
    score: Decimal | None = None


@dataclass(frozen=True, slots=True)
class StudentEvent:
    school_id: SchoolId  # from the message attribute the edge set from the verified token
    event_id: str
    student_id: StudentId
    course_id: CourseId
    subject_id: SubjectId
    occurred_at: datetime
    schema_version: int
    kind: EventKind
    submission: ExerciseSubmission
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class ExerciseResult:
    """A graded exercise: practice, not an official grade (it expires from the hot table)."""

    event: StudentEvent
    score: Decimal
    passing: bool
    graded_at: datetime

    @property
    def expires_at(self) -> datetime:
        return self.graded_at + timedelta(days=30)


def event_from_contract(school_id: str, body: Mapping[str, Any], correlation_id: str = "") -> StudentEvent:
    """Domain values from a body that already matches the contract's JSON Schema."""
    if body["schema_version"] not in SCHEMA_VERSIONS:
        raise Unprocessable(
            Reason.SCHEMA_VERSION, f"schema_version {body['schema_version']} is not supported"
        )
    try:
        occurred_at = datetime.fromisoformat(body["occurred_at"])
    except ValueError as exc:
        raise Unprocessable(Reason.MALFORMED, f"occurred_at is not an RFC 3339 time: {exc}") from exc
    if occurred_at.tzinfo is None:
        raise Unprocessable(Reason.MALFORMED, "occurred_at has no time zone offset")
    occurred_at = occurred_at.astimezone(UTC)
    if occurred_at > datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise Unprocessable(Reason.INVALID, "occurred_at is in the future")
    raw = body["exercise_submission"]
    if "answers" in raw:
        items = raw["answers"]["items"]
        submission = ExerciseSubmission(
            exercise_id=raw["exercise_id"],
            correct=sum(1 for item in items if item.get("correct", False)),
            total=len(items),
        )
    else:
        submission = ExerciseSubmission(
            exercise_id=raw["exercise_id"], score=parse_decimal(raw["score"], field_name="score")
        )
    return StudentEvent(
        school_id=SchoolId(school_id),
        event_id=body["event_id"],
        student_id=StudentId(body["student_id"]),
        course_id=CourseId(body["course_id"]),
        subject_id=SubjectId(body["subject_id"]),
        occurred_at=occurred_at,
        schema_version=body["schema_version"],
        kind=EventKind.EXERCISE_SUBMISSION,
        submission=submission,
        correlation_id=correlation_id,
    )


def grade(event: StudentEvent, rule: GradingRule, now: datetime) -> ExerciseResult:
    """The exercise's score on the school's scale for the subject, by the school's rule."""
    submission = event.submission
    try:
        if submission.score is not None:
            score = rule.validate_score(submission.score)
        elif submission.correct is not None and submission.total:
            score = rule.score_for_fraction(Decimal(submission.correct) / Decimal(submission.total))
        else:
            raise Unprocessable(Reason.MALFORMED, "an exercise submission needs answers or a score")
    except ScoreOutOfScale as exc:
        raise Unprocessable(Reason.SCORE_OUT_OF_SCALE, str(exc)) from exc
    except LucaError as exc:  # e.g. more decimals than the school's rule keeps
        raise Unprocessable(Reason.INVALID, str(exc)) from exc
    return ExerciseResult(event=event, score=score, passing=rule.is_passing(score), graded_at=now)
