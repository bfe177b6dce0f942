"""gRPC ``luca.grading.v1.GradingService`` for internal clients, with health and reflection.

The servicer only translates protobuf ↔ domain and calls the same service layer as REST. Every
call is authenticated from ``authorization`` metadata (a forwarded Cognito ID token or a service
identity token); errors carry google.rpc ErrorInfo / BadRequest details.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypeVar

import grpc

from luca.grading.v1 import grading_pb2, grading_pb2_grpc, roster_pb2_grpc
from luca_grading.bootstrap import Container
from luca_grading.domain.model import BehaviorKind, BehaviorNote, SubjectAverage
from luca_grading.entrypoints.grpc_calls import ERROR_DOMAIN, CallRunner
from luca_grading.entrypoints.grpc_changes import GradeChangeRpcs
from luca_grading.entrypoints.grpc_mapping import decimal_pb, evaluation_pb, required_decimal, timestamp_pb
from luca_grading.entrypoints.grpc_roster import ROSTER_SERVICE_NAME, RosterServicer
from luca_grading.service_layer.services import RecordBehaviorNote, RecordEvaluation
from luca_kernel.access import Principal
from luca_kernel.errors import InvalidInput
from luca_kernel.grading import GradingRule, Rounding, ScaleKind, parse_decimal
from luca_kernel.ids import SubjectId
from luca_platform.grpc_server import build_server
from luca_platform.telemetry import context as request_context

log = logging.getLogger("luca.grading.grpc")
SERVICE_NAME = grading_pb2.DESCRIPTOR.services_by_name["GradingService"].full_name
R = TypeVar("R")

_SCALES = {
    grading_pb2.SCALE_KIND_CHILEAN: ScaleKind.CHILEAN,
    grading_pb2.SCALE_KIND_PERCENTAGE: ScaleKind.PERCENTAGE,
}
_ROUNDINGS = {
    grading_pb2.ROUNDING_HALF_UP: Rounding.HALF_UP,
    grading_pb2.ROUNDING_HALF_EVEN: Rounding.HALF_EVEN,
    grading_pb2.ROUNDING_DOWN: Rounding.DOWN,
}
_KINDS = {
    grading_pb2.BEHAVIOR_KIND_POSITIVE: BehaviorKind.POSITIVE,
    grading_pb2.BEHAVIOR_KIND_NEGATIVE: BehaviorKind.NEGATIVE,
}
# The service layer and the kernel name fields as REST and GradingRule spell them; a gRPC caller
# is told the path in its own request. Anything not listed is already spelled the same.
_REQUEST_ID_FIELDS: Mapping[str, str] = {"idempotency_key": "request_id"}
_RULE_FIELDS: Mapping[str, str] = {
    name: f"rule.{name}"
    for name in ("subject_id", "scale", "passing_grade", "rounding", "decimals", "default_weight")
}


# -- mapping ----------------------------------------------------------------------------------------
def average_pb(a: SubjectAverage) -> grading_pb2.SubjectAverage:
    return grading_pb2.SubjectAverage(
        subject_id=a.subject_id,
        term_id=a.term_id,
        weighted_average=decimal_pb(a.weighted_average),
        passing=a.passing,
        evaluation_count=a.evaluation_count,
    )


def note_pb(n: BehaviorNote) -> grading_pb2.BehaviorNote:
    kind = (
        grading_pb2.BEHAVIOR_KIND_POSITIVE
        if n.kind is BehaviorKind.POSITIVE
        else grading_pb2.BEHAVIOR_KIND_NEGATIVE
    )
    return grading_pb2.BehaviorNote(
        note_id=n.note_id,
        student_id=n.student_id,
        course_id=n.course_id,
        kind=kind,
        text=n.text,
        teacher_id=n.teacher_id,
        recorded_at=timestamp_pb(n.recorded_at),
    )


def rule_pb(r: GradingRule) -> grading_pb2.GradingRule:
    scale = {v: k for k, v in _SCALES.items()}[r.scale]
    rounding = {v: k for k, v in _ROUNDINGS.items()}[r.rounding]
    return grading_pb2.GradingRule(
        subject_id=r.subject_id,
        scale=scale,
        passing_grade=decimal_pb(r.passing_grade),
        rounding=rounding,
        decimals=r.decimals,
        default_weight=decimal_pb(r.default_weight),
        updated_at=timestamp_pb(r.updated_at),
    )


def rule_from_pb(message: grading_pb2.GradingRule) -> GradingRule:
    if message.scale not in _SCALES:
        raise InvalidInput("rule.scale must be CHILEAN or PERCENTAGE", field="rule.scale")
    rounding = _ROUNDINGS.get(message.rounding, Rounding.HALF_UP)
    return GradingRule(
        subject_id=SubjectId(message.subject_id),
        scale=_SCALES[message.scale],
        passing_grade=required_decimal(message.passing_grade, "rule.passing_grade"),
        rounding=rounding,
        decimals=message.decimals,
        default_weight=parse_decimal(message.default_weight.value or "1", field_name="rule.default_weight"),
    )


class GradingServicer(GradeChangeRpcs, grading_pb2_grpc.GradingServiceServicer):
    def __init__(self, container: Container, calls: CallRunner) -> None:
        self._container = container
        self._service = container.service
        self._changes = container.changes
        self._admin = container.admin
        self._calls = calls

    def RecordEvaluation(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.RecordEvaluationResponse:
            weight = (
                parse_decimal(request.weight.value, field_name="weight") if request.weight.value else None
            )
            recorded = self._service.record_evaluation(
                principal,
                RecordEvaluation(
                    student_id=request.student_id,
                    course_id=request.course_id,
                    subject_id=request.subject_id,
                    term_id=request.term_id,
                    score=required_decimal(request.score, "score"),
                    weight=weight,
                    description=request.description,
                    correlation_id=request_context.correlation_id.get() or "",
                ),
                request.request_id,
            )
            return grading_pb2.RecordEvaluationResponse(
                evaluation=evaluation_pb(recorded.value), replayed=recorded.replayed
            )

        return self._calls.run("RecordEvaluation", context, work, _REQUEST_ID_FIELDS)

    def ListStudentEvaluations(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.ListStudentEvaluationsResponse:
            report = self._service.student_report(
                principal, request.student_id, request.term_id or None, request.subject_id or None
            )
            return grading_pb2.ListStudentEvaluationsResponse(
                evaluations=[evaluation_pb(e) for e in report.evaluations],
                averages=[average_pb(a) for a in report.averages],
            )

        return self._calls.run("ListStudentEvaluations", context, work)

    def ListCourseGrades(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.ListCourseGradesResponse:
            report = self._service.course_report(
                principal, request.course_id, request.term_id, request.subject_id or None
            )
            return grading_pb2.ListCourseGradesResponse(
                evaluations=[evaluation_pb(e) for e in report.evaluations],
                averages=[
                    grading_pb2.StudentAverage(student_id=student, average=average_pb(average))
                    for student, average in report.averages
                ],
            )

        return self._calls.run("ListCourseGrades", context, work)

    def RecordBehaviorNote(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.RecordBehaviorNoteResponse:
            if request.kind not in _KINDS:
                raise InvalidInput("kind must be POSITIVE or NEGATIVE", field="kind")
            recorded = self._service.record_behavior_note(
                principal,
                RecordBehaviorNote(
                    student_id=request.student_id,
                    course_id=request.course_id,
                    kind=_KINDS[request.kind],
                    text=request.text,
                ),
                request.request_id,
            )
            return grading_pb2.RecordBehaviorNoteResponse(
                note=note_pb(recorded.value), replayed=recorded.replayed
            )

        return self._calls.run("RecordBehaviorNote", context, work, _REQUEST_ID_FIELDS)

    def GetBehaviorProfile(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.GetBehaviorProfileResponse:
            profile = self._service.behavior_profile(principal, request.student_id)
            return grading_pb2.GetBehaviorProfileResponse(
                student_id=profile.student_id,
                positive_count=profile.positive_count,
                negative_count=profile.negative_count,
                recent_notes=[note_pb(n) for n in profile.recent_notes],
            )

        return self._calls.run("GetBehaviorProfile", context, work)

    def GetGradingRule(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.GetGradingRuleResponse:
            return grading_pb2.GetGradingRuleResponse(
                rule=rule_pb(self._service.rule_for(principal, request.subject_id))
            )

        return self._calls.run("GetGradingRule", context, work)

    def PutGradingRule(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> grading_pb2.PutGradingRuleResponse:
            stored = self._service.put_rule(principal, rule_from_pb(request.rule))
            return grading_pb2.PutGradingRuleResponse(rule=rule_pb(stored))

        return self._calls.run("PutGradingRule", context, work, _RULE_FIELDS)


def create_server(container: Container, *, address: str | None = None) -> tuple[grpc.Server, int]:
    """A bound, not yet started server (GradingService and RosterService); returns it and its port."""
    settings = container.settings
    calls = CallRunner(container, SERVICE_NAME, ERROR_DOMAIN)
    roster_calls = CallRunner(container, ROSTER_SERVICE_NAME, ERROR_DOMAIN)

    def register(server: grpc.Server) -> None:
        grading_pb2_grpc.add_GradingServiceServicer_to_server(GradingServicer(container, calls), server)
        roster_pb2_grpc.add_RosterServiceServicer_to_server(
            RosterServicer(container.listings, roster_calls), server
        )

    return build_server(
        error_domain=ERROR_DOMAIN,
        service_name=(SERVICE_NAME, ROSTER_SERVICE_NAME),
        register=register,
        authenticate=container.authenticator.authenticate,
        address=address or f"{settings.grpc_host}:{settings.grpc_port}",
        workers=settings.grpc_workers,
        options=[("grpc.max_receive_message_length", settings.max_body_bytes * 4)],
    )
