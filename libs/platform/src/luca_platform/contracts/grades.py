"""Published contract: official grades (``Evaluation`` items) and behavior notes. Owner: grading.

Readers rely on what is listed here and nothing else: the government sync reads a school's grades
of a term on the school-term index (GSI2) through ``school_term_pk``; the lake reads the stream's
images of both item types. The full item (its other keys, bookkeeping) is the owner's business
(grading's ``table_design``).
"""

from __future__ import annotations

from luca_platform.contracts.base import ItemContract
from luca_platform.table import keys

OWNER = "grading"
EVALUATION = ItemContract(
    "Evaluation",
    OWNER,
    1,
    {
        "school_id": "string",
        "evaluation_id": "string",
        "student_id": "string",
        "course_id": "string",
        "subject_id": "string",
        "term_id": "string",
        "score": "number",
        "weight": "number",
        "recorded_at": "string",
    },
    optional={"teacher_id": "string", "description": "string", "correlation_id": "string"},
    readers=("govsync", "analytics"),
)
BEHAVIOR_NOTE = ItemContract(
    "BehaviorNote",
    OWNER,
    1,
    {
        "school_id": "string",
        "note_id": "string",
        "student_id": "string",
        "course_id": "string",
        "kind": "string",
        "recorded_at": "string",
    },
    optional={"text": "string", "teacher_id": "string"},
    readers=("analytics",),
)
CONTRACTS = (EVALUATION, BEHAVIOR_NOTE)

# What the government sync reads of each grade (a projection of the index).
SYNC_ATTRIBUTES: tuple[str, ...] = (
    "evaluation_id",
    "student_id",
    "course_id",
    "subject_id",
    "term_id",
    "score",
    "recorded_at",
)


def school_term_pk(school_id: str, term_id: str) -> str:
    """Every official grade of a school in a term, on the school-term index (GSI2)."""
    return keys.school_key(school_id, "TERM", term_id)
