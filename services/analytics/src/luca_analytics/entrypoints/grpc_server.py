"""gRPC ``luca.analytics.v1.AnalyticsService`` for internal clients, with health and reflection.

Every call is authenticated (a Cognito ID token, or a service token acting for one school); the
school comes from the token alone: the requests have no school field, and any unknown field or
metadata a client adds is ignored. The servicer only translates pb2 <-> the use cases' results.
Errors are statuses with details: ``INVALID_ARGUMENT`` with ``google.rpc.BadRequest`` naming the
field, ``PERMISSION_DENIED`` and ``UNAUTHENTICATED`` with ``google.rpc.ErrorInfo`` (reasons are the
wire names of ``luca.common.v1.ErrorReason``), ``UNAVAILABLE`` when the lake or the school's table
cannot answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.rpc import status_pb2

from luca.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from luca_analytics.bootstrap import Container
from luca_analytics.service_layer.reports import LakeUnavailable, Reports
from luca_kernel.access import Principal
from luca_kernel.errors import Forbidden, InvalidInput, LucaError, TenantBoundaryViolation
from luca_platform import problems
from luca_platform.grpc_server import abort, build_server
from luca_platform.problems import grpc_code

SERVICE_NAME = analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name
ERROR_DOMAIN = "analytics.luca.school"
log = logging.getLogger("luca.analytics.grpc")
R = TypeVar("R")


def error_status(code: grpc.StatusCode, reason: str, message: str, field: str = "") -> status_pb2.Status:
    return problems.error_status(code, reason, message, domain=ERROR_DOMAIN, field=field)


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, container: Container) -> None:
        self._reports: Reports = container.reports
        self._authenticator = container.authenticator

    def _call(self, context: grpc.ServicerContext, work: Callable[[Principal], R]) -> R:
        metadata = {k.lower(): v for k, v in context.invocation_metadata() if isinstance(v, str)}
        try:
            return work(self._authenticator.authenticate(metadata.get("authorization")))
        except InvalidInput as error:
            status = error_status(
                grpc.StatusCode.INVALID_ARGUMENT, error.reason.name, error.detail, error.field or ""
            )
        except (Forbidden, TenantBoundaryViolation) as error:
            if isinstance(error, TenantBoundaryViolation):
                log.error("tenant boundary refused: %s", error)
            status = error_status(
                grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_SCHOOL", "not allowed for your school"
            )
            if isinstance(error, Forbidden):
                status.message = error.detail
        except LucaError as error:
            status = error_status(grpc_code(error), error.reason.name, error.detail)
        except LakeUnavailable as error:
            log.warning(
                "lake unavailable",
                extra={"error": str(error), "query_execution_id": error.query_execution_id},
            )
            status = error_status(grpc.StatusCode.UNAVAILABLE, "LAKE_UNAVAILABLE", error.detail)
        except problems.DEPENDENCY_ERRORS as error:
            # The rules or the roster (DynamoDB) unreadable: botocore's text is for the log only.
            log.warning("school table unavailable", extra={"error": str(error)})
            status = error_status(
                grpc.StatusCode.UNAVAILABLE, problems.DEPENDENCY_UNAVAILABLE, LakeUnavailable.detail
            )
        return abort(context, status)

    def SubjectAverages(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> analytics_pb2.SubjectAveragesResponse:
            found = self._reports.subject_averages(principal, term_id=request.term_id)
            return analytics_pb2.SubjectAveragesResponse(
                averages=[
                    analytics_pb2.SubjectAverage(
                        subject_id=a.subject_id,
                        term_id=a.term_id,
                        weighted_average=a.weighted_average,
                        grades=a.grades,
                        students=a.students,
                    )
                    for a in found
                ]
            )

        return self._call(context, work)

    def StudentsBelowPassing(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> analytics_pb2.StudentsBelowPassingResponse:
            found = self._reports.students_below_passing(
                principal, term_id=request.term_id, subject_id=request.subject_id
            )
            # An unidentified student (a key no roster student produces) has an empty student_id.
            return analytics_pb2.StudentsBelowPassingResponse(
                students=[
                    analytics_pb2.StudentBelowPassing(
                        student_id=s.student_id or "",
                        subject_id=s.subject_id,
                        weighted_average=s.weighted_average,
                        passing_grade=s.passing_grade,
                        grades=s.grades,
                    )
                    for s in found
                ]
            )

        return self._call(context, work)

    def BehaviorTrend(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> analytics_pb2.BehaviorTrendResponse:
            found = self._reports.behavior_trend(
                principal, from_month=request.from_month, to_month=request.to_month
            )
            return analytics_pb2.BehaviorTrendResponse(
                months=[
                    analytics_pb2.BehaviorMonth(month=m.month, positive=m.positive, negative=m.negative)
                    for m in found
                ]
            )

        return self._call(context, work)

    def GradeDistribution(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> analytics_pb2.GradeDistributionResponse:
            found = self._reports.grade_distribution(
                principal,
                term_id=request.term_id,
                subject_id=request.subject_id,
                bucket_width=request.bucket_width,
            )
            return analytics_pb2.GradeDistributionResponse(
                buckets=[
                    analytics_pb2.GradeBucket(from_score=b.from_score, to_score=b.to_score, grades=b.grades)
                    for b in found
                ]
            )

        return self._call(context, work)


def create_server(container: Container, *, address: str, workers: int = 8) -> tuple[grpc.Server, int]:
    """A bound, not yet started server; returns it and its port."""
    return build_server(
        error_domain=ERROR_DOMAIN,
        service_name=SERVICE_NAME,
        register=lambda server: analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(
            AnalyticsServicer(container), server
        ),
        authenticate=container.authenticator.authenticate,
        address=address,
        workers=workers,
        thread_name_prefix="analytics-grpc",
        traced=False,
    )
