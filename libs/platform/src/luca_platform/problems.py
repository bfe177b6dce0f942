"""How errors leave a service: one table from the kernel's errors to HTTP statuses and gRPC codes,
RFC 9457 problem bodies for REST, and ``google.rpc.Status`` with details for gRPC."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
from botocore.exceptions import BotoCoreError, ClientError
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from luca_kernel.errors import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    LucaError,
    NotFound,
    PreconditionRequired,
    Retracted,
    ScoreOutOfScale,
    TermClosed,
    Unauthenticated,
    UnknownCourse,
    UnknownStudent,
    UnknownSubject,
    UnknownTerm,
    VersionMismatch,
)

PROBLEM_BASE = "https://errors.luca.school/"
PROBLEM_JSON = "application/problem+json"

# An AWS dependency (DynamoDB, Step Functions, ...) that failed or could not be reached: not the
# caller's fault, so 503 / UNAVAILABLE with this reason. botocore's text names ARNs and tables: it is
# logged, never shown.
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"

# (HTTP status, gRPC code). A student, subject or course the caller's school does not have is 404 /
# NOT_FOUND whether it is the resource read or a reference in a written body: another school's
# entity and one that does not exist get the same answer, so a probe learns nothing.
_MAPPING: list[tuple[type[LucaError], int, grpc.StatusCode]] = [
    (Unauthenticated, 401, grpc.StatusCode.UNAUTHENTICATED),
    (Forbidden, 403, grpc.StatusCode.PERMISSION_DENIED),
    (IdempotencyKeyReused, 422, grpc.StatusCode.FAILED_PRECONDITION),
    (ScoreOutOfScale, 422, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownStudent, 404, grpc.StatusCode.NOT_FOUND),
    (UnknownSubject, 404, grpc.StatusCode.NOT_FOUND),
    (UnknownCourse, 404, grpc.StatusCode.NOT_FOUND),
    (UnknownTerm, 404, grpc.StatusCode.NOT_FOUND),
    (NotFound, 404, grpc.StatusCode.NOT_FOUND),
    # Optimistic concurrency: REST's conditional-request statuses, gRPC's precondition code.
    (VersionMismatch, 412, grpc.StatusCode.FAILED_PRECONDITION),
    (PreconditionRequired, 428, grpc.StatusCode.FAILED_PRECONDITION),
    (TermClosed, 409, grpc.StatusCode.FAILED_PRECONDITION),
    (Retracted, 409, grpc.StatusCode.FAILED_PRECONDITION),
    (InvalidInput, 400, grpc.StatusCode.INVALID_ARGUMENT),
]

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def http_status(error: LucaError) -> int:
    for kind, status, _ in _MAPPING:
        if isinstance(error, kind):
            return status
    return 400


def grpc_code(error: LucaError) -> grpc.StatusCode:
    for kind, _, code in _MAPPING:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INVALID_ARGUMENT


def problem_body(
    status: int,
    kind: str,
    detail: str,
    *,
    instance: str | None = None,
    correlation_id: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem: every service and the edge answer in this one shape."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
        "correlation_id": correlation_id,
        "errors": errors,
    }
    # Extension members (RFC 9457 §3.2) never replace the standard ones.
    return {**(extra or {}), **{k: v for k, v in body.items() if v is not None}}


def error_status(
    code: grpc.StatusCode,
    reason: str,
    message: str,
    *,
    domain: str,
    field: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> status_pb2.Status:
    """A ``google.rpc.Status``: ErrorInfo (reason, domain) and, for a bad field, BadRequest naming it."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain, metadata=dict(metadata or {})))
    details = [info]
    if field and code == grpc.StatusCode.INVALID_ARGUMENT:
        bad = any_pb2.Any()
        bad.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
                ]
            )
        )
        details.append(bad)
    return status_pb2.Status(code=getattr(code_pb2, code.name), message=message, details=details)


def status_for(error: LucaError, *, domain: str, field: str | None = None) -> status_pb2.Status:
    """The gRPC status of a kernel error: its code from the table above, its reason's wire name.
    ``field`` overrides ``error.field`` when the request spells the field differently (a path such
    as ``rule.passing_grade``)."""
    named = field or error.field
    metadata = dict(error.context)
    if named:
        metadata["field"] = named
    return error_status(
        grpc_code(error), error.reason.name, error.detail, domain=domain, field=named, metadata=metadata
    )
