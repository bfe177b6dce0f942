"""The lake's rows, and how a change to the table becomes one. No I/O, no AWS types here.

The same ``flatten`` runs in AWS (the Pipes enrichment function) and locally (the stream poller):
a stream record's new image, already decoded from DynamoDB's typed JSON into plain values, becomes
one ``LakeRow`` or a ``Skip`` with its reason. Only INSERT and MODIFY of the item types below reach
the lake; everything else is counted and skipped, never an error that stops the stream.

Versions (docs/decisions/0008-grade-lifecycle.md): every state of a record is a row. An official
grade carries ``version`` (schema v2; a v1 item is version 1); a correction lands as a row with the
next version, a retraction as a tombstone (``retracted``, no score or weight). What orders a record's
rows is its version, then the stream's sequence number (zero-padded, so text order is stream order);
never a timestamp, which ties within a second. Reports keep each record's last row and drop it when
it is a tombstone.

Minimisation, for minors' data: the student becomes ``student_key`` = HMAC-SHA256(key, school + "#" +
student) (stable within the school, meaningless without the key); teacher ids, names, evaluation
descriptions, change reasons and behavior notes' text never enter the lake.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

PARTITION_KEYS: tuple[str, ...] = ("school_id", "year", "month")
MAX_CORRELATION_ID = 128  # the edge's limit (luca_platform.telemetry.context)
LAKE_CHANGES = frozenset({"INSERT", "MODIFY"})


class ItemType(StrEnum):
    EVALUATION = "evaluation"
    BEHAVIOR_NOTE = "behavior_note"
    EXERCISE_RESULT = "exercise_result"


# The table's item types (its ``type`` attribute) that reach the lake, and the schema versions of
# each that ``flatten`` knows how to read.
LAKE_TYPES: Mapping[str, ItemType] = {
    "Evaluation": ItemType.EVALUATION,
    "BehaviorNote": ItemType.BEHAVIOR_NOTE,
    "ExerciseResult": ItemType.EXERCISE_RESULT,
}
KNOWN_SCHEMA_VERSIONS: Mapping[ItemType, frozenset[int]] = {
    ItemType.EVALUATION: frozenset({1, 2}),
    ItemType.BEHAVIOR_NOTE: frozenset({1}),
    ItemType.EXERCISE_RESULT: frozenset({1}),
}
# Item types that are deliberately not analytics facts (catalog, roster, rules, bookkeeping).
NOT_LAKE_TYPES = frozenset(
    {
        "Student",
        "Subject",
        "Course",
        "GradingRule",
        "Idempotency",
        # The grade lifecycle's private items: a grade's history is the rows of its versions here.
        "EvaluationChange",
        "Assignment",
        "Term",
        "GovSyncRun",
        "GovSyncBatch",
        "GovSyncRecord",
        "GovSyncAudit",
        "GovSyncBreaker",
        # The platform's school record (the tenant lifecycle): who the school is, not a fact of it.
        "School",
    }
)


class SkipReason(StrEnum):
    REMOVE = "remove"  # a deletion (TTL expiry or otherwise): the lake keeps everything
    NOT_A_FACT = "not_a_fact"  # an item type that is deliberately not in the lake
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_SCHEMA_VERSION = "unknown_schema_version"
    MALFORMED = "malformed"  # a known type missing what it must have


@dataclass(frozen=True, slots=True)
class Skip:
    reason: SkipReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LakeRow:
    """``luca.analytics.v1.LakeRecord`` as plain values; the Parquet columns are its fields."""

    school_id: str
    year: int
    month: int
    item_type: str
    change: str
    changed_at: datetime
    record_id: str
    student_key: str
    course_id: str
    subject_id: str
    term_id: str
    score: float | None
    weight: float | None
    behavior_kind: str
    passing: bool | None
    occurred_at: datetime
    source_schema_version: int
    # A record's state (0008); the defaults are those of a record that has no versions.
    version: int = 1
    retracted: bool = False
    sequence_number: str = ""
    # The request that wrote the item's state (empty when the item has none): what `luca trace` follows.
    correlation_id: str = ""


# DynamoDB Streams' sequence numbers are decimal strings of at most 40 digits.
SEQUENCE_DIGITS = 40


def sequence_key(sequence_number: str) -> str:
    """The stream sequence number padded so that comparing the text compares the numbers; empty
    when there is none (or it is not one), which sorts first."""
    digits = sequence_number.isascii() and sequence_number.isdigit()
    if not digits or len(sequence_number) > SEQUENCE_DIGITS:
        return ""
    return sequence_number.zfill(SEQUENCE_DIGITS)


def student_key(key: bytes, school_id: str, student_id: str) -> str:
    """The pseudonym of a student in the lake: the same for the same student of the same school."""
    if not key:
        raise ValueError("the pseudonymisation key is empty")
    return hmac.new(key, f"{school_id}#{student_id}".encode(), hashlib.sha256).hexdigest()


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def flatten(
    change: str,
    image: Mapping[str, Any] | None,
    changed_at: datetime,
    key: bytes,
    sequence_number: str = "",
) -> LakeRow | Skip:
    """One stream change as a lake row, or why it is skipped. ``sequence_number``: the stream
    record's, which orders two rows of the same record and version."""
    if change not in LAKE_CHANGES:
        return Skip(SkipReason.REMOVE if change == "REMOVE" else SkipReason.MALFORMED, change)
    if not image:
        return Skip(SkipReason.MALFORMED, "no new image")
    raw_type = image.get("type")
    if not isinstance(raw_type, str):
        return Skip(SkipReason.UNKNOWN_TYPE, "no type")
    if raw_type in NOT_LAKE_TYPES:
        return Skip(SkipReason.NOT_A_FACT, raw_type)
    item_type = LAKE_TYPES.get(raw_type)
    if item_type is None:
        return Skip(SkipReason.UNKNOWN_TYPE, raw_type[:64])
    schema = image.get("schema_version")
    try:
        schema_version = int(schema)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return Skip(SkipReason.UNKNOWN_SCHEMA_VERSION, f"{raw_type} {schema!r}")
    if schema_version not in KNOWN_SCHEMA_VERSIONS[item_type]:
        return Skip(SkipReason.UNKNOWN_SCHEMA_VERSION, f"{raw_type} v{schema_version}")
    try:
        return _row(item_type, change, image, changed_at, key, schema_version, sequence_key(sequence_number))
    except (KeyError, ValueError, TypeError) as exc:
        return Skip(SkipReason.MALFORMED, f"{raw_type}: {exc}"[:200])


def _grade_version(image: Mapping[str, Any], schema_version: int) -> int:
    """An evaluation's version: schema v1 has none (version 1); from v2 on it is required."""
    if schema_version == 1 and image.get("version") is None:
        return 1
    value = image["version"]
    whole = isinstance(value, int) or (
        isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()
    )
    if isinstance(value, bool) or not whole or value < 1:
        raise ValueError("version is not a positive integer")
    return int(value)


def _retracted(image: Mapping[str, Any]) -> bool:
    value = image.get("retracted")
    if value is None:
        return False
    if not isinstance(value, bool):
        # Anything but a boolean could read as true and hide an official grade: refused.
        raise ValueError("retracted is not a boolean")
    return value


def _row(
    item_type: ItemType,
    change: str,
    image: Mapping[str, Any],
    changed_at: datetime,
    key: bytes,
    schema_version: int,
    sequence: str,
) -> LakeRow:
    school, student = str(image["school_id"]), str(image["student_id"])
    if item_type is ItemType.EVALUATION:
        occurred, record_id = _timestamp(image["recorded_at"]), str(image["evaluation_id"])
    elif item_type is ItemType.BEHAVIOR_NOTE:
        occurred, record_id = _timestamp(image["recorded_at"]), str(image["note_id"])
    else:
        occurred, record_id = _timestamp(image["occurred_at"]), str(image["event_id"])
    if not school or not student or not record_id:
        raise ValueError("school, student and id are required")
    passing = image.get("passing") if item_type is ItemType.EXERCISE_RESULT else None
    evaluation = item_type is ItemType.EVALUATION
    version = _grade_version(image, schema_version) if evaluation else 1
    # A tombstone: the grade no longer counts anywhere, so its values are not kept.
    retracted = _retracted(image) if evaluation else False
    return LakeRow(
        school_id=school,
        year=occurred.year,
        month=occurred.month,
        item_type=item_type.value,
        change=change,
        changed_at=changed_at.astimezone(UTC),
        record_id=record_id,
        student_key=student_key(key, school, student),
        course_id=str(image.get("course_id") or ""),
        subject_id=str(image.get("subject_id") or ""),
        term_id=str(image.get("term_id") or "") if evaluation else "",
        score=None if item_type is ItemType.BEHAVIOR_NOTE or retracted else _number(image.get("score")),
        weight=_number(image.get("weight")) if evaluation and not retracted else None,
        behavior_kind=str(image.get("kind") or "") if item_type is ItemType.BEHAVIOR_NOTE else "",
        passing=bool(passing) if isinstance(passing, bool) else None,
        occurred_at=occurred,
        source_schema_version=schema_version,
        version=version,
        retracted=retracted,
        sequence_number=sequence,
        correlation_id=_correlation(image.get("correlation_id")),
    )


def _correlation(value: Any) -> str:
    # An id is a short token (the edge sanitizes it); anything else is not carried into the lake.
    return value if isinstance(value, str) and len(value) <= MAX_CORRELATION_ID else ""
