"""How the grading service's records map to table items and back (keys from ``table_design``)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from luca_grading.adapters import table_design as td
from luca_grading.domain.model import (
    Assignment,
    BehaviorKind,
    BehaviorNote,
    ChangeKind,
    Evaluation,
    EvaluationChange,
    GradeValues,
)
from luca_grading.service_layer.ports import IdempotencyRecord
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_platform.contracts import grades
from luca_platform.table.codec import parse_timestamp, timestamp
from luca_platform.table.keys import (
    COURSE_TERM_INDEX,
    SCHOOL_TERM_INDEX,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    TTL_ATTRIBUTE,
    unrooted_pk,
)

SCHEMA_VERSION = 1


def evaluation_item(evaluation: Evaluation) -> dict[str, Any]:
    recorded = timestamp(evaluation.recorded_at)
    s, st = evaluation.school_id, evaluation.student_id
    return {
        TABLE_PARTITION_KEY: td.student_pk(s, st),
        TABLE_SORT_KEY: td.evaluation_sk(
            evaluation.term_id, evaluation.subject_id, recorded, evaluation.evaluation_id
        ),
        COURSE_TERM_INDEX.partition_key: td.course_term_pk(s, evaluation.course_id, evaluation.term_id),
        COURSE_TERM_INDEX.sort_key: f"SUBJECT#{evaluation.subject_id}#STUDENT#{st}#{evaluation.evaluation_id}",
        SCHOOL_TERM_INDEX.partition_key: td.school_term_pk(s, evaluation.term_id),
        SCHOOL_TERM_INDEX.sort_key: f"STUDENT#{st}#{evaluation.evaluation_id}",
        "type": grades.EVALUATION.type_name,
        "schema_version": grades.EVALUATION.schema_version,
        "school_id": s,
        "evaluation_id": evaluation.evaluation_id,
        "student_id": st,
        "course_id": evaluation.course_id,
        "subject_id": evaluation.subject_id,
        "term_id": evaluation.term_id,
        "score": evaluation.score,
        "weight": evaluation.weight,
        "teacher_id": evaluation.teacher_id,
        "recorded_at": recorded,
        "description": evaluation.description or None,
        "version": evaluation.version,
        "retracted": True if evaluation.retracted else None,
        "updated_at": timestamp(evaluation.updated_at) if evaluation.updated_at else None,
        "updated_by": evaluation.updated_by or None,
        "change_reason": evaluation.change_reason or None,
        "correlation_id": evaluation.correlation_id or None,
        # Private bookkeeping (not in the published contract): what a retry's body is compared with.
        "request_fingerprint": evaluation.request_fingerprint or None,
    }


# What evaluation_from reads: listings ask for these only (index keys and bookkeeping stay behind).
EVALUATION_ATTRIBUTES = (
    "school_id", "evaluation_id", "student_id", "course_id", "subject_id", "term_id", "score", "weight",
    "teacher_id", "recorded_at", "description", "version", "retracted", "updated_at", "updated_by",
    "change_reason",
)  # fmt: skip
# What a change reads: the listings' attributes and what the rewritten item must keep.
EVALUATION_CHANGE_ATTRIBUTES = (*EVALUATION_ATTRIBUTES, "correlation_id", "request_fingerprint")


def evaluation_from(item: Mapping[str, Any]) -> Evaluation:
    return Evaluation(
        school_id=SchoolId(item["school_id"]),
        evaluation_id=item["evaluation_id"],
        student_id=StudentId(item["student_id"]),
        course_id=CourseId(item["course_id"]),
        subject_id=SubjectId(item["subject_id"]),
        term_id=TermId(item["term_id"]),
        score=Decimal(item["score"]),
        weight=Decimal(item["weight"]),
        teacher_id=TeacherId(item["teacher_id"]),
        recorded_at=parse_timestamp(item["recorded_at"]),
        description=item.get("description", ""),
        version=grades.version_of(item),
        retracted=grades.is_retracted(item),
        updated_at=parse_timestamp(item["updated_at"]) if item.get("updated_at") else None,
        updated_by=item.get("updated_by") or "",
        change_reason=item.get("change_reason") or "",
        correlation_id=item.get("correlation_id") or "",
        request_fingerprint=item.get("request_fingerprint") or "",
    )


def note_item(note: BehaviorNote) -> dict[str, Any]:
    recorded = timestamp(note.recorded_at)
    return {
        TABLE_PARTITION_KEY: td.student_pk(note.school_id, note.student_id),
        TABLE_SORT_KEY: td.note_sk(recorded, note.note_id),
        "type": "BehaviorNote",
        "schema_version": SCHEMA_VERSION,
        "school_id": note.school_id,
        "note_id": note.note_id,
        "student_id": note.student_id,
        "course_id": note.course_id,
        "kind": note.kind.value,
        "text": note.text,
        "teacher_id": note.teacher_id,
        "recorded_at": recorded,
    }


def note_from(item: Mapping[str, Any]) -> BehaviorNote:
    return BehaviorNote(
        school_id=SchoolId(item["school_id"]),
        note_id=item["note_id"],
        student_id=StudentId(item["student_id"]),
        course_id=CourseId(item["course_id"]),
        kind=BehaviorKind(item["kind"]),
        text=item["text"],
        teacher_id=TeacherId(item["teacher_id"]),
        recorded_at=parse_timestamp(item["recorded_at"]),
    )


def idempotency_item(school_id: SchoolId, record: IdempotencyRecord, now: float) -> dict[str, Any]:
    pk = td.idempotency_pk(school_id, record.scope, record.key)
    return {
        TABLE_PARTITION_KEY: pk,
        TABLE_SORT_KEY: td.IDEMPOTENCY_SK,
        # Nothing else points at this partition: the index is how the school's erasure finds it.
        SCHOOL_TERM_INDEX.partition_key: unrooted_pk(school_id),
        SCHOOL_TERM_INDEX.sort_key: pk,
        "type": "Idempotency",
        "schema_version": SCHEMA_VERSION,
        "school_id": school_id,
        "scope": record.scope,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "result_ref": record.result_ref,
        TTL_ATTRIBUTE: int(now) + td.IDEMPOTENCY_TTL_SECONDS,
    }


def _idempotency(item: Mapping[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=item["scope"], key=item["key"], fingerprint=item["fingerprint"], result_ref=item["result_ref"]
    )


def change_item(change: EvaluationChange) -> dict[str, Any]:
    return {
        TABLE_PARTITION_KEY: td.student_pk(change.school_id, change.student_id),
        TABLE_SORT_KEY: td.history_sk(change.evaluation_id, change.version),
        "type": "EvaluationChange",
        "schema_version": SCHEMA_VERSION,
        "school_id": change.school_id,
        "evaluation_id": change.evaluation_id,
        "student_id": change.student_id,
        "version": change.version,
        "kind": change.kind.value,
        "changed_by": change.changed_by,
        "changed_at": timestamp(change.changed_at),
        "reason": change.reason,
        "correlation_id": change.correlation_id or None,
        "request_key": change.request_key or None,
        "request_fingerprint": change.request_fingerprint or None,
        **_values("before", change.before),
        **_values("after", change.after),
    }


def _values(prefix: str, values: GradeValues) -> dict[str, Any]:
    return {
        f"{prefix}_score": values.score,
        f"{prefix}_weight": values.weight,
        f"{prefix}_description": values.description or None,
    }


def _values_from(prefix: str, item: Mapping[str, Any]) -> GradeValues:
    return GradeValues(
        Decimal(item[f"{prefix}_score"]),
        Decimal(item[f"{prefix}_weight"]),
        item.get(f"{prefix}_description") or "",
    )


def change_from(item: Mapping[str, Any]) -> EvaluationChange:
    return EvaluationChange(
        school_id=SchoolId(item["school_id"]),
        evaluation_id=item["evaluation_id"],
        student_id=StudentId(item["student_id"]),
        version=int(item["version"]),
        kind=ChangeKind(item["kind"]),
        changed_by=item["changed_by"],
        changed_at=parse_timestamp(item["changed_at"]),
        reason=item["reason"],
        before=_values_from("before", item),
        after=_values_from("after", item),
        correlation_id=item.get("correlation_id") or "",
        request_key=item.get("request_key") or "",
        request_fingerprint=item.get("request_fingerprint") or "",
    )


def assignment_item(assignment: Assignment) -> dict[str, Any]:
    s = assignment.school_id
    return {
        TABLE_PARTITION_KEY: td.teacher_pk(s, assignment.teacher_id),
        TABLE_SORT_KEY: td.assignment_sk(assignment.course_id, assignment.subject_id),
        COURSE_TERM_INDEX.partition_key: td.course_roster_pk(s, assignment.course_id),
        COURSE_TERM_INDEX.sort_key: td.course_teacher_sk(assignment.teacher_id, assignment.subject_id),
        "type": "Assignment",
        "schema_version": SCHEMA_VERSION,
        "school_id": s,
        "teacher_id": assignment.teacher_id,
        "course_id": assignment.course_id,
        "subject_id": assignment.subject_id,
        "assigned_at": timestamp(assignment.assigned_at),
        "assigned_by": assignment.assigned_by,
    }


def assignment_from(item: Mapping[str, Any]) -> Assignment:
    return Assignment(
        school_id=SchoolId(item["school_id"]),
        teacher_id=TeacherId(item["teacher_id"]),
        course_id=CourseId(item["course_id"]),
        subject_id=SubjectId(item["subject_id"]),
        assigned_at=parse_timestamp(item["assigned_at"]),
        assigned_by=item["assigned_by"],
    )
