"""What the ministry client sends: request bodies and paths as the contract
(``luca_govsync/ministry/openapi.yaml``) defines them, and the checks that keep a request the
contract would refuse from being sent at all (``ValueError``: a bug, never a ministry error)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from luca_govsync.domain.model import GradeRecord
from luca_govsync.domain.tally import ChangeKind
from luca_govsync.ministry import (
    BATCHES_PATH,
    ID_PATTERN,
    MAX_RECORDS_PER_BATCH,
    SCHOOL_CODE_PATTERN,
    change_path,
)

_ID = re.compile(ID_PATTERN)
_SCHOOL_CODE = re.compile(SCHOOL_CODE_PATTERN)


def submission(
    client_batch_id: str, school_code: str, period: str, records: Sequence[GradeRecord]
) -> dict[str, Any]:
    if not client_batch_id or "/" in client_batch_id:
        raise ValueError("a client batch id is a non-empty path segment")
    if not records:
        raise ValueError("a batch holds at least one record")
    if len(records) > MAX_RECORDS_PER_BATCH:
        raise ValueError(f"a batch holds at most {MAX_RECORDS_PER_BATCH} records, not {len(records)}")
    if len({record.record_id for record in records}) != len(records):
        raise ValueError("a record id appears twice in the batch")
    if any(record.period != period for record in records):
        raise ValueError("every record of a batch belongs to the batch's period")
    return {
        "school_code": school_code,
        "period": period,
        "records": [
            {
                "record_id": record.record_id,
                "student_id": record.student_id,
                "course_id": record.course_id,
                "subject_id": record.subject_id,
                "grade": record.score,
                "recorded_at": record.recorded_at,
                # A first version says nothing of it: such a payload (and so its replay) stays
                # what it was before grades had versions.
                **({"version": record.version} if record.version > 1 else {}),
            }
            for record in records
        ],
    }


def change(kind: ChangeKind, client_change_id: str, school_code: str, record: GradeRecord) -> dict[str, Any]:
    """An amendment carries the record's later version in full; a retraction only its version."""
    if not _ID.match(client_change_id) or not _ID.match(record.record_id):
        raise ValueError("a change id and a record id are path segments the contract allows")
    if not _SCHOOL_CODE.match(school_code):
        raise ValueError("a school code is a path segment the contract allows")
    if record.version < 2:
        raise ValueError("a change names a later version than the first")
    if kind is ChangeKind.RETRACTION:
        return {"version": record.version}
    return {
        "version": record.version,
        "student_id": record.student_id,
        "course_id": record.course_id,
        "subject_id": record.subject_id,
        "grade": record.score,
        "recorded_at": record.recorded_at,
    }


def change_request_path(
    kind: ChangeKind, client_change_id: str, school_code: str, record: GradeRecord
) -> str:
    return change_path(kind.value, school_code, record.period, record.record_id, client_change_id)


def batch_path(client_batch_id: str) -> str:
    return f"{BATCHES_PATH}/{client_batch_id}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
