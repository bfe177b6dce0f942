"""DynamoDB implementation of the school repository, on the single-table design.

Each repository is bound to one school and to that school's client (scoped credentials in AWS).
Before every call it checks that each partition key it is about to use — table or index — starts
with the school's prefix: a bug that builds another school's key fails here, before IAM has to
refuse it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from luca_grading.adapters import table_design as td
from luca_grading.adapters.items import (
    EVALUATION_ATTRIBUTES,
    EVALUATION_CHANGE_ATTRIBUTES,
    _idempotency,
    assignment_from,
    assignment_item,
    change_from,
    change_item,
    evaluation_from,
    evaluation_item,
    idempotency_item,
    note_from,
    note_item,
)
from luca_grading.adapters.school_table import FAILED as _FAILED
from luca_grading.adapters.school_table import SchoolTable
from luca_grading.domain.model import Assignment, BehaviorNote, Evaluation, EvaluationChange
from luca_grading.service_layer.ports import ChangeWrite, IdempotencyRecord, RecordingContext
from luca_kernel.errors import TenantBoundaryViolation
from luca_kernel.grading import GradingRule
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student, Subject, Term
from luca_platform.aws import AwsClients
from luca_platform.contracts import roster
from luca_platform.contracts.rules import rule_from, rule_item
from luca_platform.table.codec import from_wire, timestamp, to_wire
from luca_platform.table.keys import COURSE_TERM_INDEX, TABLE_PARTITION_KEY, TABLE_SORT_KEY

if TYPE_CHECKING:
    pass

# Item mappers other writers of the same item types (tests, benchmarks, the seed) import from here.
__all__ = ["DynamoRepositoryFactory", "DynamoSchoolRepository", "evaluation_item", "note_item"]


class DynamoSchoolRepository(SchoolTable):
    """SchoolRepository over one table, confined to one school."""

    def _put_with_idempotency(self, item: dict[str, Any], record: IdempotencyRecord) -> bool:
        # The record points at the result by its sort key, so a replay is one GetItem.
        record = replace(record, result_ref=item[TABLE_SORT_KEY])
        reasons = self._transact_new(idempotency_item(self._school, record, time.time()), item, [])
        if reasons is None:
            return True
        if reasons[0].get("Code") == _FAILED:
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
    def add_evaluation(self, evaluation: Evaluation) -> Evaluation | None:
        """One conditional PutItem at the key the recording request names; when that key holds a
        grade, nothing is written and the grade is returned as it stands (ALL_OLD, no second call)."""
        if evaluation.school_id != self._school:
            raise TenantBoundaryViolation("evaluation of another school")
        item = evaluation_item(evaluation)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._wire(item),
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": TABLE_PARTITION_KEY},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            old: Any = error.response.get("Item")
            if old:
                return evaluation_from(from_wire(old))
            found = self.get_recorded(evaluation)  # a store that does not return the old item
            if found is None:  # pragma: no cover - the condition failed on an existing item
                raise
            return found
        return None

    def get_recorded(self, evaluation: Evaluation) -> Evaluation | None:
        item = evaluation_item(evaluation)
        found = self._get(item[TABLE_PARTITION_KEY], item[TABLE_SORT_KEY], consistent=True)
        return evaluation_from(found) if found else None

    def course_student_ids(self, course_id: CourseId) -> Sequence[StudentId]:
        index = COURSE_TERM_INDEX
        return [
            StudentId(item["student_id"])
            for item in self._query(
                partition=(index.partition_key, td.course_roster_pk(self._school, course_id)),
                sort_prefix=(index.sort_key, td.ROSTER_SK_PREFIX),
                index=index.name,
                attributes=["student_id"],
            )
        ]

    def _transact_new(
        self, marker: dict[str, Any], item: dict[str, Any], checks: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """Put ``marker`` and ``item`` if neither exists and every check holds; None when written,
        else the cancellation reasons in the order: marker, checks..., item."""
        new = {
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY},
        }
        return self._transact(
            [
                {"Put": {"TableName": self._table, "Item": self._wire(marker), **new, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
                *checks,
                {"Put": {"TableName": self._table, "Item": self._wire(item), **new}},
            ]
        )  # fmt: skip

    # -- changes to a grade ---------------------------------------------------------------------
    def find_evaluation(self, student_id: StudentId, evaluation_id: str) -> Evaluation | None:
        # The public id does not hold the sort key (term, subject, and for older grades their time):
        # a consistent read of the student's grades, filtered. Changes are rare next to recording,
        # so no lookup item is kept.
        for item in self._query(
            partition=(TABLE_PARTITION_KEY, td.student_pk(self._school, student_id)),
            sort_prefix=(TABLE_SORT_KEY, td.evaluation_sk_prefix()),
            attributes=EVALUATION_CHANGE_ATTRIBUTES,
            consistent=True,
            where=("evaluation_id", evaluation_id),
        ):
            return evaluation_from(item)
        return None

    def change_evaluation(self, changed: Evaluation, change: EvaluationChange) -> ChangeWrite:
        """One TransactWriteItems of two puts: the grade at its next version (only over the version
        it came from) and its history entry (only if that version has none: the entry is also the
        change's idempotency record)."""
        if changed.school_id != self._school or change.school_id != self._school:
            raise TenantBoundaryViolation("evaluation of another school")
        previous = changed.version - 1
        # Items written before versions existed are version 1 without saying so.
        same = "#v = :v" if previous > 1 else "(attribute_not_exists(#v) OR #v = :v)"
        transaction: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._wire(evaluation_item(changed)),
                    "ConditionExpression": f"attribute_exists(#pk) AND {same}",
                    "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY, "#v": "version"},
                    "ExpressionAttributeValues": to_wire({":v": previous}),
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._wire(change_item(change)),
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
        reasons = self._transact(transaction, conflicts_are_answers=True)
        if reasons is None:
            return ChangeWrite(written=True)
        # Another change of the same grade won (or is in flight): the entry that took the version,
        # when there is one, tells a retry of this request from someone else's change.
        entry = reasons[1].get("Item") if reasons[1].get("Code") == _FAILED else None
        found = change_from(from_wire(entry)) if entry else None
        if found is None and any(reason.get("Code") == "TransactionConflict" for reason in reasons):
            found = self.get_change_at(change.student_id, change.evaluation_id, change.version)
        return ChangeWrite(written=False, stale=True, entry=found)

    def evaluation_history(self, student_id: StudentId, evaluation_id: str) -> Sequence[EvaluationChange]:
        return [
            change_from(item)
            for item in self._query(
                partition=(TABLE_PARTITION_KEY, td.student_pk(self._school, student_id)),
                sort_prefix=(TABLE_SORT_KEY, td.history_sk_prefix(evaluation_id)),
                consistent=True,
            )
        ]

    def get_change_at(
        self, student_id: StudentId, evaluation_id: str, version: int
    ) -> EvaluationChange | None:
        item = self._get(
            td.student_pk(self._school, student_id), td.history_sk(evaluation_id, version), consistent=True
        )
        return change_from(item) if item else None

    # -- terms and assignments ------------------------------------------------------------------
    def get_term(self, term_id: TermId) -> Term | None:
        item = self._get(td.catalog_pk(self._school), td.term_sk(term_id), consistent=True)
        return roster.term_from(item) if item else None

    def put_term(self, term: Term) -> Term:
        # An update, not a put: renaming a term must never reopen it.
        fields = {
            k: v for k, v in roster.term_item(term).items() if k not in (TABLE_PARTITION_KEY, TABLE_SORT_KEY)
        }
        fields = {k: v for k, v in fields.items() if v is not None and k not in ("closed_at", "closed_by")}
        names = {f"#f{n}": name for n, name in enumerate(fields)}
        values = {f":f{n}": value for n, value in enumerate(fields.values())}
        response = self._client.update_item(
            TableName=self._table,
            Key=self._key(td.catalog_pk(self._school), td.term_sk(term.term_id)),
            UpdateExpression="SET "
            + ", ".join(f"{name} = {value}" for name, value in zip(names, values, strict=True)),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_wire(values),
            ReturnValues="ALL_NEW",
        )
        return roster.term_from(from_wire(response["Attributes"]))

    def close_term(self, term_id: TermId, closed_at: datetime, closed_by: str) -> Term | None:
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(td.catalog_pk(self._school), td.term_sk(term_id)),
                UpdateExpression="SET #at = if_not_exists(#at, :at), #by = if_not_exists(#by, :by)",
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#pk": TABLE_PARTITION_KEY, "#at": "closed_at", "#by": "closed_by"},
                ExpressionAttributeValues=to_wire({":at": timestamp(closed_at), ":by": closed_by}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return roster.term_from(from_wire(response["Attributes"]))

    def put_assignment(self, assignment: Assignment) -> None:
        if assignment.school_id != self._school:
            raise TenantBoundaryViolation("assignment of another school")
        self._put(assignment_item(assignment))

    def delete_assignment(self, teacher_id: TeacherId, course_id: CourseId, subject_id: SubjectId) -> bool:
        response = self._client.delete_item(
            TableName=self._table,
            Key=self._key(td.teacher_pk(self._school, teacher_id), td.assignment_sk(course_id, subject_id)),
            ReturnValues="ALL_OLD",
        )
        return bool(response.get("Attributes"))

    def assignments_of(self, teacher_id: TeacherId) -> Sequence[Assignment]:
        return [
            assignment_from(item)
            for item in self._query(
                partition=(TABLE_PARTITION_KEY, td.teacher_pk(self._school, teacher_id)),
                sort_prefix=(TABLE_SORT_KEY, td.ASSIGNMENT_SK_PREFIX),
                consistent=True,
            )
        ]

    def get_evaluation(self, student_id: StudentId, evaluation_ref: str) -> Evaluation | None:
        if not evaluation_ref.startswith(td.evaluation_sk_prefix()):
            return None
        item = self._get(td.student_pk(self._school, student_id), evaluation_ref, consistent=True)
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
        item = self._get(td.student_pk(self._school, student_id), note_ref, consistent=True)
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
        # Strongly consistent: a retry right after its first attempt must find the record it wrote.
        item = self._get(td.idempotency_pk(self._school, scope, key), td.IDEMPOTENCY_SK, consistent=True)
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


class DynamoRepositoryFactory:
    def __init__(self, *, clients: AwsClients, table_name: str) -> None:
        self._clients = clients
        self._table = table_name

    def for_school(self, school_id: SchoolId) -> DynamoSchoolRepository:
        return DynamoSchoolRepository(
            client=self._clients.dynamodb_for(school_id), table_name=self._table, school_id=school_id
        )
