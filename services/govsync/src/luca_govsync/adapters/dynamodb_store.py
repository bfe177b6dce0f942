"""The sync's state in the platform's one table, through per-school sessions.

Every call goes through ``AwsClients.dynamodb_for(school)``: a session whose IAM policy allows only
keys starting with ``SCHOOL#<school>#``; and every key is built by ``table_design`` from the school
the task was given, so a task working for one school cannot read or write another's. (What the
sync reads of the grading service's items is in ``dynamodb_contracts``.)

A record's item keeps what the ministry holds of it: the verdict on its submission, the version it
holds (raised by an accepted amendment), whether it took its retraction, and its last answer to a
change (so a retry sends only the changes still unanswered).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from luca_govsync.adapters import sync_items as si
from luca_govsync.adapters import table_design as td
from luca_govsync.domain.changes import ChangeOutcome, GradeChange, Held, tally
from luca_govsync.domain.model import (
    Attempt,
    AuditEntry,
    BatchKind,
    BatchRef,
    BatchState,
    BatchStatus,
    RecordOutcome,
    RecordStatus,
    SyncProgress,
    SyncStatus,
)
from luca_platform.aws import AwsClients
from luca_platform.table.codec import from_wire, to_wire
from luca_platform.table.keys import SEP, TABLE_PARTITION_KEY, TABLE_SORT_KEY

BATCH_WRITE_LIMIT = 25  # DynamoDB's; the emulator accepts more, so we enforce it here
BATCH_GET_LIMIT = 100


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


class DynamoSyncStore:
    def __init__(self, clients: AwsClients, table_name: str) -> None:
        self._clients, self._table = clients, table_name

    # -- reads -------------------------------------------------------------------------------------
    def _partition(self, school_id: str, period: str, prefix: str) -> list[dict[str, Any]]:
        client = self._clients.dynamodb_for(school_id)
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY, "#sk": TABLE_SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": td.govsync_pk(school_id, period)},
                ":prefix": {"S": prefix},
            },
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            page = client.query(**request)
            items.extend(from_wire(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def held(self, school_id: str, period: str) -> dict[str, Held]:
        return {
            str(item["record_id"]): si.held_from(item)
            for item in self._partition(school_id, period, td.GOVSYNC_RECORD_PREFIX)
        }

    def change_outcomes(self, ref: BatchRef, changes: Sequence[GradeChange]) -> dict[str, ChangeOutcome]:
        wanted = {c.record.record_id: c for c in changes}
        found: dict[str, ChangeOutcome] = {}
        for item in self._records(ref.school_id, ref.period, list(wanted)):
            asked = wanted[str(item["record_id"])]
            if (
                item.get("change_kind") == asked.kind.value
                and int(item.get("change_version", 0)) == asked.version
            ):
                found[asked.record.record_id] = si.change_outcome_from(item)
        return found

    def _records(self, school_id: str, period: str, record_ids: list[str]) -> list[dict[str, Any]]:
        client = self._clients.dynamodb_for(school_id)
        items: list[dict[str, Any]] = []
        for start in range(0, len(record_ids), BATCH_GET_LIMIT):
            keys: list[Any] = [
                to_wire(si.record_key(school_id, period, record_id))
                for record_id in record_ids[start : start + BATCH_GET_LIMIT]
            ]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            delay = 0.05
            while request:
                answer = client.batch_get_item(RequestItems=request)
                items.extend(from_wire(item) for item in answer.get("Responses", {}).get(self._table, []))
                request = dict(answer.get("UnprocessedKeys") or {})
                if request:
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
        return items

    def batch_states(self, school_id: str, period: str, sync_id: str) -> list[BatchState]:
        prefix = f"{td.GOVSYNC_BATCH_PREFIX}{sync_id}{SEP}"
        return [si.batch_state_from(item) for item in self._partition(school_id, period, prefix)]

    def runs(self, school_id: str, period: str) -> list[dict[str, Any]]:
        """The period's runs of the school's sync, most recent first."""
        runs = self._partition(school_id, period, td.GOVSYNC_RUN_PREFIX)
        return sorted(runs, key=lambda run: str(run.get("started_at", "")), reverse=True)

    def sync_ids(self, school_id: str, period: str) -> list[str]:
        return [str(run["sync_id"]) for run in self.runs(school_id, period)]

    def progress(self, school_id: str, period: str, sync_id: str | None = None) -> SyncProgress | None:
        runs = self.runs(school_id, period)
        run = next((r for r in runs if sync_id is None or r["sync_id"] == sync_id), None)
        if run is None:
            return None
        # Batch items carry their counts and their rejections: progress never reads the records.
        batches = tuple(self.batch_states(school_id, period, str(run["sync_id"])))
        submitted = [
            b for b in batches if b.status is BatchStatus.DONE and b.ref.kind is BatchKind.SUBMISSION
        ]
        accepted = sum(batch.accepted for batch in submitted)
        rejected = tuple(r for batch in submitted for r in batch.rejections)
        return SyncProgress(
            school_id=school_id,
            period=period,
            sync_id=str(run["sync_id"]),
            status=SyncStatus(str(run.get("status", SyncStatus.RUNNING.value))),
            batches=batches,
            records_total=int(run.get("records", 0)),
            accepted=accepted,
            rejected=rejected,
            started_by=str(run.get("started_by", "")),
            started_at=str(run.get("started_at", "")),
            finished_at=str(run.get("finished_at", "") or ""),
        )

    # -- writes ------------------------------------------------------------------------------------
    def start_run(self, school_id: str, period: str, sync_id: str, started_by: str, records: int) -> None:
        self._put(
            school_id,
            {
                TABLE_PARTITION_KEY: td.govsync_pk(school_id, period),
                TABLE_SORT_KEY: td.govsync_run_sk(sync_id),
                "type": "GovSyncRun",
                "school_id": school_id,
                "period": period,
                "sync_id": sync_id,
                "status": SyncStatus.RUNNING.value,
                "started_by": started_by,
                "started_at": now_iso(),
                "records": records,
            },
        )

    def put_batches(self, refs: Sequence[BatchRef]) -> None:
        for ref in refs:
            item = {**si.batch_key(ref), **si.ref_attributes(ref)}
            item.update({"status": BatchStatus.PENDING.value, "attempts": 0, "updated_at": now_iso()})
            client = self._clients.dynamodb_for(ref.school_id)
            try:
                client.put_item(
                    TableName=self._table,
                    Item=to_wire(item),
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": TABLE_PARTITION_KEY},
                )
            except client.exceptions.ConditionalCheckFailedException:
                continue  # a re-run of prepare: the batch keeps the state it has

    def _update(
        self, ref: BatchRef, expression: str, values: dict[str, Any], names: dict[str, str]
    ) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_wire(si.batch_key(ref)),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": to_wire(values),
            "ReturnValues": "ALL_NEW",
        }
        if names:  # DynamoDB refuses an empty (or unused) name map
            request["ExpressionAttributeNames"] = names
        answer = self._clients.dynamodb_for(ref.school_id).update_item(**request)
        return from_wire(answer.get("Attributes", {}))

    def begin_attempt(self, ref: BatchRef) -> Attempt:
        # The first attempt is "submitting"; any later one means the earlier failed: "retrying".
        item = self._update(
            ref,
            "ADD attempts :one SET #status = if_not_exists(#status, :submitting), updated_at = :now, "
            + ", ".join(f"#{name} = :{name}" for name in si.ref_attributes(ref)),
            {":one": 1, ":submitting": BatchStatus.SUBMITTING.value, ":now": now_iso()}
            | {f":{name}": value for name, value in si.ref_attributes(ref).items()},
            {"#status": "status"} | {f"#{name}": name for name in si.ref_attributes(ref)},
        )
        attempts = int(item.get("attempts", 1))
        status = BatchStatus.SUBMITTING if attempts == 1 else BatchStatus.RETRYING
        if item.get("status") != status.value and item.get("status") not in (BatchStatus.DONE.value,):
            self._update(ref, "SET #status = :status", {":status": status.value}, {"#status": "status"})
        return Attempt(attempts, answer_lost=bool(item.get("answer_lost", False)))

    def attempt_failed(self, ref: BatchRef, error: str, *, answer_lost: bool = False) -> None:
        self._update(
            ref,
            "SET #status = :retrying, last_error = :error, answer_lost = :lost, updated_at = :now",
            {
                ":retrying": BatchStatus.RETRYING.value,
                ":error": error[:1000],
                ":lost": answer_lost,
                ":now": now_iso(),
            },
            {"#status": "status"},
        )

    def batch_done(self, ref: BatchRef, outcomes: Sequence[RecordOutcome]) -> None:
        now = now_iso()
        self._batch_write(ref.school_id, [si.record_item(ref, outcome, now) for outcome in outcomes])
        accepted = sum(1 for outcome in outcomes if outcome.status is RecordStatus.ACCEPTED)
        rejections = [
            si.rejection(outcome) for outcome in outcomes if outcome.status is RecordStatus.REJECTED
        ]
        self._update(
            ref,
            "SET #status = :done, accepted = :accepted, rejected = :rejected, rejections = :rejections, "
            "updated_at = :now REMOVE last_error, answer_lost",
            {
                ":done": BatchStatus.DONE.value,
                ":accepted": accepted,
                ":rejected": len(outcomes) - accepted,
                ":rejections": rejections,
                ":now": now,
            },
            {"#status": "status"},
        )

    def record_changes(
        self, ref: BatchRef, outcomes: Sequence[ChangeOutcome], so_far: Sequence[ChangeOutcome]
    ) -> None:
        client = self._clients.dynamodb_for(ref.school_id)
        now = now_iso()
        for outcome in outcomes:
            client.update_item(
                TableName=self._table,
                Key=to_wire(si.record_key(ref.school_id, ref.period, outcome.record_id)),
                **si.change_answer_update(ref, outcome, now),
            )
        self._update(
            ref,
            "SET changes = :tally, updated_at = :now",
            {":tally": tally(so_far).to_json(), ":now": now},
            {},
        )

    def changes_done(self, ref: BatchRef, outcomes: Sequence[ChangeOutcome]) -> None:
        rejections = [
            si.rejection(o.as_record_outcome(), f"{o.kind.value} to version {o.version}: ")
            for o in outcomes
            if o.status is RecordStatus.REJECTED
        ]
        self._update(
            ref,
            "SET #status = :done, accepted = :accepted, rejected = :rejected, rejections = :rejections, "
            "changes = :tally, updated_at = :now REMOVE last_error, answer_lost",
            {
                ":done": BatchStatus.DONE.value,
                ":accepted": len(outcomes) - len(rejections),
                ":rejected": len(rejections),
                ":rejections": rejections,
                ":tally": tally(outcomes).to_json(),
                ":now": now_iso(),
            },
            {"#status": "status"},
        )

    def batch_failed(self, ref: BatchRef, error: str) -> None:
        self._update(
            ref,
            "SET #status = :failed, last_error = :error, updated_at = :now",
            {":failed": BatchStatus.FAILED.value, ":error": error[:1000], ":now": now_iso()},
            {"#status": "status"},
        )

    def audit(self, entry: AuditEntry) -> None:
        at = entry.at or now_iso()
        self._put(
            entry.school_id,
            {
                TABLE_PARTITION_KEY: td.govsync_pk(entry.school_id, entry.period),
                TABLE_SORT_KEY: td.govsync_audit_sk(at, entry.step, uuid.uuid4().hex),
                "type": "GovSyncAudit",
                "school_id": entry.school_id,
                "period": entry.period,
                "sync_id": entry.sync_id,
                "step": entry.step,
                "actor": entry.actor,
                "what": entry.what,
                "outcome": entry.outcome,
                "at": at,
                # Absent rather than empty when the step had no request (DynamoDB keeps no "").
                **({"correlation_id": entry.correlation_id} if entry.correlation_id else {}),
            },
        )

    def audit_trail(self, school_id: str, period: str) -> list[dict[str, Any]]:
        return self._partition(school_id, period, td.GOVSYNC_AUDIT_PREFIX)

    def finish_run(self, progress: SyncProgress) -> None:
        client = self._clients.dynamodb_for(progress.school_id)
        client.update_item(
            TableName=self._table,
            Key=to_wire(
                {
                    TABLE_PARTITION_KEY: td.govsync_pk(progress.school_id, progress.period),
                    TABLE_SORT_KEY: td.govsync_run_sk(progress.sync_id),
                }
            ),
            UpdateExpression="SET #status = :status, finished_at = :finished, accepted = :accepted, rejected = :rejected",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_wire(
                {
                    ":status": progress.status.value,
                    ":finished": progress.finished_at or now_iso(),
                    ":accepted": progress.accepted,
                    ":rejected": len(progress.rejected),
                }
            ),
        )

    # -- plumbing ----------------------------------------------------------------------------------
    def _put(self, school_id: str, item: dict[str, Any]) -> None:
        self._clients.dynamodb_for(school_id).put_item(
            TableName=self._table, Item=to_wire({k: v for k, v in item.items() if v is not None})
        )

    def _batch_write(self, school_id: str, items: list[dict[str, Any]]) -> None:
        """Overwrite-idempotent puts (deterministic keys), 25 a call, unprocessed items retried with backoff."""
        client = self._clients.dynamodb_for(school_id)
        for start in range(0, len(items), BATCH_WRITE_LIMIT):
            requests: list[Any] = [
                {"PutRequest": {"Item": to_wire({k: v for k, v in item.items() if v is not None})}}
                for item in items[start : start + BATCH_WRITE_LIMIT]
            ]
            delay = 0.05
            while requests:
                answer = client.batch_write_item(RequestItems={self._table: requests})
                requests = list(answer.get("UnprocessedItems", {}).get(self._table, []))
                if requests:
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
