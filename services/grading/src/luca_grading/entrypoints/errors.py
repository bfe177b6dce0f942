"""One table from domain errors to HTTP statuses and gRPC codes, shared by both entrypoints."""

from __future__ import annotations

import grpc

from luca_grading.domain.errors import (
    Forbidden,
    GradingError,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    ScoreOutOfScale,
    Unauthenticated,
    UnknownCourse,
    UnknownStudent,
    UnknownSubject,
)

PROBLEM_BASE = "https://errors.luca.school/"

# (HTTP status, gRPC code). A student, subject or course the caller's school does not have is 404 /
# NOT_FOUND whether it is the resource read or a reference in a written body: another school's
# entity and one that does not exist get the same answer, so a probe learns nothing.
_MAPPING: list[tuple[type[GradingError], int, grpc.StatusCode]] = [
    (Unauthenticated, 401, grpc.StatusCode.UNAUTHENTICATED),
    (Forbidden, 403, grpc.StatusCode.PERMISSION_DENIED),
    (IdempotencyKeyReused, 422, grpc.StatusCode.FAILED_PRECONDITION),
    (ScoreOutOfScale, 422, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownStudent, 404, grpc.StatusCode.NOT_FOUND),
    (UnknownSubject, 404, grpc.StatusCode.NOT_FOUND),
    (UnknownCourse, 404, grpc.StatusCode.NOT_FOUND),
    (NotFound, 404, grpc.StatusCode.NOT_FOUND),
    (InvalidInput, 400, grpc.StatusCode.INVALID_ARGUMENT),
]

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def http_status(error: GradingError) -> int:
    for kind, status, _ in _MAPPING:
        if isinstance(error, kind):
            return status
    return 400


def grpc_code(error: GradingError) -> grpc.StatusCode:
    for kind, _, code in _MAPPING:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INVALID_ARGUMENT
