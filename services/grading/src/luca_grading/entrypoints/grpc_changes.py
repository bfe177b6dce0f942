"""The grading RPCs that change official records: corrections, retractions and their history, terms
and assignments. Mixed into the GradingService servicer; messages in, service layer, messages out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import grpc

from luca.grading.v1 import grading_pb2
from luca_grading.domain.model import Assignment, ChangeKind, EvaluationChange, GradeValues
from luca_grading.entrypoints.grpc_mapping import decimal_pb, evaluation_pb, optional_decimal, timestamp_pb
from luca_grading.service_layer.changes import ChangeRequest, Correction
from luca_kernel.access import Principal
from luca_kernel.roster import Term
from luca_platform.telemetry import context as request_context

if TYPE_CHECKING:
    from luca_grading.entrypoints.grpc_calls import CallRunner
    from luca_grading.service_layer.administration import SchoolAdministration
    from luca_grading.service_layer.changes import GradeChanges

_CHANGE_FIELDS: Mapping[str, str] = {"idempotency_key": "request_id"}
_KINDS = {
    ChangeKind.CORRECTED: grading_pb2.CHANGE_KIND_CORRECTED,
    ChangeKind.RETRACTED: grading_pb2.CHANGE_KIND_RETRACTED,
}


def values_pb(values: GradeValues) -> grading_pb2.GradeValues:
    return grading_pb2.GradeValues(
        score=decimal_pb(values.score), weight=decimal_pb(values.weight), description=values.description
    )


def change_pb(change: EvaluationChange) -> grading_pb2.EvaluationChange:
    return grading_pb2.EvaluationChange(
        version=change.version,
        kind=_KINDS[change.kind],
        changed_by=change.changed_by,
        changed_at=timestamp_pb(change.changed_at),
        reason=change.reason,
        correlation_id=change.correlation_id,
        before=values_pb(change.before),
        after=values_pb(change.after),
    )


def term_pb(term: Term) -> grading_pb2.Term:
    return grading_pb2.Term(
        term_id=term.term_id,
        name=term.name,
        closed=term.closed,
        closed_at=timestamp_pb(term.closed_at),
        closed_by=term.closed_by,
    )


def assignment_pb(assignment: Assignment) -> grading_pb2.Assignment:
    return grading_pb2.Assignment(
        teacher_id=assignment.teacher_id,
        course_id=assignment.course_id,
        subject_id=assignment.subject_id,
        assigned_at=timestamp_pb(assignment.assigned_at),
        assigned_by=assignment.assigned_by,
    )


def _change_request(request: Any) -> ChangeRequest:
    return ChangeRequest(
        student_id=request.student_id,
        evaluation_id=request.evaluation_id,
        # proto3 cannot tell 0 from unset, and no grade has version 0: 0 means "not given".
        expected_version=request.expected_version or None,
        correlation_id=request_context.correlation_id.get() or "",
    )


class GradeChangeRpcs:
    _changes: GradeChanges
    _admin: SchoolAdministration
    _calls: CallRunner

    def GetEvaluation(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.GetEvaluationResponse:
            found = self._changes.get(principal, request.student_id, request.evaluation_id)
            return grading_pb2.GetEvaluationResponse(evaluation=evaluation_pb(found))

        return self._calls.run("GetEvaluation", context, work)

    def CorrectEvaluation(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.CorrectEvaluationResponse:
            correction = Correction(
                reason=request.reason,
                score=optional_decimal(request.score, "score"),
                weight=optional_decimal(request.weight, "weight"),
                description=request.description if request.HasField("description") else None,
            )
            done = self._changes.correct(principal, _change_request(request), correction, request.request_id)
            return grading_pb2.CorrectEvaluationResponse(
                evaluation=evaluation_pb(done.value), replayed=done.replayed
            )

        return self._calls.run("CorrectEvaluation", context, work, _CHANGE_FIELDS)

    def RetractEvaluation(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.RetractEvaluationResponse:
            done = self._changes.retract(
                principal, _change_request(request), request.reason, request.request_id
            )
            return grading_pb2.RetractEvaluationResponse(
                evaluation=evaluation_pb(done.value), replayed=done.replayed
            )

        return self._calls.run("RetractEvaluation", context, work, _CHANGE_FIELDS)

    def GetEvaluationHistory(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.GetEvaluationHistoryResponse:
            evaluation, changes = self._changes.history(principal, request.student_id, request.evaluation_id)
            return grading_pb2.GetEvaluationHistoryResponse(
                evaluation=evaluation_pb(evaluation), changes=[change_pb(c) for c in changes]
            )

        return self._calls.run("GetEvaluationHistory", context, work)

    def PutTerm(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.PutTermResponse:
            return grading_pb2.PutTermResponse(
                term=term_pb(self._admin.put_term(principal, request.term_id, request.name))
            )

        return self._calls.run("PutTerm", context, work)

    def CloseTerm(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.CloseTermResponse:
            return grading_pb2.CloseTermResponse(
                term=term_pb(self._admin.close_term(principal, request.term_id))
            )

        return self._calls.run("CloseTerm", context, work)

    def AssignTeacher(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.AssignTeacherResponse:
            assignment = self._admin.assign(
                principal, request.teacher_id, request.course_id, request.subject_id
            )
            return grading_pb2.AssignTeacherResponse(assignment=assignment_pb(assignment))

        return self._calls.run("AssignTeacher", context, work)

    def UnassignTeacher(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.UnassignTeacherResponse:
            self._admin.unassign(principal, request.teacher_id, request.course_id, request.subject_id)
            return grading_pb2.UnassignTeacherResponse()

        return self._calls.run("UnassignTeacher", context, work)
