"""Evaluations (and their changes), averages, assignments and behavior notes: the grading service's
own records."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from luca_kernel.grading import GradingRule, default_rule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId

# Ids of grades recorded since they derive from the recording request (random ids never start so).
REQUEST_KEYED_PREFIX = "r-"


def request_keyed_id(*parts: str) -> str:
    """A grade's id from what names its recording request: the same request (a retry) always gets
    the same id, and so the same item; any other school, caller, key or grade slot gets another."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()[:20]
    return REQUEST_KEYED_PREFIX + base64.b32encode(digest).decode().lower()


@dataclass(frozen=True, slots=True)
class Evaluation:
    school_id: SchoolId
    evaluation_id: str
    student_id: StudentId
    course_id: CourseId
    subject_id: SubjectId
    term_id: TermId
    score: Decimal
    weight: Decimal
    teacher_id: TeacherId
    recorded_at: datetime
    description: str = ""
    # 1 when recorded, +1 per correction or retraction: what If-Match / expected_version name.
    version: int = 1
    retracted: bool = False
    updated_at: datetime | None = None
    updated_by: str = ""
    change_reason: str = ""
    # The request that last wrote the grade (recorded it or changed it): what operators trace.
    correlation_id: str = ""
    # The fingerprint of the recording request's body: a retry with the same idempotency key lands
    # on this grade (its id is derived from the key), and only the same body may replay it.
    request_fingerprint: str = ""

    @property
    def etag(self) -> str:
        return f'"v{self.version}"'


class ChangeKind(StrEnum):
    CORRECTED = "corrected"
    RETRACTED = "retracted"


@dataclass(frozen=True, slots=True)
class GradeValues:
    """What a correction may change."""

    score: Decimal
    weight: Decimal
    description: str


@dataclass(frozen=True, slots=True)
class EvaluationChange:
    """One entry of a grade's append-only history: the change that produced ``version``."""

    school_id: SchoolId
    evaluation_id: str
    student_id: StudentId
    version: int
    kind: ChangeKind
    changed_by: str
    changed_at: datetime
    reason: str
    before: GradeValues
    after: GradeValues
    correlation_id: str = ""
    # Which request made the change (a digest of the caller's scope and idempotency key) and its
    # body's fingerprint: the entry is the change's idempotency record (a retry lands on the same
    # version's entry).
    request_key: str = ""
    request_fingerprint: str = ""


def values_of(evaluation: Evaluation) -> GradeValues:
    return GradeValues(evaluation.score, evaluation.weight, evaluation.description)


@dataclass(frozen=True, slots=True)
class Assignment:
    """A teacher may record, correct and read the grades of one subject in one course."""

    school_id: SchoolId
    teacher_id: TeacherId
    course_id: CourseId
    subject_id: SubjectId
    assigned_at: datetime
    assigned_by: str


@dataclass(frozen=True, slots=True)
class SubjectAverage:
    subject_id: SubjectId
    term_id: TermId
    weighted_average: Decimal
    passing: bool
    evaluation_count: int


def averages_by_subject(
    evaluations: Sequence[Evaluation], rules: dict[SubjectId, GradingRule]
) -> list[SubjectAverage]:
    """Weighted average per (term, subject), each under its subject's rule; retracted grades count
    for nothing."""
    groups: dict[tuple[TermId, SubjectId], list[Evaluation]] = {}
    for evaluation in evaluations:
        if evaluation.retracted:
            continue
        groups.setdefault((evaluation.term_id, evaluation.subject_id), []).append(evaluation)
    result = []
    for (term_id, subject_id), group in sorted(groups.items()):
        rule = rules.get(subject_id) or default_rule(subject_id)
        average = rule.weighted_average((e.score, e.weight) for e in group)
        if average is None:
            continue
        result.append(
            SubjectAverage(
                subject_id=subject_id,
                term_id=term_id,
                weighted_average=average,
                passing=rule.is_passing(average),
                evaluation_count=len(group),
            )
        )
    return result


class BehaviorKind(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


@dataclass(frozen=True, slots=True)
class BehaviorNote:
    school_id: SchoolId
    note_id: str
    student_id: StudentId
    course_id: CourseId
    kind: BehaviorKind
    text: str
    teacher_id: TeacherId
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class BehaviorProfile:
    student_id: StudentId
    positive_count: int
    negative_count: int
    recent_notes: list[BehaviorNote] = field(default_factory=list)

    @classmethod
    def from_notes(
        cls, student_id: StudentId, notes: Sequence[BehaviorNote], recent: int = 10
    ) -> BehaviorProfile:
        ordered = sorted(notes, key=lambda n: n.recorded_at, reverse=True)
        return cls(
            student_id=student_id,
            positive_count=sum(1 for n in notes if n.kind is BehaviorKind.POSITIVE),
            negative_count=sum(1 for n in notes if n.kind is BehaviorKind.NEGATIVE),
            recent_notes=ordered[:recent],
        )
