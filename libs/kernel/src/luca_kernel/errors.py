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
    VERSION_MISMATCH = "version-mismatch"
    PRECONDITION_REQUIRED = "precondition-required"
    TERM_CLOSED = "term-closed"
    UNKNOWN_TERM = "unknown-term"
    INVALID_CURSOR = "invalid-cursor"
    RETRACTED = "retracted"


class LucaError(Exception):
    """Base of every error a service reports to a caller."""

    reason: Reason = Reason.VALIDATION

    def __init__(
        self, detail: str, *, field: str | None = None, context: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        # Facts a client branches on (the closed term, the current version): problem extension
        # members on REST, ErrorInfo metadata on gRPC.
        self.context = dict(context or {})


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


class UnknownTerm(LucaError):
    reason = Reason.UNKNOWN_TERM


class VersionMismatch(LucaError):
    """The change named a version that is no longer the current one (someone changed it first)."""

    reason = Reason.VERSION_MISMATCH


class PreconditionRequired(LucaError):
    """A change to an existing record must name the version it was based on."""

    reason = Reason.PRECONDITION_REQUIRED


class TermClosed(LucaError):
    """The term is closed: no new grades, and only admins may correct its grades."""

    reason = Reason.TERM_CLOSED


class Retracted(LucaError):
    """The grade was retracted: it can no longer be corrected or retracted again."""

    reason = Reason.RETRACTED


class InvalidCursor(InvalidInput):
    """A page cursor that was tampered with, expired, or made by another school or query."""

    reason = Reason.INVALID_CURSOR


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
