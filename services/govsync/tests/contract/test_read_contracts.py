"""Reader side of the published contracts the government sync relies on, and nothing else:
- grades (``contracts.grades``): a school's grades of a term on the school-term index, in both
  versions of ``Evaluation`` (v1 items read as version 1, not retracted);
- terms (``contracts.roster``): whether a school's term is closed.

The grade items written here hold only a contract's required attributes (and the optional ones a
test is about) and the published index key (``grades.school_term_pk``); the table key and the index
sort key are the owner's private business, so they are deliberately unlike what the grading service
writes. Terms are written with the contract's own builder, through the school's own client."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest

from luca_govsync.adapters.dynamodb_contracts import DynamoGradeSource, DynamoTerms
from luca_govsync.domain.model import GradeRecord
from luca_platform.aws import AwsClients
from luca_platform.contracts import grades
from luca_platform.contracts.base import ItemContract
from luca_platform.table import keys
from luca_platform.table.codec import to_wire
from luca_testing.emulator import REGION, create_table
from luca_testing.seed import SchoolSeed

pytestmark = pytest.mark.emulator


def contract_evaluation(
    school: str,
    evaluation_id: str,
    term: str,
    score: str = "6.5",
    *,
    contract: ItemContract = grades.EVALUATION,
    **optional: Any,
) -> dict[str, Any]:
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
    if contract is grades.EVALUATION:
        values["version"] = optional.pop("version", 1)
    assert set(values) == set(contract.required)  # the example relies on nothing unpublished
    assert set(optional) <= set(contract.optional)
    item = {
        keys.TYPE_ATTRIBUTE: contract.type_name,
        keys.SCHEMA_VERSION_ATTRIBUTE: contract.schema_version,
        **values,
        **optional,
        keys.TABLE_PARTITION_KEY: keys.school_key(school, "CONTRACT-EXAMPLE", evaluation_id),
        keys.TABLE_SORT_KEY: "EXAMPLE",
        keys.SCHOOL_TERM_INDEX.partition_key: grades.school_term_pk(school, term),
        keys.SCHOOL_TERM_INDEX.sort_key: f"ANY{keys.SEP}{evaluation_id}",
    }
    grades.check_evaluation(item)
    return item


def record(evaluation_id: str, score: str, **versioning: Any) -> GradeRecord:
    return GradeRecord(
        evaluation_id, "st-1", "1A", "math", "2025-T1", score, "2025-04-30T15:00:00.000000Z", **versioning
    )


def test_the_period_grades_are_read_from_contract_items_of_the_school_and_term_only(
    emulator_endpoint: str,
) -> None:
    table = create_table(emulator_endpoint)
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=emulator_endpoint)
    for item in (
        contract_evaluation("school-a", "ev-1", "2025-T1", "6.5"),
        contract_evaluation("school-a", "ev-2", "2025-T1", "4"),
        contract_evaluation("school-a", "ev-3", "2025-T2"),  # another term
        contract_evaluation("school-ab", "ev-9", "2025-T1"),  # a school whose id extends school-a's
    ):
        client.put_item(TableName=table, Item=to_wire(item))

    source = DynamoGradeSource(AwsClients(region=REGION, endpoint_url=emulator_endpoint), table)
    found = sorted(source.period_grades("school-a", "2025-T1"), key=lambda record: record.record_id)
    assert found == [record("ev-1", "6.5"), record("ev-2", "4")]
    assert [record.record_id for record in source.period_grades("school-ab", "2025-T1")] == ["ev-9"]


def test_grades_are_read_in_their_latest_version_and_v1_items_as_version_1(emulator_endpoint: str) -> None:
    table = create_table(emulator_endpoint)
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=emulator_endpoint)
    for item in (
        contract_evaluation("school-a", "ev-v1", "2025-T1", "5", contract=grades.EVALUATION_V1),
        contract_evaluation(
            "school-a", "ev-corrected", "2025-T1", "6", version=3, updated_by="t-1", change_reason="typo"
        ),
        contract_evaluation("school-a", "ev-retracted", "2025-T1", "2", version=2, retracted=True),
    ):
        client.put_item(TableName=table, Item=to_wire(item))

    source = DynamoGradeSource(AwsClients(region=REGION, endpoint_url=emulator_endpoint), table)
    found = {r.record_id: r for r in source.period_grades("school-a", "2025-T1")}

    assert found["ev-v1"] == record("ev-v1", "5")  # version 1, not retracted
    assert found["ev-corrected"] == record("ev-corrected", "6", version=3)
    assert found["ev-retracted"] == record("ev-retracted", "2", version=2, retracted=True)


def test_a_schools_term_is_read_with_its_closing_and_only_from_its_own_catalog(
    emulator_endpoint: str,
) -> None:
    table = create_table(emulator_endpoint)
    clients = AwsClients(region=REGION, endpoint_url=emulator_endpoint)
    closed_at = datetime(2025, 4, 30, 18, 0, tzinfo=UTC)
    SchoolSeed(clients, table, "school-a").term("2025-T1", closed_at=closed_at).term("2025-T2")
    SchoolSeed(clients, table, "school-ab").term("2025-T3", closed_at=closed_at)
    terms = DynamoTerms(clients, table)

    closed, still_open = terms.term("school-a", "2025-T1"), terms.term("school-a", "2025-T2")

    assert closed is not None
    assert (closed.closed, closed.closed_at, closed.closed_by) == (True, closed_at, "seed")
    assert still_open is not None
    assert not still_open.closed
    assert terms.term("school-a", "2025-T4") is None
    assert terms.term("school-a", "2025-T3") is None  # school-ab's term is not school-a's
