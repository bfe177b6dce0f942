"""Writer side of the published data contracts: every exercise result the grade processor writes
keeps ``luca_platform.contracts.exercise_results.EXERCISE_RESULT``, as built and as sent to the table,
so the lake (which reads the stream's images of them) can rely on it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import pytest

from ingest_support import event_body
from luca_ingest.adapters import table_design
from luca_ingest.adapters.dynamodb_store import DynamoEventStore, exercise_result_item
from luca_ingest.domain.events import ExerciseResult, event_from_contract, grade
from luca_kernel.grading import GradingRule, ScaleKind, default_rule
from luca_kernel.ids import SchoolId, SubjectId
from luca_platform.aws import AwsClients
from luca_platform.contracts import exercise_results, roster
from luca_platform.contracts.exercise_results import EXERCISE_RESULT
from luca_platform.table import keys
from luca_platform.table.codec import from_wire

SCHOOL = SchoolId("school-a")
NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
PERCENT = GradingRule(SubjectId("math"), scale=ScaleKind.PERCENTAGE, passing_grade=Decimal("60"), decimals=0)


def result(
    body: Mapping[str, Any], rule: GradingRule | None = None, correlation_id: str = ""
) -> ExerciseResult:
    event = event_from_contract(SCHOOL, body, correlation_id)
    return grade(event, rule or default_rule(event.subject_id), NOW)


RESULTS = {
    "score": result(event_body("st-1", score="6.5")),
    "answers": result(event_body("st-2", answers=[True, True, False])),
    "percentage-scale": result(event_body("st-3", answers=[True, False, False, False]), PERCENT),
    "with-correlation-id": result(event_body("st-1", score="3.0"), correlation_id="corr-123"),
}


@pytest.mark.parametrize("name", list(RESULTS))
def test_an_exercise_result_keeps_the_published_contract(name: str) -> None:
    item = exercise_result_item(RESULTS[name])
    EXERCISE_RESULT.check(item)
    assert item["type"] in table_design.OWNED_ITEM_TYPES
    assert EXERCISE_RESULT.owner == "ingest"


@pytest.mark.parametrize("name", list(RESULTS))
def test_an_exercise_result_has_the_published_keys_and_expires(name: str) -> None:
    outcome = RESULTS[name]
    item = exercise_result_item(outcome)
    event = outcome.event
    assert item[keys.TABLE_PARTITION_KEY] == roster.student_pk(SCHOOL, event.student_id)
    assert item[keys.TABLE_PARTITION_KEY].startswith(keys.school_prefix(SCHOOL))
    assert item[keys.TABLE_SORT_KEY] == exercise_results.exercise_result_sk(event.event_id)
    assert item[keys.TTL_ATTRIBUTE] == int(NOW.timestamp()) + table_design.EXERCISE_RESULT_TTL_SECONDS


class RecordingTable:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.schools: list[str] = []

    def dynamodb_for_schools(self, schools: Collection[str], actions: Sequence[str]) -> RecordingTable:
        self.schools.extend(schools)
        return self

    def transact_write_items(self, *, TransactItems: list[Mapping[str, Any]]) -> dict[str, Any]:
        self.items.extend(from_wire(action["Put"]["Item"]) for action in TransactItems)
        return {}


def test_what_the_store_sends_to_the_table_keeps_the_contract() -> None:
    table = RecordingTable()
    store = DynamoEventStore(cast(AwsClients, table), "table")
    outcome = store.write_new(list(RESULTS.values()))
    assert len(outcome.written) == len(RESULTS) == len(table.items)
    assert set(table.schools) == {SCHOOL}
    for item in table.items:
        EXERCISE_RESULT.check(item)
    assert {item["correlation_id"] for item in table.items if "correlation_id" in item} == {"corr-123"}
