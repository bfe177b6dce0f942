"""The sync's own items (``table_design``) and how they map to the domain and back.

A ``GovSyncRecord`` keeps what the ministry holds of one record: the verdict on its submission
(``status``, and ``version``, the version judged), the version an accepted amendment moved it to
(``version`` again), whether the ministry took its retraction (``retracted``), and the ministry's
last answer to a change (``change_*``: kind, version, status, reason, whether it was a replay), so
a retry sends only the changes still unanswered and a later run never resends an answered one.
Items written before changes existed read as version 1, no change answered.
"""

from __future__ import annotations

from typing import Any

from luca_govsync.adapters import table_design as td
from luca_govsync.domain.changes import ChangeOutcome, Held
from luca_govsync.domain.model import BatchRef, BatchState, BatchStatus, RecordOutcome, RecordStatus
from luca_govsync.domain.tally import ChangeKind, ChangeTally
from luca_platform.table.codec import to_wire
from luca_platform.table.keys import TABLE_PARTITION_KEY, TABLE_SORT_KEY

MAX_REASON = 300


def record_key(school_id: str, period: str, record_id: str) -> dict[str, Any]:
    return {
        TABLE_PARTITION_KEY: td.govsync_pk(school_id, period),
        TABLE_SORT_KEY: td.govsync_record_sk(record_id),
    }


def record_item(ref: BatchRef, outcome: RecordOutcome, now: str) -> dict[str, Any]:
    """The verdict on a record's submission (a whole item: a record is submitted in one batch)."""
    return {
        **record_key(ref.school_id, ref.period, outcome.record_id),
        "type": "GovSyncRecord",
        "school_id": ref.school_id,
        "period": ref.period,
        "record_id": outcome.record_id,
        "student_id": outcome.student_id,
        "status": outcome.status.value,
        # The version judged: what an accepted record's amendments start from.
        "version": outcome.version,
        "reason_code": outcome.reason_code or None,
        "reason": outcome.reason or None,
        "client_batch_id": ref.client_batch_id,
        "sync_id": ref.sync_id,
        "decided_at": now,
    }


def change_answer_update(ref: BatchRef, outcome: ChangeOutcome, now: str) -> dict[str, Any]:
    """The UpdateItem arguments (wire form) that store the ministry's answer to a change on the
    record's item."""
    values: dict[str, Any] = {
        ":kind": outcome.kind.value,
        ":version": outcome.version,
        ":status": outcome.status.value,
        ":code": outcome.reason_code,
        ":reason": outcome.reason[:MAX_REASON],
        ":replayed": outcome.replayed,
        ":batch": ref.client_batch_id,
        ":sync": ref.sync_id,
        ":now": now,
    }
    expression = (
        "SET change_kind = :kind, change_version = :version, change_status = :status, "
        "change_reason_code = :code, change_reason = :reason, change_replayed = :replayed, "
        "change_batch_id = :batch, change_sync_id = :sync, changed_at = :now"
    )
    update: dict[str, Any] = {}
    if outcome.status is RecordStatus.ACCEPTED:
        # What the ministry holds now: this version, or the record's retraction.
        expression += ", #version = :version"
        update["ExpressionAttributeNames"] = {"#version": "version"}
        if outcome.kind is ChangeKind.RETRACTION:
            expression += ", retracted = :retracted"
            values[":retracted"] = True
    return {"UpdateExpression": expression, "ExpressionAttributeValues": to_wire(values), **update}


def held_from(item: dict[str, Any]) -> Held:
    kind, version = item.get("change_kind"), item.get("change_version")
    return Held(
        record_id=str(item["record_id"]),
        status=RecordStatus(str(item["status"])),
        version=int(item.get("version", 1)),
        retracted=bool(item.get("retracted", False)),
        judged=(ChangeKind(str(kind)), int(version)) if kind and version else None,
    )


def change_outcome_from(item: dict[str, Any]) -> ChangeOutcome:
    return ChangeOutcome(
        record_id=str(item["record_id"]),
        student_id=str(item.get("student_id", "")),
        kind=ChangeKind(str(item["change_kind"])),
        version=int(item["change_version"]),
        status=RecordStatus(str(item["change_status"])),
        reason_code=str(item.get("change_reason_code", "") or ""),
        reason=str(item.get("change_reason", "") or ""),
        replayed=bool(item.get("change_replayed", False)),
    )


def rejection(outcome: RecordOutcome, prefix: str = "") -> dict[str, Any]:
    """A rejection as a batch item lists it (the report reads these, never the records)."""
    return {
        "record_id": outcome.record_id,
        "student_id": outcome.student_id,
        "reason_code": outcome.reason_code,
        "reason": f"{prefix}{outcome.reason}"[:MAX_REASON],
    }


def batch_key(ref: BatchRef) -> dict[str, Any]:
    return {
        TABLE_PARTITION_KEY: td.govsync_pk(ref.school_id, ref.period),
        TABLE_SORT_KEY: td.govsync_batch_sk(ref.sync_id, ref.number),
    }


def ref_attributes(ref: BatchRef) -> dict[str, Any]:
    return {"type": "GovSyncBatch", **ref.to_json()}


def batch_state_from(item: dict[str, Any]) -> BatchState:
    ref = BatchRef.from_json(item)
    return BatchState(
        ref=ref,
        status=BatchStatus(str(item.get("status", BatchStatus.PENDING.value))),
        attempts=int(item.get("attempts", 0)),
        last_error=str(item.get("last_error", "") or ""),
        accepted=int(item.get("accepted", 0)),
        rejected=int(item.get("rejected", 0)),
        updated_at=str(item.get("updated_at", "")),
        rejections=tuple(
            RecordOutcome(
                record_id=str(r["record_id"]),
                student_id=str(r.get("student_id", "")),
                status=RecordStatus.REJECTED,
                reason_code=str(r.get("reason_code", "")),
                reason=str(r.get("reason", "")),
            )
            for r in item.get("rejections") or []
        ),
        changes=ChangeTally.from_json(item.get("changes")),
    )
