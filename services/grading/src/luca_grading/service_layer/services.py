"""The grading use cases. Entrypoints translate their wire shapes into these calls and back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from luca_grading.domain import access
from luca_grading.domain.model import (
    Assignment,
    BehaviorKind,
    BehaviorNote,
    BehaviorProfile,
    Evaluation,
    SubjectAverage,
    averages_by_subject,
    request_keyed_id,
)
from luca_grading.service_layer.assignment_cache import AssignmentCache
from luca_grading.service_layer.common import (
    MAX_TEXT,
    Recorded,
    check_id,
    check_idempotency_key,
    fingerprint,
    replay,
)
from luca_grading.service_layer.ports import (
    Clock,
    IdempotencyRecord,
    IdGenerator,
    RepositoryFactory,
    SchoolRepository,
)
from luca_grading.service_layer.roster_cache import RosterCache
from luca_kernel.access import Principal, Role
from luca_kernel.errors import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    LucaError,
    TermClosed,
    UnknownCourse,
    UnknownStudent,
    UnknownSubject,
    UnknownTerm,
)
from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Student
from luca_kernel.rule_cache import RuleCache

__all__ = [
    "CourseReport",
    "GradingService",
    "RecordBehaviorNote",
    "RecordEvaluation",
    "Recorded",
    "StudentReport",
]


@dataclass(frozen=True, slots=True)
class RecordEvaluation:
    student_id: str
    course_id: str
    subject_id: str
    term_id: str
    score: Decimal
    weight: Decimal | None = None
    description: str = ""
    # Kept on the stored grade; not part of the request's fingerprint (a retry may carry another).
    correlation_id: str = ""


@dataclass(frozen=True, slots=True)
class RecordBehaviorNote:
    student_id: str
    course_id: str
    kind: BehaviorKind
    text: str


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
        self,
        *,
        repositories: RepositoryFactory,
        rules: RuleCache,
        clock: Clock,
        ids: IdGenerator,
        assignments: AssignmentCache,
        roster: RosterCache,
        legacy_idempotency_guard: bool = False,
    ) -> None:
        """``legacy_idempotency_guard``: also answer a recording retry from the idempotency record the
        previous version wrote (see ``_legacy_replay``)."""
        self._legacy_guard = legacy_idempotency_guard
        self._repositories = repositories
        self._rules = rules
        self._clock = clock
        self._ids = ids
        self._assignments = assignments
        self._roster = roster

    # -- rules ---------------------------------------------------------------------------------
    def warm_rule(self, principal: Principal, subject_id: str) -> GradingRule | None:
        """What ``rule_for`` answers when the rule is in memory, else None; never touches the store,
        so an event loop may call it (and save a worker thread's trip for a warm rule)."""
        access.require_rule_reader(principal)
        return self._rules.cached(principal.school_id, _rule_subject(subject_id))

    def rule_for(self, principal: Principal, subject_id: str) -> GradingRule:
        warm = self.warm_rule(principal, subject_id)
        if warm is not None:
            return warm
        repo = self._repositories.for_school(principal.school_id)
        subject = _rule_subject(subject_id)
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
        """One conditional write at a key derived from the request: a retry lands on the grade its
        first attempt wrote and is answered from it. The roster, term, subject and assignment checks
        come from this task's caches (``roster_cache``: a refusal is always looked up again)."""
        access.require_grade_writer(principal)
        check_idempotency_key(idempotency_key, "idempotency_key")
        student_id = StudentId(check_id(command.student_id, "student_id"))
        course_id = CourseId(check_id(command.course_id, "course_id"))
        subject_id = SubjectId(check_id(command.subject_id, "subject_id"))
        term_id = TermId(check_id(command.term_id, "term_id"))
        if len(command.description) > MAX_TEXT:
            raise InvalidInput(f"description is longer than {MAX_TEXT} characters", field="description")
        repo = self._repositories.for_school(principal.school_id)
        request = fingerprint(
            {
                "student": student_id,
                "course": command.course_id,
                "subject": subject_id,
                "term": command.term_id,
                "score": str(command.score),
                "weight": None if command.weight is None else str(command.weight),
                "description": command.description,
            }
        )
        # The school and the caller's scope first: two schools or two callers never share an id,
        # and the grade's slot (student, term, subject) keeps ids unique within the school.
        evaluation_id = request_keyed_id(
            principal.school_id,
            f"evaluation.{principal.subject}",
            idempotency_key,
            student_id,
            term_id,
            subject_id,
        )
        try:
            rule = self._checked_rule(repo, principal, student_id, course_id, subject_id, term_id)
            score, weight = rule.validate_score(command.score), rule.validate_weight(command.weight)
        except LucaError:
            # A retry must get its first result even if the roster or the rule changed since.
            probe = self._new_evaluation(principal, command, evaluation_id, request, Decimal(0), Decimal(0))
            first = self._replay_evaluation(repo, repo.get_recorded(probe), request)
            if first is None and self._legacy_guard:
                first = self._legacy_replay(repo, principal, idempotency_key, request, student_id)
            if first is not None:
                return first
            raise
        if self._legacy_guard:
            legacy = self._legacy_replay(repo, principal, idempotency_key, request, student_id)
            if legacy is not None:
                return legacy
        evaluation = self._new_evaluation(principal, command, evaluation_id, request, score, weight)
        stored = repo.add_evaluation(evaluation)
        if stored is None:
            return Recorded(evaluation, replayed=False)
        first = self._replay_evaluation(repo, stored, request)
        if first is None:  # pragma: no cover - stored is never None here
            raise RuntimeError("the write was refused for no reported reason")
        return first

    def _legacy_replay(
        self,
        repo: SchoolRepository,
        principal: Principal,
        idempotency_key: str,
        request: str,
        student_id: StudentId,
    ) -> Recorded[Evaluation] | None:
        """A retry whose first attempt ran on the previous version (an idempotency record and a grade
        at a random id) must get that grade, not a second one at the derived id. One consistent read
        per recording while the guard is on; turned off once no retry can span the upgrade (the
        records expire after 30 days, retries come within minutes)."""
        record = repo.get_idempotency(f"evaluation.{principal.subject}", idempotency_key)
        return replay(record, request, lambda ref: repo.find_evaluation(student_id, ref))

    def _checked_rule(
        self,
        repo: SchoolRepository,
        principal: Principal,
        student_id: StudentId,
        course_id: CourseId,
        subject_id: SubjectId,
        term_id: TermId,
    ) -> GradingRule:
        """Everything a grade needs before it is written, the caller's first mistake first; the rule
        in force for its subject."""
        school = principal.school_id
        if not self._roster.enrolled(school, course_id, student_id, repo.course_student_ids):
            self._require_enrolled(repo.get_student(student_id), student_id, course_id)
        teacher = _assignable(principal)
        if teacher is not None:
            # The assignment vouches for the subject: an admin can assign only an existing one.
            if not self._holds(repo, principal, course_id, subject_id):
                if not self._roster.subject_exists(school, subject_id, repo.get_subject):
                    raise _unknown_subject(subject_id)
                raise Forbidden(f"you are not assigned to teach {subject_id!r} in course {course_id!r}")
        elif not self._roster.subject_exists(school, subject_id, repo.get_subject):
            raise _unknown_subject(subject_id)
        term = self._roster.term(school, term_id, repo.get_term)
        if term is None:
            raise UnknownTerm(f"term {term_id!r} does not exist in this school", field="term_id")
        if term.closed:
            raise TermClosed(f"term {term_id!r} is closed: no new grades", context={"term_id": term_id})
        return self._rule(repo, subject_id)

    def _holds(
        self, repo: SchoolRepository, principal: Principal, course_id: CourseId, subject_id: SubjectId
    ) -> bool:
        """Whether the teacher holds the (course, subject) assignment; a miss is looked up again, so
        an assignment just given on another task is never refused."""
        teacher, held = self._assignments.of(principal, repo.assignments_of)
        if any(a.course_id == course_id and a.subject_id == subject_id for a in held):
            return True
        if teacher is None:
            return False
        self._assignments.invalidate(principal.school_id, teacher)
        _, held = self._assignments.of(principal, repo.assignments_of)
        return any(a.course_id == course_id and a.subject_id == subject_id for a in held)

    def _new_evaluation(
        self,
        principal: Principal,
        command: RecordEvaluation,
        evaluation_id: str,
        request: str,
        score: Decimal,
        weight: Decimal,
    ) -> Evaluation:
        """The evaluation a validated command records (ids already checked, score and weight validated)."""
        return Evaluation(
            school_id=principal.school_id,
            evaluation_id=evaluation_id,
            student_id=StudentId(command.student_id),
            course_id=CourseId(command.course_id),
            subject_id=SubjectId(command.subject_id),
            term_id=TermId(command.term_id),
            score=score,
            weight=weight,
            teacher_id=TeacherId(principal.actor_id),
            recorded_at=self._clock.now(),
            description=command.description,
            correlation_id=command.correlation_id,
            request_fingerprint=request,
        )

    def _replay_evaluation(
        self, repo: SchoolRepository, stored: Evaluation | None, request: str
    ) -> Recorded[Evaluation] | None:
        """The first answer to a request whose grade is ``stored``; 422 when the key was used with
        another body; None when nothing is stored."""
        if stored is None:
            return None
        if stored.request_fingerprint != request:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request", field="idempotency_key"
            )
        if stored.version == 1:
            return Recorded(stored, replayed=True)
        # Changed since: the first answer was version 1, as the first change's "before" kept it.
        first_change = repo.evaluation_history(stored.student_id, stored.evaluation_id)[0]
        first = replace(
            stored,
            score=first_change.before.score,
            weight=first_change.before.weight,
            description=first_change.before.description,
            version=1,
            retracted=False,
            updated_at=None,
            updated_by="",
            change_reason="",
            # The recording request's id is not kept once a change replaces it: unknown.
            correlation_id="",
        )
        return Recorded(first, replayed=True)

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
        if access.is_unrestricted(principal) or not principal.has(Role.TEACHER):
            # Evaluations are only ever written for a known student: only an empty answer needs the
            # second read that tells "no grades yet" from "no such student".
            if not evaluations and repo.get_student(sid) is None:
                raise UnknownStudent(f"student {sid!r} does not exist in this school", field="student_id")
            current = [e for e in evaluations if not e.retracted]
        else:
            current = self._teacher_view_of_student(repo, principal, sid, subject, evaluations)
        return StudentReport(current, self._averages(repo, current))

    def _teacher_view_of_student(
        self,
        repo: SchoolRepository,
        principal: Principal,
        student_id: StudentId,
        subject: SubjectId | None,
        evaluations: Sequence[Evaluation],
    ) -> list[Evaluation]:
        """The student's current grades in the (course, subject) pairs the teacher holds. Only when
        none is visible does the student's course decide between an empty answer (the teacher
        teaches the student, no grades yet) and 403 (the teacher does not)."""
        assignments = self.assignments(repo, principal)
        held = frozenset((a.course_id, a.subject_id) for a in assignments)
        visible = [e for e in evaluations if (e.course_id, e.subject_id) in held]
        if not visible:
            student = repo.get_student(student_id)
            if student is None:
                raise UnknownStudent(
                    f"student {student_id!r} does not exist in this school", field="student_id"
                )
            access.require_assignment(assignments, student.course_id, subject)
        return [e for e in visible if not e.retracted]

    def course_report(
        self, principal: Principal, course_id: str, term_id: str, subject_id: str | None = None
    ) -> CourseReport:
        access.require_course_reader(principal)
        cid = CourseId(check_id(course_id, "course_id"))
        term = TermId(check_id(term_id, "term_id"))
        subject = SubjectId(check_id(subject_id, "subject_id")) if subject_id else None
        repo = self._repositories.for_school(principal.school_id)
        held: frozenset[SubjectId] | None = None
        if not access.is_unrestricted(principal):
            held = access.require_assignment(self.assignments(repo, principal), cid, subject)
        evaluations = repo.course_evaluations(cid, term, subject)
        if not evaluations and held is None and repo.get_course(cid) is None:
            raise UnknownCourse(f"course {cid!r} does not exist in this school", field="course_id")
        current = [e for e in evaluations if not e.retracted and (held is None or e.subject_id in held)]
        by_student: dict[StudentId, list[Evaluation]] = {}
        for evaluation in current:
            by_student.setdefault(evaluation.student_id, []).append(evaluation)
        rules = self._rules_of(repo, current)
        averages = [
            (student, average)
            for student, group in sorted(by_student.items())
            for average in averages_by_subject(group, rules)
        ]
        return CourseReport(current, averages)

    def assignments(self, repo: SchoolRepository, principal: Principal) -> Sequence[Assignment]:
        return self._assignments.of(principal, repo.assignments_of)[1]

    def _averages(self, repo: SchoolRepository, evaluations: Sequence[Evaluation]) -> list[SubjectAverage]:
        return averages_by_subject(evaluations, self._rules_of(repo, evaluations))

    def _rules_of(
        self, repo: SchoolRepository, evaluations: Sequence[Evaluation]
    ) -> dict[SubjectId, GradingRule]:
        # One cache lookup per subject, not per grade: a course's grades are hundreds.
        return {subject: self._rule(repo, subject) for subject in {e.subject_id for e in evaluations}}

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
        request = fingerprint(
            {"student": student_id, "course": course_id, "kind": command.kind.value, "text": text}
        )
        known = repo.recording_context(scope, idempotency_key, student_id, None)
        first = self._replay_note(repo, known.idempotency, request, student_id)
        if first is not None:
            return first
        self._require_enrolled(known.student, student_id, course_id)
        if _assignable(principal):
            access.require_assignment(self.assignments(repo, principal), course_id)
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
            scope=scope, key=idempotency_key, fingerprint=request, result_ref=note.note_id
        )
        if repo.add_behavior_note(note, record):
            return Recorded(note, replayed=False)
        first = self._replay_note(repo, repo.get_idempotency(scope, idempotency_key), request, student_id)
        if first is None:  # pragma: no cover
            raise IdempotencyKeyReused("idempotency key is in use by a request still in flight")
        return first

    def _replay_note(
        self,
        repo: SchoolRepository,
        record: IdempotencyRecord | None,
        request: str,
        student_id: StudentId,
    ) -> Recorded[BehaviorNote] | None:
        return replay(record, request, lambda ref: repo.get_behavior_note(student_id, ref))

    def behavior_profile(self, principal: Principal, student_id: str) -> BehaviorProfile:
        sid = StudentId(check_id(student_id, "student_id"))
        access.require_student_reader(principal, sid)
        repo = self._repositories.for_school(principal.school_id)
        student = repo.get_student(sid)
        if student is None:
            raise UnknownStudent(f"student {sid!r} does not exist in this school", field="student_id")
        if _assignable(principal):
            access.require_assignment(self.assignments(repo, principal), student.course_id)
        return BehaviorProfile.from_notes(sid, repo.behavior_notes(sid))


def _unknown_subject(subject_id: SubjectId) -> UnknownSubject:
    return UnknownSubject(f"subject {subject_id!r} does not exist in this school", field="subject_id")


def _assignable(principal: Principal) -> TeacherId | None:
    """The teacher whose assignments bound what this caller may grade; None for callers that are not
    bound by assignments (admins, internal services)."""
    if principal.has(Role.TEACHER) and not access.is_unrestricted(principal):
        teacher = access.teacher_id_of(principal)
        if teacher is None:
            raise Forbidden("your user name cannot hold an assignment; ask an admin")
        return teacher
    return None


def _rule_subject(subject_id: str) -> SubjectId:
    """A rule's subject: a checked id, or ``*`` (the school's default)."""
    return SubjectId(check_id(subject_id, "subject_id")) if subject_id != "*" else SubjectId("*")
