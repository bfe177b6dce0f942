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
from luca_grading.service_layer.ports import (
    ChangeGuards,
    ChangeWrite,
    CheckedWrite,
    IdempotencyRecord,
    Preconditions,
    RecordingContext,
)
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
    def add_evaluation_checked(
        self, evaluation: Evaluation, idempotency: IdempotencyRecord, preconditions: Preconditions
    ) -> CheckedWrite:
        """One TransactWriteItems: the idempotency record, the preconditions and the evaluation.

        A rejected write reports every failed condition with the item as it stands (ALL_OLD), so the
        caller learns about a prior result, a wrong enrolment or a closed term without a second call.
        """
        if evaluation.school_id != self._school:
            raise TenantBoundaryViolation("evaluation of another school")
        item = evaluation_item(evaluation)
        record = replace(idempotency, result_ref=item[TABLE_SORT_KEY])
        marker = idempotency_item(self._school, record, time.time())
        s = self._school
        checks: dict[str, dict[str, Any]] = {
            "student": self._check(
                td.student_pk(s, preconditions.student_id),
                td.STUDENT_SK,
                "attribute_exists(#pk) AND #c = :c",
                {"#c": "course_id"},
                {":c": preconditions.course_id},
            )
        }
        if preconditions.subject_id:
            checks["subject"] = self._check(td.catalog_pk(s), td.subject_sk(preconditions.subject_id))
        if preconditions.term_id:
            checks["term"] = self._open_term_check(preconditions.term_id)
        if preconditions.assigned_teacher:
            checks["assignment"] = self._check(
                td.teacher_pk(s, preconditions.assigned_teacher),
                td.assignment_sk(preconditions.course_id, evaluation.subject_id),
            )
        reasons = self._transact_new(marker, item, list(checks.values()))
        if reasons is None:
            return CheckedWrite(written=True)
        failed = {
            name: reasons[n + 1] for n, name in enumerate(checks) if reasons[n + 1].get("Code") == _FAILED
        }
        prior = reasons[0].get("Item") if reasons[0].get("Code") == _FAILED else None
        student = failed.get("student", {}).get("Item")
        term = failed.get("term")
        return CheckedWrite(
            written=False,
            prior=_idempotency(from_wire(prior)) if prior else None,
            student=self._student(from_wire(student)) if student else None,
            student_missing="student" in failed and not student,
            subject_missing="subject" in failed,
            term_missing=term is not None and not term.get("Item"),
            term_closed=term is not None and bool(term.get("Item")),
            unassigned="assignment" in failed,
        )

    def _open_term_check(self, term_id: TermId) -> dict[str, Any]:
        # Part of the write, so a grade can never land in a term an admin has just closed.
        return self._check(
            td.catalog_pk(self._school),
            td.term_sk(term_id),
            "attribute_exists(#pk) AND attribute_not_exists(#closed)",
            {"#closed": "closed_at"},
        )

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
        # The public id does not hold the sort key (term, subject, time): a consistent read of the
        # student's grades, filtered. Changes are rare next to recording, so no lookup item is kept.
        for item in self._query(
            partition=(TABLE_PARTITION_KEY, td.student_pk(self._school, student_id)),
            sort_prefix=(TABLE_SORT_KEY, td.evaluation_sk_prefix()),
            attributes=EVALUATION_ATTRIBUTES,
            consistent=True,
            where=("evaluation_id", evaluation_id),
        ):
            return evaluation_from(item)
        return None

    def change_evaluation(
        self,
        changed: Evaluation,
        change: EvaluationChange,
        idempotency: IdempotencyRecord,
        guards: ChangeGuards,
    ) -> ChangeWrite:
        """One TransactWriteItems: the grade at its next version (only over the version it came from),
        its history entry, the idempotency record, and the guards."""
        if changed.school_id != self._school or change.school_id != self._school:
            raise TenantBoundaryViolation("evaluation of another school")
        item = evaluation_item(changed)
        entry = change_item(change)
        marker = idempotency_item(
            self._school, replace(idempotency, result_ref=entry[TABLE_SORT_KEY]), time.time()
        )
        previous = changed.version - 1
        # Items written before versions existed are version 1 without saying so.
        same = "#v = :v" if previous > 1 else "(attribute_not_exists(#v) OR #v = :v)"
        new = {
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY},
        }
        transaction: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": self._wire(marker), **new, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
            {
                "Put": {
                    "TableName": self._table,
                    "Item": self._wire(item),
                    "ConditionExpression": f"attribute_exists(#pk) AND {same}",
                    "ExpressionAttributeNames": {"#pk": TABLE_PARTITION_KEY, "#v": "version"},
                    "ExpressionAttributeValues": to_wire({":v": previous}),
                }
            },
            {"Put": {"TableName": self._table, "Item": self._wire(entry), **new}},
        ]  # fmt: skip
        named = ["marker", "evaluation", "history"]
        if guards.open_term:
            transaction.append(self._open_term_check(guards.open_term))
            named.append("term")
        if guards.assigned_teacher:
            transaction.append(
                self._check(
                    td.teacher_pk(self._school, guards.assigned_teacher),
                    td.assignment_sk(changed.course_id, changed.subject_id),
                )
            )
            named.append("assignment")
        reasons = self._transact(transaction, conflicts_are_answers=True)
        if reasons is None:
            return ChangeWrite(written=True)
        failed = {
            name: reason for name, reason in zip(named, reasons, strict=True) if reason.get("Code") == _FAILED
        }
        # Another change of the same grade (or a term closing) in flight: answered like a stale
        # version, so the caller reloads and decides again.
        conflicted = any(reason.get("Code") == "TransactionConflict" for reason in reasons)
        prior = failed.get("marker", {}).get("Item")
        term = failed.get("term")
        return ChangeWrite(
            written=False,
            prior=_idempotency(from_wire(prior)) if prior else None,
            stale=conflicted or "evaluation" in failed or "history" in failed,
            term_closed=term is not None and bool(term.get("Item")),
            term_missing=term is not None and term.get("Code") == _FAILED and not term.get("Item"),
            unassigned="assignment" in failed,
        )

    def evaluation_history(self, student_id: StudentId, evaluation_id: str) -> Sequence[EvaluationChange]:
        return [
            change_from(item)
            for item in self._query(
                partition=(TABLE_PARTITION_KEY, td.student_pk(self._school, student_id)),
                sort_prefix=(TABLE_SORT_KEY, td.history_sk_prefix(evaluation_id)),
                consistent=True,
            )
        ]

    def get_change(self, student_id: StudentId, change_ref: str) -> EvaluationChange | None:
        if not change_ref.startswith(td.HISTORY_SK_PREFIX):
            return None
        item = self._get(td.student_pk(self._school, student_id), change_ref, consistent=True)
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
