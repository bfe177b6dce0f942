"""Per-request context carried into every log line: correlation id, school, route."""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
school_id: ContextVar[str | None] = ContextVar("school_id", default=None)
route: ContextVar[str | None] = ContextVar("route", default=None)

CORRELATION_HEADER = "x-correlation-id"
MAX_CORRELATION_ID = 128
# The span attributes every span gets from the variables above (``tracing.ContextSpanProcessor``):
# ``luca trace`` finds spans by the first; in AWS the collector turns it into the X-Ray annotation
# ``correlation_id`` (the collector's ``indexed_attributes`` lists it).
CORRELATION_ATTRIBUTE = "luca.correlation_id"
SCHOOL_ATTRIBUTE = "luca.school_id"


def sanitize_correlation_id(value: str | None) -> str:
    """The caller's id if it is a sane token, else a fresh one (ids end up in logs: keep them clean)."""
    if value and len(value) <= MAX_CORRELATION_ID and all(c.isalnum() or c in "-_.:" for c in value):
        return value
    return str(uuid.uuid4())


@dataclass
class RequestScope:
    """Binds the request's context for the duration of a handler; restores the previous values."""

    correlation: str
    route_name: str | None = None
    _tokens: tuple[Token[str | None], ...] = ()

    def __enter__(self) -> RequestScope:
        self._tokens = (correlation_id.set(self.correlation), route.set(self.route_name), school_id.set(None))
        return self

    def __exit__(self, *_: object) -> None:
        for var, token in zip((correlation_id, route, school_id), self._tokens, strict=True):
            var.reset(token)
