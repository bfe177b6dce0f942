"""Published contract: the burst path's exercise results. Owner: ingest (the grade processor).

Practice, not official grades: they expire after 30 days in the table (docs/decisions/0003-ttl-scope.md)
and live on in the lake, which reads the stream's images of them. Operators' tools list a student's
results: they live in the student's partition (the roster's ``student_pk``) under ``EXERCISE#``.
"""

from __future__ import annotations

from luca_platform.contracts.base import ItemContract
from luca_platform.table.keys import SEP, part

OWNER = "ingest"
EXERCISE_RESULT = ItemContract(
    "ExerciseResult",
    OWNER,
    1,
    {
        "school_id": "string",
        "event_id": "string",
        "student_id": "string",
        "course_id": "string",
        "subject_id": "string",
        "occurred_at": "string",
        "score": "number",
        "passing": "boolean",
    },
    optional={"exercise_id": "string", "correlation_id": "string"},
    readers=("analytics",),
)
CONTRACTS = (EXERCISE_RESULT,)

EXERCISE_SK_PREFIX = f"EXERCISE{SEP}"


def exercise_result_sk(event_id: str) -> str:
    """The event is its own idempotency key: a resent or redelivered event lands on the same item."""
    return f"{EXERCISE_SK_PREFIX}{part(event_id)}"
