"""Reader side of the published contracts: the lake turns a minimal contract-keeping image of each
item type it reads (``Evaluation``, ``BehaviorNote``, ``ExerciseResult``) into a row, relying on nothing
the contracts do not publish; the reports read the roster as its builders write it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from luca_analytics.adapters.school_data import DynamoRoster
from luca_analytics.domain.lake import LAKE_TYPES, LakeRow, flatten, student_key
from luca_kernel.ids import CourseId, SchoolId, StudentId
from luca_kernel.roster import Course, Student
from luca_platform.aws import AwsClients
from luca_platform.contracts import ItemContract, exercise_results, grades, roster
from luca_platform.table.keys import SCHEMA_VERSION_ATTRIBUTE, TYPE_ATTRIBUTE
from luca_testing.emulator import REGION, create_table
from luca_testing.seed import SchoolSeed

KEY = b"analytics-contract-test-key"
CHANGED = datetime(2025, 5, 2, 9, 0, tzinfo=UTC)
SCHOOL = "school-a"


def minimal_image(contract: ItemContract, **values: Any) -> dict[str, Any]:
    """The contract's required attributes and nothing else: what every reader may rely on."""
    assert set(values) == set(contract.required), "the example must hold exactly the required attributes"
    image = {
        TYPE_ATTRIBUTE: contract.type_name,
        SCHEMA_VERSION_ATTRIBUTE: Decimal(contract.schema_version),
        **values,
    }
    contract.check(image)
    return image


EVALUATION_V1_VALUES: Mapping[str, Any] = {
    "school_id": SCHOOL,
    "evaluation_id": "ev-1",
    "student_id": "st-1",
    "course_id": "1A",
    "subject_id": "math",
    "term_id": "2025-T1",
    "score": Decimal("6.5"),
    "weight": Decimal("2"),
    "recorded_at": "2025-04-30T15:00:00.000000Z",
}
# Items written before the grade lifecycle stay in the table (and come back on the stream when
# corrected: as version 2 items then).
EVALUATION_V1_IMAGE = minimal_image(grades.EVALUATION_V1, **EVALUATION_V1_VALUES)
IMAGES: Mapping[str, dict[str, Any]] = {
    "Evaluation": minimal_image(grades.EVALUATION, **EVALUATION_V1_VALUES, version=Decimal(1)),
    "BehaviorNote": minimal_image(
        grades.BEHAVIOR_NOTE,
        school_id=SCHOOL,
        note_id="n-1",
        student_id="st-1",
        course_id="1A",
        kind="positive",
        recorded_at="2025-03-10T12:00:00.000000Z",
    ),
    "ExerciseResult": minimal_image(
        exercise_results.EXERCISE_RESULT,
        school_id=SCHOOL,
        event_id="evt-1",
        student_id="st-1",
        course_id="1A",
        subject_id="math",
        occurred_at="2026-11-27T13:15:00.000000Z",
        score=Decimal("4.0"),
        passing=True,
    ),
}


def test_every_lake_type_has_a_published_contract_example_here() -> None:
    assert set(IMAGES) == set(LAKE_TYPES)


@pytest.mark.parametrize("change", ["INSERT", "MODIFY"])
@pytest.mark.parametrize("image", [IMAGES["Evaluation"], EVALUATION_V1_IMAGE], ids=["v2", "v1"])
def test_a_minimal_evaluation_becomes_a_row(change: str, image: Mapping[str, Any]) -> None:
    grades.check_evaluation(image)
    row = flatten(change, image, CHANGED, KEY, "4200")
    assert row == LakeRow(
        school_id=SCHOOL,
        year=2025,
        month=4,
        item_type="evaluation",
        change=change,
        changed_at=CHANGED,
        record_id="ev-1",
        student_key=student_key(KEY, SCHOOL, "st-1"),
        course_id="1A",
        subject_id="math",
        term_id="2025-T1",
        score=6.5,
        weight=2.0,
        behavior_kind="",
        passing=None,
        occurred_at=datetime(2025, 4, 30, 15, 0, tzinfo=UTC),
        source_schema_version=int(image[SCHEMA_VERSION_ATTRIBUTE]),
        version=grades.version_of(image),
        retracted=grades.is_retracted(image),
        sequence_number="4200".zfill(40),
    )


def test_a_later_version_and_a_retraction_read_as_the_contract_defines_them() -> None:
    corrected = {**IMAGES["Evaluation"], "version": Decimal(2), "score": Decimal("5.0")}
    retracted = {**corrected, "version": Decimal(3), "retracted": True, "change_reason": "entered twice"}
    for image in (corrected, retracted):
        grades.check_evaluation(image)
    second, third = (flatten("MODIFY", image, CHANGED, KEY) for image in (corrected, retracted))
    assert isinstance(second, LakeRow)
    assert isinstance(third, LakeRow)
    assert (second.version, second.retracted, second.score) == (grades.version_of(corrected), False, 5.0)
    assert (third.version, third.retracted, third.score) == (grades.version_of(retracted), True, None)
    assert grades.is_retracted(retracted)


def test_a_minimal_behavior_note_becomes_a_row() -> None:
    row = flatten("INSERT", IMAGES["BehaviorNote"], CHANGED, KEY)
    assert isinstance(row, LakeRow), row
    assert (row.item_type, row.record_id, row.behavior_kind, row.score, row.weight, row.subject_id) == (
        "behavior_note",
        "n-1",
        "positive",
        None,
        None,
        "",
    )
    assert (row.year, row.month, row.student_key) == (2025, 3, student_key(KEY, SCHOOL, "st-1"))


def test_a_minimal_exercise_result_becomes_a_row() -> None:
    row = flatten("INSERT", IMAGES["ExerciseResult"], CHANGED, KEY)
    assert isinstance(row, LakeRow), row
    assert (row.item_type, row.record_id, row.score, row.passing, row.term_id, row.weight) == (
        "exercise_result",
        "evt-1",
        4.0,
        True,
        "",
        None,
    )
    assert (row.year, row.month, row.subject_id) == (2026, 11, "math")


@pytest.mark.emulator
def test_the_roster_is_read_from_items_the_roster_builders_write(emulator_endpoint: str) -> None:
    table = create_table(emulator_endpoint)
    clients = AwsClients(region=REGION, endpoint_url=emulator_endpoint)
    school = SchoolId(SCHOOL)
    seed = SchoolSeed(clients, table, SCHOOL)
    written = [
        roster.course_item(Course(school, CourseId("1A"), "Primero A")),
        roster.course_item(Course(school, CourseId("2B"), "Segundo B")),
        roster.student_item(Student(school, StudentId("st-1"), CourseId("1A"), "Ana Rojas")),
        roster.student_item(Student(school, StudentId("st-2"), CourseId("2B"), "Benja Soto")),
    ]
    contracts = {contract.type_name: contract for contract in roster.CONTRACTS}
    for item in written:
        contracts[item[TYPE_ATTRIBUTE]].check(item)
        seed.put(item)
    # A school whose id extends school-a's, with a course of the same id.
    SchoolSeed(clients, table, "school-ab").course("1A").student("st-9", "1A")

    assert sorted(DynamoRoster(clients, table).student_ids(SCHOOL)) == ["st-1", "st-2"]
    assert list(DynamoRoster(clients, table).student_ids("school-ab")) == ["st-9"]
