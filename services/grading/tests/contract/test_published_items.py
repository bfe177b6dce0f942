"""Writer side of the published data contracts: every item the grading service writes keeps the
contract of its type (``luca_platform.contracts``), as built and as stored, so its readers (the grade
processor, the government sync, the lake, the reports) can rely on it.

The repository runs against a recording client: what is checked is exactly what it sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import pytest

from luca_grading.adapters import table_design
from luca_grading.adapters.dynamodb_repository import DynamoSchoolRepository, evaluation_item, note_item
from luca_grading.domain.model import (
    Assignment,
    BehaviorKind,
    BehaviorNote,
    ChangeKind,
    Evaluation,
    EvaluationChange,
    values_of,
)
from luca_grading.service_layer.ports import IdempotencyRecord
from luca_kernel.grading import DEFAULT_SUBJECT, GradingRule, ScaleKind
from luca_kernel.ids import CourseId, SchoolId, StudentId, SubjectId, TeacherId, TermId
from luca_kernel.roster import Course, Student, Subject, Term
from luca_platform.contracts import ItemContract, grades, roster, rules
from luca_platform.table import keys
from luca_platform.table.codec import from_wire

SCHOOL = SchoolId("school-a")
PUBLISHED: Mapping[str, ItemContract] = {
    contract.type_name: contract for contract in (*roster.CONTRACTS, rules.RULE, *grades.CONTRACTS)
}
# Grading's own business: idempotency records, who teaches what, and the history of each grade.
PRIVATE = frozenset({"Idempotency", "Assignment", "EvaluationChange"})
AT = datetime(2025, 4, 30, 15, 0, tzinfo=UTC)


def evaluation(description: str = "Prueba 2") -> Evaluation:
    return Evaluation(
        school_id=SCHOOL,
        evaluation_id="ev-1",
        student_id=StudentId("st-1"),
        course_id=CourseId("1A"),
        subject_id=SubjectId("math"),
        term_id=TermId("2025-T1"),
        score=Decimal("6.5"),
        weight=Decimal("1"),
        teacher_id=TeacherId("t-1"),
        recorded_at=AT,
        description=description,
    )


def note(text: str = "Ayudó a un compañero") -> BehaviorNote:
    return BehaviorNote(
        school_id=SCHOOL,
        note_id="n-1",
        student_id=StudentId("st-1"),
        course_id=CourseId("1A"),
        kind=BehaviorKind.POSITIVE,
        text=text,
        teacher_id=TeacherId("t-1"),
        recorded_at=AT,
    )


class RecordingClient:
    """Accepts every write and keeps the items as DynamoDB would store them."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, *, TableName: str, Item: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        self.items.append(from_wire(Item))
        return {}

    def transact_write_items(self, *, TransactItems: list[Mapping[str, Any]]) -> dict[str, Any]:
        self.items.extend(from_wire(action["Put"]["Item"]) for action in TransactItems if "Put" in action)
        return {}

    def update_item(
        self,
        *,
        Key: Mapping[str, Any],
        UpdateExpression: str,
        ExpressionAttributeNames: Mapping[str, str],
        ExpressionAttributeValues: Mapping[str, Any],
        **_: Any,
    ) -> dict[str, Any]:
        """Only the plain ``SET #a = :a, ...`` form the repository uses to upsert a term."""
        values = from_wire(dict(ExpressionAttributeValues))
        item = from_wire(dict(Key))
        for assignment in UpdateExpression.removeprefix("SET ").split(", "):
            name, value = assignment.split(" = ")
            item[ExpressionAttributeNames[name]] = values[value]
        self.items.append(item)
        return {"Attributes": _wire(item)}


def _wire(item: dict[str, Any]) -> dict[str, Any]:
    from luca_platform.table.codec import to_wire

    return to_wire(item)


def written_by_the_repository() -> list[dict[str, Any]]:
    client = RecordingClient()
    repository = DynamoSchoolRepository(client=cast(Any, client), table_name="table", school_id=SCHOOL)
    repository.put_course(Course(SCHOOL, CourseId("1A"), "Primero A"))
    repository.put_subject(Subject(SCHOOL, SubjectId("math"), "Matemática"))
    repository.put_student(Student(SCHOOL, StudentId("st-1"), CourseId("1A"), "Ana Rojas"))
    repository.put_rule(GradingRule(subject_id=DEFAULT_SUBJECT))
    repository.put_rule(
        GradingRule(
            subject_id=SubjectId("art"),
            scale=ScaleKind.PERCENTAGE,
            passing_grade=Decimal("60"),
            decimals=0,
            updated_at=AT,
        )
    )
    repository.put_term(Term(SCHOOL, TermId("2025-T1"), "Primer semestre"))
    repository.put_assignment(
        Assignment(SCHOOL, TeacherId("t-1"), CourseId("1A"), SubjectId("math"), AT, "admin")
    )
    repository.add_evaluation(replace(evaluation(description=""), request_fingerprint="f"))
    original = evaluation()
    corrected = replace(
        original,
        score=Decimal("5.4"),
        version=2,
        updated_at=AT,
        updated_by="t-1",
        change_reason="typo",
        correlation_id="c-1",
    )
    repository.change_evaluation(
        corrected,
        EvaluationChange(
            school_id=SCHOOL,
            evaluation_id=original.evaluation_id,
            student_id=original.student_id,
            version=2,
            kind=ChangeKind.CORRECTED,
            changed_by="t-1",
            changed_at=AT,
            reason="typo",
            before=values_of(original),
            after=values_of(corrected),
            correlation_id="c-1",
            request_key="k",
            request_fingerprint="f",
        ),
    )
    repository.add_behavior_note(
        note(), IdempotencyRecord(scope="notes", key="k-3", fingerprint="f", result_ref="")
    )
    return client.items


ITEMS = written_by_the_repository()


def test_the_repository_writes_every_published_type() -> None:
    assert {item["type"] for item in ITEMS} == set(PUBLISHED) | PRIVATE


@pytest.mark.parametrize("item", ITEMS, ids=lambda item: f"{item['type']}:{item['SK']}")
def test_every_written_item_keeps_its_contract(item: dict[str, Any]) -> None:
    assert item["type"] in table_design.OWNED_ITEM_TYPES
    assert item["school_id"] == SCHOOL
    for attribute in keys.PARTITION_KEY_ATTRIBUTES:
        if attribute in item:
            assert item[attribute].startswith(keys.school_prefix(SCHOOL)), attribute
    contract = PUBLISHED.get(item["type"])
    if contract is None:
        assert item["type"] in PRIVATE
        return
    assert contract.owner == "grading"
    contract.check(item)


@pytest.mark.parametrize("description", ["Prueba 2", ""])
def test_an_evaluation_keeps_the_grades_contract_and_sits_on_the_school_term_index(description: str) -> None:
    item = evaluation_item(evaluation(description))
    grades.EVALUATION.check(item)
    # What the government sync relies on: its query key and the attributes it projects.
    assert item[keys.SCHOOL_TERM_INDEX.partition_key] == grades.school_term_pk(SCHOOL, "2025-T1")
    assert all(
        item.get(name) is not None for name in grades.SYNC_ATTRIBUTES if name in grades.EVALUATION.required
    )


@pytest.mark.parametrize("text", ["Ayudó a un compañero", ""])
def test_a_behavior_note_keeps_the_grades_contract(text: str) -> None:
    grades.BEHAVIOR_NOTE.check(note_item(note(text)))


def test_only_idempotency_records_expire() -> None:
    """Idempotency records are re-derivable; grades, their history and assignments are records."""
    private = [item for item in ITEMS if item["type"] not in PUBLISHED]
    assert {item["type"] for item in private} == PRIVATE
    assert all(keys.TTL_ATTRIBUTE in item for item in private if item["type"] == "Idempotency")
    assert all(keys.TTL_ATTRIBUTE not in item for item in ITEMS if item["type"] != "Idempotency")


def test_a_corrected_evaluation_is_version_2_of_the_grades_contract_and_keeps_its_keys() -> None:
    written = [item for item in ITEMS if item["type"] == "Evaluation"]
    first, corrected = written[0], written[-1]
    grades.check_evaluation(corrected)
    assert grades.version_of(corrected) == 2
    assert corrected["score"] == Decimal("5.4")
    assert not grades.is_retracted(corrected)
    assert corrected["correlation_id"] == "c-1"  # the request that last wrote it, for tracing
    for attribute in keys.KEY_ATTRIBUTES:
        assert corrected.get(attribute) == first.get(attribute), attribute
    history = [item for item in ITEMS if item["type"] == "EvaluationChange"]
    assert [(h["version"], h["before_score"], h["after_score"], h["reason"]) for h in history] == [
        (2, Decimal("6.5"), Decimal("5.4"), "typo")
    ]
    assert history[0]["PK"] == corrected["PK"]  # the student's partition: erased and exported with them
