"""The error taxonomy every service reports in. Entrypoints map each error to an HTTP problem type and
a gRPC status (``luca_platform.problems``), never to a 500.

``Reason`` is the wire vocabulary of ``luca.common.v1.ErrorReason``; a test checks the two agree.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Stable machine-readable reasons: ``ERROR_REASON_<NAME>`` on the wire, the problem type suffix on REST."""

    VALIDATION = "validation"
    SCORE_OUT_OF_SCALE = "score-out-of-scale"
    UNKNOWN_STUDENT = "unknown-student"
    UNKNOWN_SUBJECT = "unknown-subject"
    UNKNOWN_COURSE = "unknown-course"
    FORBIDDEN = "forbidden"
    UNAUTHENTICATED = "unauthenticated"
    IDEMPOTENCY_KEY_REUSED = "idempotency-key-reused"
    RATE_LIMITED = "rate-limited"
    NOT_FOUND = "not-found"


class LucaError(Exception):
    """Base of every error a service reports to a caller."""

    reason: Reason = Reason.VALIDATION

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInput(LucaError):
    reason = Reason.VALIDATION


class ScoreOutOfScale(InvalidInput):
    reason = Reason.SCORE_OUT_OF_SCALE


class UnknownStudent(LucaError):
    reason = Reason.UNKNOWN_STUDENT


class UnknownSubject(LucaError):
    reason = Reason.UNKNOWN_SUBJECT


class UnknownCourse(LucaError):
    reason = Reason.UNKNOWN_COURSE


class NotFound(LucaError):
    reason = Reason.NOT_FOUND


class Forbidden(LucaError):
    reason = Reason.FORBIDDEN


class Unauthenticated(LucaError):
    reason = Reason.UNAUTHENTICATED


class IdempotencyKeyReused(LucaError):
    """The same idempotency key arrived with a different request body."""

    reason = Reason.IDEMPOTENCY_KEY_REUSED


class TenantBoundaryViolation(Exception):
    """A data access named a key outside the caller's school.

    Not a LucaError: it signals a bug (or an attack that got past validation) and is logged
    loudly; callers see a generic 403 (entrypoints map it to Forbidden).
    """
