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

# (HTTP status for a write, HTTP status when the thing named is the resource being read, gRPC code)
_MAPPING: list[tuple[type[GradingError], int, int, grpc.StatusCode]] = [
    (Unauthenticated, 401, 401, grpc.StatusCode.UNAUTHENTICATED),
    (Forbidden, 403, 403, grpc.StatusCode.PERMISSION_DENIED),
    (IdempotencyKeyReused, 422, 422, grpc.StatusCode.FAILED_PRECONDITION),
    (ScoreOutOfScale, 422, 422, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownStudent, 422, 404, grpc.StatusCode.NOT_FOUND),
    (UnknownSubject, 422, 404, grpc.StatusCode.NOT_FOUND),
    (UnknownCourse, 422, 404, grpc.StatusCode.NOT_FOUND),
    (NotFound, 404, 404, grpc.StatusCode.NOT_FOUND),
    (InvalidInput, 400, 400, grpc.StatusCode.INVALID_ARGUMENT),
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
}


def http_status(error: GradingError, *, reading: bool) -> int:
    for kind, write_status, read_status, _ in _MAPPING:
        if isinstance(error, kind):
            return read_status if reading else write_status
    return 400


def grpc_code(error: GradingError) -> grpc.StatusCode:
    for kind, _, _, code in _MAPPING:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INVALID_ARGUMENT
