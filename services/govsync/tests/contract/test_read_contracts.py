"""Reader side of the grades contract: the government sync reads a school's grades of a term from the
school-term index relying on what ``luca_platform.contracts.grades`` publishes and nothing else.

The items written here hold only the contract's required attributes and the published index key
(``grades.school_term_pk``); the table key and the index sort key are the owner's private business,
so they are deliberately unlike what the grading service writes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest

from luca_govsync.adapters.dynamodb_store import DynamoGradeSource
from luca_govsync.domain.model import GradeRecord
from luca_platform.aws import AwsClients
from luca_platform.contracts import grades
from luca_platform.table import keys
from luca_platform.table.codec import to_wire
from luca_testing.emulator import REGION, create_table

pytestmark = pytest.mark.emulator


def minimal_evaluation(school: str, evaluation_id: str, term: str, score: str = "6.5") -> dict[str, Any]:
    values: dict[str, Any] = {
        "school_id": school,
        "evaluation_id": evaluation_id,
        "student_id": "st-1",
        "course_id": "1A",
        "subject_id": "math",
        "term_id": term,
        "score": Decimal(score),
        "weight": Decimal("1"),
        "recorded_at": "2025-04-30T15:00:00.000000Z",
    }
    assert set(values) == set(grades.EVALUATION.required)  # the example relies on nothing unpublished
    item = {
        keys.TYPE_ATTRIBUTE: grades.EVALUATION.type_name,
        keys.SCHEMA_VERSION_ATTRIBUTE: grades.EVALUATION.schema_version,
        **values,
        keys.TABLE_PARTITION_KEY: keys.school_key(school, "CONTRACT-EXAMPLE", evaluation_id),
        keys.TABLE_SORT_KEY: "EXAMPLE",
        keys.SCHOOL_TERM_INDEX.partition_key: grades.school_term_pk(school, term),
        keys.SCHOOL_TERM_INDEX.sort_key: f"ANY{keys.SEP}{evaluation_id}",
    }
    grades.EVALUATION.check(item)
    return item


def test_the_period_grades_are_read_from_contract_items_of_the_school_and_term_only(
    emulator_endpoint: str,
) -> None:
    table = create_table(emulator_endpoint)
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=emulator_endpoint)
    for item in (
        minimal_evaluation("school-a", "ev-1", "2025-T1", "6.5"),
        minimal_evaluation("school-a", "ev-2", "2025-T1", "4"),
        minimal_evaluation("school-a", "ev-3", "2025-T2"),  # another term
        minimal_evaluation("school-ab", "ev-9", "2025-T1"),  # a school whose id extends school-a's
    ):
        client.put_item(TableName=table, Item=to_wire(item))

    source = DynamoGradeSource(AwsClients(region=REGION, endpoint_url=emulator_endpoint), table)
    found = sorted(source.period_grades("school-a", "2025-T1"), key=lambda record: record.record_id)
    assert found == [
        GradeRecord("ev-1", "st-1", "1A", "math", "2025-T1", "6.5", "2025-04-30T15:00:00.000000Z"),
        GradeRecord("ev-2", "st-1", "1A", "math", "2025-T1", "4", "2025-04-30T15:00:00.000000Z"),
    ]
    assert [record.record_id for record in source.period_grades("school-ab", "2025-T1")] == ["ev-9"]
