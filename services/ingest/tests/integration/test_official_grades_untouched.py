"""A student's event can never change an official grade (docs/decisions/0008-grade-lifecycle.md).

The burst path writes only ``ExerciseResult`` items, under their own sort-key prefix, with puts that
never overwrite. GIVEN a student's official grade (an ``Evaluation`` at version 2) and its history
in the student's partition, WHEN events crafted to collide with it (its id and keys as event and
exercise ids, grade attributes smuggled into the body, key separators, hostile strings, a forged
school attribute) go through the real handler on the emulator, THEN every item that was in the
table is byte for byte what it was, and all that was added are exercise results under their prefix.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest

from ingest_support import EmulatedIngest, LambdaContext, event_body, sqs_record
from luca_ingest.adapters.table_design import EXERCISE_SK_PREFIX, OWNED_ITEM_TYPES
from luca_ingest.domain.events import Reason
from luca_ingest.entrypoints.handler import incoming, process
from luca_ingest.service_layer.processor import Status
from luca_platform.contracts import exercise_results, grades, roster
from luca_platform.table import keys
from luca_platform.table.codec import to_wire
from luca_testing.seed import SchoolSeed

pytestmark = pytest.mark.emulator

SCHOOL, STUDENT, TERM = "school-a", "st-1", "2025-T1"
EVALUATION_ID = "ev-20250310-0001"  # also a valid event id: the contract's pattern admits it
RECORDED = "2025-03-10T09:00:00.000000Z"
EVALUATION_SK = f"EVAL#{TERM}#math#{RECORDED}#{EVALUATION_ID}"


def official_grade() -> dict[str, Any]:
    """A grade as the grading service leaves it after one correction (contract v2)."""
    item: dict[str, Any] = {
        keys.TABLE_PARTITION_KEY: roster.student_pk(SCHOOL, STUDENT),
        keys.TABLE_SORT_KEY: EVALUATION_SK,
        keys.SCHOOL_TERM_INDEX.partition_key: grades.school_term_pk(SCHOOL, TERM),
        keys.SCHOOL_TERM_INDEX.sort_key: f"STUDENT#{STUDENT}#{EVALUATION_ID}",
        "type": grades.EVALUATION.type_name,
        "schema_version": grades.EVALUATION.schema_version,
        "school_id": SCHOOL,
        "evaluation_id": EVALUATION_ID,
        "student_id": STUDENT,
        "course_id": "1A",
        "subject_id": "math",
        "term_id": TERM,
        "score": Decimal("5.5"),
        "weight": Decimal("2"),
        "teacher_id": "teacher-7",
        "recorded_at": RECORDED,
        "version": 2,
        "updated_at": "2025-03-11T10:00:00.000000Z",
        "updated_by": "teacher-7",
        "change_reason": "typo",
    }
    grades.check_evaluation(item)
    return item


def history() -> dict[str, Any]:
    return {
        keys.TABLE_PARTITION_KEY: roster.student_pk(SCHOOL, STUDENT),
        keys.TABLE_SORT_KEY: f"EVALHIST#{EVALUATION_ID}#000002",
        "type": "EvaluationChange",
        "schema_version": 1,
        "school_id": SCHOOL,
        "evaluation_id": EVALUATION_ID,
        "version": 2,
    }


def raw_table(ingest: EmulatedIngest) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item as stored (typed JSON), by key: what "byte for byte" compares."""
    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=ingest.endpoint)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    request: dict[str, Any] = {"TableName": ingest.table_name, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        for item in page["Items"]:
            found[(item[keys.TABLE_PARTITION_KEY]["S"], item[keys.TABLE_SORT_KEY]["S"])] = item
        if "LastEvaluatedKey" not in page:
            return found
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def submission(**fields: Any) -> dict[str, Any]:
    return {"exercise_id": "ex-fractions-3", "score": "6.5"} | fields


# Each is stored as an exercise result (its own key) or refused; none may reach the grade.
COLLIDING = {
    "event id = the grade's id": event_body(STUDENT, event_id=EVALUATION_ID, score="1.0"),
    "exercise id = the grade's id": event_body(
        STUDENT, event_id="evt-collide-02", exercise_submission=submission(exercise_id=EVALUATION_ID)
    ),
    "event id shaped like the grade's prefix": event_body(STUDENT, event_id="EVAL-2025-T1-math", score="1.0"),
}
REFUSED = {
    "event id = the grade's sort key": event_body(STUDENT, event_id=EVALUATION_SK),
    "event id = the history's sort key": event_body(STUDENT, event_id=f"EVALHIST#{EVALUATION_ID}#000003"),
    "exercise id = the grade's sort key": event_body(
        STUDENT, event_id="evt-collide-04", exercise_submission=submission(exercise_id=EVALUATION_SK)
    ),
    "student id with a key separator": event_body(f"{STUDENT}#EVAL#{TERM}", event_id="evt-collide-05"),
    "subject id with a key separator": event_body(STUDENT, event_id="evt-collide-06", subject="math#EVAL"),
    "grade attributes in the body": event_body(
        STUDENT,
        event_id="evt-collide-07",
        type="Evaluation",
        evaluation_id=EVALUATION_ID,
        version=3,
        retracted=True,
        score="1.0",
        PK=roster.student_pk(SCHOOL, STUDENT),
        SK=EVALUATION_SK,
    ),
    "a school in the body": event_body(STUDENT, event_id="evt-collide-08", school_id="school-b"),
    "a later event schema": event_body(STUDENT, event_id="evt-collide-09", schema_version=2),
    "a NUL in the event id": event_body(STUDENT, event_id="evt-collide-10\x00#EVAL"),
    "a right-to-left override": event_body(STUDENT, event_id="evt-\u202e1000-ve"),
    "an event id far too long": event_body(STUDENT, event_id="e" * 10_000),
    "a quote in the course": event_body(STUDENT, event_id="evt-collide-13", course="1A' OR '1'='1"),
    "a score with an exponent": event_body(STUDENT, event_id="evt-collide-14", score="1e1"),
}


@pytest.fixture
def graded(ingest: EmulatedIngest) -> EmulatedIngest:
    """The conftest's schools, and st-1's grade and its history written with the school's client."""
    seed = SchoolSeed(ingest.app.clients, ingest.table_name, SCHOOL)
    seed.put(official_grade())
    seed.put(history())
    return ingest


def run(ingest: EmulatedIngest, records: list[dict[str, Any]]) -> set[str]:
    response = process({"Records": records}, LambdaContext(), ingest.app)  # type: ignore[arg-type]
    return {failure["itemIdentifier"] for failure in response["batchItemFailures"]}


def test_events_aimed_at_an_official_grade_leave_it_and_its_history_untouched(graded: EmulatedIngest) -> None:
    before = raw_table(graded)
    grade_key = (roster.student_pk(SCHOOL, STUDENT), EVALUATION_SK)
    assert before[grade_key] == to_wire(official_grade())

    stored = [sqs_record(body) for body in COLLIDING.values()]
    refused = [sqs_record(body) for body in REFUSED.values()]
    forged_school = sqs_record(event_body(STUDENT, event_id="evt-collide-15"), f"{SCHOOL}#STUDENT#{STUDENT}")
    failed = run(graded, [*refused, *stored, forged_school])
    # Resent with other values (a higher score, another exercise): first write wins, nothing else.
    again = {**COLLIDING["event id = the grade's id"], "exercise_submission": submission(score="7.0")}
    assert run(graded, [sqs_record(again)]) == set()

    assert failed == {record["messageId"] for record in [*refused, forged_school]}
    after = raw_table(graded)
    for key, item in before.items():
        assert after[key] == item, f"{key} changed"
    added = {key: item for key, item in after.items() if key not in before}
    assert len(added) == len(COLLIDING)
    for (pk, sk), item in added.items():
        assert item["type"] == {"S": exercise_results.EXERCISE_RESULT.type_name}
        assert sk.startswith(EXERCISE_SK_PREFIX)
        assert pk == roster.student_pk(SCHOOL, STUDENT)
        assert not {"evaluation_id", "version", "retracted", "term_id", "weight"} & set(item)
    collided = added[(roster.student_pk(SCHOOL, STUDENT), f"{EXERCISE_SK_PREFIX}{EVALUATION_ID}")]
    assert Decimal(collided["score"]["N"]) == Decimal("1.0")  # the first submission, not the resend


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_each_crafted_event_is_refused_by_the_contract_for_good(graded: EmulatedIngest, case: str) -> None:
    record = sqs_record(REFUSED[case])
    outcome = graded.app.processor.process([incoming(record)], write=False).records[record["messageId"]]
    assert outcome.status is Status.FAILED
    assert outcome.permanent  # never retried into a write
    assert outcome.reason in {Reason.MALFORMED, Reason.SCHEMA_VERSION}


def test_the_processor_owns_exercise_results_only_under_their_prefix() -> None:
    assert {exercise_results.EXERCISE_RESULT.type_name} == OWNED_ITEM_TYPES
    assert not EVALUATION_SK.startswith(EXERCISE_SK_PREFIX)
    assert not f"EVALHIST#{EVALUATION_ID}".startswith(EXERCISE_SK_PREFIX)
