"""The grade processor end to end on the emulator: a real SQS-shaped batch through the handler."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ingest_support import EmulatedIngest, LambdaContext, event_body, sqs_record
from luca_ingest.adapters.table_design import exercise_result_sk
from luca_ingest.domain.events import event_from_contract, grade
from luca_ingest.entrypoints.handler import process
from luca_kernel.grading import default_rule
from luca_kernel.ids import SchoolId
from luca_platform.table import keys

pytestmark = pytest.mark.emulator


def run(ingest: EmulatedIngest, records: list[dict]) -> dict:
    return process({"Records": records}, LambdaContext(), ingest.app)  # type: ignore[arg-type]


def test_a_batch_of_two_schools_is_stored_with_one_session_one_read_and_one_write(
    ingest: EmulatedIngest,
) -> None:
    records = [sqs_record(event_body(s, score="6.0")) for s in ("st-1", "st-2")] + [
        sqs_record(event_body("st-9", course="3C", answers=[True] * 3 + [False]), "school-b")
    ]
    store, clients = ingest.app.store, ingest.app.clients
    reads, writes, sessions = store.read_calls, store.write_calls, clients.assume_role_calls

    assert run(ingest, records) == {"batchItemFailures": []}

    # The one read also fetched both schools' (cold) grading rules.
    assert (store.read_calls - reads, store.write_calls - writes) == (1, 1)
    assert clients.assume_role_calls - sessions == 1
    # The next batch of the same schools reuses the session and finds the rules warm.
    again = [
        sqs_record(event_body("st-1")),
        sqs_record(event_body("st-9", course="3C", score="6.0"), "school-b"),
    ]
    assert run(ingest, again) == {"batchItemFailures": []}
    assert (store.read_calls - reads, store.write_calls - writes) == (2, 2)
    assert clients.assume_role_calls - sessions == 1
    results = [item for item in ingest.exercise_results() if item["event_id"]["S"] in _ids(records)]
    assert len(results) == 3
    for item in results:
        school = item["school_id"]["S"]
        assert item[keys.TABLE_PARTITION_KEY]["S"].startswith(keys.school_prefix(school))
        assert item[keys.TABLE_SORT_KEY]["S"] == exercise_result_sk(item["event_id"]["S"])
        assert int(item[keys.TTL_ATTRIBUTE]["N"]) > 0
    by_student = {item["student_id"]["S"]: Decimal(item["score"]["N"]) for item in results}
    assert by_student == {"st-1": Decimal("6"), "st-2": Decimal("6"), "st-9": Decimal("5.1")}


def test_redelivery_and_resends_leave_exactly_one_result(ingest: EmulatedIngest) -> None:
    body = event_body("st-1")
    first = sqs_record(body)
    assert run(ingest, [first, sqs_record(body)]) == {"batchItemFailures": []}  # resent in the same batch
    writes = ingest.app.store.write_calls

    assert run(ingest, [first]) == {"batchItemFailures": []}  # SQS redelivers the message
    assert run(ingest, [sqs_record(body)]) == {"batchItemFailures": []}  # the app resends the event

    assert ingest.app.store.write_calls == writes  # already stored: read, nothing written
    assert len(ingest.exercise_results()) == 1


def test_a_resend_with_another_body_does_not_overwrite_the_first_result(ingest: EmulatedIngest) -> None:
    body = event_body("st-1", score="3.0")
    run(ingest, [sqs_record(body)])
    run(ingest, [sqs_record({**body, "exercise_submission": {"exercise_id": "ex-1", "score": "7.0"}})])

    [stored] = ingest.exercise_results()
    assert Decimal(stored["score"]["N"]) == Decimal("3.0")


def test_poison_records_fail_alone_and_nothing_is_written_for_them(ingest: EmulatedIngest) -> None:
    good = sqs_record(event_body("st-2"))
    poison = [
        sqs_record("not json at all"),
        sqs_record(event_body("st-404")),
        sqs_record(event_body("st-1", score="9.9")),
        sqs_record(event_body("st-1"), school=None),
        sqs_record(event_body("st-9", course="3C")),  # school B's student named in school A's message
    ]
    response = run(ingest, [*poison, good])

    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {p["messageId"] for p in poison}
    assert [item["student_id"]["S"] for item in ingest.exercise_results()] == ["st-2"]


def test_a_batch_where_everything_fails_is_reported_not_raised(ingest: EmulatedIngest) -> None:
    poison = [sqs_record(event_body("st-404")), sqs_record("{")]
    response = run(ingest, poison)
    assert {f["itemIdentifier"] for f in response["batchItemFailures"]} == {p["messageId"] for p in poison}


def test_a_race_with_another_invocation_costs_one_more_write_and_no_second_effect(
    ingest: EmulatedIngest,
) -> None:
    now = datetime.now(UTC)
    raced = grade(event_from_contract("school-a", event_body("st-1")), default_rule(), now)
    fresh = grade(event_from_contract("school-a", event_body("st-2")), default_rule(), now)
    store = ingest.app.store
    store.write_new([raced])  # the other invocation wins

    outcome = store.write_new([raced, fresh])

    assert outcome.already_stored == {(SchoolId("school-a"), "st-1", raced.event.event_id)}
    assert outcome.written == {(SchoolId("school-a"), "st-2", fresh.event.event_id)}
    assert outcome.write_calls == 2  # cancelled once, then the rest
    assert len(ingest.exercise_results()) == 2


def test_the_handler_reads_the_submitting_students_attribute(ingest: EmulatedIngest) -> None:
    from_classmate = sqs_record(event_body("st-2"))
    from_classmate["messageAttributes"]["submitted_by_student"] = {
        "stringValue": "st-1",
        "dataType": "String",
    }
    own = sqs_record(event_body("st-1"))
    own["messageAttributes"]["submitted_by_student"] = {"stringValue": "st-1", "dataType": "String"}

    response = run(ingest, [from_classmate, own])

    assert response == {"batchItemFailures": [{"itemIdentifier": from_classmate["messageId"]}]}
    assert [item["student_id"]["S"] for item in ingest.exercise_results()] == ["st-1"]


def _ids(records: list[dict[str, object]]) -> set[str]:
    return {json.loads(str(record["body"]))["event_id"] for record in records}
