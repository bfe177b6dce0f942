"""The processor's table access: one read and one conditional write per batch, whatever its schools.

Write-call arithmetic (docs/decisions/0011-burst-write-path.md, which compares this with a
conditional put per event and a deterministic BatchWriteItem). Every new result of a batch goes out
in **one** TransactWriteItems (up to 100 Puts; a batch holds at most 50), each ``Put`` guarded by
``attribute_not_exists(PK)`` on a key derived from the event id alone: a resent or redelivered event
can neither store a second result nor overwrite the first with a different body. To keep that call
from being cancelled by events already stored (a resend is common), the batch's one read — a
BatchGetItem that also fetches the students, subjects and cold grading rules the events name — drops
them first. A race with another invocation costs one more write (the cancellation names the items
that now exist).

A batch mixes schools. All of its calls run on one session of the batch role narrowed by a session
policy to exactly the batch's schools (``AwsClients.dynamodb_for_schools``), so mixing schools costs
no extra call; the store still refuses, before any call, a key outside the school it belongs to. If
the schools' ids do not fit one session policy, each group of schools that fits is one read and one
write.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from luca_ingest.adapters import table_design as td
from luca_ingest.domain.events import ExerciseResult, StudentEvent
from luca_ingest.service_layer.ports import SchoolSnapshot, WriteOutcome
from luca_kernel.grading import DEFAULT_SUBJECT, GradingRule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId
from luca_platform.aws import AwsClients
from luca_platform.batch_access import group_schools
from luca_platform.contracts import exercise_results, roster, rules
from luca_platform.table import guard
from luca_platform.table.codec import from_wire, timestamp, to_wire
from luca_platform.table.keys import TABLE_PARTITION_KEY, TABLE_SORT_KEY, TTL_ATTRIBUTE

ITEM_SCHEMA_VERSION = exercise_results.EXERCISE_RESULT.schema_version
MAX_KEYS_PER_READ = 100  # BatchGetItem
MAX_ACTIONS_PER_WRITE = 100  # TransactWriteItems
# What a batch session may do (its session policy; the batch role allows exactly these):
# TransactWriteItems is authorised per action, as PutItem.
BATCH_ACTIONS: tuple[str, ...] = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
)


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
    def snapshot(
        self,
        events: Mapping[SchoolId, Sequence[StudentEvent]],
        rule_subjects: Mapping[SchoolId, frozenset[SubjectId]],
    ) -> dict[SchoolId, SchoolSnapshot | Exception]:
        """Each school's snapshot, or why its read failed (its records are retried)."""
        wanted: dict[SchoolId, dict[tuple[str, str], None]] = {}
        for school_id, school_events in events.items():
            keys = wanted.setdefault(school_id, {})
            for event in school_events:
                student_pk = roster.student_pk(school_id, event.student_id)
                keys[(student_pk, td.exercise_result_sk(event.event_id))] = None
                keys[(student_pk, roster.STUDENT_SK)] = None
                keys[(roster.catalog_pk(school_id), roster.subject_sk(event.subject_id))] = None
        for school_id, subjects in rule_subjects.items():
            if subjects:
                keys = wanted.setdefault(school_id, {})
                for subject in {*subjects, DEFAULT_SUBJECT}:
                    keys[(rules.rules_pk(school_id), rules.rule_sk(subject))] = None
        snapshots: dict[SchoolId, SchoolSnapshot | Exception] = {}
        for group in group_schools(wanted, BATCH_ACTIONS):
            try:
                found = self._batch_get(group, {school: list(wanted[SchoolId(school)]) for school in group})
            except (ClientError, BotoCoreError, RuntimeError) as error:
                snapshots.update((SchoolId(school), error) for school in group)
                continue
            for name in group:
                school = SchoolId(name)
                snapshots[school] = _school_snapshot(
                    found.get(school, []), rule_subjects.get(school, frozenset())
                )
        return snapshots

    def stored_rule(self, school_id: SchoolId, subject_id: SubjectId) -> GradingRule | None:
        """One school's own rule for ``subject_id`` as stored (when the cache expired mid-batch)."""
        key = {TABLE_PARTITION_KEY: rules.rules_pk(school_id), TABLE_SORT_KEY: rules.rule_sk(subject_id)}
        guard.check_key(school_id, key[TABLE_PARTITION_KEY])
        self.read_calls += 1
        client = self._clients.dynamodb_for_schools([school_id], BATCH_ACTIONS)
        item = client.get_item(TableName=self._table, Key=to_wire(key)).get("Item")
        return rules.rule_from(from_wire(item)) if item else None

    def _batch_get(
        self, group: Sequence[str], keys_by_school: Mapping[str, list[tuple[str, str]]]
    ) -> dict[SchoolId, list[dict[str, Any]]]:
        client = self._clients.dynamodb_for_schools(group, BATCH_ACTIONS)
        school_of: dict[str, SchoolId] = {}
        wire_keys: list[dict[str, Any]] = []
        for school_id, keys in keys_by_school.items():
            for pk, sk in keys:
                guard.check_key(school_id, pk)
                school_of[pk] = SchoolId(school_id)
                wire_keys.append(to_wire({TABLE_PARTITION_KEY: pk, TABLE_SORT_KEY: sk}))
        found: dict[SchoolId, list[dict[str, Any]]] = {}
        for chunk in _chunks(wire_keys, MAX_KEYS_PER_READ):
            request: dict[str, Any] = {self._table: {"Keys": chunk}}
            for attempt in range(self._max_attempts):
                self.read_calls += 1
                response = client.batch_get_item(RequestItems=request)
                for wire in response.get("Responses", {}).get(self._table, []):
                    item = from_wire(wire)
                    found.setdefault(school_of[item[TABLE_PARTITION_KEY]], []).append(item)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._backoff(attempt)
            else:
                raise RuntimeError(f"BatchGetItem left keys unprocessed after {self._max_attempts} attempts")
        return found

    # -- write ----------------------------------------------------------------------------------
    def write_new(self, results: Sequence[ExerciseResult]) -> WriteOutcome:
        by_school: dict[str, list[ExerciseResult]] = {}
        for result in results:
            by_school.setdefault(result.event.school_id, []).append(result)
        written: set[tuple[SchoolId, StudentId, str]] = set()
        already: set[tuple[SchoolId, StudentId, str]] = set()
        errors: dict[SchoolId, Exception] = {}
        calls = 0
        for group in group_schools(by_school, BATCH_ACTIONS):
            group_results = [result for school in group for result in by_school[school]]
            try:
                calls += self._write_group(group, group_results, written, already)
            except (ClientError, BotoCoreError, RuntimeError) as error:
                errors.update((SchoolId(school), error) for school in group)
        return WriteOutcome(frozenset(written), frozenset(already), calls, errors)

    def _write_group(
        self,
        group: Sequence[str],
        results: list[ExerciseResult],
        written: set[tuple[SchoolId, StudentId, str]],
        already: set[tuple[SchoolId, StudentId, str]],
    ) -> int:
        client = self._clients.dynamodb_for_schools(group, BATCH_ACTIONS)
        calls = 0
        for chunk in _chunks(results, MAX_ACTIONS_PER_WRITE):
            pending = list(chunk)
            attempt = 0
            while pending:
                items = [exercise_result_item(result) for result in pending]
                for result, item in zip(pending, items, strict=True):
                    guard.check_key(result.event.school_id, item[TABLE_PARTITION_KEY])
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
        return calls

    # -- helpers --------------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> None:
        # Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
        self._sleep(random.uniform(0, self._base_delay * 2**attempt))


def _school_snapshot(items: Iterable[dict[str, Any]], rule_subjects: frozenset[SubjectId]) -> SchoolSnapshot:
    stored: set[tuple[StudentId, str]] = set()
    students: dict[StudentId, CourseId] = {}
    subjects: set[SubjectId] = set()
    # Every rule asked for is answered: None says "read, none stored".
    found_rules: dict[SubjectId, GradingRule | None] = (
        dict.fromkeys({*rule_subjects, DEFAULT_SUBJECT}) if rule_subjects else {}
    )
    for item in items:
        kind = item.get("type")
        if kind == exercise_results.EXERCISE_RESULT.type_name:
            stored.add((StudentId(item["student_id"]), item["event_id"]))
        elif kind == roster.STUDENT.type_name:
            students[StudentId(item["student_id"])] = CourseId(item["course_id"])
        elif kind == roster.SUBJECT.type_name:
            subjects.add(SubjectId(item["subject_id"]))
        elif kind == rules.RULE.type_name:
            rule = rules.rule_from(item)
            found_rules[rule.subject_id] = rule
    return SchoolSnapshot(frozenset(stored), students, frozenset(subjects), found_rules)


def _result_key(result: ExerciseResult) -> tuple[SchoolId, StudentId, str]:
    return (result.event.school_id, result.event.student_id, result.event.event_id)


T = TypeVar("T")


def _chunks(values: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
