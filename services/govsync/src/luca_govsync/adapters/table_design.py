"""The items the government sync owns in the platform's table, and their keys.

| item type     | PK                     | SK                     | TTL |
|---------------|------------------------|------------------------|-----|
| GovSyncRun    | SCHOOL#s#GOVSYNC#period | RUN#sync_id           | no  |
| GovSyncBatch  | SCHOOL#s#GOVSYNC#period | BATCH#sync_id#number  | no  |
| GovSyncRecord | SCHOOL#s#GOVSYNC#period | RECORD#record_id      | no  |
| GovSyncAudit  | SCHOOL#s#GOVSYNC#period | AUDIT#at#step#id      | no  |
| GovSyncBreaker | SCHOOL#s#GOVSYNC#period | BREAKER              | no  |

A school's sync of one period keeps its whole state in one partition (runs, batch states, the
ministry's verdict per record, the audit trail), so its progress is one Query; the audit trail is
the record of what was sent to the government, so none of it expires. The breaker is one small item
the school's batches share (``domain.breaker``), under the school's keys like the rest. No other
service reads them.
"""

from __future__ import annotations

from luca_platform.table.keys import SEP, part, school_key

OWNED_ITEM_TYPES: frozenset[str] = frozenset(
    {"GovSyncRun", "GovSyncBatch", "GovSyncRecord", "GovSyncAudit", "GovSyncBreaker"}
)

GOVSYNC_RUN_PREFIX = f"RUN{SEP}"
GOVSYNC_BATCH_PREFIX = f"BATCH{SEP}"
GOVSYNC_RECORD_PREFIX = f"RECORD{SEP}"
GOVSYNC_AUDIT_PREFIX = f"AUDIT{SEP}"
GOVSYNC_BREAKER_SK = "BREAKER"


def govsync_pk(school_id: str, period: str) -> str:
    """The partition of one school's government sync of one period."""
    return school_key(school_id, "GOVSYNC", period)


def govsync_run_sk(sync_id: str) -> str:
    return f"{GOVSYNC_RUN_PREFIX}{part(sync_id)}"


def govsync_batch_sk(sync_id: str, number: int) -> str:
    return f"{GOVSYNC_BATCH_PREFIX}{part(sync_id)}{SEP}{number:05d}"


def govsync_record_sk(record_id: str) -> str:
    return f"{GOVSYNC_RECORD_PREFIX}{part(record_id)}"


def govsync_audit_sk(at: str, step: str, audit_id: str) -> str:
    return SEP.join(("AUDIT", part(at), part(step), part(audit_id)))
