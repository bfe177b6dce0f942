"""Domain errors. Entrypoints map each to an HTTP problem type and a gRPC status, never to a 500."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Stable machine-readable reasons (mirrors luca.common.v1.ErrorReason)."""

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


class GradingError(Exception):
    """Base of every error the service reports to a caller."""

    reason: Reason = Reason.VALIDATION

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInput(GradingError):
    reason = Reason.VALIDATION


class ScoreOutOfScale(InvalidInput):
    reason = Reason.SCORE_OUT_OF_SCALE


class UnknownStudent(GradingError):
    reason = Reason.UNKNOWN_STUDENT


class UnknownSubject(GradingError):
    reason = Reason.UNKNOWN_SUBJECT


class UnknownCourse(GradingError):
    reason = Reason.UNKNOWN_COURSE


class NotFound(GradingError):
    reason = Reason.NOT_FOUND


class Forbidden(GradingError):
    reason = Reason.FORBIDDEN


class Unauthenticated(GradingError):
    reason = Reason.UNAUTHENTICATED


class IdempotencyKeyReused(GradingError):
    """The same idempotency key arrived with a different request body."""

    reason = Reason.IDEMPOTENCY_KEY_REUSED


class TenantBoundaryViolation(Exception):
    """A data access named a key outside the caller's school.

    Not a GradingError: it signals a bug (or an attack that got past validation) and is logged
    loudly; callers see a generic 403 (entrypoints map it to Forbidden).
    """
