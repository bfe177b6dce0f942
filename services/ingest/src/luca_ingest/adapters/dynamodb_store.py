"""The processor's table access: one read and one conditional write per school and batch.

Write-call arithmetic (docs/decisions/0002-burst-idempotency.md). BatchWriteItem takes no conditions, so it could only be
idempotent by overwriting deterministic keys, at 25 items a call: two calls for a full batch of 50.
A TransactWriteItems takes 100 actions and a condition on each, so every new result of a school in a
batch goes out in **one** call, each ``Put`` guarded by ``attribute_not_exists(PK)`` on a key derived
from the event id alone. A resent or redelivered event therefore cannot store a second result, nor
overwrite the first with a different body. To keep that one call from being cancelled by events that
are already stored (a resend is common), the batch's single read — a BatchGetItem that also fetches
the students and subjects the events name — drops them first. Per school and batch: one read, one
write; a race with another invocation costs one more write (the cancellation names the items that
now exist). The naive path is one write per event: with full single-school batches that is 50 to 1.

Transactional writes cost twice the write units of plain ones; for the few thousand events of a
recess that is cents, and it buys first-write-wins. Every call is made with the school's own scoped
client (STS session tagged with the school), so a batch mixing schools makes one read and one write
per school, each confined to that school's keys by IAM.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from luca_ingest.adapters import table_design as td
from luca_ingest.domain.events import ExerciseResult, StudentEvent
from luca_ingest.service_layer.ports import SchoolSnapshot, WriteOutcome
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId
from luca_platform.aws import AwsClients
from luca_platform.contracts import exercise_results, roster
from luca_platform.table import guard
from luca_platform.table.codec import from_wire, timestamp, to_wire
from luca_platform.table.keys import TABLE_PARTITION_KEY, TABLE_SORT_KEY, TTL_ATTRIBUTE

ITEM_SCHEMA_VERSION = exercise_results.EXERCISE_RESULT.schema_version
MAX_KEYS_PER_READ = 100  # BatchGetItem
MAX_ACTIONS_PER_WRITE = 100  # TransactWriteItems


def exercise_result_item(result: ExerciseResult) -> dict[str, Any]:
    event, submission = result.event, result.event.submission
    item: dict[str, Any] = {
        TABLE_PARTITION_KEY: roster.student_pk(event.school_id, event.student_id),
        TABLE_SORT_KEY: td.exercise_result_sk(event.event_id),
        "type": exercise_results.EXERCISE_RESULT.type_name,
        "schema_version": ITEM_SCHEMA_VERSION,
        "event_schema_version": event.schema_version,
        "school_id": event.school_id,
        "event_id": event.event_id,
        "student_id": event.student_id,
        "course_id": event.course_id,
        "subject_id": event.subject_id,
        "kind": event.kind.value,
        "exercise_id": submission.exercise_id,
        "occurred_at": timestamp(event.occurred_at),
        "score": result.score,
        "passing": result.passing,
        "graded_at": timestamp(result.graded_at),
        TTL_ATTRIBUTE: int(result.expires_at.timestamp()),
    }
    if submission.total is not None:
        item["answers_correct"] = submission.correct
        item["answers_total"] = submission.total
    if event.correlation_id:
        item["correlation_id"] = event.correlation_id
    return item


class DynamoEventStore:
    def __init__(
        self,
        clients: AwsClients,
        table_name: str,
        *,
        max_attempts: int = 6,
        base_delay_seconds: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clients = clients
        self._table = table_name
        self._max_attempts = max_attempts
        self._base_delay = base_delay_seconds
        self._sleep = sleep
        self.read_calls = 0
        self.write_calls = 0

    # -- read -----------------------------------------------------------------------------------
    def snapshot(self, school_id: SchoolId, events: Sequence[StudentEvent]) -> SchoolSnapshot:
        keys: dict[tuple[str, str], None] = {}
        for event in events:
            keys[(roster.student_pk(school_id, event.student_id), td.exercise_result_sk(event.event_id))] = (
                None
            )
            keys[(roster.student_pk(school_id, event.student_id), roster.STUDENT_SK)] = None
            keys[(roster.catalog_pk(school_id), roster.subject_sk(event.subject_id))] = None
        found = self._batch_get(school_id, list(keys))
        stored: set[tuple[StudentId, str]] = set()
        students: dict[StudentId, CourseId] = {}
        subjects: set[SubjectId] = set()
        for item in found:
            kind = item.get("type")
            if kind == exercise_results.EXERCISE_RESULT.type_name:
                stored.add((StudentId(item["student_id"]), item["event_id"]))
            elif kind == roster.STUDENT.type_name:
                students[StudentId(item["student_id"])] = CourseId(item["course_id"])
            elif kind == roster.SUBJECT.type_name:
                subjects.add(SubjectId(item["subject_id"]))
        return SchoolSnapshot(frozenset(stored), students, frozenset(subjects))

    def _batch_get(self, school_id: SchoolId, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        client = self._clients.dynamodb_for(school_id)
        found: list[dict[str, Any]] = []
        for chunk in _chunks(keys, MAX_KEYS_PER_READ):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [self._key(school_id, pk, sk) for pk, sk in chunk],
                    "ProjectionExpression": "#t, student_id, event_id, course_id, subject_id",
                    "ExpressionAttributeNames": {"#t": "type"},
                }
            }
            for attempt in range(self._max_attempts):
                self.read_calls += 1
                response = client.batch_get_item(RequestItems=request)
                found.extend(from_wire(item) for item in response.get("Responses", {}).get(self._table, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._backoff(attempt)
            else:
                raise RuntimeError(f"BatchGetItem left keys unprocessed after {self._max_attempts} attempts")
        return found

    # -- write ----------------------------------------------------------------------------------
    def write_new(self, school_id: SchoolId, results: Sequence[ExerciseResult]) -> WriteOutcome:
        client = self._clients.dynamodb_for(school_id)
        written: set[tuple[StudentId, str]] = set()
        already: set[tuple[StudentId, str]] = set()
        calls = 0
        for chunk in _chunks(list(results), MAX_ACTIONS_PER_WRITE):
            pending = list(chunk)
            attempt = 0
            while pending:
                items = [exercise_result_item(result) for result in pending]
                for item in items:
                    self._guard(school_id, item[TABLE_PARTITION_KEY])
                calls += 1
                self.write_calls += 1
                try:
                    client.transact_write_items(
                        TransactItems=[
                            {
                                "Put": {
                                    "TableName": self._table,
                                    "Item": to_wire(item),
                                    "ConditionExpression": "attribute_not_exists(#pk)",
                                    "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY},
                                }
                            }
                            for item in items
                        ]
                    )
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                        raise  # botocore already retried throttling; the records are retried later
                    reasons = list(error.response.get("CancellationReasons", []))
                    exists = {
                        i
                        for i, reason in enumerate(reasons)
                        if reason.get("Code") == "ConditionalCheckFailed"
                    }
                    if exists:  # stored meanwhile: no second effect; write the others
                        already.update(_result_key(pending[i]) for i in exists)
                        pending = [result for i, result in enumerate(pending) if i not in exists]
                        continue
                    attempt += 1  # a conflicting transaction on the same items: back off, retry
                    if attempt >= self._max_attempts:
                        raise
                    self._backoff(attempt)
                    continue
                written.update(_result_key(result) for result in pending)
                pending = []
        return WriteOutcome(frozenset(written), frozenset(already), calls)

    # -- helpers --------------------------------------------------------------------------------
    def _key(self, school_id: SchoolId, pk: str, sk: str) -> dict[str, Any]:
        self._guard(school_id, pk)
        return to_wire({TABLE_PARTITION_KEY: pk, TABLE_SORT_KEY: sk})

    @staticmethod
    def _guard(school_id: SchoolId, pk: str) -> None:
        guard.check_key(school_id, pk)

    def _backoff(self, attempt: int) -> None:
        # Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
        self._sleep(random.uniform(0, self._base_delay * 2**attempt))


def _result_key(result: ExerciseResult) -> tuple[StudentId, str]:
    return (result.event.student_id, result.event.event_id)


T = TypeVar("T")


def _chunks(values: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
