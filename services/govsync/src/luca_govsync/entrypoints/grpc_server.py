"""gRPC ``luca.govsync.v1.GovSyncService`` for internal clients, with health and reflection.

Every call is authenticated like the grading service's (a Cognito ID token, or a service token
acting for one school); the school comes from the token, and ``SyncControl`` refuses any other.
Errors are gRPC statuses with details (``google.rpc.ErrorInfo``; ``BadRequest`` for a bad field).
Starting the sync of a term that is not closed is ``FAILED_PRECONDITION`` (``TERM_NOT_CLOSED``), as
is a follow-up run while batches of the period wait for a redrive (``SYNC_UNSETTLED``).
Step Functions or DynamoDB failing is ``UNAVAILABLE`` (``DEPENDENCY_UNAVAILABLE``), its cause logged.

Every call runs with the caller's correlation id (``x-correlation-id`` metadata, validated; a new
one otherwise), echoed in the initial metadata, bound for the logs and on the call's span: a sync it
starts (or a redrive) carries it to every task, audit entry, DLQ message and ministry call.
``ListDeadLetters`` and ``RedriveDeadLetters`` serve the school's operators (``SyncControl``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import status_pb2
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from luca.govsync.v1 import govsync_pb2, govsync_pb2_grpc
from luca_govsync.domain.model import (
    BatchState,
    BatchStatus,
    InvalidSyncRequest,
    RecordOutcome,
    SyncProgress,
    SyncStatus,
    change_counts,
)
from luca_govsync.domain.preconditions import SyncPreconditionFailed
from luca_govsync.service_layer.control import DeadLettersUnavailable, SyncControl, SyncNotFound
from luca_govsync.service_layer.dead_letters import DeadLetter
from luca_kernel.access import Principal
from luca_kernel.errors import Forbidden, TenantBoundaryViolation, Unauthenticated
from luca_platform import problems
from luca_platform.grpc_server import abort, build_server
from luca_platform.telemetry import context as request_context
from luca_platform.telemetry.propagation import id_attributes
from luca_platform.tokens import Authenticator

SERVICE_NAME = govsync_pb2.DESCRIPTOR.services_by_name["GovSyncService"].full_name
ERROR_DOMAIN = "govsync.luca.school"
NOT_ALLOWED = "not allowed for your school"
UNAVAILABLE_DETAIL = "the government sync is unavailable right now; try again shortly"
log = logging.getLogger("luca.govsync.grpc")
tracer = trace.get_tracer("luca.govsync.api")
R = TypeVar("R")

_SYNC_STATUS = {
    SyncStatus.RUNNING: govsync_pb2.SYNC_STATUS_RUNNING,
    SyncStatus.SUCCEEDED: govsync_pb2.SYNC_STATUS_SUCCEEDED,
    SyncStatus.COMPLETED_WITH_FAILURES: govsync_pb2.SYNC_STATUS_COMPLETED_WITH_FAILURES,
    SyncStatus.FAILED: govsync_pb2.SYNC_STATUS_FAILED,
}
_BATCH_STATUS = {
    BatchStatus.PENDING: govsync_pb2.BATCH_STATUS_PENDING,
    BatchStatus.SUBMITTING: govsync_pb2.BATCH_STATUS_SUBMITTING,
    BatchStatus.RETRYING: govsync_pb2.BATCH_STATUS_RETRYING,
    BatchStatus.DONE: govsync_pb2.BATCH_STATUS_DONE,
    BatchStatus.FAILED: govsync_pb2.BATCH_STATUS_FAILED,
}


def _timestamp(value: str) -> timestamp_pb2.Timestamp | None:
    if not value:
        return None
    stamp = timestamp_pb2.Timestamp()
    try:
        stamp.FromJsonString(value if value.endswith("Z") else f"{value}Z")
    except ValueError:
        return None
    return stamp


def batch_pb(batch: BatchState) -> govsync_pb2.Batch:
    message = govsync_pb2.Batch(
        sync_id=batch.ref.sync_id,
        school_id=batch.ref.school_id,
        period=batch.ref.period,
        number=batch.ref.number,
        client_batch_id=batch.ref.client_batch_id,
        records=batch.ref.records,
        status=_BATCH_STATUS[batch.status],
        attempts=batch.attempts,
        last_error=batch.last_error,
    )
    stamp = _timestamp(batch.updated_at)
    if stamp is not None:
        message.updated_at.CopyFrom(stamp)
    return message


def outcome_pb(outcome: RecordOutcome) -> govsync_pb2.RecordOutcome:
    return govsync_pb2.RecordOutcome(
        record_id=outcome.record_id,
        student_id=outcome.student_id,
        status=govsync_pb2.RECORD_STATUS_REJECTED,
        reason_code=outcome.reason_code,
        reason=outcome.reason,
    )


def report_pb(progress: SyncProgress) -> govsync_pb2.SyncReport:
    message = govsync_pb2.SyncReport(
        sync_id=progress.sync_id,
        school_id=progress.school_id,
        period=progress.period,
        status=_SYNC_STATUS[progress.status],
        batches_total=len(progress.batches),
        batches_done=progress.count(BatchStatus.DONE),
        batches_retrying=progress.count(BatchStatus.RETRYING),
        batches_failed=progress.count(BatchStatus.FAILED),
        records_total=progress.records_total,
        records_accepted=progress.accepted,
        records_rejected=len(progress.rejected),
        rejected=[outcome_pb(outcome) for outcome in progress.rejected],
        started_by=progress.started_by,
    )
    amendments, retractions = change_counts(progress.batches)
    message.amendments.CopyFrom(govsync_pb2.ChangeCounts(**amendments.to_json()))
    message.retractions.CopyFrom(govsync_pb2.ChangeCounts(**retractions.to_json()))
    for field, value in (("started_at", progress.started_at), ("finished_at", progress.finished_at)):
        stamp = _timestamp(value)
        if stamp is not None:
            getattr(message, field).CopyFrom(stamp)
    return message


def dead_letter_pb(letter: DeadLetter) -> govsync_pb2.DeadLetter:
    ref = letter.ref
    return govsync_pb2.DeadLetter(
        message_id=letter.message_id,
        school_id=ref.school_id,
        period=ref.period,
        sync_id=ref.sync_id,
        number=ref.number,
        client_batch_id=ref.client_batch_id,
        records=ref.records,
        error=str(letter.error.get("Error", "")),
        correlation_id=ref.correlation_id,
    )


def _status(code: grpc.StatusCode, reason: str, message: str, field: str = "") -> status_pb2.Status:
    return problems.error_status(code, reason, message, domain=ERROR_DOMAIN, field=field)


class GovSyncServicer(govsync_pb2_grpc.GovSyncServiceServicer):
    def __init__(self, control: SyncControl, authenticator: Authenticator) -> None:
        self._control = control
        self._authenticator = authenticator

    def _call(self, context: grpc.ServicerContext, work: Callable[[Principal], R], method: str = "") -> R:
        metadata = {k.lower(): v for k, v in context.invocation_metadata() if isinstance(v, str)}
        correlation = request_context.sanitize_correlation_id(
            metadata.get(request_context.CORRELATION_HEADER)
        )
        context.send_initial_metadata(((request_context.CORRELATION_HEADER, correlation),))
        # The instrumentation's server span started before the id was known: it gets it here.
        trace.get_current_span().set_attribute(request_context.CORRELATION_ATTRIBUTE, correlation)
        with (
            request_context.RequestScope(correlation, route_name=f"/{SERVICE_NAME}/{method}"),
            tracer.start_as_current_span(
                f"govsync {method}", kind=SpanKind.INTERNAL, attributes=id_attributes(correlation, None)
            ) as span,
        ):
            return self._authorized(context, metadata, work, span)

    def _authorized(
        self,
        context: grpc.ServicerContext,
        metadata: dict[str, str],
        work: Callable[[Principal], R],
        span: trace.Span,
    ) -> R:
        try:
            principal = self._authenticator.authenticate(metadata.get("authorization"))
            request_context.school_id.set(principal.school_id)
            span.set_attribute(request_context.SCHOOL_ATTRIBUTE, principal.school_id)
            return work(principal)
        except Unauthenticated as error:
            abort(context, _status(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", error.detail))
        except Forbidden as error:
            abort(context, _status(grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_SCHOOL", error.detail))
        except SyncPreconditionFailed as error:
            # A request the sync's state does not allow yet (an open term, batches awaiting a
            # redrive): nothing was started; the reason says what must happen first.
            abort(context, _status(grpc.StatusCode.FAILED_PRECONDITION, error.reason, str(error)))
        except InvalidSyncRequest as error:
            abort(
                context,
                _status(grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", str(error), error.field),
            )
        except SyncNotFound as error:
            abort(context, _status(grpc.StatusCode.NOT_FOUND, "NO_SUCH_SYNC", str(error)))
        except DeadLettersUnavailable as error:
            log.error("dead letters asked of an API with no DLQ configured", extra={"error": str(error)})
            abort(
                context,
                _status(grpc.StatusCode.UNAVAILABLE, problems.DEPENDENCY_UNAVAILABLE, UNAVAILABLE_DETAIL),
            )
        except TenantBoundaryViolation as error:
            # A key outside the caller's school got built: a bug or an attack. The caller gets the
            # same answer as any other refusal, nothing of the key.
            log.error("tenant boundary violation refused", extra={"error": str(error)})
            abort(context, _status(grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_SCHOOL", NOT_ALLOWED))
        except problems.DEPENDENCY_ERRORS as error:
            log.warning("dependency unavailable", extra={"error": str(error)})
            abort(
                context,
                _status(grpc.StatusCode.UNAVAILABLE, problems.DEPENDENCY_UNAVAILABLE, UNAVAILABLE_DETAIL),
            )

    def StartSync(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> govsync_pb2.StartSyncResponse:
            started = self._control.start(
                principal,
                request.request.period,
                request.request.school_id,
                request_context.correlation_id.get() or "",
            )
            reports = []
            if started.progress is not None:
                reports.append(report_pb(started.progress))
            else:  # just started: prepare has not run yet
                reports.append(
                    govsync_pb2.SyncReport(
                        sync_id=started.started.execution_name,
                        school_id=started.started.key.school_id,
                        period=started.started.key.period,
                        status=govsync_pb2.SYNC_STATUS_RUNNING,
                    )
                )
            return govsync_pb2.StartSyncResponse(syncs=reports)

        return self._call(context, work, "StartSync")

    def GetSyncProgress(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> govsync_pb2.GetSyncProgressResponse:
            progress = self._control.progress(principal, request.period, request.school_id)
            return govsync_pb2.GetSyncProgressResponse(progress=report_pb(progress))

        return self._call(context, work, "GetSyncProgress")

    def ListSyncs(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> govsync_pb2.ListSyncsResponse:
            syncs = self._control.list_syncs(principal, request.period, request.school_id)
            return govsync_pb2.ListSyncsResponse(syncs=[report_pb(progress) for progress in syncs])

        return self._call(context, work, "ListSyncs")

    def ListFailedBatches(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> govsync_pb2.ListFailedBatchesResponse:
            batches = self._control.failed_batches(principal, request.period, request.school_id)
            return govsync_pb2.ListFailedBatchesResponse(batches=[batch_pb(batch) for batch in batches])

        return self._call(context, work, "ListFailedBatches")

    def ListDeadLetters(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> govsync_pb2.ListDeadLettersResponse:
            letters = self._control.dead_letters(principal, request.school_id, request.period)
            return govsync_pb2.ListDeadLettersResponse(
                dead_letters=[dead_letter_pb(letter) for letter in letters]
            )

        return self._call(context, work, "ListDeadLetters")

    def RedriveDeadLetters(self, request: Any, context: grpc.ServicerContext) -> Any:
        def work(principal: Principal) -> govsync_pb2.RedriveDeadLettersResponse:
            correlation = request_context.correlation_id.get() or ""
            redriven = self._control.redrive(
                principal, request.school_id, list(request.message_ids), correlation
            )
            log.info(
                "dead letters redriven",
                extra={
                    "batches": len(redriven.letters),
                    "executions": [s.execution_name for s in redriven.started],
                    "removed": redriven.removed,
                    "by": principal.actor_id,
                },
            )
            return govsync_pb2.RedriveDeadLettersResponse(
                batches=len(redriven.letters),
                execution_names=[started.execution_name for started in redriven.started],
                messages_removed=redriven.removed,
                correlation_id=correlation,
            )

        return self._call(context, work, "RedriveDeadLetters")


def create_server(
    control: SyncControl, authenticator: Authenticator, *, address: str, workers: int = 8
) -> tuple[grpc.Server, int]:
    """A bound, not yet started server; returns it and its port."""
    return build_server(
        error_domain=ERROR_DOMAIN,
        invalid_reason="INVALID_REQUEST",
        service_name=SERVICE_NAME,
        register=lambda server: govsync_pb2_grpc.add_GovSyncServiceServicer_to_server(
            GovSyncServicer(control, authenticator), server
        ),
        authenticate=authenticator.authenticate,
        address=address,
        workers=workers,
        thread_name_prefix="govsync-grpc",
    )
