"""What the service layer needs from the outside world, as protocols (real adapters and fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from luca_grading.domain.model import Assignment, BehaviorNote, Evaluation, EvaluationChange
from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student, Subject, Term


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
class ChangeWrite:
    """The outcome of a change: ``written``, or the grade has moved on from the expected version
    (``stale``) and ``entry`` is the history entry that took the version the change wanted, when
    there is one (the first attempt of a retry, or another request's change)."""

    written: bool
    stale: bool = False
    entry: EvaluationChange | None = None


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

    def get_term(self, term_id: TermId) -> Term | None: ...
    def put_term(self, term: Term) -> Term:
        """Creates the term or renames it; never reopens a closed one. Returns it as stored."""
        ...

    def close_term(self, term_id: TermId, closed_at: datetime, closed_by: str) -> Term | None:
        """Closes the term (a second close keeps the first's time and author); None if unknown."""
        ...

    def put_assignment(self, assignment: Assignment) -> None: ...
    def delete_assignment(
        self, teacher_id: TeacherId, course_id: CourseId, subject_id: SubjectId
    ) -> bool: ...
    def assignments_of(self, teacher_id: TeacherId) -> Sequence[Assignment]: ...

    def add_evaluation(self, evaluation: Evaluation) -> Evaluation | None:
        """Writes a new grade at its key (derived from its recording request) unless that key holds
        one: one conditional write, no read. None when written, else the grade found there."""
        ...

    def get_recorded(self, evaluation: Evaluation) -> Evaluation | None:
        """The grade stored at the key ``evaluation`` would be written to (strongly consistent)."""
        ...

    def course_student_ids(self, course_id: CourseId) -> Sequence[StudentId]:
        """The students enrolled in the course (its roster)."""
        ...

    def get_evaluation(self, student_id: StudentId, evaluation_ref: str) -> Evaluation | None: ...
    def find_evaluation(self, student_id: StudentId, evaluation_id: str) -> Evaluation | None:
        """The evaluation as it stands now (a strongly consistent read), by its public id."""
        ...

    def change_evaluation(self, changed: Evaluation, change: EvaluationChange) -> ChangeWrite:
        """Writes ``changed`` (version n+1) if the stored grade is still at version n, with its
        history entry (which must not exist yet), atomically."""
        ...

    def get_change_at(
        self, student_id: StudentId, evaluation_id: str, version: int
    ) -> EvaluationChange | None:
        """The history entry that produced ``version`` of the grade (strongly consistent)."""
        ...

    def evaluation_history(self, student_id: StudentId, evaluation_id: str) -> Sequence[EvaluationChange]: ...
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
