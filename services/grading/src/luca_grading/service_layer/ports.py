"""What the service layer needs from the outside world, as protocols (real adapters and fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from luca_grading.domain.model import BehaviorNote, Evaluation
from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TermId
from luca_kernel.roster import Course, Student, Subject


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The first result of an idempotent request, kept so a retry can return it."""

    scope: str
    key: str
    fingerprint: str
    # The repository's reference to the stored result (it may rewrite what the service proposes).
    result_ref: str


@dataclass(frozen=True, slots=True)
class RecordingContext:
    """What a write must know before it writes: a prior result for its key, the student, the subject."""

    idempotency: IdempotencyRecord | None
    student: Student | None
    subject: Subject | None


@dataclass(frozen=True, slots=True)
class Preconditions:
    """What must hold when a grade is written, checked in the same atomic write: the student exists
    and is enrolled in the course, and (when given) the subject exists."""

    student_id: StudentId
    course_id: CourseId
    subject_id: SubjectId | None = None


@dataclass(frozen=True, slots=True)
class CheckedWrite:
    """The outcome of a write guarded by its idempotency key and its preconditions.

    Either ``written``, or nothing was written and the fields say why: the key was used before
    (``prior``), the student does not exist (``student_missing``), exists in another course
    (``student``), or the subject does not exist (``subject_missing``).
    """

    written: bool
    prior: IdempotencyRecord | None = None
    student: Student | None = None
    student_missing: bool = False
    subject_missing: bool = False


class SchoolRepository(Protocol):
    """Data access confined to one school: every key it touches starts with that school."""

    @property
    def school_id(self) -> SchoolId: ...

    def get_student(self, student_id: StudentId) -> Student | None: ...
    def get_subject(self, subject_id: SubjectId) -> Subject | None: ...
    def get_course(self, course_id: CourseId) -> Course | None: ...
    def put_student(self, student: Student) -> None: ...
    def put_subject(self, subject: Subject) -> None: ...
    def put_course(self, course: Course) -> None: ...

    def get_rule(self, subject_id: SubjectId) -> GradingRule | None: ...
    def put_rule(self, rule: GradingRule) -> None: ...

    def add_evaluation(self, evaluation: Evaluation, idempotency: IdempotencyRecord) -> bool:
        """Writes the evaluation and its idempotency record atomically.

        Returns False (writing nothing) when the idempotency key already exists.
        """
        ...

    def add_evaluation_checked(
        self, evaluation: Evaluation, idempotency: IdempotencyRecord, preconditions: Preconditions
    ) -> CheckedWrite:
        """``add_evaluation`` with the roster checks in the same atomic write: one call, no read."""
        ...

    def get_evaluation(self, student_id: StudentId, evaluation_ref: str) -> Evaluation | None: ...
    def student_evaluations(
        self, student_id: StudentId, term_id: TermId | None = None, subject_id: SubjectId | None = None
    ) -> Sequence[Evaluation]: ...
    def course_evaluations(
        self, course_id: CourseId, term_id: TermId, subject_id: SubjectId | None = None
    ) -> Sequence[Evaluation]: ...

    def add_behavior_note(self, note: BehaviorNote, idempotency: IdempotencyRecord) -> bool: ...
    def get_behavior_note(self, student_id: StudentId, note_ref: str) -> BehaviorNote | None: ...
    def behavior_notes(self, student_id: StudentId) -> Sequence[BehaviorNote]: ...

    def get_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None: ...

    def recording_context(
        self, scope: str, key: str, student_id: StudentId, subject_id: SubjectId | None
    ) -> RecordingContext:
        """The idempotency record, student and (optionally) subject, in as few reads as the store allows."""
        ...


class RepositoryFactory(Protocol):
    """Hands out a repository bound to one school (with that school's credentials in AWS)."""

    def for_school(self, school_id: SchoolId) -> SchoolRepository: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def new_id(self) -> str: ...
