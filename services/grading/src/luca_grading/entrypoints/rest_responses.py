"""The statuses each grading route answers besides its success, for its OpenAPI ``responses=``.

Every one is an RFC 9457 problem (``application/problem+json``); the description names the problem
types (``luca_platform.problems.PROBLEM_BASE`` + the kind) a client may branch on. The edge's own
answers (429, 502-504 from the gateway) are the public document's, not the service's.
"""

from typing import Any

from pydantic import BaseModel

from luca_grading.entrypoints.rest_models import Problem
from luca_platform.problems import PROBLEM_JSON

# status -> what it means on this service, naming its problem types.
_MEANING = {
    400: "validation (an id, a query parameter or the body breaks its constraints; subject_id without "
    "term_id), malformed-json, invalid-cursor",
    401: "unauthenticated: no valid bearer ID token (WWW-Authenticate: Bearer)",
    403: "forbidden: the caller's role or assignments do not allow it",
    404: "not-found, unknown-student, unknown-course, unknown-subject, unknown-term: absent from the "
    "caller's school (another school's answers the same)",
    409: "term-closed (the term takes no new grades) or retracted (the grade can no longer change)",
    412: "version-mismatch: If-Match names a version that is no longer current",
    413: "content-too-large: the body exceeds the platform's limit",
    415: "unsupported-media-type: a body must be application/json",
    422: "score-out-of-scale (the score or passing grade is outside the school's scale) or "
    "idempotency-key-reused (the same Idempotency-Key came with another body)",
    428: "precondition-required: If-Match is required to change a grade",
    503: "dependency-unavailable: the school's records are unreachable now (Retry-After)",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 0}}},
}
# What every route can answer: a bad id or parameter, no token, a role that may not, an absent
# resource of the school, the table unreachable.
READ = (400, 401, 403, 404, 503)
# What a route with a JSON body adds: too large, not JSON.
WRITE = (*READ, 413, 415)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that answers these statuses with problems."""
    found: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        # Inline, not ``model=``: FastAPI would file a model under application/json, which no
        # problem is sent as.
        found[status] = {
            "content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}},
            "description": _MEANING[status],
        }
        if status in _HEADERS:
            found[status]["headers"] = _HEADERS[status]
    return found


def replayed(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry of an idempotent write: a retry with the same Idempotency-Key and body
    answers 200 with the first result (``mark_replay``), not 201."""
    return {
        200: {
            "model": model,
            "description": "a replay: this Idempotency-Key already recorded this request; the first result",
            "headers": {"Idempotent-Replayed": {"description": "true", "schema": {"type": "string"}}},
        }
    }
