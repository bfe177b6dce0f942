"""DynamoDB implementation of the school repository, on the single-table design.

Each repository is bound to one school and to that school's client (scoped credentials in AWS).
Before every call it checks that each partition key it is about to use — table or index — starts
with the school's prefix: a bug that builds another school's key fails here, before IAM has to
refuse it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from luca_grading.adapters import table_design as td
from luca_grading.domain.model import BehaviorKind, BehaviorNote, Evaluation
from luca_grading.service_layer.ports import CheckedWrite, IdempotencyRecord, Preconditions, RecordingContext
from luca_kernel.errors import TenantBoundaryViolation
from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student, Subject
from luca_platform.aws import AwsClients
from luca_platform.contracts import roster
from luca_platform.contracts.rules import rule_from, rule_item
from luca_platform.table import guard
from luca_platform.table.codec import from_wire, parse_timestamp, timestamp, to_wire
from luca_platform.table.keys import (
    COURSE_TERM_INDEX,
    SCHOOL_TERM_INDEX,
    TABLE_PARTITION_KEY,
    TABLE_SORT_KEY,
    TTL_ATTRIBUTE,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SCHEMA_VERSION = 1


# -- item mapping (shared with other writers of the same item types) ------------------------------
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
        "type": "Evaluation",
        "schema_version": SCHEMA_VERSION,
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
    }


# What evaluation_from reads: listings ask for these only (index keys and bookkeeping stay behind).
EVALUATION_ATTRIBUTES = (
    "school_id", "evaluation_id", "student_id", "course_id", "subject_id", "term_id", "score", "weight",
    "teacher_id", "recorded_at", "description",
)  # fmt: skip


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
    return {
        TABLE_PARTITION_KEY: td.idempotency_pk(school_id, record.scope, record.key),
        TABLE_SORT_KEY: td.IDEMPOTENCY_SK,
        "type": "Idempotency",
        "schema_version": SCHEMA_VERSION,
        "school_id": school_id,
        "scope": record.scope,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "result_ref": record.result_ref,
        TTL_ATTRIBUTE: int(now) + td.IDEMPOTENCY_TTL_SECONDS,
    }


class DynamoSchoolRepository:
    """SchoolRepository over one table, confined to one school."""

    def __init__(self, *, client: DynamoDBClient, table_name: str, school_id: SchoolId) -> None:
        self._client = client
        self._table = table_name
        self._school = school_id

    @property
    def school_id(self) -> SchoolId:
        return self._school

    # -- the tenant guard ---------------------------------------------------------------------
    def _guard(self, item_or_key: Mapping[str, Any]) -> None:
        guard.check_item(self._school, item_or_key)

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        key = {TABLE_PARTITION_KEY: pk, TABLE_SORT_KEY: sk}
        self._guard(key)
        return to_wire(key)

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self._client.get_item(TableName=self._table, Key=self._key(pk, sk))
        item = response.get("Item")
        return from_wire(item) if item else None

    def _put(self, item: dict[str, Any]) -> None:
        self._guard(item)
        self._client.put_item(TableName=self._table, Item=to_wire(item))

    def _query(
        self,
        *,
        partition: tuple[str, str],
        sort_prefix: tuple[str, str] | None,
        index: str | None = None,
        attributes: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]:
        attribute, value = partition
        self._guard({attribute: value})
        condition = "#pk = :pk"
        names = {"#pk": attribute}
        values: dict[str, Any] = {":pk": value}
        if sort_prefix:
            condition += " AND begins_with(#sk, :sk)"
            names["#sk"] = sort_prefix[0]
            values[":sk"] = sort_prefix[1]
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_wire(values),
        }
        if index:
            kwargs["IndexName"] = index
        if attributes:
            projected = {f"#a{n}": name for n, name in enumerate(attributes)}
            names.update(projected)
            kwargs["ProjectionExpression"] = ", ".join(projected)
        while True:
            page = self._client.query(**kwargs)
            for item in page.get("Items", []):
                yield from_wire(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _put_with_idempotency(self, item: dict[str, Any], record: IdempotencyRecord) -> bool:
        # The record points at the result by its sort key, so a replay is one GetItem.
        record = replace(record, result_ref=item[TABLE_SORT_KEY])
        reasons = self._transact_new(idempotency_item(self._school, record, time.time()), item, [])
        if reasons is None:
            return True
        if reasons[0].get("Code") == "ConditionalCheckFailed":
            return False  # the key was used before: nothing written
        raise RuntimeError(
            f"item {item[TABLE_SORT_KEY]!r} already exists"
        )  # pragma: no cover - ids are unique

    # -- roster ---------------------------------------------------------------------------------
    def get_student(self, student_id: StudentId) -> Student | None:
        item = self._get(td.student_pk(self._school, student_id), td.STUDENT_SK)
        return self._student(item) if item else None

    def _student(self, item: Mapping[str, Any]) -> Student:
        return roster.student_from({**item, "school_id": self._school})

    def put_student(self, student: Student) -> None:
        self._put(roster.student_item(student))

    def get_subject(self, subject_id: SubjectId) -> Subject | None:
        item = self._get(td.catalog_pk(self._school), td.subject_sk(subject_id))
        return roster.subject_from(item) if item else None

    def put_subject(self, subject: Subject) -> None:
        self._put(roster.subject_item(subject))

    def get_course(self, course_id: CourseId) -> Course | None:
        item = self._get(td.catalog_pk(self._school), td.course_sk(course_id))
        return roster.course_from(item) if item else None

    def put_course(self, course: Course) -> None:
        self._put(roster.course_item(course))

    # -- rules ----------------------------------------------------------------------------------
    def get_rule(self, subject_id: SubjectId) -> GradingRule | None:
        item = self._get(td.rules_pk(self._school), td.rule_sk(subject_id))
        return rule_from(item) if item else None

    def put_rule(self, rule: GradingRule) -> None:
        self._put(rule_item(self._school, rule))

    # -- evaluations ----------------------------------------------------------------------------
    def add_evaluation(self, evaluation: Evaluation, idempotency: IdempotencyRecord) -> bool:
        if evaluation.school_id != self._school:
            raise TenantBoundaryViolation("evaluation of another school")
        return self._put_with_idempotency(evaluation_item(evaluation), idempotency)

    def add_evaluation_checked(
        self, evaluation: Evaluation, idempotency: IdempotencyRecord, preconditions: Preconditions
    ) -> CheckedWrite:
        """One TransactWriteItems: the idempotency record, the roster checks and the evaluation.

        A rejected write reports every failed condition with the item as it stands (ALL_OLD), so the
        caller learns about a prior result or a wrong enrolment without a second call.
        """
        if evaluation.school_id != self._school:
            raise TenantBoundaryViolation("evaluation of another school")
        item = evaluation_item(evaluation)
        record = replace(idempotency, result_ref=item[TABLE_SORT_KEY])
        marker = idempotency_item(self._school, record, time.time())
        student_key = self._key(td.student_pk(self._school, preconditions.student_id), td.STUDENT_SK)
        checks: list[dict[str, Any]] = [
            {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": student_key,
                    "ConditionExpression": "attribute_exists(#pk) AND #course = :course",
                    "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY, "#course": "course_id"},
                    "ExpressionAttributeValues": to_wire({":course": preconditions.course_id}),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
        if preconditions.subject_id:
            checks.append(
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": self._key(
                            td.catalog_pk(self._school), td.subject_sk(preconditions.subject_id)
                        ),
                        "ConditionExpression": "attribute_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY},
                    }
                }
            )
        reasons = self._transact_new(marker, item, checks)
        if reasons is None:
            return CheckedWrite(written=True)
        failed = [reason.get("Code") == "ConditionalCheckFailed" for reason in reasons]
        prior = reasons[0].get("Item") if failed[0] else None
        student = reasons[1].get("Item") if failed[1] else None
        return CheckedWrite(
            written=False,
            prior=_idempotency(from_wire(prior)) if prior else None,
            student=self._student(from_wire(student)) if student else None,
            student_missing=failed[1] and not student,
            subject_missing=len(failed) > 2 and failed[2],
        )

    def _transact_new(
        self, marker: dict[str, Any], item: dict[str, Any], checks: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """Put ``marker`` and ``item`` if neither exists and every check holds; None when written,
        else the cancellation reasons in the order: marker, checks..., item."""
        self._guard(item)
        self._guard(marker)
        for check in checks:
            self._guard(from_wire(check["ConditionCheck"]["Key"]))
        new = {
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY},
        }
        transaction: list[Any] = [
            {"Put": {"TableName": self._table, "Item": to_wire(marker), **new, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            *checks,
            {"Put": {"TableName": self._table, "Item": to_wire(item), **new}},
        ]  # fmt: skip
        try:
            self._client.transact_write_items(TransactItems=transaction)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons: list[dict[str, Any]] = list(error.response.get("CancellationReasons", []))  # type: ignore[arg-type]
            if len(reasons) != len(transaction) or not any(
                reason.get("Code") == "ConditionalCheckFailed" for reason in reasons
            ):
                raise  # throttled, conflicting with another transaction...: the caller's retry policy
            return reasons
        return None

    def get_evaluation(self, student_id: StudentId, evaluation_ref: str) -> Evaluation | None:
        if not evaluation_ref.startswith(td.evaluation_sk_prefix()):
            return None
        item = self._get(td.student_pk(self._school, student_id), evaluation_ref)
        return evaluation_from(item) if item else None

    def student_evaluations(
        self, student_id: StudentId, term_id: TermId | None = None, subject_id: SubjectId | None = None
    ) -> Sequence[Evaluation]:
        # The sort-key prefix fixes the subject only under a term (EVAL#term#subject#).
        known = self._known(
            student_id=student_id, term_id=term_id, subject_id=subject_id if term_id else None
        )
        return [
            evaluation_from({**item, **known})
            for item in self._query(
                partition=(TABLE_PARTITION_KEY, td.student_pk(self._school, student_id)),
                sort_prefix=(TABLE_SORT_KEY, td.evaluation_sk_prefix(term_id, subject_id)),
                attributes=[name for name in EVALUATION_ATTRIBUTES if name not in known],
            )
        ]

    def course_evaluations(
        self, course_id: CourseId, term_id: TermId, subject_id: SubjectId | None = None
    ) -> Sequence[Evaluation]:
        index = COURSE_TERM_INDEX
        prefix = f"SUBJECT#{subject_id}#" if subject_id else "SUBJECT#"
        known = self._known(course_id=course_id, term_id=term_id, subject_id=subject_id)
        return [
            evaluation_from({**item, **known})
            for item in self._query(
                partition=(index.partition_key, td.course_term_pk(self._school, course_id, term_id)),
                sort_prefix=(index.sort_key, prefix),
                index=index.name,
                attributes=[name for name in EVALUATION_ATTRIBUTES if name not in known],
            )
        ]

    def _known(self, **key_values: str | None) -> dict[str, str]:
        """What a listing's key already fixes for every item it returns: not read back (the school
        comes from this repository's scope, since every key it reads starts with it)."""
        return {"school_id": self._school} | {k: v for k, v in key_values.items() if v is not None}

    # -- behavior -------------------------------------------------------------------------------
    def add_behavior_note(self, note: BehaviorNote, idempotency: IdempotencyRecord) -> bool:
        if note.school_id != self._school:
            raise TenantBoundaryViolation("note of another school")
        return self._put_with_idempotency(note_item(note), idempotency)

    def get_behavior_note(self, student_id: StudentId, note_ref: str) -> BehaviorNote | None:
        if not note_ref.startswith(td.NOTE_SK_PREFIX):
            return None
        item = self._get(td.student_pk(self._school, student_id), note_ref)
        return note_from(item) if item else None

    def behavior_notes(self, student_id: StudentId) -> Sequence[BehaviorNote]:
        return [
            note_from(item)
            for item in self._query(
                partition=(TABLE_PARTITION_KEY, td.student_pk(self._school, student_id)),
                sort_prefix=(TABLE_SORT_KEY, td.NOTE_SK_PREFIX),
            )
        ]

    # -- idempotency ----------------------------------------------------------------------------
    def get_idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        item = self._get(td.idempotency_pk(self._school, scope, key), td.IDEMPOTENCY_SK)
        return _idempotency(item) if item else None

    def recording_context(
        self, scope: str, key: str, student_id: StudentId, subject_id: SubjectId | None
    ) -> RecordingContext:
        """One BatchGetItem instead of three GetItems on the hot write path (retrying unprocessed keys)."""
        wanted = {
            "idempotency": (td.idempotency_pk(self._school, scope, key), td.IDEMPOTENCY_SK),
            "student": (td.student_pk(self._school, student_id), td.STUDENT_SK),
        }
        if subject_id:
            wanted["subject"] = (td.catalog_pk(self._school), td.subject_sk(subject_id))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        request: dict[str, Any] = {self._table: {"Keys": [self._key(pk, sk) for pk, sk in wanted.values()]}}
        for attempt in range(5):
            response = self._client.batch_get_item(RequestItems=request)
            for raw in response.get("Responses", {}).get(self._table, []):
                item = from_wire(raw)
                found[(item[TABLE_PARTITION_KEY], item[TABLE_SORT_KEY])] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.01 * 2**attempt)
        else:
            raise RuntimeError("BatchGetItem left keys unprocessed after retries")
        idempotency = found.get(wanted["idempotency"])
        student = found.get(wanted["student"])
        subject = found.get(wanted["subject"]) if "subject" in wanted else None
        return RecordingContext(
            idempotency=_idempotency(idempotency) if idempotency else None,
            student=self._student(student) if student else None,
            subject=Subject(self._school, SubjectId(subject["subject_id"]), subject["name"])
            if subject
            else None,
        )


def _idempotency(item: Mapping[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=item["scope"], key=item["key"], fingerprint=item["fingerprint"], result_ref=item["result_ref"]
    )


class DynamoRepositoryFactory:
    def __init__(self, *, clients: AwsClients, table_name: str) -> None:
        self._clients = clients
        self._table = table_name

    def for_school(self, school_id: SchoolId) -> DynamoSchoolRepository:
        return DynamoSchoolRepository(
            client=self._clients.dynamodb_for(school_id), table_name=self._table, school_id=school_id
        )
