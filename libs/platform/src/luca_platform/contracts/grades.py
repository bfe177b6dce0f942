"""Published contract: official grades (``Evaluation`` items) and behavior notes. Owner: grading.

Readers rely on what is listed here and nothing else: the government sync reads a school's grades
of a term on the school-term index (GSI2) through ``school_term_pk``; the lake reads the stream's
images of both item types. The full item (its other keys, bookkeeping) is the owner's business
(grading's ``table_design``).

Version 2 of ``Evaluation`` (docs/decisions/0008-grade-lifecycle.md) makes a grade changeable: it
carries ``version`` (1 when recorded, +1 per correction or retraction: the sequence that orders a
grade's states, never a timestamp) and, once retracted, ``retracted``. A grade is never deleted; a
retracted one leaves every view, average, report and submission. Readers accept both versions:
``version_of`` and ``is_retracted`` read a v1 item as version 1, not retracted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from luca_platform.contracts.base import ContractViolation, ItemContract
from luca_platform.table import keys

OWNER = "grading"
_EVALUATION_V1_REQUIRED = {
    "school_id": "string",
    "evaluation_id": "string",
    "student_id": "string",
    "course_id": "string",
    "subject_id": "string",
    "term_id": "string",
    "score": "number",
    "weight": "number",
    "recorded_at": "string",
}
_EVALUATION_V1_OPTIONAL = {"teacher_id": "string", "description": "string", "correlation_id": "string"}
# Items written before the grade lifecycle: still in the table, still read.
EVALUATION_V1 = ItemContract(
    "Evaluation",
    OWNER,
    1,
    _EVALUATION_V1_REQUIRED,
    optional=_EVALUATION_V1_OPTIONAL,
    readers=("govsync", "analytics"),
)
EVALUATION = ItemContract(
    "Evaluation",
    OWNER,
    2,
    {**_EVALUATION_V1_REQUIRED, "version": "integer"},
    optional={
        **_EVALUATION_V1_OPTIONAL,
        # Set once the grade is retracted (never unset: a retraction is final).
        "retracted": "boolean",
        # The last change: when, by whom, and the reason its author gave.
        "updated_at": "string",
        "updated_by": "string",
        "change_reason": "string",
    },
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
EVALUATION_VERSIONS = {contract.schema_version: contract for contract in (EVALUATION_V1, EVALUATION)}

# What the government sync reads of each grade (a projection of the index).
SYNC_ATTRIBUTES: tuple[str, ...] = (
    "evaluation_id",
    "student_id",
    "course_id",
    "subject_id",
    "term_id",
    "score",
    "recorded_at",
    "version",
    "retracted",
)


def check_evaluation(item: Mapping[str, Any]) -> None:
    """What a reader calls: the item keeps the contract of the version it says it has (1 or 2)."""
    contract = EVALUATION_VERSIONS.get(item.get("schema_version"))  # type: ignore[arg-type]
    if contract is None:
        raise ContractViolation(f"Evaluation: unknown schema_version {item.get('schema_version')!r}")
    contract.check(item)


def version_of(item: Mapping[str, Any]) -> int:
    """The grade's version: the order of its states (a v1 item is version 1)."""
    return int(item.get("version") or 1)


def is_retracted(item: Mapping[str, Any]) -> bool:
    return bool(item.get("retracted"))


def school_term_pk(school_id: str, term_id: str) -> str:
    """Every official grade of a school in a term, on the school-term index (GSI2)."""
    return keys.school_key(school_id, "TERM", term_id)
