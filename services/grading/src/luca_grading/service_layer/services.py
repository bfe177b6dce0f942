"""The grading use cases. Entrypoints translate their wire shapes into these calls and back."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Generic, TypeVar

from luca_grading.domain import access
from luca_grading.domain.model import (
    BehaviorKind,
    BehaviorNote,
    BehaviorProfile,
    Evaluation,
    SubjectAverage,
    averages_by_subject,
)
from luca_grading.service_layer.ports import (
    Clock,
    IdempotencyRecord,
    IdGenerator,
    Preconditions,
    RepositoryFactory,
    SchoolRepository,
)
from luca_kernel.access import Principal
from luca_kernel.errors import (
    IdempotencyKeyReused,
    InvalidInput,
    LucaError,
    UnknownCourse,
    UnknownStudent,
    UnknownSubject,
)
from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student, Subject
from luca_kernel.rule_cache import RuleCache

T = TypeVar("T")

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
MAX_TEXT = 2000


def check_id(value: str, field: str) -> str:
    if not _ID_PATTERN.match(value or ""):
        raise InvalidInput(
            f"{field} must be 1-64 characters of letters, digits, '_', '.', ':' or '-'", field=field
        )
    return value


def check_idempotency_key(value: str, field: str) -> str:
    if not _IDEMPOTENCY_KEY_PATTERN.match(value or ""):
        raise InvalidInput(
            f"{field} must be 8-128 characters of letters, digits, '_', '.', ':' or '-' (a UUID is ideal)",
            field=field,
        )
    return value


def _fingerprint(payload: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RecordEvaluation:
    student_id: str
    course_id: str
    subject_id: str
    term_id: str
    score: Decimal
    weight: Decimal | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class RecordBehaviorNote:
    student_id: str
    course_id: str
    kind: BehaviorKind
    text: str


@dataclass(frozen=True, slots=True)
class Recorded(Generic[T]):
    value: T
    replayed: bool


@dataclass(frozen=True, slots=True)
class StudentReport:
    evaluations: Sequence[Evaluation]
    averages: Sequence[SubjectAverage]


@dataclass(frozen=True, slots=True)
class CourseReport:
    evaluations: Sequence[Evaluation]
    averages: Sequence[tuple[StudentId, SubjectAverage]]


class GradingService:
    def __init__(
        self, *, repositories: RepositoryFactory, rules: RuleCache, clock: Clock, ids: IdGenerator
    ) -> None:
        self._repositories = repositories
        self._rules = rules
        self._clock = clock
        self._ids = ids

    # -- rules ---------------------------------------------------------------------------------
    def rule_for(self, principal: Principal, subject_id: str) -> GradingRule:
        access.require_rule_reader(principal)
        repo = self._repositories.for_school(principal.school_id)
        subject = SubjectId(check_id(subject_id, "subject_id")) if subject_id != "*" else SubjectId("*")
        warm = self._rules.cached(principal.school_id, subject)
        if warm is not None:
            return warm
        # Only subjects the school has get a rule (their own, else the default): any other id, such
        # as another school's subject, is 404 like every other unknown reference.
        if subject != "*" and repo.get_subject(subject) is None:
            raise UnknownSubject(f"subject {subject!r} does not exist in this school", field="subject_id")
        return self._rule(repo, subject)

    def put_rule(self, principal: Principal, rule: GradingRule) -> GradingRule:
        access.require_admin(principal)
        if rule.subject_id != "*":
            check_id(rule.subject_id, "subject_id")
        repo = self._repositories.for_school(principal.school_id)
        if rule.subject_id != "*" and repo.get_subject(rule.subject_id) is None:
            raise UnknownSubject(
                f"subject {rule.subject_id!r} does not exist in this school", field="subject_id"
            )
        stored = GradingRule(
            subject_id=rule.subject_id,
            scale=rule.scale,
            passing_grade=rule.passing_grade,
            rounding=rule.rounding,
            decimals=rule.decimals,
            default_weight=rule.default_weight,
            updated_at=self._clock.now(),
        )
        repo.put_rule(stored)
        self._rules.invalidate_school(principal.school_id)
        return stored

    def _rule(self, repo: SchoolRepository, subject_id: SubjectId) -> GradingRule:
        return self._rules.rule_for(repo.school_id, subject_id, repo.get_rule)

    # -- evaluations ---------------------------------------------------------------------------
    def record_evaluation(
        self, principal: Principal, command: RecordEvaluation, idempotency_key: str
    ) -> Recorded[Evaluation]:
        access.require_grade_writer(principal)
        check_idempotency_key(idempotency_key, "idempotency_key")
        student_id = StudentId(check_id(command.student_id, "student_id"))
        course_id = CourseId(check_id(command.course_id, "course_id"))
        subject_id = SubjectId(check_id(command.subject_id, "subject_id"))
        term_id = TermId(check_id(command.term_id, "term_id"))
        if len(command.description) > MAX_TEXT:
            raise InvalidInput(f"description is longer than {MAX_TEXT} characters", field="description")
        repo = self._repositories.for_school(principal.school_id)
        scope = f"evaluation.{principal.subject}"
        fingerprint = _fingerprint(
            {
                "student": student_id,
                "course": course_id,
                "subject": subject_id,
                "term": term_id,
                "score": str(command.score),
                "weight": None if command.weight is None else str(command.weight),
                "description": command.description,
            }
        )
        warm = self._rules.cached(principal.school_id, subject_id)
        if warm is not None:
            # The usual case: the rule is in memory, so the score is checked here and the roster
            # in the write itself (one call, no read).
            return self._record_checked(repo, principal, command, warm, scope, idempotency_key, fingerprint)
        known = repo.recording_context(scope, idempotency_key, student_id, subject_id)
        replay = self._replay_evaluation(repo, known.idempotency, fingerprint, student_id)
        if replay is not None:
            return replay
        self._require_enrolled(known.student, student_id, course_id)
        if known.subject is None:
            raise UnknownSubject(f"subject {subject_id!r} does not exist in this school", field="subject_id")
        rule = self._rule(repo, subject_id)
        evaluation = self._new_evaluation(
            principal, command, rule.validate_score(command.score), rule.validate_weight(command.weight)
        )
        record = IdempotencyRecord(
            scope=scope, key=idempotency_key, fingerprint=fingerprint, result_ref=evaluation.evaluation_id
        )
        if repo.add_evaluation(evaluation, record):
            return Recorded(evaluation, replayed=False)
        # Lost a race with a concurrent retry of the same request: return the winner's result.
        replay = self._replay_evaluation(
            repo, repo.get_idempotency(scope, idempotency_key), fingerprint, student_id
        )
        if replay is None:  # pragma: no cover - the condition that failed guarantees a record
            raise IdempotencyKeyReused("idempotency key is in use by a request still in flight")
        return replay

    def _new_evaluation(
        self, principal: Principal, command: RecordEvaluation, score: Decimal, weight: Decimal
    ) -> Evaluation:
        """The evaluation a validated command records (ids already checked, score and weight validated)."""
        return Evaluation(
            school_id=principal.school_id,
            evaluation_id=self._ids.new_id(),
            student_id=StudentId(command.student_id),
            course_id=CourseId(command.course_id),
            subject_id=SubjectId(command.subject_id),
            term_id=TermId(command.term_id),
            score=score,
            weight=weight,
            teacher_id=TeacherId(principal.actor_id),
            recorded_at=self._clock.now(),
            description=command.description,
        )

    def _record_checked(
        self,
        repo: SchoolRepository,
        principal: Principal,
        command: RecordEvaluation,
        rule: GradingRule,
        scope: str,
        idempotency_key: str,
        fingerprint: str,
    ) -> Recorded[Evaluation]:
        student_id, course_id = StudentId(command.student_id), CourseId(command.course_id)
        try:
            score, weight = rule.validate_score(command.score), rule.validate_weight(command.weight)
        except LucaError:
            # A retry must get its first result even if the rule changed since: look before refusing.
            replay = self._replay_evaluation(
                repo, repo.get_idempotency(scope, idempotency_key), fingerprint, student_id
            )
            if replay is not None:
                return replay
            raise
        evaluation = self._new_evaluation(principal, command, score, weight)
        record = IdempotencyRecord(
            scope=scope, key=idempotency_key, fingerprint=fingerprint, result_ref=evaluation.evaluation_id
        )
        outcome = repo.add_evaluation_checked(
            evaluation, record, Preconditions(student_id, course_id, evaluation.subject_id)
        )
        if outcome.written:
            return Recorded(evaluation, replayed=False)
        replay = self._replay_evaluation(repo, outcome.prior, fingerprint, student_id)
        if replay is not None:
            return replay
        if outcome.student_missing or outcome.student is not None:
            self._require_enrolled(outcome.student, student_id, course_id)
        if outcome.subject_missing:
            raise UnknownSubject(
                f"subject {evaluation.subject_id!r} does not exist in this school", field="subject_id"
            )
        raise RuntimeError("the write was refused for no reported reason")  # pragma: no cover

    @staticmethod
    def _replay(
        record: IdempotencyRecord | None, fingerprint: str, load: Callable[[str], T | None]
    ) -> Recorded[T] | None:
        """The first result for an idempotency key already used with this body; None for a new key."""
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request", field="idempotency_key"
            )
        first = load(record.result_ref)
        if first is None:  # pragma: no cover - written in the same transaction as the record
            raise IdempotencyKeyReused("the first request with this key left no result")
        return Recorded(first, replayed=True)

    def _replay_evaluation(
        self,
        repo: SchoolRepository,
        record: IdempotencyRecord | None,
        fingerprint: str,
        student_id: StudentId,
    ) -> Recorded[Evaluation] | None:
        return self._replay(record, fingerprint, lambda ref: repo.get_evaluation(student_id, ref))

    def _require_enrolled(
        self, student: Student | None, student_id: StudentId, course_id: CourseId
    ) -> Student:
        if student is None:
            raise UnknownStudent(f"student {student_id!r} does not exist in this school", field="student_id")
        if student.course_id != course_id:
            raise InvalidInput(
                f"student {student_id!r} is not enrolled in course {course_id!r}", field="course_id"
            )
        return student

    def student_report(
        self, principal: Principal, student_id: str, term_id: str | None = None, subject_id: str | None = None
    ) -> StudentReport:
        sid = StudentId(check_id(student_id, "student_id"))
        access.require_student_reader(principal, sid)
        term = TermId(check_id(term_id, "term_id")) if term_id else None
        subject = SubjectId(check_id(subject_id, "subject_id")) if subject_id else None
        if subject and not term:
            raise InvalidInput("subject_id filter needs term_id", field="subject_id")
        repo = self._repositories.for_school(principal.school_id)
        evaluations = repo.student_evaluations(sid, term, subject)
        # Evaluations are only ever written for a known student: only an empty answer needs the
        # second read that tells "no grades yet" from "no such student".
        if not evaluations and repo.get_student(sid) is None:
            raise UnknownStudent(f"student {sid!r} does not exist in this school", field="student_id")
        return StudentReport(evaluations, self._averages(repo, evaluations))

    def course_report(
        self, principal: Principal, course_id: str, term_id: str, subject_id: str | None = None
    ) -> CourseReport:
        access.require_course_reader(principal)
        cid = CourseId(check_id(course_id, "course_id"))
        term = TermId(check_id(term_id, "term_id"))
        subject = SubjectId(check_id(subject_id, "subject_id")) if subject_id else None
        repo = self._repositories.for_school(principal.school_id)
        evaluations = repo.course_evaluations(cid, term, subject)
        if not evaluations and repo.get_course(cid) is None:
            raise UnknownCourse(f"course {cid!r} does not exist in this school", field="course_id")
        by_student: dict[StudentId, list[Evaluation]] = {}
        for evaluation in evaluations:
            by_student.setdefault(evaluation.student_id, []).append(evaluation)
        averages = [
            (student, average)
            for student, group in sorted(by_student.items())
            for average in self._averages(repo, group)
        ]
        return CourseReport(evaluations, averages)

    def _averages(self, repo: SchoolRepository, evaluations: Sequence[Evaluation]) -> list[SubjectAverage]:
        rules = {e.subject_id: self._rule(repo, e.subject_id) for e in evaluations}
        return averages_by_subject(evaluations, rules)

    # -- behavior ------------------------------------------------------------------------------
    def record_behavior_note(
        self, principal: Principal, command: RecordBehaviorNote, idempotency_key: str
    ) -> Recorded[BehaviorNote]:
        access.require_grade_writer(principal)
        check_idempotency_key(idempotency_key, "idempotency_key")
        student_id = StudentId(check_id(command.student_id, "student_id"))
        course_id = CourseId(check_id(command.course_id, "course_id"))
        text = command.text.strip()
        if not text or len(text) > MAX_TEXT:
            raise InvalidInput(f"text must be 1-{MAX_TEXT} characters", field="text")
        repo = self._repositories.for_school(principal.school_id)
        scope = f"note.{principal.subject}"
        fingerprint = _fingerprint(
            {"student": student_id, "course": course_id, "kind": command.kind.value, "text": text}
        )
        known = repo.recording_context(scope, idempotency_key, student_id, None)
        replay = self._replay_note(repo, known.idempotency, fingerprint, student_id)
        if replay is not None:
            return replay
        self._require_enrolled(known.student, student_id, course_id)
        note = BehaviorNote(
            school_id=principal.school_id,
            note_id=self._ids.new_id(),
            student_id=student_id,
            course_id=course_id,
            kind=command.kind,
            text=text,
            teacher_id=TeacherId(principal.actor_id),
            recorded_at=self._clock.now(),
        )
        record = IdempotencyRecord(
            scope=scope, key=idempotency_key, fingerprint=fingerprint, result_ref=note.note_id
        )
        if repo.add_behavior_note(note, record):
            return Recorded(note, replayed=False)
        replay = self._replay_note(
            repo, repo.get_idempotency(scope, idempotency_key), fingerprint, student_id
        )
        if replay is None:  # pragma: no cover
            raise IdempotencyKeyReused("idempotency key is in use by a request still in flight")
        return replay

    def _replay_note(
        self,
        repo: SchoolRepository,
        record: IdempotencyRecord | None,
        fingerprint: str,
        student_id: StudentId,
    ) -> Recorded[BehaviorNote] | None:
        return self._replay(record, fingerprint, lambda ref: repo.get_behavior_note(student_id, ref))

    def behavior_profile(self, principal: Principal, student_id: str) -> BehaviorProfile:
        sid = StudentId(check_id(student_id, "student_id"))
        access.require_student_reader(principal, sid)
        repo = self._repositories.for_school(principal.school_id)
        if repo.get_student(sid) is None:
            raise UnknownStudent(f"student {sid!r} does not exist in this school", field="student_id")
        return BehaviorProfile.from_notes(sid, repo.behavior_notes(sid))

    # -- roster (admins) -----------------------------------------------------------------------
    def put_course(self, principal: Principal, course_id: str, name: str) -> Course:
        access.require_admin(principal)
        course = Course(principal.school_id, CourseId(check_id(course_id, "course_id")), _name(name))
        self._repositories.for_school(principal.school_id).put_course(course)
        return course

    def put_subject(self, principal: Principal, subject_id: str, name: str) -> Subject:
        access.require_admin(principal)
        subject = Subject(principal.school_id, SubjectId(check_id(subject_id, "subject_id")), _name(name))
        self._repositories.for_school(principal.school_id).put_subject(subject)
        return subject

    def put_student(
        self, principal: Principal, student_id: str, course_id: str, display_name: str
    ) -> Student:
        access.require_admin(principal)
        repo = self._repositories.for_school(principal.school_id)
        cid = CourseId(check_id(course_id, "course_id"))
        if repo.get_course(cid) is None:
            raise UnknownCourse(f"course {cid!r} does not exist in this school", field="course_id")
        student = Student(
            principal.school_id, StudentId(check_id(student_id, "student_id")), cid, _name(display_name)
        )
        repo.put_student(student)
        return student


def _name(value: str) -> str:
    value = value.strip()
    if not 1 <= len(value) <= 200:
        raise InvalidInput("name must be 1-200 characters", field="name")
    return value
