"""Changing an official grade: corrections and retractions under optimistic concurrency, and the
append-only history every change leaves (docs/decisions/0008-grade-lifecycle.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from luca_grading.domain import access
from luca_grading.domain.model import (
    Assignment,
    ChangeKind,
    Evaluation,
    EvaluationChange,
    GradeValues,
    values_of,
)
from luca_grading.service_layer.assignment_cache import AssignmentCache
from luca_grading.service_layer.common import (
    MAX_TEXT,
    Recorded,
    check_id,
    check_idempotency_key,
    check_reason,
    fingerprint,
)
from luca_grading.service_layer.ports import Clock, RepositoryFactory, SchoolRepository
from luca_grading.service_layer.roster_cache import RosterCache
from luca_kernel.access import Principal, Role
from luca_kernel.errors import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    PreconditionRequired,
    Retracted,
    TermClosed,
    UnknownTerm,
    VersionMismatch,
)
from luca_kernel.ids import StudentId, TeacherId
from luca_kernel.rule_cache import RuleCache


@dataclass(frozen=True, slots=True)
class Correction:
    """New values for a grade (at least one) and why."""

    reason: str
    score: Decimal | None = None
    weight: Decimal | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """Which grade, the version the caller saw, and the request's correlation id for the history."""

    student_id: str
    evaluation_id: str
    expected_version: int | None
    correlation_id: str = ""


class GradeChanges:
    def __init__(
        self,
        *,
        repositories: RepositoryFactory,
        rules: RuleCache,
        clock: Clock,
        assignments: AssignmentCache,
        roster: RosterCache,
    ) -> None:
        self._repositories = repositories
        self._rules = rules
        self._clock = clock
        self._assignments = assignments
        self._roster = roster

    # -- reads ---------------------------------------------------------------------------------
    def get(self, principal: Principal, student_id: str, evaluation_id: str) -> Evaluation:
        """One grade as it stands, with its version. A student sees only their own, and never a
        retracted one; a teacher only within their assignments."""
        sid = StudentId(check_id(student_id, "student_id"))
        access.require_student_reader(principal, sid)
        repo = self._repositories.for_school(principal.school_id)
        evaluation = self._find(repo, sid, check_id(evaluation_id, "evaluation_id"))
        if principal.has(Role.STUDENT) and not principal.has(Role.TEACHER, Role.ADMIN, Role.SERVICE):
            if evaluation.retracted:
                raise NotFound(f"evaluation {evaluation_id!r} does not exist")
            return evaluation
        self._require_reader(repo, principal, evaluation)
        return evaluation

    def history(
        self, principal: Principal, student_id: str, evaluation_id: str
    ) -> tuple[Evaluation, Sequence[EvaluationChange]]:
        """The grade and every change to it, oldest first: the school's teachers (within their
        assignments) and admins only."""
        access.require_staff(principal)
        sid = StudentId(check_id(student_id, "student_id"))
        repo = self._repositories.for_school(principal.school_id)
        evaluation = self._find(repo, sid, check_id(evaluation_id, "evaluation_id"))
        self._require_reader(repo, principal, evaluation)
        return evaluation, repo.evaluation_history(sid, evaluation.evaluation_id)

    # -- changes -------------------------------------------------------------------------------
    def correct(
        self, principal: Principal, request: ChangeRequest, correction: Correction, idempotency_key: str
    ) -> Recorded[Evaluation]:
        reason = check_reason(correction.reason)
        if correction.score is None and correction.weight is None and correction.description is None:
            raise InvalidInput("a correction changes the score, the weight or the description", field="score")
        if correction.description is not None and len(correction.description) > MAX_TEXT:
            raise InvalidInput(f"description is longer than {MAX_TEXT} characters", field="description")
        payload = {
            "op": "correct",
            "score": None if correction.score is None else str(correction.score),
            "weight": None if correction.weight is None else str(correction.weight),
            "description": correction.description,
            "reason": reason,
        }

        def changed(current: Evaluation) -> GradeValues:
            rule = self._rules.rule_for(current.school_id, current.subject_id, self._repo(principal).get_rule)
            return GradeValues(
                score=current.score if correction.score is None else rule.validate_score(correction.score),
                weight=current.weight
                if correction.weight is None
                else rule.validate_weight(correction.weight),
                description=current.description if correction.description is None else correction.description,
            )

        return self._change(
            principal, request, idempotency_key, ChangeKind.CORRECTED, reason, payload, changed
        )

    def retract(
        self, principal: Principal, request: ChangeRequest, reason: str, idempotency_key: str
    ) -> Recorded[Evaluation]:
        """The grade leaves every view, average, report and submission; its history stays."""
        reason = check_reason(reason)
        payload = {"op": "retract", "reason": reason}
        return self._change(
            principal, request, idempotency_key, ChangeKind.RETRACTED, reason, payload, values_of
        )

    def _change(
        self,
        principal: Principal,
        request: ChangeRequest,
        idempotency_key: str,
        kind: ChangeKind,
        reason: str,
        payload: Mapping[str, object],
        new_values: Callable[[Evaluation], GradeValues],
    ) -> Recorded[Evaluation]:
        if not principal.has(Role.TEACHER, Role.ADMIN):
            raise Forbidden("only the teacher who recorded a grade or a school admin may change it")
        check_idempotency_key(idempotency_key, "idempotency_key")
        sid = StudentId(check_id(request.student_id, "student_id"))
        eid = check_id(request.evaluation_id, "evaluation_id")
        if request.expected_version is None:
            raise PreconditionRequired(
                "name the version you are changing (If-Match / expected_version)", field="expected_version"
            )
        repo = self._repositories.for_school(principal.school_id)
        request_print = fingerprint(
            {**payload, "student": sid, "evaluation": eid, "expected_version": request.expected_version}
        )
        # The change's idempotency record is its history entry, at the version it produces: a retry
        # names the same version (If-Match) and finds its first attempt's entry there.
        request_key = fingerprint(
            {"school": principal.school_id, "scope": f"change.{principal.subject}", "key": idempotency_key}
        )
        current = self._find(repo, sid, eid)
        access.require_grade_changer(principal, current)
        if current.version != request.expected_version:
            entry = None
            if current.version > request.expected_version:
                entry = repo.get_change_at(sid, current.evaluation_id, request.expected_version + 1)
            if entry is None or entry.request_key != request_key:
                # Not a retry: the caller learns the current version only where it may change it.
                self._teacher_guard(repo, principal, current)
            return self._replayed(current, entry, request_key, request_print)
        self._teacher_guard(repo, principal, current)
        if current.retracted:
            raise Retracted(f"evaluation {eid!r} was retracted", context={"version": str(current.version)})
        values = new_values(current)
        now = self._clock.now()
        updated = replace(
            current,
            score=values.score,
            weight=values.weight,
            description=values.description,
            version=current.version + 1,
            retracted=kind is ChangeKind.RETRACTED,
            updated_at=now,
            updated_by=principal.actor_id,
            change_reason=reason,
            correlation_id=request.correlation_id,
        )
        change = EvaluationChange(
            school_id=current.school_id,
            evaluation_id=current.evaluation_id,
            student_id=current.student_id,
            version=updated.version,
            kind=kind,
            changed_by=principal.actor_id,
            changed_at=now,
            reason=reason,
            before=values_of(current),
            after=values,
            correlation_id=request.correlation_id,
            request_key=request_key,
            request_fingerprint=request_print,
        )
        outcome = repo.change_evaluation(updated, change)
        if outcome.written:
            return Recorded(updated, replayed=False)
        # Another change (or a concurrent attempt of this one) took the version first.
        return self._replayed(self._find(repo, sid, eid), outcome.entry, request_key, request_print)

    @staticmethod
    def _replayed(
        current: Evaluation, entry: EvaluationChange | None, request_key: str, request_print: str
    ) -> Recorded[Evaluation]:
        """The answer when the grade is not at the version the caller named: this request's first
        answer when ``entry`` (the change that took the next version) is this request's; 422 when it
        is this key's with another body; else 412 naming the current version."""
        if entry is None or entry.request_key != request_key:
            raise _stale(current)
        if entry.request_fingerprint != request_print:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a different request", field="idempotency_key"
            )
        # The grade as that change left it, although later changes may have followed.
        first = replace(
            current,
            score=entry.after.score,
            weight=entry.after.weight,
            description=entry.after.description,
            version=entry.version,
            retracted=entry.kind is ChangeKind.RETRACTED,
            updated_at=entry.changed_at,
            updated_by=entry.changed_by,
            change_reason=entry.reason,
            correlation_id=entry.correlation_id,
        )
        return Recorded(first, replayed=True)

    # -- helpers -------------------------------------------------------------------------------
    def _repo(self, principal: Principal) -> SchoolRepository:
        return self._repositories.for_school(principal.school_id)

    @staticmethod
    def _find(repo: SchoolRepository, student_id: StudentId, evaluation_id: str) -> Evaluation:
        found = repo.find_evaluation(student_id, evaluation_id)
        if found is None:
            raise NotFound(f"evaluation {evaluation_id!r} of student {student_id!r} does not exist")
        return found

    def _held(
        self, repo: SchoolRepository, principal: Principal
    ) -> tuple[TeacherId | None, Sequence[Assignment]]:
        return self._assignments.of(principal, repo.assignments_of)

    def _teacher_guard(self, repo: SchoolRepository, principal: Principal, current: Evaluation) -> None:
        """A teacher (not an admin) changes only within a held assignment and an open term, both from
        this task's caches (bounded staleness, see ``roster_cache``; a refusal is looked up again)."""
        if principal.has(Role.ADMIN):
            return
        teacher, assignments = self._held(repo, principal)
        if teacher is not None and not any(
            a.course_id == current.course_id and a.subject_id == current.subject_id for a in assignments
        ):
            self._assignments.invalidate(principal.school_id, teacher)
            teacher, assignments = self._held(repo, principal)
        access.require_assignment(assignments, current.course_id, current.subject_id)
        term = self._roster.term(principal.school_id, current.term_id, repo.get_term)
        if term is None:
            raise _unknown_term(current)
        if term.closed:
            raise _closed(current)

    def _require_reader(self, repo: SchoolRepository, principal: Principal, evaluation: Evaluation) -> None:
        if access.is_unrestricted(principal):
            return
        _, assignments = self._held(repo, principal)
        access.require_assignment(assignments, evaluation.course_id, evaluation.subject_id)


def _stale(current: Evaluation) -> VersionMismatch:
    return VersionMismatch(
        f"evaluation {current.evaluation_id!r} is at version {current.version}; reload it and retry",
        field="expected_version",
        context={"current_version": str(current.version)},
    )


def _closed(current: Evaluation) -> TermClosed:
    return TermClosed(
        f"term {current.term_id!r} is closed: only a school admin may correct its grades",
        context={"term_id": current.term_id},
    )


def _unknown_term(current: Evaluation) -> UnknownTerm:
    # Grades recorded before terms were catalog items: an admin adds the term (PUT /v1/terms/{id}).
    return UnknownTerm(
        f"term {current.term_id!r} is not in the school's catalog; a school admin must add it before "
        "teachers can change its grades",
        context={"term_id": current.term_id},
    )
